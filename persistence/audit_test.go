package persistence

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/clock"
)

var zeroTime time.Time

// auditOf returns the actions of tenant's events in [from, to).
func auditOf(t *testing.T, b *Bolt, tenant string, from, to time.Time) []string {
	t.Helper()
	var got []string
	err := b.Audit(context.Background(), tenant, from, to, func(ev AuditEvent) error {
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

func TestAudit(t *testing.T) {
	ctx := context.Background()
	base := time.Date(2025, 3, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	b, _ := openTest(t, BoltOptions{Clock: clock.NewFake(base.Add(time.Hour))})

	at := func(min int) time.Time { return base.Add(time.Duration(min) * time.Minute) }
	events := []AuditEvent{
		{Tenant: "T1", Time: at(0), Action: "t1.0", Actor: "cli", Target: "account/A1", Outcome: "ok"},
		{Tenant: "T1", Time: at(10), Action: "t1.10"},
		{Tenant: "T10", Time: at(5), Action: "t10.5"}, // "T1" is a prefix of "T10"
		{Tenant: "T1", Time: at(20), Action: "t1.20"},
		{Tenant: "T1", Time: at(5), Action: "t1.5"}, // appended late, dated early
		{Tenant: "T2", Time: at(1), Action: "t2.1"},
		{Tenant: "T1", Action: "t1.clock"},       // dated by the store's clock: base+60
		{Tenant: "", Time: at(3), Action: "sys"}, // no tenant
		{Tenant: "T1", Time: at(20), Action: "t1.20b"},
		{Tenant: "T1", Time: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), Action: "t1.1900"},
		{Tenant: "T1", Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), Action: "t1.2300"},
		{Tenant: "T1", Time: time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC), Action: "t1.2400"},
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
		var first AuditEvent
		_ = b.Audit(ctx, "T1", at(0), at(1), func(ev AuditEvent) error { first = ev; return nil })
		want := events[0]
		want.Seq = 1
		if !first.Time.Equal(want.Time) || first.Actor != want.Actor || first.Target != want.Target ||
			first.Outcome != want.Outcome || first.Seq != 1 || first.Action != want.Action {
			t.Fatalf("got %+v, want %+v", first, want)
		}
	})
	t.Run("seqs are unique and in append order", func(t *testing.T) {
		seen := map[uint64]string{}
		for _, tenant := range []string{"T1", "T10", "T2", ""} {
			_ = b.Audit(ctx, tenant, zeroTime, zeroTime, func(ev AuditEvent) error {
				if prev, dup := seen[ev.Seq]; dup {
					t.Errorf("seq %d used by %q and %q", ev.Seq, prev, ev.Action)
				}
				seen[ev.Seq] = ev.Action
				return nil
			})
		}
		if len(seen) != len(events) {
			t.Fatalf("%d events read, %d appended", len(seen), len(events))
		}
		if seen[1] != "t1.0" || seen[5] != "t1.5" || seen[uint64(len(events))] != "t1.2400" {
			t.Fatalf("seqs not in append order: %v", seen)
		}
	})
	t.Run("fn error stops", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		if err := b.Audit(ctx, "T1", zeroTime, zeroTime, func(AuditEvent) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Fatalf("Audit = %v after %d calls", err, n)
		}
	})
}

func TestAuditPages(t *testing.T) {
	ctx := context.Background()
	b, _ := openTest(t, BoltOptions{})
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 2*readPage + 3
	for i := range n {
		// Many events share a time, so pages break inside equal times.
		if err := b.AppendAudit(ctx, AuditEvent{Tenant: "T", Time: base.Add(time.Duration(i/7) * time.Second), Action: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	err := b.Audit(ctx, "T", zeroTime, zeroTime, func(ev AuditEvent) error {
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

// TestCommitAudited: the audit event is written with the commit, and not at
// all when the commit is refused.
func TestCommitAudited(t *testing.T) {
	s, _ := openTest(t, BoltOptions{})
	ctx := context.Background()
	ev := AuditEvent{Tenant: "T1", Actor: "system", Action: "account.unlock", Target: "account/A1", Outcome: "ok"}
	revs, err := s.CommitAudited(ctx, ev, Op{Key: "account/T1/A1", Value: []byte("v1")})
	if err != nil || revs[0] != 1 {
		t.Fatalf("commit = %v %v", revs, err)
	}
	if _, err := s.CommitAudited(ctx, ev, Op{Key: "account/T1/A1", Value: []byte("v2"), Expected: 7}); !errors.Is(err, ErrRevisionMismatch) {
		t.Fatalf("stale commit = %v", err)
	}
	if _, err := s.CommitAudited(ctx, AuditEvent{Tenant: "T1", Action: "audit.only"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.Audit(ctx, "T1", time.Time{}, time.Time{}, func(e AuditEvent) error {
		got = append(got, e.Action)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "account.unlock" || got[1] != "audit.only" {
		t.Fatalf("audit = %v, want the accepted commit's event and the audit-only one", got)
	}
}
