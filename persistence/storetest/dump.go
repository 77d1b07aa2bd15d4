package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/persistence"
)

// testDumpRestore dumps the store under test and restores the dump into a
// new bbolt store (how a cluster goes back to a single node): every record
// but the skipped prefixes comes back with its value, every tenant's audit
// events with their fields and order; a cut-short dump, a changed count
// and a non-empty target are refused.
func (s suite) testDumpRestore(t *testing.T) {
	ctx := context.Background()
	src := s.open(t)
	base := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	want := map[string]string{}
	for i := range 700 { // more than one restore batch and one read page
		k := fmt.Sprintf("account/t%d/a%03d", i%2, i)
		want[k] = fmt.Sprintf("v%d", i)
	}
	want["tenant/t0"], want["tenant/t1"] = `{"name":"零"}`, `{"name":"一"}`
	want["meta/empty"] = ""
	for k, v := range want {
		mustPut(t, src, k, v, 0)
	}
	mustPut(t, src, "ops/placement/t0", "lease", 0) // skipped
	mustPut(t, src, "ratelimit/act/x", "3", 0)      // skipped
	var events []persistence.AuditEvent
	for i := range 600 {
		ev := persistence.AuditEvent{Tenant: fmt.Sprintf("t%d", i%2), Actor: "cli", Action: fmt.Sprintf("a.%d", i),
			Target: "account/x", Outcome: "ok", Time: base.Add(time.Duration(i/4) * time.Millisecond)} // equal times in fours
		if err := src.AppendAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
	}

	var dump bytes.Buffer
	st, err := persistence.Dump(ctx, src, &dump, base)
	if err != nil {
		t.Fatalf("Dump: %v", err)
	}
	if st.Records != len(want) || st.Events != len(events) {
		t.Fatalf("Dump counted %+v, want %d records and %d events", st, len(want), len(events))
	}
	dst := openBolt(t)
	got, err := persistence.Restore(ctx, dst, bytes.NewReader(dump.Bytes()))
	if err != nil || got != st {
		t.Fatalf("Restore = %+v, %v; want %+v", got, err, st)
	}
	have := map[string]string{}
	if err := dst.Scan(ctx, "", func(r persistence.Record) error { have[r.Key] = string(r.Value); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(have) != len(want) {
		t.Fatalf("restored %d records, want %d", len(have), len(want))
	}
	for k, v := range want {
		if have[k] != v {
			t.Fatalf("restored %s = %q, want %q", k, have[k], v)
		}
	}
	for _, tenant := range []string{"t0", "t1"} {
		var restored []persistence.AuditEvent
		if err := dst.Audit(ctx, tenant, zeroTime, zeroTime, func(ev persistence.AuditEvent) error {
			restored = append(restored, ev)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		var wantEv []persistence.AuditEvent
		for _, ev := range events {
			if ev.Tenant == tenant {
				wantEv = append(wantEv, ev)
			}
		}
		if len(restored) != len(wantEv) {
			t.Fatalf("tenant %s: %d events restored, want %d", tenant, len(restored), len(wantEv))
		}
		for i, ev := range restored {
			w := wantEv[i]
			if ev.Action != w.Action || !ev.Time.Equal(w.Time) || ev.Actor != w.Actor || ev.Target != w.Target || ev.Outcome != w.Outcome {
				t.Fatalf("tenant %s event %d: %+v, want %+v", tenant, i, ev, w)
			}
		}
	}

	// A second restore into the same store is refused, and leaves it as it was.
	if _, err := persistence.Restore(ctx, dst, bytes.NewReader(dump.Bytes())); !errors.Is(err, persistence.ErrNotEmpty) {
		t.Fatalf("restore into a non-empty store: %v", err)
	}
	// A dump cut short, or with another count in its end line, is refused.
	lines := strings.SplitAfter(dump.String(), "\n")
	cut := strings.Join(lines[:len(lines)-2], "") // without the end line
	if _, err := persistence.Restore(ctx, openBolt(t), strings.NewReader(cut)); !errors.Is(err, persistence.ErrDumpInvalid) {
		t.Fatalf("restore of a cut-short dump: %v", err)
	}
	forged := strings.Replace(dump.String(), fmt.Sprintf(`"records":%d`, st.Records), fmt.Sprintf(`"records":%d`, st.Records+1), 1)
	if _, err := persistence.Restore(ctx, openBolt(t), strings.NewReader(forged)); !errors.Is(err, persistence.ErrDumpInvalid) {
		t.Fatalf("restore of a dump with a wrong count: %v", err)
	}
	for _, bad := range []string{"", "{}\n", `{"etaxd_dump":2}` + "\n", "not json\n"} {
		if _, err := persistence.Restore(ctx, openBolt(t), strings.NewReader(bad)); !errors.Is(err, persistence.ErrDumpInvalid) {
			t.Fatalf("restore of %q: %v", bad, err)
		}
	}
}

// openBolt opens a new bbolt store for t, checked and closed at cleanup.
func openBolt(t *testing.T) *persistence.Bolt {
	t.Helper()
	b, err := persistence.OpenBolt(filepath.Join(t.TempDir(), "etaxd.db"), persistence.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Check(); err != nil {
			t.Errorf("Check: %v", err)
		}
		_ = b.Close()
	})
	return b
}
