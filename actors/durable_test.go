package actors

import (
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
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
