package persistence

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// The fixture in testdata/store-v2 is a file in format etaxd-bolt-1 (no
// audit log), written by the store of 2026-12-03 just before the audit log
// was added: records, a tombstone, and audit events of three tenants (some
// in the same nanosecond) appended with CommitAudited and AppendAudit.
// TestBoltFixtureV1Format opens it with today's code. It was written with
//
//	go test -run TestWriteBoltFixture -write-bolt-fixture ./persistence/
//
// by that code; run today, the writer writes today's format instead.
var writeBoltFixture = flag.Bool("write-bolt-fixture", false, "rewrite testdata/store-v2 (see fixture_test.go)")

const boltFixtureDir = "testdata/store-v2"

// boltFixture is what the fixture's writer stored, as it read it back.
type boltFixture struct {
	Records map[string]string       `json:"records"` // key → value
	Deleted []string                `json:"deleted"`
	Audit   map[string][]AuditEvent `json:"audit"` // tenant → events as Audit returned them
}

func TestWriteBoltFixture(t *testing.T) {
	if !*writeBoltFixture {
		t.Skip("writes the fixture only with -write-bolt-fixture")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "etaxd.db")
	b, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	tenants := []string{"t1", "t2", ""}
	for i := range 40 {
		tenant := tenants[i%3]
		key := fmt.Sprintf("account/%s/a%d", tenant, i%7)
		at := t0.Add(time.Duration(i/2) * time.Second) // pairs share a nanosecond
		ev := AuditEvent{Time: at, Tenant: tenant, Actor: "system", Action: "account.unlock", Target: key, Outcome: "ok"}
		if i%5 == 4 {
			ev.Detail = fmt.Sprintf("detail %d", i)
			if err := b.AppendAudit(ctx, ev); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := b.CommitAudited(ctx, ev, Op{Key: key, Value: fmt.Appendf(nil, "value %d", i), AnyRevision: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Commit(ctx, Op{Key: "account/t1/a0", Delete: true, AnyRevision: true}); err != nil {
		t.Fatal(err)
	}
	want := boltFixture{Records: map[string]string{}, Deleted: []string{"account/t1/a0"}, Audit: map[string][]AuditEvent{}}
	if err := b.Scan(ctx, "", func(r Record) error { want.Records[r.Key] = string(r.Value); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, tenant := range tenants {
		if err := b.Audit(ctx, tenant, time.Time{}, time.Time{}, func(ev AuditEvent) error {
			want.Audit[tenant] = append(want.Audit[tenant], ev)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(boltFixtureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(boltFixtureDir, "etaxd.db"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	js, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(boltFixtureDir, "contents.json"), append(js, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBoltFixtureV1Format opens the store written in format etaxd-bolt-1
// (testdata/store-v2): OpenBolt upgrades it, and every record, tombstone and
// audit event reads as its writer read it; events appended after the
// upgrade (logged, then indexed) come after the old ones; the file passes
// Check, and reopens.
func TestBoltFixtureV1Format(t *testing.T) {
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join(boltFixtureDir, "etaxd.db"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(filepath.Join(boltFixtureDir, "contents.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want boltFixture
	if err := json.Unmarshal(js, &want); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "etaxd.db")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	b := openAt(t, path, BoltOptions{})
	if err := b.view(func(tx *bbolt.Tx, _ *touched) error {
		if f := tx.Bucket(bucketMeta).Get(keyFormat); string(f) != formatVersion {
			return fmt.Errorf("format %q after the upgrade", f)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	if err := b.Scan(ctx, "", func(r Record) error { got[r.Key] = string(r.Value); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want.Records) || len(got) < 10 {
		t.Fatalf("%d records, the fixture holds %d", len(got), len(want.Records))
	}
	for k, v := range want.Records {
		if got[k] != v {
			t.Errorf("record %s = %q, want %q", k, got[k], v)
		}
	}
	for _, k := range want.Deleted {
		// A deleted key's next revision follows its last one: the tombstone reads.
		rev, err := Put(ctx, b, k, []byte("again"), 0)
		if err != nil || rev < 2 {
			t.Errorf("put of deleted %s: revision %d, %v (want past its tombstone)", k, rev, err)
		}
	}
	readAudit := func(tenant string) []AuditEvent {
		var evs []AuditEvent
		if err := b.Audit(ctx, tenant, time.Time{}, time.Time{}, func(ev AuditEvent) error { evs = append(evs, ev); return nil }); err != nil {
			t.Fatal(err)
		}
		return evs
	}
	total := 0
	for tenant, evs := range want.Audit {
		total += len(evs)
		if got := readAudit(tenant); !equalEvents(got, evs) {
			t.Errorf("audit of %q:\n got %+v\nwant %+v", tenant, got, evs)
		}
	}
	if total != 40 {
		t.Fatalf("the fixture holds %d audit events, want 40", total)
	}

	// New events: logged, then indexed by Audit, after the old ones.
	later := want.Audit["t1"][len(want.Audit["t1"])-1].Time.Add(time.Hour)
	for i := range 3 {
		ev := AuditEvent{Time: later.Add(time.Duration(i)), Tenant: "t1", Actor: "cli", Action: "account.add", Target: "account/t1/new", Outcome: "ok"}
		if _, err := b.CommitAudited(ctx, ev, Op{Key: fmt.Sprintf("account/t1/new%d", i), Value: []byte("v"), AnyRevision: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Check(); err != nil {
		t.Fatalf("check with logged events: %v", err)
	}
	evs := readAudit("t1")
	n := len(want.Audit["t1"])
	if len(evs) != n+3 || !equalEvents(evs[:n], want.Audit["t1"]) || evs[n].Action != "account.add" {
		t.Fatalf("audit of t1 after appends: %d events %+v", len(evs), evs)
	}
	if evs[n].Seq <= evs[n-1].Seq {
		t.Fatalf("new event's seq %d not past the old ones' %d", evs[n].Seq, evs[n-1].Seq)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openAt(t, path, BoltOptions{})
	if got := readAudit("t1"); !equalEvents(got, evs) {
		t.Fatalf("audit of t1 after reopening: %+v", got)
	}
}

func equalEvents(a, b []AuditEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.Time.Equal(y.Time) {
			return false
		}
		x.Time, y.Time = time.Time{}, time.Time{}
		if x != y {
			return false
		}
	}
	return true
}
