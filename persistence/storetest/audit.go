package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/etaxd/etaxd/persistence"
)

// auditOf returns the actions of tenant's events in [from, to).
func auditOf(t *testing.T, b persistence.Store, tenant string, from, to time.Time) []string {
	t.Helper()
	var got []string
	err := b.Audit(context.Background(), tenant, from, to, func(ev persistence.AuditEvent) error {
		if ev.Tenant != tenant {
			t.Errorf("event %d of tenant %q in the log of %q", ev.Seq, ev.Tenant, tenant)
		}
		if ev.Seq == 0 {
			t.Errorf("event %q has no seq", ev.Action)
		}
		got = append(got, ev.Action)
		return nil
	})
	if err != nil {
		t.Fatalf("Audit(%q): %v", tenant, err)
	}
	return got
}

// testAudit: events come back by tenant, in time order, within [from, to).
// The event appended without a time is dated by the store's clock, which
// must be later than the fixed times below (2025) and before 2300.
func (s suite) testAudit(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2025, 3, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	b := s.open(t)

	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	events := []persistence.AuditEvent{
		{Tenant: "T1", Time: at(0), Action: "t1.0", Actor: "cli", Target: "account/A1", Outcome: "ok", Detail: "d"},
		{Tenant: "T1", Time: at(10), Action: "t1.10"},
		{Tenant: "T10", Time: at(5), Action: "t10.5"}, // "T1" is a prefix of "T10"
		{Tenant: "T1", Time: at(20), Action: "t1.20"},
		{Tenant: "T1", Time: at(5), Action: "t1.5"}, // appended late, dated early
		{Tenant: "T2", Time: at(1), Action: "t2.1"},
		{Tenant: "T1", Action: "t1.clock"},       // dated by the store's clock
		{Tenant: "", Time: at(3), Action: "sys"}, // no tenant
		{Tenant: "T1", Time: at(20), Action: "t1.20b"},
		{Tenant: "T1", Time: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), Action: "t1.1900"},
		{Tenant: "T1", Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), Action: "t1.2300"},
		{Tenant: "T1", Time: time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC), Action: "t1.2400"},
		{Tenant: "T1/x.y z", Time: at(0), Action: "odd"}, // any characters
		{Tenant: "T1/x", Time: at(0), Action: "odd2"},
	}
	for _, ev := range events {
		if err := b.AppendAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name     string
		tenant   string
		from, to time.Time
		want     []string
	}{
		{"all of T1, oldest first", "T1", zeroTime, zeroTime,
			[]string{"t1.1900", "t1.0", "t1.5", "t1.10", "t1.20", "t1.20b", "t1.clock", "t1.2300", "t1.2400"}},
		{"T10 is its own tenant", "T10", zeroTime, zeroTime, []string{"t10.5"}},
		{"T2", "T2", zeroTime, zeroTime, []string{"t2.1"}},
		{"no tenant", "", zeroTime, zeroTime, []string{"sys"}},
		{"unknown tenant", "T3", zeroTime, zeroTime, nil},
		{"tenant with separators", "T1/x.y z", zeroTime, zeroTime, []string{"odd"}},
		{"tenant with a slash", "T1/x", zeroTime, zeroTime, []string{"odd2"}},
		{"from is inclusive, to exclusive", "T1", at(5), at(20), []string{"t1.5", "t1.10"}},
		{"to equal to two events", "T1", at(6), at(21), []string{"t1.10", "t1.20", "t1.20b"}},
		{"from only", "T1", at(20), zeroTime, []string{"t1.20", "t1.20b", "t1.clock", "t1.2300", "t1.2400"}},
		{"to only", "T1", zeroTime, at(5), []string{"t1.1900", "t1.0"}},
		{"empty range", "T1", at(11), at(19), nil},
		{"range in another zone", "T1", at(5).UTC(), at(10).UTC(), []string{"t1.5"}},
		{"beyond UnixNano, both sides", "T1", time.Date(2350, 1, 1, 0, 0, 0, 0, time.UTC), zeroTime, []string{"t1.2400"}},
		{"before UnixNano", "T1", zeroTime, time.Date(1901, 1, 1, 0, 0, 0, 0, time.UTC), []string{"t1.1900"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := auditOf(t, b, tt.tenant, tt.from, tt.to)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("fields survive", func(t *testing.T) {
		var first persistence.AuditEvent
		if err := b.Audit(ctx, "T1", at(0), at(1), func(ev persistence.AuditEvent) error { first = ev; return nil }); err != nil {
			t.Fatal(err)
		}
		want := events[0]
		if !first.Time.Equal(want.Time) || first.Actor != want.Actor || first.Target != want.Target ||
			first.Outcome != want.Outcome || first.Action != want.Action || first.Detail != want.Detail || first.Seq == 0 {
			t.Fatalf("got %+v, want %+v", first, want)
		}
		if s.exact && first.Seq != 1 {
			t.Fatalf("first event has seq %d, want 1", first.Seq)
		}
	})
	t.Run("the store's clock dates an event without a time", func(t *testing.T) {
		var ev persistence.AuditEvent
		if err := b.Audit(ctx, "T1", at(21), time.Date(2299, 1, 1, 0, 0, 0, 0, time.UTC), func(e persistence.AuditEvent) error { ev = e; return nil }); err != nil {
			t.Fatal(err)
		}
		if ev.Action != "t1.clock" || ev.Time.IsZero() {
			t.Fatalf("got %+v", ev)
		}
	})
	t.Run("seqs are unique and in append order", func(t *testing.T) {
		seen := map[uint64]string{}
		for _, tenant := range []string{"T1", "T10", "T2", "", "T1/x.y z", "T1/x"} {
			err := b.Audit(ctx, tenant, zeroTime, zeroTime, func(ev persistence.AuditEvent) error {
				if prev, dup := seen[ev.Seq]; dup {
					t.Errorf("seq %d used by %q and %q", ev.Seq, prev, ev.Action)
				}
				seen[ev.Seq] = ev.Action
				return nil
			})
			if err != nil {
				t.Fatalf("Audit(%q): %v", tenant, err)
			}
		}
		if len(seen) != len(events) {
			t.Fatalf("%d events read, %d appended", len(seen), len(events))
		}
		var inSeqOrder, appended []string
		for _, seq := range slices.Sorted(maps.Keys(seen)) {
			inSeqOrder = append(inSeqOrder, seen[seq])
		}
		for _, ev := range events {
			appended = append(appended, ev.Action)
		}
		if fmt.Sprint(inSeqOrder) != fmt.Sprint(appended) {
			t.Fatalf("seqs not in append order: %v", seen)
		}
		if s.exact && (seen[1] != "t1.0" || seen[5] != "t1.5" || seen[uint64(len(events))] != "odd2") {
			t.Fatalf("seqs are not 1, 2, 3...: %v", seen)
		}
	})
	t.Run("fn error stops", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		if err := b.Audit(ctx, "T1", zeroTime, zeroTime, func(persistence.AuditEvent) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Fatalf("Audit = %v after %d calls", err, n)
		}
	})
}

func (s suite) testAuditPages(t *testing.T) {
	ctx := context.Background()
	b := s.open(t)
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 2*readPage + 3
	for i := range n {
		// Many events share a time, so pages break inside equal times.
		if err := b.AppendAudit(ctx, persistence.AuditEvent{Tenant: "T", Time: base.Add(time.Duration(i/7) * time.Second), Action: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	err := b.Audit(ctx, "T", zeroTime, zeroTime, func(ev persistence.AuditEvent) error {
		if ev.Action != fmt.Sprint(i) {
			return fmt.Errorf("event %d is %q", i, ev.Action)
		}
		i++
		return nil
	})
	if err != nil || i != n {
		t.Fatalf("Audit = %v after %d events, want %d", err, i, n)
	}
}

// testCommitAudited: the audit event is written with the commit, and not at
// all when the commit is refused.
func (s suite) testCommitAudited(t *testing.T) {
	b := s.open(t)
	ctx := context.Background()
	ev := persistence.AuditEvent{Tenant: "T1", Actor: "system", Action: "account.unlock", Target: "account/A1", Outcome: "ok"}
	revs, err := b.CommitAudited(ctx, ev, persistence.Op{Key: "account/T1/A1", Value: []byte("v1")})
	if err != nil || revs[0] == 0 || (s.exact && revs[0] != 1) {
		t.Fatalf("commit = %v %v", revs, err)
	}
	if _, err := b.CommitAudited(ctx, ev, persistence.Op{Key: "account/T1/A1", Value: []byte("v2"), Expected: revs[0] + 7}); !errors.Is(err, persistence.ErrRevisionMismatch) {
		t.Fatalf("stale commit = %v", err)
	}
	if _, err := b.CommitAudited(ctx, persistence.AuditEvent{Tenant: "T1", Action: "audit.only"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := b.Audit(ctx, "T1", time.Time{}, time.Time{}, func(e persistence.AuditEvent) error {
		got = append(got, e.Action)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "account.unlock" || got[1] != "audit.only" {
		t.Fatalf("audit = %v, want the accepted commit's event and the audit-only one", got)
	}
}

// testCommitAuditedMultiKey: a multi-key audited commit writes every key
// and its event, or, refused on its last op, nothing at all.
func (s suite) testCommitAuditedMultiKey(t *testing.T) {
	b := s.open(t)
	ctx := context.Background()
	r := mustPut(t, b, "tenant/T1", "t0", 0)
	ev := persistence.AuditEvent{Tenant: "T1", Action: "account.add", Outcome: "ok"}
	bad := []persistence.Op{
		{Key: "account/T1/A1", Value: []byte("a")},
		{Key: "accref/T1/A1", Value: []byte("ref")},
		{Key: "tenant/T1", Value: []byte("t1"), Expected: r + 1},
	}
	if _, err := b.CommitAudited(ctx, ev, bad...); !errors.Is(err, persistence.ErrRevisionMismatch) {
		t.Fatalf("refused commit = %v", err)
	}
	wantAbsent(t, b, "account/T1/A1")
	wantAbsent(t, b, "accref/T1/A1")
	if n := len(auditOf(t, b, "T1", zeroTime, zeroTime)); n != 0 {
		t.Fatalf("a refused commit appended %d events", n)
	}
	bad[2].Expected = r
	revs, err := b.CommitAudited(ctx, ev, bad...)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range bad {
		if got := mustGet(t, b, o.Key); string(got.Value) != string(o.Value) || got.Revision != revs[i] {
			t.Errorf("%s = %q@%d, want %q@%d", o.Key, got.Value, got.Revision, o.Value, revs[i])
		}
	}
	if got := auditOf(t, b, "T1", zeroTime, zeroTime); fmt.Sprint(got) != "[account.add]" {
		t.Fatalf("audit = %v", got)
	}
}
