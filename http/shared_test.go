package httpapi

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/natsbus"
)

// sharedKV is a real shared map: a bucket of an embedded NATS server, as
// the nodes of a cluster share it.
func sharedKV(t *testing.T) *natsbus.SharedKV {
	t.Helper()
	b, err := natsbus.StartEmbedded(natsbus.EmbeddedOptions{StoreDir: filepath.Join(t.TempDir(), "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := b.OpenSharedKV(ctx, "test_shared", time.Hour, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestSharedIdempotencyAcrossNodes(t *testing.T) {
	kv := sharedKV(t)
	node1, node2 := NewSharedIdempotency(kv, nil), NewSharedIdempotency(kv, nil)
	node2.poll = 5 * time.Millisecond
	ctx := context.Background()
	now := time.Now()
	if r, err := node1.Claim(ctx, "k1", "fp", now); r != nil || err != nil {
		t.Fatalf("first claim: %v %v", r, err)
	}
	// node2 waits for node1's answer.
	got := make(chan *StoredResponse, 1)
	go func() {
		r, err := node2.Claim(ctx, "k1", "fp", now)
		if err != nil {
			t.Error(err)
		}
		got <- r
	}()
	node1.Complete("k1", StoredResponse{Status: 201, Body: []byte(`{"ok":true}`)}, now)
	r := <-got
	if r == nil || r.Status != 201 || string(r.Body) != `{"ok":true}` {
		t.Fatalf("replayed answer %+v", r)
	}
	if _, err := node2.Claim(ctx, "k1", "another body", now); !errors.Is(err, ErrIdempotencyMismatch) {
		t.Fatalf("other fingerprint: %v", err)
	}
	// Past its TTL the key runs again.
	if r, err := node2.Claim(ctx, "k1", "fp", now.Add(IdempotencyTTL+time.Second)); r != nil || err != nil {
		t.Fatalf("expired: %v %v", r, err)
	}
	// A released key is claimed again.
	node2.Release("k1")
	if r, err := node1.Claim(ctx, "k1", "fp", now); r != nil || err != nil {
		t.Fatalf("after release: %v %v", r, err)
	}
	// A wait ends with the caller's context.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := node2.Claim(cctx, "k1", "fp", now); err == nil {
		t.Fatal("a claim on a reserved key returned without an answer")
	}
}
