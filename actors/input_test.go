package actors

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// TestBadInputGivesCatalogueErrors: every command refuses garbage with a
// catalogue error (never a panic, never an internal error) and stores
// nothing.
func TestBadInputGivesCatalogueErrors(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	var keysBefore int
	h.ok(h.store.Scan(h.ctx(), "", func(persistence.Record) error { keysBefore++; return nil }))
	bad := []string{"", " ", "../../etc", "t1/../x", "\x00", strings.Repeat("x", 5000), "ＡＢＣ", "a.b.c", "t1.a.r", "<script>", "'; drop"}
	for _, s := range bad {
		calls := map[string]func() error{
			"link":       func() error { _, err := h.eng.LinkTenant(h.ctx(), s, s); return err },
			"tenant":     func() error { _, err := h.eng.Tenant(h.ctx(), s); return err },
			"enterprise": func() error { _, err := h.eng.AddEnterprise(h.ctx(), h.tenant, s, s, s); return err },
			"add": func() error {
				_, err := h.eng.AddAccount(h.ctx(), h.tenant, AddAccount{OpenID: wxAlice, TaxNo: s, Business: s, Username: s, Password: domain.NewSecret(s), LoginType: s, Role: s})
				return err
			},
			"code":      func() error { _, err := h.eng.SubmitFlowCode(h.ctx(), h.tenant, s, wxAlice, s); return err },
			"bind":      func() error { return h.eng.Bind(h.ctx(), h.tenant, s, wxAlice) },
			"unbind":    func() error { return h.eng.Unbind(h.ctx(), h.tenant, s, s) },
			"unbindEnt": func() error { _, err := h.eng.UnbindEnterprise(h.ctx(), h.tenant, s, wxAlice); return err },
			"default":   func() error { return h.eng.SetDefault(h.ctx(), h.tenant, s, wxAlice, domain.BusinessBoth) },
			"admin": func() error {
				_, err := h.eng.ApplyAdmin(h.ctx(), h.tenant, s, wxAlice, s, domain.NewSecret(s))
				return err
			},
			"delete": func() error { return h.eng.DeleteAccount(h.ctx(), h.tenant, s, wxAlice) },
			"unlock": func() error { return h.eng.Unlock(h.ctx(), h.tenant, s, wxAlice) },
			"reset":  func() error { _, err := h.eng.StartPasswordReset(h.ctx(), h.tenant, s, wxAlice, s, s); return err },
			"update": func() error {
				_, err := h.eng.UpdatePassword(h.ctx(), h.tenant, s, wxAlice, domain.NewSecret(s))
				return err
			},
			"session": func() error {
				_, err := h.eng.RequestSession(h.ctx(), h.tenant, SessionRequest{TaxNo: s, Business: domain.Channel(s), Action: Action(s), AccountID: s})
				return err
			},
			"await":  func() error { _, err := h.eng.AwaitRequest(h.ctx(), h.tenant, s, time.Millisecond); return err },
			"answer": func() error { _, err := h.eng.Answer(h.ctx(), h.tenant, s, s, wxAlice, s); return err },
			"qr": func() error {
				_, err := h.eng.StartQRLogin(h.ctx(), h.tenant, s, wxAlice, domain.Channel(s), QRApp(s))
				return err
			},
			"poll":    func() error { _, err := h.eng.PollQRLogin(h.ctx(), h.tenant, s, wxAlice, s); return err },
			"cert":    func() error { _, err := h.eng.ConfirmCertification(h.ctx(), h.tenant, s, wxAlice); return err },
			"invalid": func() error { return h.eng.ReportInvalid(h.ctx(), h.tenant, s, domain.Channel(s), s) },
			"list":    func() error { _, err := h.eng.Accounts(h.ctx(), h.tenant, s, "o_nobody"); return err },
		}
		for name, call := range calls {
			err := call()
			var de *domain.Error
			if !errors.As(err, &de) || de.Code == domain.ErrInternal.Code || de.Code == domain.ErrBusy.Code {
				t.Errorf("%s(%q) = %v, want a catalogue error", name, s, err)
			}
		}
	}
	var keysAfter int
	h.ok(h.store.Scan(h.ctx(), "", func(persistence.Record) error { keysAfter++; return nil }))
	if keysAfter != keysBefore {
		t.Fatalf("bad input stored %d keys", keysAfter-keysBefore)
	}
}

// TestUnknownTenantLeavesNoActor: a made-up tenant id is refused without
// spawning anything.
func TestUnknownTenantLeavesNoActor(t *testing.T) {
	h := newHarness(t)
	before := h.eng.Stats().ActiveTenants
	for i := 0; i < 20; i++ {
		_, err := h.eng.AwaitRequest(h.ctx(), "ghost"+strings.Repeat("x", i), "ghost"+strings.Repeat("x", i)+".a1.r1", 0)
		wantErr(t, err, domain.ErrTenantNotFound)
	}
	if after := h.eng.Stats().ActiveTenants; after != before {
		t.Fatalf("tenant actors %d → %d", before, after)
	}
	_, err := h.eng.CreateTenant(h.ctx(), h.tenant, "again", "ANOTHER-CODE")
	wantErr(t, err, domain.ErrTenantExists)
}

// TestAwaitHonoursCancel: a long poll ends when its caller goes away, and
// another tenant's request id is not found.
func TestAwaitHonoursCancel(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneA, domain.LoginManual)
	h.logout(id, domain.ChannelIssue)
	r, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	_, err = h.eng.AwaitRequest(h.ctx(), "other", r.RequestID, 0)
	wantErr(t, err, domain.ErrRequestNotFound)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.eng.AwaitRequest(ctx, h.tenant, r.RequestID, time.Minute)
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		wantErr(t, err, domain.ErrBusy)
	case <-time.After(10 * time.Second):
		t.Fatal("a cancelled long poll kept waiting")
	}
}
