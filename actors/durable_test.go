package actors

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/taxbureau"
)

// auditCount counts the tenant's audit events of action with outcome.
func (h *harness) auditCount(action, outcome string) int {
	h.t.Helper()
	n := 0
	h.ok(h.store.Audit(h.ctx(), h.tenant, time.Time{}, time.Time{}, func(ev persistence.AuditEvent) error {
		if ev.Action == action && ev.Outcome == outcome {
			n++
		}
		return nil
	}))
	return n
}

// lockableAccount adds a hosted account whose next login meets a changed
// password: one wrong password locks it (F13).
func (h *harness) lockableAccount() string {
	h.t.Helper()
	h.link(wxAlice)
	h.person("qx", phoneA, pwA, rel(h.gd, "44", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.gd, "issue", "qx", pwA, phoneA, domain.LoginQixiangyun)
	r, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	h.ok(h.eng.ReportInvalid(h.ctx(), h.tenant, id, domain.ChannelIssue, r.Session.Token))
	h.ok(h.sim.SetPassword("qx", "Other@2026xy"))
	return id
}

// TestFailedLockCommitIsNotAcknowledged: the commit of the failure that
// locks an account fails; the client hears the store's error, not the
// wrong password or the lock, the account is not locked in memory, and not
// after a restart either.
func TestFailedLockCommitIsNotAcknowledged(t *testing.T) {
	h := newHarness(t)
	id := h.lockableAccount()
	h.fs.failCommits(keyAccount(h.tenant, id), 1)
	_, err := h.session(id, domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrBusy)
	if v := h.account(id); v.Locked || v.PasswordInvalid {
		t.Fatalf("a lock the store refused is in memory: %+v", v)
	}
	h.restart()
	if v := h.account(id); v.Locked {
		t.Fatal("a lock the store refused is stored")
	}
	if n := h.auditCount("login.start", domain.ErrWrongPassword.Code); n != 0 {
		t.Fatalf("%d audit events of a failure that was not stored", n)
	}
	// With the store back the same login locks, and says so.
	_, err = h.session(id, domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrWrongPassword)
	if v := h.account(id); !v.Locked {
		t.Fatal("not locked once the store works")
	}
}

// TestUncertainLockCommit: the lock's commit lands but reports a failure
// (an fsync error after the write). The client is not told "locked"; the
// actor reloads, so memory and, after a restart, the store agree on the
// lock, and the lock's audit event is stored with it.
func TestUncertainLockCommit(t *testing.T) {
	h := newHarness(t)
	id := h.lockableAccount()
	h.fs.uncertainCommits(keyAccount(h.tenant, id), 1)
	_, err := h.session(id, domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrBusy)
	if v := h.account(id); !v.Locked {
		t.Fatal("memory disagrees with the store after an uncertain commit")
	}
	h.restart()
	if v := h.account(id); !v.Locked {
		t.Fatal("the landed lock is not stored")
	}
	if n := h.auditCount("login.start", domain.ErrWrongPassword.Code); n != 1 {
		t.Fatalf("%d audit events for one stored lock", n)
	}
}

// TestTenantChangeAndItsAuditCommitTogether: a tenant change whose commit
// lands but reports a failure is not acknowledged, and what the store holds
// after a restart is the change with its audit event, never one without
// the other.
func TestTenantChangeAndItsAuditCommitTogether(t *testing.T) {
	h := newHarness(t)
	h.fs.uncertainCommits(keyTenant(h.tenant), 1)
	_, err := h.eng.LinkTenant(h.ctx(), wxBob, h.code)
	wantErr(t, err, domain.ErrBusy)
	h.restart()
	if _, err := h.eng.UnlinkPreview(h.ctx(), h.tenant, wxBob); err != nil {
		t.Fatalf("the landed link is not stored: %v", err)
	}
	if n := h.auditCount("tenant.link", "ok"); n != 1 {
		t.Fatalf("%d audit events for one stored link", n)
	}
	// A refused commit stores neither.
	h.fs.failCommits(keyTenant(h.tenant), 1)
	wantErr(t, h.unlink(wxBob), domain.ErrBusy)
	h.restart()
	if _, err := h.eng.UnlinkPreview(h.ctx(), h.tenant, wxBob); err != nil {
		t.Fatalf("a refused unlink reached the store: %v", err)
	}
	if n := h.auditCount("tenant.unlink", "ok"); n != 0 {
		t.Fatalf("%d audit events for a refused unlink", n)
	}
}

// unlink is UnlinkTenant for the tests.
func (h *harness) unlink(openid string) error {
	_, err := h.eng.UnlinkTenant(h.ctx(), h.tenant, openid)
	return err
}

// tenantModel is what a script of tenant changes leaves stored.
type tenantModel struct {
	bobLinked, bobAdmin, extraEnt, deleted bool
	boundTo                                string
	defaults                               domain.Business
	audits                                 map[string]int // ok events by action
}

func (m tenantModel) clone() tenantModel {
	m.audits = maps.Clone(m.audits)
	return m
}

type scriptStep struct {
	action string // the step's audit action
	do     func() error
	apply  func(*tenantModel)
}

// tenantScript is a sequence of tenant-level changes on one account A of
// 广东 (no SMS): links, bindings, defaults, admins, an enterprise, the
// unlink that undoes bob's, and A's deletion.
func tenantScript(h *harness, a string) []scriptStep {
	extra := domain.MakeTaxNo("44", 3)
	return []scriptStep{
		{"tenant.link", func() error { _, err := h.eng.LinkTenant(h.ctx(), wxBob, h.code); return err },
			func(m *tenantModel) { m.bobLinked = true }},
		{"account.bind", func() error { return h.eng.Bind(h.ctx(), h.tenant, a, wxAlice) },
			func(m *tenantModel) { m.boundTo = wxAlice }},
		{"account.set_default", func() error { return h.eng.SetDefault(h.ctx(), h.tenant, a, wxAlice, domain.BusinessBoth) },
			func(m *tenantModel) { m.defaults = domain.BusinessBoth }},
		{"admin.apply", func() error {
			r, err := h.eng.ApplyAdmin(h.ctx(), h.tenant, h.gd, wxBob, "boss", domain.NewSecret(pwA))
			if err == nil && r.State != FlowDone {
				return fmt.Errorf("admin flow %s", r.State)
			}
			return err
		}, func(m *tenantModel) { m.bobAdmin = true }},
		{"enterprise.add", func() error {
			_, err := h.eng.AddEnterprise(h.ctx(), h.tenant, extra, "第三测试有限公司", "")
			return err
		},
			func(m *tenantModel) { m.extraEnt = true }},
		{"account.unbind", func() error { return h.eng.Unbind(h.ctx(), h.tenant, a, wxAlice) },
			func(m *tenantModel) { m.boundTo = "" }},
		{"admin.step_down", func() error { return h.eng.StepDownAdmin(h.ctx(), h.tenant, h.gd, wxBob) },
			func(m *tenantModel) { m.bobAdmin = false }},
		{"account.bind", func() error { return h.eng.Bind(h.ctx(), h.tenant, a, wxBob) },
			func(m *tenantModel) { m.boundTo = wxBob }},
		{"tenant.unlink", func() error { return h.unlink(wxBob) },
			func(m *tenantModel) {
				m.bobLinked, m.bobAdmin = false, false
				if m.boundTo == wxBob {
					m.boundTo = ""
				}
			}},
		{"account.delete", func() error { return h.eng.DeleteAccount(h.ctx(), h.tenant, a, wxAlice) },
			func(m *tenantModel) { m.deleted, m.boundTo, m.defaults = true, "", 0 }},
	}
}

// observe reads the model back through the engine.
func (h *harness) observe(a string) tenantModel {
	h.t.Helper()
	var m tenantModel
	_, err := h.eng.UnlinkPreview(h.ctx(), h.tenant, wxBob)
	m.bobLinked = err == nil
	ts, err := h.eng.TenantsOf(h.ctx(), wxBob)
	h.ok(err)
	if (len(ts) == 1) != m.bobLinked {
		h.t.Errorf("bob's index lists %v, linked %v", ts, m.bobLinked)
	}
	es, err := h.eng.Enterprises(h.ctx(), h.tenant, wxBob)
	h.ok(err)
	for _, e := range es {
		switch e.TaxNo {
		case h.gd:
			m.bobAdmin = e.IsAdmin
			if (e.Defaults == domain.Defaults{}) != (e.Defaults.Flags(a) == 0) {
				h.t.Errorf("defaults %+v name another account than %s", e.Defaults, a)
			}
		case domain.MakeTaxNo("44", 3):
			m.extraEnt = true
		}
	}
	m.deleted = true
	vs, err := h.eng.Accounts(h.ctx(), h.tenant, "", "")
	h.ok(err)
	for _, v := range vs {
		if v.ID == a {
			m.deleted, m.boundTo, m.defaults = false, v.BoundOpenID, v.DefaultFor
		}
	}
	m.audits = map[string]int{}
	h.ok(h.store.Audit(h.ctx(), h.tenant, time.Time{}, time.Time{}, func(ev persistence.AuditEvent) error {
		if ev.Outcome == "ok" {
			m.audits[ev.Action]++
		}
		return nil
	}))
	return m
}

// TestNthWriteFailsStateIsWhatWasAcknowledged runs the tenant script once
// for every write it makes, that write failing: before it lands, and after
// (the fsync failed, the outcome unknown). After a restart the store holds
// exactly the acknowledged changes, each with its audit event, plus at
// most the uncertain one, whole.
func TestNthWriteFailsStateIsWhatWasAcknowledged(t *testing.T) {
	setup := func(t *testing.T) (*harness, string, tenantModel) {
		h := newHarness(t)
		h.link(wxAlice)
		h.person("boss", phoneA, pwA, rel(h.gd, "44", domain.RoleLegalRep))
		a := h.addAccount(wxAlice, h.gd, "both", "boss", pwA, phoneA, domain.LoginManual)
		base := h.observe(a)
		return h, a, base
	}
	// A dry run counts the script's writes.
	h, a, _ := setup(t)
	h.fs.failNth(0, false)
	for _, s := range tenantScript(h, a) {
		if err := s.do(); err != nil {
			t.Fatalf("%s without faults: %v", s.action, err)
		}
	}
	writes := h.fs.writeCount()
	t.Logf("the script makes %d writes", writes)
	cases := 0
	for n := 1; n <= writes; n++ {
		for _, after := range []bool{false, true} {
			t.Run(fmt.Sprintf("write%d/landed=%v", n, after), func(t *testing.T) {
				h, a, base := setup(t)
				acked := base.clone()
				var uncertain *tenantModel // acked with the failed step applied
				h.fs.failNth(n, after)
				for _, s := range tenantScript(h, a) {
					before := h.fs.injectedCount()
					err := s.do()
					if err == nil {
						s.apply(&acked)
						acked.audits[s.action]++
						if uncertain != nil {
							s.apply(uncertain)
							uncertain.audits[s.action]++
						}
						continue
					}
					if h.fs.injectedCount() != before && after {
						u := acked.clone()
						s.apply(&u)
						u.audits[s.action]++
						uncertain = &u
					}
				}
				if h.fs.injectedCount() != 1 {
					t.Fatalf("%d faults injected, want 1", h.fs.injectedCount())
				}
				h.restart()
				got := h.observe(a)
				if reflect.DeepEqual(got, acked) || uncertain != nil && reflect.DeepEqual(got, *uncertain) {
					return
				}
				t.Errorf("stored %+v\nacknowledged %+v", got, acked)
				if uncertain != nil {
					t.Errorf("or with the uncertain change %+v", *uncertain)
				}
			})
			cases++
		}
	}
	t.Logf("%d fault cases", cases)
}

// blockingGateway holds Login calls, once armed, until their context ends.
type blockingGateway struct {
	taxbureau.Gateway
	armed    atomic.Bool
	entered  chan struct{}
	returned atomic.Bool
}

func (g *blockingGateway) Login(ctx context.Context, req taxbureau.LoginRequest) (taxbureau.LoginResult, error) {
	if !g.armed.Load() {
		return g.Gateway.Login(ctx, req)
	}
	close(g.entered)
	<-ctx.Done()
	g.returned.Store(true)
	return taxbureau.LoginResult{}, ctx.Err()
}

// TestStopEndsTheEnginesGoroutines: a gateway call in flight when the
// engine stops is cancelled, and Stop returns only after it returned.
func TestStopEndsTheEnginesGoroutines(t *testing.T) {
	h := newHarness(t)
	g := &blockingGateway{Gateway: h.sim, entered: make(chan struct{})}
	h.gw = g
	h.restart()
	h.link(wxAlice)
	h.person("gd", phoneC, pwA, rel(h.gd, "44", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.gd, "issue", "gd", pwA, phoneC, domain.LoginManual)
	h.logout(id, domain.ChannelIssue)
	g.armed.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = h.eng.RequestSession(ctx, h.tenant, SessionRequest{AccountID: id, Business: domain.ChannelIssue})
	}()
	<-g.entered
	h.eng.Stop()
	if !g.returned.Load() {
		t.Fatal("Stop returned while the engine's gateway call still ran")
	}
	cancel()
	<-done
}
