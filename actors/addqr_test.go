package actors

import (
	"testing"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

// TestF3AddByQRScan: 新增 with 扫码登录 shows a QR; the flow completes when
// the person confirms in the app, and the new account is logged in. Only the
// user who started the flow may poll it.
func TestF3AddByQRScan(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.link(wxBob)
	h.person("alice", phoneH, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	h.sim.ResetCalls()
	r, err := h.eng.AddAccount(h.ctx(), h.tenant, AddAccount{OpenID: wxAlice, TaxNo: h.bj, Business: "issue",
		Username: "alice", Password: domain.NewSecret(pwA), LoginType: "manual", QRApp: AppIIT})
	h.ok(err)
	if r.State != FlowAwaitingScan || r.QR == nil || r.QR.Content == "" || r.QR.App != AppIIT || r.QR.State != QRWaiting {
		t.Fatalf("start = %+v", r)
	}
	if n := h.sim.Calls(taxbureau.MethodLogin); n != 0 {
		t.Fatalf("a QR add logged in with the password %d times", n)
	}
	_, err = h.eng.PollFlow(h.ctx(), h.tenant, r.FlowID, wxBob)
	wantErr(t, err, domain.ErrNoChallenge)
	_, err = h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, wxBob, "123456")
	wantErr(t, err, domain.ErrNoChallenge)

	p, err := h.eng.PollFlow(h.ctx(), h.tenant, r.FlowID, wxAlice)
	h.ok(err)
	if p.State != FlowAwaitingScan || p.QR.State != QRWaiting {
		t.Fatalf("before the scan = %+v", p)
	}
	h.ok(h.sim.ScanQR(r.QR.QRID, "alice"))
	done, err := h.eng.PollFlow(h.ctx(), h.tenant, r.FlowID, wxAlice)
	h.ok(err)
	if done.State != FlowDone || done.AccountID == "" {
		t.Fatalf("after the scan = %+v", done)
	}
	v := h.account(done.AccountID)
	if v.Username != "alice" || v.Role != domain.RoleInvoicer || v.Channels[domain.ChannelIssue].State != domain.StateLoggedIn {
		t.Fatalf("account = %+v", v)
	}
	// the flow is gone
	_, err = h.eng.PollFlow(h.ctx(), h.tenant, r.FlowID, wxAlice)
	wantErr(t, err, domain.ErrNoChallenge)
	// an unknown app is refused before anything starts
	_, err = h.eng.AddAccount(h.ctx(), h.tenant, AddAccount{OpenID: wxAlice, TaxNo: h.gd, Business: "issue",
		Username: "x", Password: domain.NewSecret(pwA), LoginType: "manual", QRApp: "wechat"})
	wantErr(t, err, domain.ErrInvalidInput)
}

// TestF3AddByQRWrongRole: a person whose role does not allow the business
// cannot complete the scan; the flow keeps waiting and adds nothing.
func TestF3AddByQRWrongRole(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("clerk", phoneB, pwA, rel(h.bj, "11", domain.RoleTaxClerk))
	r, err := h.eng.AddAccount(h.ctx(), h.tenant, AddAccount{OpenID: wxAlice, TaxNo: h.bj, Business: "issue",
		Username: "clerk", Password: domain.NewSecret(pwA), LoginType: "manual", QRApp: AppTax})
	h.ok(err)
	wantErr(t, h.sim.ScanQR(r.QR.QRID, "clerk"), domain.ErrRoleBusiness)
	p, err := h.eng.PollFlow(h.ctx(), h.tenant, r.FlowID, wxAlice)
	h.ok(err)
	if p.State != FlowAwaitingScan {
		t.Fatalf("after a refused scan = %+v", p)
	}
	if list, _ := h.eng.Accounts(h.ctx(), h.tenant, h.bj, wxAlice); len(list) != 0 {
		t.Fatalf("accounts = %+v", list)
	}
}
