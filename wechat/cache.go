package wechat

import (
	"sync"
	"time"

	"github.com/silenceper/wechat/v2/cache"
)

// tokenCache is the SDK's token cache: a mutex-guarded map whose entries
// expire by the injected clock. (The SDK's cache.Memory races in v2.1.10.)
type tokenCache struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]cacheItem
}

type cacheItem struct {
	val any
	exp time.Time
}

var _ cache.Cache = (*tokenCache)(nil)

func newTokenCache(now func() time.Time) *tokenCache {
	return &tokenCache{now: now, m: map[string]cacheItem{}}
}

// Get returns the live value of key, or nil.
func (c *tokenCache) Get(key string) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.m[key]
	if !ok {
		return nil
	}
	if !c.now().Before(it.exp) {
		delete(c.m, key)
		return nil
	}
	return it.val
}

// Set stores val for timeout. A timeout ≤ 0 (a token WeChat says lives less
// than the SDK's safety margin) stores nothing.
func (c *tokenCache) Set(key string, val any, timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if timeout <= 0 {
		delete(c.m, key)
		return nil
	}
	c.m[key] = cacheItem{val: val, exp: c.now().Add(timeout)}
	return nil
}

// IsExist reports whether key has a live value.
func (c *tokenCache) IsExist(key string) bool { return c.Get(key) != nil }

// Delete removes key.
func (c *tokenCache) Delete(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return nil
}

// compareAndDelete removes key if it still holds val, and reports whether
// it did: of several senders whose token was rejected, only the first drops
// it, and the others use the token fetched meanwhile.
func (c *tokenCache) compareAndDelete(key string, val any) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if it, ok := c.m[key]; ok && it.val == val {
		delete(c.m, key)
		return true
	}
	return false
}

// boundedMap is a mutex-guarded map whose entries expire ttl after they are
// put and whose size is bounded by max, the oldest entries going first.
type boundedMap[K comparable, V any] struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	seq   uint64
	m     map[K]boundedEntry[V]
	order []orderKey[K] // insertion order; stale keys are skipped
}

type boundedEntry[V any] struct {
	val V
	exp time.Time
	seq uint64
}

type orderKey[K comparable] struct {
	key K
	seq uint64
}

func newBoundedMap[K comparable, V any](ttl time.Duration, max int) *boundedMap[K, V] {
	return &boundedMap[K, V]{ttl: ttl, max: max, m: map[K]boundedEntry[V]{}}
}

// get returns the live value of k.
func (b *boundedMap[K, V]) get(k K, now time.Time) (V, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.m[k]
	if !ok || !now.Before(e.exp) {
		var zero V
		return zero, false
	}
	return e.val, true
}

// put stores v under k, replacing a previous value.
func (b *boundedMap[K, V]) put(k K, v V, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.putLocked(k, v, now)
}

// putIfAbsent stores v under k unless k has a live value, and reports
// whether it stored it.
func (b *boundedMap[K, V]) putIfAbsent(k K, v V, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.m[k]; ok && now.Before(e.exp) {
		return false
	}
	b.putLocked(k, v, now)
	return true
}

// loadOrStore returns the live value of k, or stores v under k; loaded
// reports which.
func (b *boundedMap[K, V]) loadOrStore(k K, v V, now time.Time) (actual V, loaded bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.m[k]; ok && now.Before(e.exp) {
		return e.val, true
	}
	b.putLocked(k, v, now)
	return v, false
}

// remove deletes k.
func (b *boundedMap[K, V]) remove(k K) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, k)
}

// len returns the number of entries, expired ones not yet purged included.
func (b *boundedMap[K, V]) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

func (b *boundedMap[K, V]) putLocked(k K, v V, now time.Time) {
	b.seq++
	b.m[k] = boundedEntry[V]{val: v, exp: now.Add(b.ttl), seq: b.seq}
	b.order = append(b.order, orderKey[K]{key: k, seq: b.seq})
	// Entries expire in insertion order (one ttl, a clock that does not go
	// back), so purging from the front finds every expired one.
	drop := 0
	for drop < len(b.order) {
		ok := b.order[drop]
		e, live := b.m[ok.key]
		switch {
		case !live || e.seq != ok.seq: // removed or replaced since
		case len(b.m) > b.max || !now.Before(e.exp):
			delete(b.m, ok.key)
		default:
			goto done
		}
		drop++
	}
done:
	if drop > 0 {
		b.order = b.order[drop:]
	}
	// Drop stale keys behind a live head once they could dominate, and
	// compact when the slice's dead head dominates its capacity.
	if len(b.order) > 2*len(b.m)+64 {
		live := make([]orderKey[K], 0, len(b.m))
		for _, ok := range b.order {
			if e, in := b.m[ok.key]; in && e.seq == ok.seq {
				live = append(live, ok)
			}
		}
		b.order = live
	} else if cap(b.order) > 64 && len(b.order) < cap(b.order)/4 {
		b.order = append([]orderKey[K](nil), b.order...)
	}
}
