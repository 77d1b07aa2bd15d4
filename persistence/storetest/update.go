package storetest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etaxd/etaxd/persistence"
)

// testUpdateConcurrentWritersLoseNothing: writers that share a key through
// Update each see their change stored, none overwrites another's.
func (s suite) testUpdateConcurrentWritersLoseNothing(t *testing.T) {
	b := s.open(t)
	ctx := context.Background()
	const writers = 16
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	var mu sync.Mutex
	var stored []uint64 // the revisions the successful writers got
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := persistence.Update(ctx, b, "wxuser/u1", func(old persistence.Record) ([]byte, error) {
				return append(append([]byte{}, old.Value...), []byte(strconv.Itoa(i)+",")...), nil
			})
			if err == nil {
				mu.Lock()
				stored = append(stored, rec.Revision)
				mu.Unlock()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		// Sixteen writers on one key may exhaust the attempts of one of
		// them; such a writer got an error and stored nothing.
		if err != nil && !errors.Is(err, persistence.ErrRevisionMismatch) {
			t.Fatal(err)
		}
		if err == nil {
			ok++
		}
	}
	got, err := b.Get(ctx, "wxuser/u1")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSuffix(string(got.Value), ","), ",")
	seen := map[string]bool{}
	for _, p := range parts {
		if seen[p] {
			t.Fatalf("writer %s applied twice: %q", p, got.Value)
		}
		seen[p] = true
	}
	if len(parts) != ok {
		t.Fatalf("%d changes stored, %d writers succeeded: a write was lost", len(parts), ok)
	}
	if s.exact && uint64(len(parts)) != got.Revision {
		t.Fatalf("%d changes stored in %d revisions: a write was lost", len(parts), got.Revision)
	}
	seenRev := map[uint64]bool{}
	for _, r := range stored {
		if seenRev[r] {
			t.Fatalf("two writers were given revision %d", r)
		}
		seenRev[r] = true
	}
}

// testUpdateUnchangedAndFailing: an unchanged value writes nothing, an
// error from fn writes nothing and is returned as is.
func (s suite) testUpdateUnchangedAndFailing(t *testing.T) {
	b := s.open(t)
	ctx := context.Background()
	rec, err := persistence.Update(ctx, b, "k", func(old persistence.Record) ([]byte, error) {
		if old.Revision != 0 || old.Value != nil {
			t.Errorf("absent key read as %+v", old)
		}
		return []byte("v1"), nil
	})
	if err != nil || rec.Revision == 0 || string(rec.Value) != "v1" || (s.exact && rec.Revision != 1) {
		t.Fatalf("create: %+v, %v", rec, err)
	}
	rev := rec.Revision
	rec, err = persistence.Update(ctx, b, "k", func(old persistence.Record) ([]byte, error) { return old.Value, nil })
	if err != nil || rec.Revision != rev {
		t.Fatalf("unchanged value: %+v, %v; want revision %d and no write", rec, err, rev)
	}
	boom := errors.New("boom")
	if _, err := persistence.Update(ctx, b, "k", func(persistence.Record) ([]byte, error) { return []byte("v2"), boom }); !errors.Is(err, boom) {
		t.Fatalf("fn error: %v", err)
	}
	if got, _ := b.Get(ctx, "k"); got.Revision != rev || string(got.Value) != "v1" {
		t.Fatalf("after a failing fn: %+v", got)
	}
}

// testUpdateGivesUpUnderContention: a key that changes between every read
// and write fails Update with ErrRevisionMismatch after MaxUpdateAttempts,
// and Update's own value is never stored.
func (s suite) testUpdateGivesUpUnderContention(t *testing.T) {
	b := s.open(t)
	ctx := context.Background()
	calls := 0
	_, err := persistence.Update(ctx, b, "k", func(old persistence.Record) ([]byte, error) {
		calls++
		mustPut(t, b, "k", "other", old.Revision) // another writer wins
		return []byte("mine"), nil
	})
	if !errors.Is(err, persistence.ErrRevisionMismatch) || calls != persistence.MaxUpdateAttempts {
		t.Fatalf("err %v after %d calls, want a mismatch after %d", err, calls, persistence.MaxUpdateAttempts)
	}
	if got, _ := b.Get(ctx, "k"); string(got.Value) != "other" {
		t.Fatalf("stored %q", got.Value)
	}
}

// testUpdateAuditedAppendsWithTheWrite: the audit event is stored with the
// change, and not at all when nothing changed.
func (s suite) testUpdateAuditedAppendsWithTheWrite(t *testing.T) {
	b := s.open(t)
	ctx := context.Background()
	ev := persistence.AuditEvent{Time: time.Unix(100, 0), Tenant: "t1", Actor: "cli", Action: "apikey.revoke", Target: "apikey/k1", Outcome: "ok"}
	set := func(persistence.Record) ([]byte, error) { return []byte("revoked"), nil }
	if _, err := persistence.UpdateAudited(ctx, b, ev, "apikey/k1", set); err != nil {
		t.Fatal(err)
	}
	if _, err := persistence.UpdateAudited(ctx, b, ev, "apikey/k1", set); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := b.Audit(ctx, "t1", time.Time{}, time.Time{}, func(persistence.AuditEvent) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d audit events for one change", n)
	}
}
