package scale

import (
	"context"
	"testing"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/teststack/base"
)

func startEngine(t *testing.T, s *base.Stack) *actors.Engine {
	t.Helper()
	eng, err := actors.Start(actors.DefaultConfig(), actors.Deps{Store: s.Store, Sealer: s.Keys, Gateway: s.Sim, SMS: s.SMS,
		Prompts: s.Prompts, Events: s.Events, Clock: s.Clock, Logger: s.Logger})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

// TestSeedServedByEngine: 1,000 accounts provisioned and seeded as the tool
// does are read back by a fresh engine on the same store — listed in their
// enterprises, each activated cold and answering its own session (so its
// record was found, unsealed and decoded), each with its account.add audit
// event — and the store passes its consistency check (base, at cleanup).
func TestSeedServedByEngine(t *testing.T) {
	ctx := context.Background()
	s := base.New(t, base.Options{})
	plan := Plan{Tenants: 2, Enterprises: 3, Accounts: 1000}

	eng := startEngine(t, s)
	tenants, err := Provision(ctx, eng, plan)
	if err != nil {
		t.Fatal(err)
	}
	eng.Stop()
	if err := Seed(ctx, s.Store, s.Keys, tenants, plan, SeedOptions{Writers: 64, Now: s.Clock.Now()}); err != nil {
		t.Fatal(err)
	}

	eng = startEngine(t, s)
	defer eng.Stop()
	total := 0
	for _, tn := range tenants {
		if tn.KeyID == "" || tn.KeySecret == "" {
			t.Fatalf("tenant %s has no API key", tn.ID)
		}
		es, err := eng.Enterprises(ctx, tn.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		listed := 0
		for _, e := range es {
			listed += e.Accounts
			vs, err := eng.Accounts(ctx, tn.ID, e.TaxNo, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(vs) != e.Accounts {
				t.Fatalf("enterprise %s: %d accounts listed, %d counted", e.TaxNo, len(vs), e.Accounts)
			}
		}
		if listed != len(tn.Accounts) || len(es) != plan.Enterprises {
			t.Fatalf("tenant %s: %d enterprises with %d accounts, seeded %d", tn.ID, len(es), listed, len(tn.Accounts))
		}
		for _, id := range tn.Accounts {
			r, err := eng.RequestSession(ctx, tn.ID, actors.SessionRequest{AccountID: id, Business: domain.ChannelIssue})
			if err != nil {
				t.Fatalf("account %s: %v", id, err)
			}
			if r.State != actors.RequestReady || r.Session == nil || r.Session.Token != Token(id) {
				t.Fatalf("account %s: %+v, want ready with its own token", id, r)
			}
		}
		added := map[string]bool{}
		err = eng.Audit(ctx, tn.ID, time.Time{}, time.Time{}, func(ev actors.AuditEvent) error {
			if ev.Action == "account.add" && ev.Outcome == "ok" {
				added[ev.Target] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range tn.Accounts {
			if !added["account/"+id] {
				t.Fatalf("account %s has no account.add audit event", id)
			}
		}
		total += len(tn.Accounts)
	}
	if total != plan.Accounts {
		t.Fatalf("seeded %d accounts, planned %d", total, plan.Accounts)
	}
	if st := eng.Stats(); st.ActiveAccounts != int64(plan.Accounts) {
		t.Fatalf("%d accounts active after one request each, want %d", st.ActiveAccounts, plan.Accounts)
	}
}

// TestBenchLineHasTargets: every target of benchreport.ScaleTargets is a
// metric of the line the tool prints, so benchreport reads each (a renamed
// unit fails here rather than turning its BENCH line into "n/a"), and a
// figure over its bound is reported short.
func TestBenchLineHasTargets(t *testing.T) {
	r := &Result{Ready: 1500 * time.Millisecond, ReadyEmpty: time.Second,
		Memory:    []Memory{{Active: -1, RSS: 100 << 20}, {Active: 0, RSS: 200 << 20}, {Active: 10_000, RSS: 300 << 20}, {Active: 100_000, RSS: 2000 << 20}},
		ColdFirst: []time.Duration{time.Millisecond}, ColdLater: []time.Duration{time.Millisecond}, Warm: []time.Duration{time.Millisecond}}
	lines, err := r.BenchReport()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"scale-ready-s": true, "scale-rss-100k-active-mib": false, "scale-cold-activation-p99-ms": true}
	if len(lines) != len(want) {
		t.Fatalf("%d BENCH lines, want %d", len(lines), len(want))
	}
	for _, l := range lines {
		if l.Runs != 1 {
			t.Errorf("%s: %s does not report %q: %s", l.Name, BenchName, l.Metric, r.BenchLine())
		}
		if ok, has := want[l.Name]; !has || l.OK != ok {
			t.Errorf("%s", l)
		}
	}
}
