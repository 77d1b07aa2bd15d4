package actors

import (
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/persistence"
)

// TestRestartReloadsFromStore: an account actor that fails while loading is
// restarted by its tenant and rebuilds its state from the store.
func TestRestartReloadsFromStore(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.gd, "44", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.gd, "issue", "alice", pwA, phoneA, domain.LoginManual)
	first, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if _, err := h.eng.PassivateAll(h.ctx(), h.tenant); err != nil {
		t.Fatal(err)
	}
	// the next activation fails twice, then the supervisor's restarts succeed
	h.fs.failGets(keyAccount(h.tenant, id), 2)
	testutil.Eventually(t, 10*time.Second, func() error {
		r, err := h.session(id, domain.ChannelIssue, ActionLogin)
		if err != nil {
			return err
		}
		if r.Session.Token != first.Session.Token {
			t.Fatalf("state not reloaded: %+v", r)
		}
		return nil
	})
	if !strings.Contains(h.logBuf.String(), "injected store failure") {
		t.Fatal("the failure was not logged")
	}
}

// TestFailedCommitLeavesNothing: a change whose commit fails is refused with
// a clear error, and neither memory nor store holds half of it.
func TestFailedCommitLeavesNothing(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("qx", phoneA, pwA, rel(h.gd, "44", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.gd, "issue", "qx", pwA, phoneA, domain.LoginQixiangyun)
	r, _ := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(h.eng.ReportInvalid(h.ctx(), h.tenant, id, domain.ChannelIssue, r.Session.Token))
	h.ok(h.sim.SetPassword("qx", "Other@2026xy"))
	_, err := h.session(id, domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrWrongPassword)
	before := h.account(id)
	if !before.Locked {
		t.Fatal("not locked")
	}
	var auditBefore int
	h.ok(h.store.Audit(h.ctx(), h.tenant, time.Time{}, time.Time{}, func(persistence.AuditEvent) error { auditBefore++; return nil }))

	h.fs.failCommits(keyAccount(h.tenant, id), 1)
	wantErr(t, h.eng.Unlock(h.ctx(), h.tenant, id, wxAlice), domain.ErrBusy)
	if v := h.account(id); !v.Locked {
		t.Fatal("a failed unlock unlocked in memory")
	}
	var auditAfter int
	h.ok(h.store.Audit(h.ctx(), h.tenant, time.Time{}, time.Time{}, func(persistence.AuditEvent) error { auditAfter++; return nil }))
	if auditAfter != auditBefore {
		t.Fatalf("audit grew by %d for a failed change", auditAfter-auditBefore)
	}
	h.restart()
	if v := h.account(id); !v.Locked {
		t.Fatal("a failed unlock reached the store")
	}
	// F12 fails at the store: the stored password stays the old one
	h.fs.failCommits(keyAccount(h.tenant, id), 1)
	_, err = h.eng.UpdatePassword(h.ctx(), h.tenant, id, wxAlice, domain.NewSecret("Other@2026xy"))
	wantErr(t, err, domain.ErrBusy)
	if v := h.account(id); !v.PasswordInvalid {
		t.Fatal("a failed update cleared the guard")
	}
	fr, err := h.eng.UpdatePassword(h.ctx(), h.tenant, id, wxAlice, domain.NewSecret("Other@2026xy"))
	h.ok(err)
	if fr.Updated != 1 {
		t.Fatalf("updated = %d", fr.Updated)
	}
	if v := h.account(id); v.Locked || v.PasswordInvalid {
		t.Fatalf("update did not unlock: %+v", v)
	}
}

// TestAuditTrail: operations leave audit events with who, what and outcome,
// and never a secret.
func TestAuditTrail(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneA, domain.LoginManual)
	h.ok(h.eng.Bind(h.ctx(), h.tenant, id, wxAlice))
	wantErr(t, h.eng.Bind(h.ctx(), h.tenant, id, wxBob), domain.ErrNotLinked)
	var lines []string
	h.ok(h.store.Audit(h.ctx(), h.tenant, time.Time{}, time.Time{}, func(e persistence.AuditEvent) error {
		lines = append(lines, e.Actor+" "+e.Action+" "+e.Target+" "+e.Outcome)
		for _, f := range []string{e.Actor, e.Action, e.Target, e.Outcome, e.Detail} {
			if strings.Contains(f, pwA) || strings.Contains(f, h.code) {
				t.Fatalf("secret in audit: %+v", e)
			}
		}
		return nil
	}))
	all := strings.Join(lines, "\n")
	for _, want := range []string{
		"cli tenant.create tenant/t1 ok",
		"wx:o_alice tenant.link tenant/t1 ok",
		"wx:o_alice account.add account/" + id + " ok",
		"wx:o_alice account.bind account/" + id + " ok",
		"wx:o_bob account.bind account/" + id + " tenant_not_linked",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("audit lacks %q:\n%s", want, all)
		}
	}
}

// TestTenantWriteFailureKeepsChildren: a failed tenant write reloads the
// tenant's records but not its live children.
func TestTenantWriteFailureKeepsChildren(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.gd, "44", domain.RoleLegalRep))
	id := h.addAccount(wxAlice, h.gd, "both", "alice", pwA, phoneA, domain.LoginManual)
	first, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	h.fs.failCommits(keyTenant(h.tenant), 1)
	wantErr(t, h.eng.SetDefault(h.ctx(), h.tenant, id, wxAlice, domain.BusinessBoth), domain.ErrBusy)
	h.ok(h.eng.ReportInvalid(h.ctx(), h.tenant, id, domain.ChannelIssue, first.Session.Token))
	if v := h.account(id); v.DefaultFor != 0 || v.Channels[domain.ChannelIssue].State != domain.StateLoggedOut {
		t.Fatalf("view = %+v", v)
	}
	h.ok(h.eng.SetDefault(h.ctx(), h.tenant, id, wxAlice, domain.BusinessBoth))
	r, err := h.eng.RequestSession(h.ctx(), h.tenant, SessionRequest{TaxNo: h.gd, Business: domain.ChannelIssue})
	h.ok(err)
	if r.State != RequestReady || r.Session.Token == first.Session.Token {
		t.Fatalf("after reload: %+v", r)
	}
}

// TestAuditNamesTheAPIKey: answers and reports from an API client are
// audited under its key.
func TestAuditNamesTheAPIKey(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneA, domain.LoginManual)
	s, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	ctx := WithOrigin(h.ctx(), "key:k-erp")
	h.ok(h.eng.ReportInvalid(ctx, h.tenant, id, domain.ChannelIssue, s.Session.Token))
	h.clk.Advance(4 * time.Minute)
	r, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	_, err = h.eng.Answer(ctx, h.tenant, r.RequestID, "", "", h.sim.LastCode(phoneA))
	h.ok(err)
	var got []string
	h.ok(h.store.Audit(h.ctx(), h.tenant, time.Time{}, time.Time{}, func(e persistence.AuditEvent) error {
		if e.Actor == "key:k-erp" {
			got = append(got, e.Action)
		}
		return nil
	}))
	if strings.Join(got, ",") != "session.invalid,login.submit_code" {
		t.Fatalf("audited under the key: %v", got)
	}
}
