package taxbureau

import (
	"fmt"
	"sync"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
)

// BreakerState is the state of a Client's circuit breaker.
type BreakerState int

const (
	// BreakerClosed lets every call through and counts consecutive failures.
	BreakerClosed BreakerState = iota
	// BreakerOpen fails every call at once with domain.ErrBureauUnavailable
	// wrapping ErrBreakerOpen, until the cool-down has passed.
	BreakerOpen
	// BreakerHalfOpen lets one probe through: its success closes the breaker,
	// its failure opens it for another cool-down. Other calls fail at once
	// while the probe runs.
	BreakerHalfOpen
)

// String returns "closed", "open" or "half-open".
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("BreakerState(%d)", int(s))
}

// outcome is what one attempt tells the breaker about the bureau.
type outcome int

const (
	// answered: the bureau answered, with a result or a catalogue refusal.
	answered outcome = iota
	// failed: a transport failure, a timeout, a 5xx or a malformed answer.
	failed
	// abandoned: the caller gave up first; it says nothing about the bureau.
	abandoned
)

// breaker is a consecutive-failure circuit breaker. Closed, it opens after
// threshold failures in a row; open, it refuses calls until coolDown has
// passed on clk, then lets one probe through (half-open). Results carry the
// generation they were admitted in, so a slow call admitted before a state
// change cannot flip the new state. Safe for concurrent use.
type breaker struct {
	clk       clock.Clock
	threshold int
	coolDown  time.Duration

	mu       sync.Mutex
	state    BreakerState
	gen      uint64 // bumped at every state change
	fails    int    // consecutive failures while closed
	openedAt time.Time
	probing  bool // a half-open probe is in flight
}

// ticket is an admitted attempt.
type ticket struct {
	gen   uint64
	probe bool
}

func newBreaker(clk clock.Clock, threshold int, coolDown time.Duration) *breaker {
	return &breaker{clk: clk, threshold: threshold, coolDown: coolDown}
}

// allow admits an attempt or refuses it with domain.ErrBureauUnavailable
// wrapping ErrBreakerOpen.
func (b *breaker) allow() (ticket, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case BreakerOpen:
		left := b.coolDown - b.clk.Now().Sub(b.openedAt)
		if left > 0 {
			return ticket{}, domain.ErrBureauUnavailable.Wrap(fmt.Errorf("%w after %d consecutive failures; next try in %s",
				ErrBreakerOpen, b.threshold, left.Round(time.Millisecond)))
		}
		b.setState(BreakerHalfOpen)
		fallthrough
	case BreakerHalfOpen:
		if b.probing {
			return ticket{}, domain.ErrBureauUnavailable.Wrap(fmt.Errorf("%w: a probe is testing the bureau", ErrBreakerOpen))
		}
		b.probing = true
		return ticket{gen: b.gen, probe: true}, nil
	}
	return ticket{gen: b.gen}, nil
}

// record reports how an admitted attempt ended.
func (b *breaker) record(t ticket, o outcome) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.probe && t.gen == b.gen {
		b.probing = false
	}
	if t.gen != b.gen || o == abandoned {
		return
	}
	switch {
	case o == answered && b.state == BreakerHalfOpen:
		b.setState(BreakerClosed)
	case o == answered:
		b.fails = 0
	case b.state == BreakerHalfOpen:
		b.open()
	default:
		b.fails++
		if b.fails >= b.threshold {
			b.open()
		}
	}
}

// open opens the breaker now. The caller holds b.mu.
func (b *breaker) open() {
	b.setState(BreakerOpen)
	b.openedAt = b.clk.Now()
}

// setState moves to st and starts a new generation. The caller holds b.mu.
func (b *breaker) setState(st BreakerState) {
	b.state = st
	b.gen++
	b.fails = 0
	b.probing = false
}

// State returns the current state; an open breaker whose cool-down has
// passed reports BreakerOpen until the next call becomes its probe.
func (b *breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}
