// limiter.go: the in-memory rate limits of wrong activation codes and password flows.

package actors

import (
	"slices"
	"sync"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
)

// attemptLimiter counts events per key in a sliding window (domain.RateWindow):
// wrong activation codes (F1) and password-submitting flows. It lives in
// memory: these are rate limits, and a restart that forgets them hands out
// at most one window's worth again. The count that must survive a restart,
// wrong bureau passwords, is stored (see pwguard.go).
type attemptLimiter struct {
	mu   sync.Mutex
	rate domain.RateWindow
	clk  clock.Clock
	seen map[string][]time.Time
}

func newAttemptLimiter(limit int, window time.Duration, clk clock.Clock) *attemptLimiter {
	return &attemptLimiter{rate: domain.RateWindow{Limit: limit, Window: window}, clk: clk, seen: map[string][]time.Time{}}
}

func (l *attemptLimiter) recent(key string, now time.Time) []time.Time {
	keep := l.rate.Recent(l.seen[key], now)
	if len(keep) == 0 {
		delete(l.seen, key)
	} else {
		l.seen[key] = keep
	}
	return keep
}

// wait returns how long until key may try again; zero: now.
func (l *attemptLimiter) wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	return l.rate.Wait(l.recent(key, now), now)
}

// add counts an event of key now.
func (l *attemptLimiter) add(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	l.seen[key] = append(l.recent(key, now), now)
}

// take counts an event of key if it fits and returns its time and zero, or
// returns the wait and counts nothing.
func (l *attemptLimiter) take(key string) (time.Time, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	recent := l.recent(key, now)
	if w := l.rate.Wait(recent, now); w > 0 {
		return time.Time{}, w
	}
	l.seen[key] = append(recent, now)
	return now, 0
}

// release uncounts the event of key taken at at: it turned out not to
// count (a password the bureau accepted).
func (l *attemptLimiter) release(key string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.seen[key]
	if i := slices.IndexFunc(s, at.Equal); i >= 0 {
		l.seen[key] = slices.Delete(s, i, i+1)
	}
}
