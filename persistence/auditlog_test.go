package persistence

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// auditCounts returns how many events the audit log and the audit index hold.
func auditCounts(t *testing.T, b *Bolt) (logged, indexed int) {
	t.Helper()
	if err := b.view(func(tx *bbolt.Tx, _ *touched) error {
		logged = tx.Bucket(bucketAuditLog).Stats().KeyN
		indexed = tx.Bucket(bucketAudit).Stats().KeyN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return logged, indexed
}

// TestBoltAuditLog: an audited change appends its event to the log; Audit
// moves the log into the index first, so it reads every event appended
// before it, in time order; a refused change logs nothing; and the log is
// indexed by the committer once it holds auditIndexBatch events.
func TestBoltAuditLog(t *testing.T) {
	ctx := context.Background()
	b, _ := openTest(t, BoltOptions{})
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for i := range 5 {
		// Times out of append order: the index orders them.
		ev := AuditEvent{Time: t0.Add(time.Duration(5-i) * time.Second), Tenant: "t1", Actor: "system", Action: "a", Target: "x", Outcome: "ok"}
		if _, err := b.CommitAudited(ctx, ev, Op{Key: "k", Value: []byte{byte(i)}, AnyRevision: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.CommitAudited(ctx, AuditEvent{Tenant: "t1", Action: "refused"}, Op{Key: "k", Value: []byte("x"), Expected: 1}); !errors.Is(err, ErrRevisionMismatch) {
		t.Fatalf("stale commit: %v", err)
	}
	if logged, indexed := auditCounts(t, b); logged != 5 || indexed != 0 {
		t.Fatalf("after 5 audited changes: %d logged, %d indexed; want 5, 0", logged, indexed)
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	var got []AuditEvent
	if err := b.Audit(ctx, "t1", time.Time{}, time.Time{}, func(ev AuditEvent) error { got = append(got, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("Audit read %d events, want 5", len(got))
	}
	for i, ev := range got {
		if want := t0.Add(time.Duration(i+1) * time.Second); !ev.Time.Equal(want) || ev.Seq != uint64(5-i) {
			t.Fatalf("event %d = %+v, want time %s seq %d", i, ev, want, 5-i)
		}
	}
	if logged, indexed := auditCounts(t, b); logged != 0 || indexed != 5 {
		t.Fatalf("after Audit: %d logged, %d indexed; want 0, 5", logged, indexed)
	}

	// Past auditIndexBatch, the committer indexes without a read.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range auditIndexBatch / 8 {
				ev := AuditEvent{Tenant: fmt.Sprintf("t%d", w%3), Action: "b", Outcome: "ok"}
				if err := b.AppendAudit(ctx, ev); err != nil {
					errs <- fmt.Errorf("writer %d, event %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	logged, indexed := auditCounts(t, b)
	if logged+indexed != 5+auditIndexBatch || logged >= auditIndexBatch || indexed <= 5 {
		t.Fatalf("after %d more events: %d logged, %d indexed", auditIndexBatch, logged, indexed)
	}
	if st := b.Stats(); st.Commits != 5+auditIndexBatch {
		t.Fatalf("Stats.Commits = %d, want %d (Audit's indexing is no write)", st.Commits, 5+auditIndexBatch)
	}
}

// TestBoltAuditLogAfterReopen: events still in the log (not yet indexed)
// when the store was closed are read by the first Audit after it is
// opened again, before any write.
func TestBoltAuditLogAfterReopen(t *testing.T) {
	ctx := context.Background()
	b, path := openTest(t, BoltOptions{})
	for i := range 3 {
		if err := b.AppendAudit(ctx, AuditEvent{Tenant: "t1", Actor: "cli", Action: fmt.Sprintf("a%d", i), Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openAt(t, path, BoltOptions{})
	if logged, indexed := auditCounts(t, b); logged != 3 || indexed != 0 {
		t.Fatalf("reopened: %d logged, %d indexed; want 3, 0", logged, indexed)
	}
	n := 0
	if err := b.Audit(ctx, "t1", time.Time{}, time.Time{}, func(AuditEvent) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("Audit after a reopen read %d events, want 3", n)
	}
}
