package httpapi

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/sign"
)

func TestMemoryNonces(t *testing.T) {
	now := t0
	m := NewMemoryNonces(0)
	use := func(key, nonce string, ts time.Time) (bool, error) { return m.Use(key, nonce, ts.Add(sign.Skew), now) }
	if fresh, err := use("k", "n1", now); !fresh || err != nil {
		t.Fatal("first use refused")
	}
	if fresh, _ := use("k", "n1", now); fresh {
		t.Fatal("second use accepted")
	}
	if fresh, _ := use("k2", "n1", now); !fresh {
		t.Fatal("another key's nonce refused")
	}
	// A nonce stays refused while any timestamp could be fresh: the worst
	// case is a timestamp 300 s ahead, fresh until 600 s from now.
	ahead := now.Add(sign.Skew)
	if fresh, _ := use("k", "ahead", ahead); !fresh {
		t.Fatal("refused")
	}
	for _, step := range []time.Duration{time.Second, 299 * time.Second, 300 * time.Second, 599 * time.Second} {
		now = t0.Add(step)
		if fresh, _ := use("k", "ahead", ahead); fresh {
			t.Fatalf("nonce accepted again after %v", step)
		}
	}
	// the clock stepping back forgets nothing
	now = t0.Add(-time.Hour)
	if fresh, _ := use("k", "n1", t0); fresh {
		t.Fatal("nonce accepted again after the clock stepped back")
	}
	// long after, the generations have rotated away
	now = t0.Add(time.Hour)
	if fresh, _ := use("k", "n1", now); !fresh {
		t.Fatal("an old nonce is still remembered an hour later")
	}
}

// TestMemoryNoncesBound: a full cache refuses rather than forgets, and
// makes room as entries expire.
func TestMemoryNoncesBound(t *testing.T) {
	now := t0
	m := NewMemoryNonces(nonceShards) // one per shard
	full := 0
	for i := 0; i < 10*nonceShards; i++ {
		if _, err := m.Use("k", fmt.Sprintf("n%d", i), now.Add(sign.Skew), now); errors.Is(err, ErrNonceCacheFull) {
			full++
		}
	}
	if full == 0 || m.Len() > nonceShards {
		t.Fatalf("full = %d, len = %d", full, m.Len())
	}
	// expired entries make room at once, before any rotation
	later := now.Add(sign.Skew + time.Second)
	for i := 0; i < 10*nonceShards; i++ {
		if _, err := m.Use("k", fmt.Sprintf("m%d", i), later.Add(sign.Skew), later); err != nil && !errors.Is(err, ErrNonceCacheFull) {
			t.Fatal(err)
		}
	}
	if m.Len() > nonceShards {
		t.Fatalf("len = %d", m.Len())
	}
}

func TestMemoryIdempotency(t *testing.T) {
	ctx := context.Background()
	m := NewMemoryIdempotency(2)
	r, err := m.Claim(ctx, "a", "fp1", t0)
	if r != nil || err != nil {
		t.Fatal(r, err)
	}
	m.Complete("a", StoredResponse{Status: 202, Body: []byte(`{"x":1}`)}, t0)
	if r, _ := m.Claim(ctx, "a", "fp1", t0.Add(time.Hour)); r == nil || r.Status != 202 || string(r.Body) != `{"x":1}` {
		t.Fatalf("replay = %+v", r)
	}
	if _, err := m.Claim(ctx, "a", "fp2", t0); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Fatalf("other fingerprint = %v", err)
	}
	// Release frees the key
	if r, _ := m.Claim(ctx, "b", "fp", t0); r != nil {
		t.Fatal(r)
	}
	m.Release("b")
	if r, _ := m.Claim(ctx, "b", "fp-other", t0); r != nil {
		t.Fatal("released key still held")
	}
	m.Complete("b", StoredResponse{Status: 200, Body: []byte(`{}`)}, t0)
	// capacity 2: reading a makes b the least recently used, so the third
	// answer evicts b
	if r, _ := m.Claim(ctx, "a", "fp1", t0); r == nil {
		t.Fatal("a forgotten")
	}
	if r, _ := m.Claim(ctx, "c", "fp", t0); r != nil {
		t.Fatal(r)
	}
	m.Complete("c", StoredResponse{Status: 200, Body: []byte(`{}`)}, t0)
	if m.Len() != 2 {
		t.Fatalf("len = %d", m.Len())
	}
	if r, _ := m.Claim(ctx, "a", "fp1", t0); r == nil {
		t.Fatal("the most recently used answer was evicted")
	}
	if r, _ := m.Claim(ctx, "b", "fp-other", t0); r != nil {
		t.Fatal("the least recently used answer was kept")
	}
	m.Release("b")
	// TTL
	if r, _ := m.Claim(ctx, "a", "fp1", t0.Add(IdempotencyTTL)); r != nil {
		t.Fatal("answer kept past its 24 hours")
	}
	m.Release("a")
}

// TestMemoryIdempotencyConcurrent: a claim on a reserved key waits for the
// first caller and gets its answer; a cancelled wait is busy.
func TestMemoryIdempotencyConcurrent(t *testing.T) {
	m := NewMemoryIdempotency(0)
	ctx := context.Background()
	if r, _ := m.Claim(ctx, "k", "fp", t0); r != nil {
		t.Fatal(r)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Claim(cctx, "k", "fp", t0); !errors.Is(err, domain.ErrBusy) {
		t.Fatalf("cancelled wait = %v", err)
	}
	var wg sync.WaitGroup
	got := make([]*StoredResponse, 8)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i], _ = m.Claim(ctx, "k", "fp", t0)
		}(i)
	}
	m.Complete("k", StoredResponse{Status: 201, Body: []byte(`{"id":"w"}`)}, t0)
	wg.Wait()
	for i, r := range got {
		if r == nil || r.Status != 201 {
			t.Fatalf("waiter %d = %+v", i, r)
		}
	}
	// a large answer is sent but not kept
	if r, _ := m.Claim(ctx, "big", "fp", t0); r != nil {
		t.Fatal(r)
	}
	m.Complete("big", StoredResponse{Status: 200, Body: make([]byte, maxStoredBody+1)}, t0)
	if r, _ := m.Claim(ctx, "big", "fp", t0); r != nil {
		t.Fatal("large answer kept")
	}
}
