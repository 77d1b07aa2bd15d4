package httpapi

import (
	"errors"
	"hash/maphash"
	"sync"
	"time"

	"github.com/etaxd/etaxd/internal/sign"
)

// NonceCache remembers the nonces of accepted requests so that none is
// accepted twice while its timestamp is fresh. Implementations are safe for
// concurrent use.
type NonceCache interface {
	// Use records keyID's nonce as used until until, and reports whether it
	// was unused. ErrNonceCacheFull means the cache cannot remember another
	// nonce now: the request must be refused, not accepted unchecked.
	Use(keyID, nonce string, until, now time.Time) (fresh bool, err error)
}

// ErrNonceCacheFull is returned by NonceCache.Use when the cache is at its
// bound with nonces that are still within their window.
var ErrNonceCacheFull = errors.New("httpapi: nonce cache full")

// DefaultNonceCapacity bounds a MemoryNonces made with capacity 0: at
// 64 bytes an entry, about 64 MiB. It holds ten minutes of 1,700 signed
// requests a second.
const DefaultNonceCapacity = 1 << 20

// nonceShards spreads the cache over independent locks.
const nonceShards = 64

// MemoryNonces is a NonceCache in this process's memory: it protects one
// node only (a request replayed to another node behind the same load
// balancer is not seen). Its size is bounded; when it is full of live
// nonces, Use refuses rather than forgets. The zero value is not usable;
// call NewMemoryNonces.
//
// Entries live in two generations per shard that rotate every 2×sign.Skew,
// so an entry stays at least 2×sign.Skew, which covers any timestamp the
// freshness check lets through (now-Skew ≤ ts, until = ts+Skew ≤ now+2×Skew).
type MemoryNonces struct {
	seed   maphash.Seed
	period int64 // seconds
	perCap int
	shards [nonceShards]nonceShard
}

type nonceShard struct {
	mu        sync.Mutex
	gen       int64
	cur, prev map[string]int64 // key id + nonce → until (unix seconds)
	_         [40]byte         // keeps shards on separate cache lines
}

// NewMemoryNonces returns an empty cache for at most capacity nonces (0:
// DefaultNonceCapacity).
func NewMemoryNonces(capacity int) *MemoryNonces {
	if capacity <= 0 {
		capacity = DefaultNonceCapacity
	}
	m := &MemoryNonces{seed: maphash.MakeSeed(), period: int64(2 * sign.Skew / time.Second), perCap: max(capacity/nonceShards, 1)}
	for i := range m.shards {
		m.shards[i].cur = map[string]int64{}
		m.shards[i].prev = map[string]int64{}
	}
	return m
}

// Use implements NonceCache.
func (m *MemoryNonces) Use(keyID, nonce string, until, now time.Time) (bool, error) {
	k := keyID + "\x00" + nonce
	s := &m.shards[maphash.String(m.seed, k)%nonceShards]
	nowS := now.Unix()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rotate(nowS / m.period)
	if u, has := s.cur[k]; has && u >= nowS {
		return false, nil
	}
	if u, has := s.prev[k]; has && u >= nowS {
		return false, nil
	}
	if len(s.cur)+len(s.prev) >= m.perCap {
		s.sweep(nowS)
		if len(s.cur)+len(s.prev) >= m.perCap {
			return false, ErrNonceCacheFull
		}
	}
	s.cur[k] = until.Unix()
	return true, nil
}

// Len returns how many nonces the cache holds.
func (m *MemoryNonces) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.cur) + len(s.prev)
		s.mu.Unlock()
	}
	return n
}

func (s *nonceShard) rotate(gen int64) {
	switch {
	case gen <= s.gen: // the same period, or the clock stepped back: keep all
		return
	case gen == s.gen+1:
		s.prev, s.cur = s.cur, make(map[string]int64, len(s.cur))
	default: // a jump (first use, or a clock step): both generations are old
		if len(s.cur)+len(s.prev) > 0 {
			clear(s.prev)
			clear(s.cur)
		}
	}
	s.gen = gen
}

// sweep drops expired entries; it runs only when the shard is full.
func (s *nonceShard) sweep(now int64) {
	for k, u := range s.prev {
		if u < now {
			delete(s.prev, k)
		}
	}
	for k, u := range s.cur {
		if u < now {
			delete(s.cur, k)
		}
	}
}
