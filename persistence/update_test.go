package persistence

import (
	"context"
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestUpdateConcurrentWritersLoseNothing: writers that share a key through
// Update each see their change stored, none overwrites another's.
func TestUpdateConcurrentWritersLoseNothing(t *testing.T) {
	b, _ := openTest(t, BoltOptions{})
	ctx := context.Background()
	const writers = 16
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Update(ctx, b, "wxuser/u1", func(old Record) ([]byte, error) {
				return append(append([]byte{}, old.Value...), []byte(strconv.Itoa(i)+",")...), nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		// Sixteen writers on one key may exhaust the attempts of one of
		// them; such a writer got an error and stored nothing.
		if err != nil && !errors.Is(err, ErrRevisionMismatch) {
			t.Fatal(err)
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
	if uint64(len(parts)) != got.Revision {
		t.Fatalf("%d changes stored in %d revisions: a write was lost", len(parts), got.Revision)
	}
}

// TestUpdateUnchangedAndFailing: an unchanged value writes nothing, an
// error from fn writes nothing and is returned as is.
func TestUpdateUnchangedAndFailing(t *testing.T) {
	b, _ := openTest(t, BoltOptions{})
	ctx := context.Background()
	rec, err := Update(ctx, b, "k", func(old Record) ([]byte, error) {
		if old.Revision != 0 || old.Value != nil {
			t.Errorf("absent key read as %+v", old)
		}
		return []byte("v1"), nil
	})
	if err != nil || rec.Revision != 1 || string(rec.Value) != "v1" {
		t.Fatalf("create: %+v, %v", rec, err)
	}
	rec, err = Update(ctx, b, "k", func(old Record) ([]byte, error) { return old.Value, nil })
	if err != nil || rec.Revision != 1 {
		t.Fatalf("unchanged value: %+v, %v; want revision 1 and no write", rec, err)
	}
	boom := errors.New("boom")
	if _, err := Update(ctx, b, "k", func(Record) ([]byte, error) { return []byte("v2"), boom }); !errors.Is(err, boom) {
		t.Fatalf("fn error: %v", err)
	}
	if got, _ := b.Get(ctx, "k"); got.Revision != 1 || string(got.Value) != "v1" {
		t.Fatalf("after a failing fn: %+v", got)
	}
}

// TestUpdateGivesUpUnderContention: a key that changes between every read
// and write fails Update with ErrRevisionMismatch after MaxUpdateAttempts,
// and Update's own value is never stored.
func TestUpdateGivesUpUnderContention(t *testing.T) {
	b, _ := openTest(t, BoltOptions{})
	ctx := context.Background()
	calls := 0
	_, err := Update(ctx, b, "k", func(old Record) ([]byte, error) {
		calls++
		mustPut(t, b, "k", "other", old.Revision) // another writer wins
		return []byte("mine"), nil
	})
	if !errors.Is(err, ErrRevisionMismatch) || calls != MaxUpdateAttempts {
		t.Fatalf("err %v after %d calls, want a mismatch after %d", err, calls, MaxUpdateAttempts)
	}
	if got, _ := b.Get(ctx, "k"); string(got.Value) != "other" {
		t.Fatalf("stored %q", got.Value)
	}
}

// TestUpdateAuditedAppendsWithTheWrite: the audit event is stored with the
// change, and not at all when nothing changed.
func TestUpdateAuditedAppendsWithTheWrite(t *testing.T) {
	b, _ := openTest(t, BoltOptions{})
	ctx := context.Background()
	ev := AuditEvent{Time: time.Unix(100, 0), Tenant: "t1", Actor: "cli", Action: "apikey.revoke", Target: "apikey/k1", Outcome: "ok"}
	set := func(Record) ([]byte, error) { return []byte("revoked"), nil }
	if _, err := UpdateAudited(ctx, b, ev, "apikey/k1", set); err != nil {
		t.Fatal(err)
	}
	if _, err := UpdateAudited(ctx, b, ev, "apikey/k1", set); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := b.Audit(ctx, "t1", time.Time{}, time.Time{}, func(AuditEvent) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d audit events for one change", n)
	}
}

// TestKeyTableMatchesDoc: the key table of doc.go lists exactly the
// prefixes and owners of KeyOwners.
func TestKeyTableMatchesDoc(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	start := strings.Index(doc, "// # Keys")
	end := strings.Index(doc, "// # Acknowledgement")
	if start < 0 || end < start {
		t.Fatal("doc.go has no Keys and Acknowledgement sections")
	}
	row := regexp.MustCompile(`^//\t([a-z]+/)\S*\s{2,}(.+)$`)
	inDoc := map[string]string{}
	for _, line := range strings.Split(doc[start:end], "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			inDoc[m[1]] = m[2]
		}
	}
	for _, o := range KeyOwners {
		if got, has := inDoc[o.Prefix]; !has {
			t.Errorf("doc.go does not list %s", o.Prefix)
		} else if got != o.Owner {
			t.Errorf("doc.go names %q the owner of %s, keys.go %q", got, o.Prefix, o.Owner)
		}
		delete(inDoc, o.Prefix)
	}
	for p := range inDoc {
		t.Errorf("doc.go lists %s, which keys.go does not know", p)
	}
}
