// limiter_shared.go: cluster mode's rate limit of wrong activation codes, counted in the store.

package actors

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
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
		times := append(l.rate.Recent(decodeTimes(old.Value), now), now)
		if len(times) > l.rate.Limit {
			times = times[len(times)-l.rate.Limit:]
		}
		ns := make([]int64, len(times))
		for i, t := range times {
			ns[i] = t.UnixNano()
		}
		return json.Marshal(ns)
	})
	if err != nil {
		l.d.log.Warn("rate limit: count an attempt", "limit", l.name, "err", err)
	}
}
