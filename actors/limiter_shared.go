// limiter_shared.go: cluster mode's rate limits (wrong activation codes, a WeChat user's wrong passwords), counted in the store.

package actors

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// rateLimiter counts events per key in a sliding window: wait says how long
// until key may try again, add counts one now. attemptLimiter keeps the
// counts in memory (one node); sharedLimiter in the store, so that every
// node of a cluster counts the same wrong activation codes (F1).
type rateLimiter interface {
	wait(key string) time.Duration
	add(key string)
}

// tokenLimiter counts an event only when it fits (take: its time, or the
// wait and nothing counted) and can uncount it once it turned out not to
// count (release). attemptLimiter and sharedLimiter are both.
type tokenLimiter interface {
	take(key string) (time.Time, time.Duration)
	release(key string, at time.Time)
}

// sharedLimiter is a rateLimiter on the store: ratelimit/<name>/<digest of
// the key> holds the times of the key's events still in the window (at
// most Limit of them), written with Update. A store that does not answer
// refuses for a second rather than letting attempts through uncounted.
type sharedLimiter struct {
	d    *deps
	name string
	rate domain.RateWindow
}

func newSharedLimiter(d *deps, name string, limit int, window time.Duration) *sharedLimiter {
	return &sharedLimiter{d: d, name: name, rate: domain.RateWindow{Limit: limit, Window: window}}
}

func (l *sharedLimiter) key(k string) string {
	h := sha256.Sum256([]byte(k))
	return persistence.PrefixRateLimit + l.name + "/" + hex.EncodeToString(h[:16])
}

func decodeTimes(b []byte) []time.Time {
	var ns []int64
	_ = json.Unmarshal(b, &ns) // a record that does not decode counts nothing
	out := make([]time.Time, 0, len(ns))
	for _, n := range ns {
		out = append(out, time.Unix(0, n))
	}
	return out
}

func (l *sharedLimiter) wait(k string) time.Duration {
	ctx, cancel := l.d.storeCtx()
	defer cancel()
	r, err := l.d.store.Get(ctx, l.key(k))
	switch {
	case err == nil:
		now := l.d.clk.Now()
		return l.rate.Wait(l.rate.Recent(decodeTimes(r.Value), now), now)
	case errors.Is(err, persistence.ErrNotFound):
		return 0
	}
	l.d.log.Warn("rate limit: the store did not answer; refusing for now", "limit", l.name, "err", err)
	return time.Second
}

func (l *sharedLimiter) add(k string) {
	ctx, cancel := l.d.storeCtx()
	defer cancel()
	_, err := persistence.Update(ctx, l.d.store, l.key(k), func(old persistence.Record) ([]byte, error) {
		now := l.d.clk.Now()
		return l.encode(append(l.rate.Recent(decodeTimes(old.Value), now), now)), nil
	})
	if err != nil {
		l.d.log.Warn("rate limit: count an attempt", "limit", l.name, "err", err)
	}
}

// encode keeps the last Limit times.
func (l *sharedLimiter) encode(times []time.Time) []byte {
	if len(times) > l.rate.Limit {
		times = times[len(times)-l.rate.Limit:]
	}
	ns := make([]int64, len(times))
	for i, t := range times {
		ns[i] = t.UnixNano()
	}
	b, _ := json.Marshal(ns) // []int64 always encodes
	return b
}

// errLimited and errNotCounted end an update without a write: the key is
// at its limit (take), or holds no event at that time (release).
var (
	errLimited    = errors.New("rate limit reached")
	errNotCounted = errors.New("no such event counted")
)

// take counts an event of k now if it fits, in one revision-checked
// update, so two nodes never both take the last place. A store that does
// not answer refuses for a second, like wait.
func (l *sharedLimiter) take(k string) (time.Time, time.Duration) {
	ctx, cancel := l.d.storeCtx()
	defer cancel()
	var now time.Time
	var w time.Duration
	_, err := persistence.Update(ctx, l.d.store, l.key(k), func(old persistence.Record) ([]byte, error) {
		now = l.d.clk.Now()
		recent := l.rate.Recent(decodeTimes(old.Value), now)
		if w = l.rate.Wait(recent, now); w > 0 {
			return nil, errLimited
		}
		return l.encode(append(recent, now)), nil
	})
	switch {
	case err == nil:
		return now, 0
	case errors.Is(err, errLimited):
		return time.Time{}, w
	}
	l.d.log.Warn("rate limit: the store did not answer; refusing for now", "limit", l.name, "err", err)
	return time.Time{}, time.Second
}

// release uncounts the event of k taken at at. A failed write leaves it
// counted until the window passes: the safe side.
func (l *sharedLimiter) release(k string, at time.Time) {
	ctx, cancel := l.d.storeCtx()
	defer cancel()
	_, err := persistence.Update(ctx, l.d.store, l.key(k), func(old persistence.Record) ([]byte, error) {
		times := decodeTimes(old.Value)
		i := slices.IndexFunc(times, at.Equal)
		if i < 0 {
			return nil, errNotCounted
		}
		return l.encode(slices.Delete(times, i, i+1)), nil
	})
	if err != nil && !errors.Is(err, errNotCounted) {
		l.d.log.Warn("rate limit: uncount an attempt", "limit", l.name, "err", err)
	}
}
