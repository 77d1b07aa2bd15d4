package httpapi

import (
	"container/list"
	"context"
	"sync"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// IdempotencyTTL is how long a POST's answer is kept for its
// Idempotency-Key.
const IdempotencyTTL = 24 * time.Hour

// DefaultIdempotencyCapacity bounds a MemoryIdempotency made with capacity
// 0. An entry is about 1 KiB (the answers are small), so about 100 MiB.
const DefaultIdempotencyCapacity = 100_000

// maxStoredBody is the largest answer kept for replay; a larger one is
// answered but not kept (no POST of the API answers that much).
const maxStoredBody = 64 << 10

// StoredResponse is an answer kept for replay.
type StoredResponse struct {
	Status int
	Body   []byte
}

// Idempotency keeps the answers of POSTs by their Idempotency-Key (scoped
// by the caller to one API key). Implementations are safe for concurrent
// use.
type Idempotency interface {
	// Claim returns the answer stored under key when there is one for the
	// same fingerprint (the request's method, path and body hash), or
	// ErrIdempotencyMismatch when key was used for another fingerprint.
	// Otherwise it reserves key and returns nil: the caller then runs the
	// request and must call Complete or Release. A claim on a key that is
	// reserved waits until the first caller finishes or ctx ends.
	Claim(ctx context.Context, key, fingerprint string, now time.Time) (*StoredResponse, error)
	// Complete stores the answer of a reserved key until now + IdempotencyTTL.
	Complete(key string, r StoredResponse, now time.Time)
	// Release forgets a reserved key without an answer (the request failed
	// in a way worth retrying), so the next claim runs it again.
	Release(key string)
}

// MemoryIdempotency is an Idempotency in this process's memory: an LRU of
// at most capacity answers, each kept IdempotencyTTL. Under pressure the
// least recently used answers are forgotten before their 24 hours (a
// retry then runs again), and answers do not survive a restart or reach
// another node. The zero value is not usable; call NewMemoryIdempotency.
type MemoryIdempotency struct {
	mu      sync.Mutex
	cap     int
	entries map[string]*idemEntry
	lru     list.List // of *idemEntry, most recent at the front; completed entries only
}

type idemEntry struct {
	key         string
	fingerprint string
	done        chan struct{} // closed when Complete or Release ran
	resp        *StoredResponse
	expires     time.Time
	elem        *list.Element
}

// NewMemoryIdempotency returns an empty store for at most capacity answers
// (0: DefaultIdempotencyCapacity).
func NewMemoryIdempotency(capacity int) *MemoryIdempotency {
	if capacity <= 0 {
		capacity = DefaultIdempotencyCapacity
	}
	return &MemoryIdempotency{cap: capacity, entries: map[string]*idemEntry{}}
}

// Claim implements Idempotency.
func (m *MemoryIdempotency) Claim(ctx context.Context, key, fingerprint string, now time.Time) (*StoredResponse, error) {
	for {
		m.mu.Lock()
		e := m.entries[key]
		if e != nil && e.resp != nil && !now.Before(e.expires) {
			m.remove(e)
			e = nil
		}
		if e == nil {
			if len(m.entries) >= m.cap {
				m.evict()
			}
			m.entries[key] = &idemEntry{key: key, fingerprint: fingerprint, done: make(chan struct{})}
			m.mu.Unlock()
			return nil, nil
		}
		if e.fingerprint != fingerprint {
			m.mu.Unlock()
			return nil, ErrIdempotencyMismatch
		}
		if e.resp != nil {
			m.lru.MoveToFront(e.elem)
			r := *e.resp
			m.mu.Unlock()
			return &r, nil
		}
		done := e.done
		m.mu.Unlock()
		select {
		case <-done: // completed (replay it) or released (claim it): look again
		case <-ctx.Done():
			return nil, domain.ErrBusy.Wrap(ctx.Err())
		}
	}
}

// Complete implements Idempotency.
func (m *MemoryIdempotency) Complete(key string, r StoredResponse, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[key]
	if e == nil || e.resp != nil {
		return
	}
	if len(r.Body) > maxStoredBody {
		delete(m.entries, key)
	} else {
		r.Body = append([]byte(nil), r.Body...)
		e.resp, e.expires = &r, now.Add(IdempotencyTTL)
		e.elem = m.lru.PushFront(e)
	}
	close(e.done)
}

// Release implements Idempotency.
func (m *MemoryIdempotency) Release(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.entries[key]; e != nil && e.resp == nil {
		delete(m.entries, key)
		close(e.done)
	}
}

// Len returns how many keys the store holds, reserved ones included.
func (m *MemoryIdempotency) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// evict makes room by forgetting the least recently used answers.
// Reserved keys are never evicted (their callers are running), so the
// store may exceed its capacity by the number of requests in flight.
func (m *MemoryIdempotency) evict() {
	for el := m.lru.Back(); el != nil && len(m.entries) >= m.cap; el = m.lru.Back() {
		m.remove(el.Value.(*idemEntry))
	}
}

func (m *MemoryIdempotency) remove(e *idemEntry) {
	if e.elem != nil {
		m.lru.Remove(e.elem)
	}
	delete(m.entries, e.key)
}
