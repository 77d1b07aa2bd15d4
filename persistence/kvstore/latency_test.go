package kvstore

import (
	"context"
	"errors"
	"testing"

	"github.com/etaxd/etaxd/persistence"
)

// TestLatencyCountsEachCommit: every commit against the JetStream KV store
// adds exactly one observation to its kind (one record: single; several:
// batch), refused ones included; every Get adds one read; a commit that
// writes nothing adds none.
func TestLatencyCountsEachCommit(t *testing.T) {
	ctx := context.Background()
	ns := startServer(t, nil)
	s := openStore(t, connect(t, ns.ClientURL()), Options{})
	before := s.Latency()
	ev := persistence.AuditEvent{Tenant: "t1", Actor: "system", Action: "test", Target: "k"}
	const singles, batches = 7, 4
	var rev uint64
	for i := range singles - 2 {
		var err error
		if rev, err = persistence.Put(ctx, s, "k/1", []byte{byte(i)}, rev); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendAudit(ctx, ev); err != nil {
		t.Fatal(err)
	}
	if _, err := persistence.Put(ctx, s, "k/1", []byte("stale"), rev+5); !errors.Is(err, persistence.ErrRevisionMismatch) {
		t.Fatalf("stale put: %v", err)
	}
	for i := range batches - 1 {
		if _, err := s.Commit(ctx, persistence.Op{Key: "k/2", Value: []byte{byte(i)}, AnyRevision: true},
			persistence.Op{Key: "k/3", Value: []byte{byte(i)}, AnyRevision: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CommitAudited(ctx, ev, persistence.Op{Key: "k/4", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	const reads = 3
	for _, k := range []string{"k/1", "k/2", "k/absent"} {
		_, _ = s.Get(ctx, k)
	}
	after := s.Latency()
	if n := after.Single.Count - before.Single.Count; n != singles {
		t.Errorf("single commits counted %d, made %d", n, singles)
	}
	if n := after.Batch.Count - before.Batch.Count; n != batches {
		t.Errorf("batch commits counted %d, made %d", n, batches)
	}
	// Put reads the key's revision through the store's internals, not Get:
	// only the Gets count as reads.
	if n := after.Read.Count - before.Read.Count; n != reads {
		t.Errorf("reads counted %d, made %d", n, reads)
	}
	for name, h := range map[string]persistence.HistogramSnapshot{"single": after.Single, "batch": after.Batch, "read": after.Read} {
		if h.Sum <= 0 {
			t.Errorf("%s: sum %g", name, h.Sum)
		}
		prev := uint64(0)
		for _, le := range persistence.LatencyBuckets {
			if h.Buckets[le] < prev || h.Buckets[le] > h.Count {
				t.Errorf("%s: bucket le=%g holds %d (previous %d, count %d): not cumulative", name, le, h.Buckets[le], prev, h.Count)
			}
			prev = h.Buckets[le]
		}
	}
}
