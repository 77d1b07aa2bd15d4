// Package clock is the time source of etaxd. Production code takes a Clock
// instead of calling time.Now, so tests drive timers with a Fake and never
// sleep.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and schedules callbacks.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled callback.
type Timer interface {
	// Stop reports whether it stopped the timer before it fired.
	Stop() bool
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now() in UTC: what etaxd stores, answers and exports
// is then RFC 3339 with "Z" whatever the host's time zone (China time is
// applied explicitly where a rule needs it, e.g. a day's SMS budget).
// UTC strips the monotonic reading: durations are measured with
// time.Now directly.
func (Real) Now() time.Time { return time.Now().UTC() }

// AfterFunc is time.AfterFunc.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Fake is a manual clock for tests: time moves only by Advance or Set, which
// fire due callbacks in time order. Safe for concurrent use. Create it with
// NewFake.
type Fake struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	seq    int
}

type fakeTimer struct {
	c     *Fake
	at    time.Time
	seq   int
	f     func()
	fired bool
	stop  bool
}

// NewFake returns a Fake set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f at Now()+d.
func (c *Fake) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	return t
}

// Pending is the number of timers not yet fired or stopped.
func (c *Fake) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.fired && !t.stop {
			n++
		}
	}
	return n
}

// Advance moves the clock by d and runs every callback due by then, in time
// order, synchronously in the caller's goroutine.
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	c.Set(target)
}

// Set moves the clock to t (never backwards) and runs due callbacks.
func (c *Fake) Set(t time.Time) {
	for {
		c.mu.Lock()
		var due []*fakeTimer
		keep := c.timers[:0]
		for _, tm := range c.timers {
			switch {
			case tm.fired || tm.stop:
			case !tm.at.After(t):
				due = append(due, tm)
			default:
				keep = append(keep, tm)
			}
		}
		c.timers = keep
		if len(due) == 0 {
			if t.After(c.now) {
				c.now = t
			}
			c.mu.Unlock()
			return
		}
		sort.Slice(due, func(i, j int) bool {
			if due[i].at.Equal(due[j].at) {
				return due[i].seq < due[j].seq
			}
			return due[i].at.Before(due[j].at)
		})
		first := due[0]
		first.fired = true
		if first.at.After(c.now) {
			c.now = first.at
		}
		// put the rest back; they fire in the next round
		c.timers = append(c.timers, due[1:]...)
		c.mu.Unlock()
		first.f()
	}
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.fired || t.stop {
		return false
	}
	t.stop = true
	return true
}
