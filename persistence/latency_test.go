package persistence_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/persistence/storetest"
)

func TestHistogramBuckets(t *testing.T) {
	for i := 1; i < len(persistence.LatencyBuckets); i++ {
		if persistence.LatencyBuckets[i] <= persistence.LatencyBuckets[i-1] {
			t.Fatalf("LatencyBuckets not ascending at %d", i)
		}
	}
	var h persistence.Histogram
	h.Observe(0)                      // ≤ the first bound
	h.Observe(100 * time.Microsecond) // exactly on the bound 0.0001
	h.Observe(101 * time.Microsecond) // just above it
	h.Observe(3 * time.Millisecond)   // ≤ 0.005
	h.Observe(time.Minute)            // above every bound: only in the count
	s := h.Snapshot()
	if s.Count != 5 {
		t.Fatalf("count %d, want 5", s.Count)
	}
	want := map[float64]uint64{.00005: 1, .0001: 2, .00025: 3, .0025: 3, .005: 4, 10: 4}
	for le, n := range want {
		if s.Buckets[le] != n {
			t.Errorf("bucket le=%g: %d, want %d (%v)", le, s.Buckets[le], n, s.Buckets)
		}
	}
	if len(s.Buckets) != len(persistence.LatencyBuckets) {
		t.Errorf("%d buckets, want %d", len(s.Buckets), len(persistence.LatencyBuckets))
	}
	sum := (100*time.Microsecond + 101*time.Microsecond + 3*time.Millisecond + time.Minute).Seconds()
	if d := s.Sum - sum; d > 1e-9 || d < -1e-9 {
		t.Errorf("sum %g, want %g", s.Sum, sum)
	}
}

// TestTimedCountsEachCall: a store wrapped in Timed counts each commit by
// the records it writes, each Get, whatever the outcome, and nothing else.
func TestTimedCountsEachCall(t *testing.T) {
	ctx := context.Background()
	b, err := persistence.OpenBolt(filepath.Join(t.TempDir(), "etaxd.db"), persistence.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	s := persistence.Timed(b)
	if s.Unwrap() != b {
		t.Fatal("Unwrap is not the wrapped store")
	}
	ev := persistence.AuditEvent{Tenant: "t1", Actor: "op", Action: "test", Target: "k"}
	rev, err := persistence.Put(ctx, s, "k/1", []byte("a"), 0) // single
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, persistence.Op{Key: "k/1", Value: []byte("x"), Expected: rev + 7}); !errors.Is(err, persistence.ErrRevisionMismatch) {
		t.Fatalf("stale put: %v", err) // single, refused: counted too
	}
	if _, err := s.Commit(ctx, persistence.Op{Key: "k/2", Value: []byte("b")}, persistence.Op{Key: "k/3", Value: []byte("c")}); err != nil {
		t.Fatal(err) // batch
	}
	if _, err := s.CommitAudited(ctx, ev, persistence.Op{Key: "k/4", Value: []byte("d")}); err != nil {
		t.Fatal(err) // batch: a record and its audit event
	}
	if err := s.AppendAudit(ctx, ev); err != nil {
		t.Fatal(err) // single
	}
	if _, err := s.Commit(ctx); err != nil {
		t.Fatal(err) // writes nothing: not counted
	}
	for _, k := range []string{"k/1", "k/2", "k/none"} {
		_, _ = s.Get(ctx, k)
	}
	if err := s.Scan(ctx, "k/", func(persistence.Record) error { return nil }); err != nil {
		t.Fatal(err) // a scan is not a read of one key: not counted
	}
	l := s.Latency()
	if l.Single.Count != 3 || l.Batch.Count != 2 || l.Read.Count != 3 {
		t.Fatalf("single %d (want 3), batch %d (want 2), read %d (want 3)", l.Single.Count, l.Batch.Count, l.Read.Count)
	}
	if l.Single.Sum <= 0 || l.Batch.Sum <= 0 || l.Read.Sum <= 0 {
		t.Fatalf("sums %g %g %g", l.Single.Sum, l.Batch.Sum, l.Read.Sum)
	}
}

// TestTimedConformance: the wrapper passes every call through unchanged.
func TestTimedConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) persistence.Store {
		b, err := persistence.OpenBolt(filepath.Join(t.TempDir(), "etaxd.db"), persistence.BoltOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return persistence.Timed(b)
	}, storetest.ExactRevisions())
}
