package actors

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

const (
	pwA     = "Passw0rd!a"
	phoneA  = "13800000001"
	phoneB  = "13900000002"
	phoneC  = "13700000003"
	phoneH  = "15100001832"
	wxAlice = "o_alice"
	wxBob   = "o_bob"
)

// TestF1LinkTenant: right code links, wrong codes are refused and limited.
func TestF1LinkTenant(t *testing.T) {
	h := newHarness(t)
	info, err := h.eng.LinkTenant(h.ctx(), wxAlice, h.code)
	h.ok(err)
	if info.ID != h.tenant {
		t.Fatalf("linked %q", info.ID)
	}
	_, err = h.eng.LinkTenant(h.ctx(), wxAlice, h.code)
	wantErr(t, err, domain.ErrAlreadyLinked)
	ts, err := h.eng.TenantsOf(h.ctx(), wxAlice)
	h.ok(err)
	if len(ts) != 1 || ts[0].ID != h.tenant {
		t.Fatalf("tenants of alice = %+v", ts)
	}
	for i := 0; i < 5; i++ {
		_, err = h.eng.LinkTenant(h.ctx(), wxBob, "WRONG-CODE")
		wantErr(t, err, domain.ErrActivationCode)
	}
	_, err = h.eng.LinkTenant(h.ctx(), wxBob, h.code)
	wantErr(t, err, domain.ErrActivationRateLimit)
	h.clk.Advance(10*time.Minute + time.Second)
	h.link(wxBob)
	if !strings.Contains(domain.ErrActivationCode.Message, "激活码") {
		t.Fatal("activation error must say 激活码")
	}
}

// TestF3AddManualAccount: the SMS step must finish before the account exists.
func TestF3AddManualAccount(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleLegalRep))
	r, err := h.eng.AddAccount(h.ctx(), h.tenant, AddAccount{OpenID: wxAlice, TaxNo: h.bj, Business: "both",
		Username: "alice", Password: domain.NewSecret(pwA)})
	h.ok(err)
	if r.State != FlowAwaitingCode || r.PhoneMasked != "138****0001" {
		t.Fatalf("reply = %+v", r)
	}
	if vs, _ := h.eng.Accounts(h.ctx(), h.tenant, h.bj, ""); len(vs) != 0 {
		t.Fatalf("account saved before the code: %+v", vs)
	}
	_, err = h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice, "000000")
	wantErr(t, err, domain.ErrWrongCode)
	r, err = h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice, h.sim.LastCode(phoneA))
	h.ok(err)
	if r.State != FlowDone || r.AccountID == "" {
		t.Fatalf("reply = %+v", r)
	}
	v := h.account(r.AccountID)
	if v.Role != domain.RoleLegalRep || v.Business != domain.BusinessBoth || v.LoginType != domain.LoginManual || v.Bound {
		t.Fatalf("view = %+v", v)
	}
	if v.Channels[domain.ChannelIssue].State != domain.StateLoggedIn {
		t.Fatalf("new account not logged in: %+v", v.Channels)
	}
}

func TestF3AddAccountErrors(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleLegalRep))
	h.person("clerk", phoneB, pwA, rel(h.bj, "11", domain.RoleTaxClerk))
	h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneA, domain.LoginManual)
	add := func(c AddAccount) error {
		if c.OpenID == "" {
			c.OpenID = wxAlice
		}
		if c.Password.IsZero() {
			c.Password = domain.NewSecret(pwA)
		}
		_, err := h.eng.AddAccount(h.ctx(), h.tenant, c)
		return err
	}
	tests := []struct {
		name string
		cmd  AddAccount
		want *domain.Error
	}{
		{"no relation", AddAccount{TaxNo: h.gd, Business: "issue", Username: "alice"}, domain.ErrNoRelation},
		{"wrong password", AddAccount{TaxNo: h.bj, Business: "receive", Username: "clerk", Password: domain.NewSecret("nope")}, domain.ErrWrongPassword},
		{"already added", AddAccount{TaxNo: h.bj, Business: "issue", Username: "alice"}, domain.ErrAccountExists},
		{"clerk cannot issue", AddAccount{TaxNo: h.bj, Business: "issue", Username: "clerk"}, domain.ErrRoleBusiness},
		{"claimed role cannot issue", AddAccount{TaxNo: h.bj, Business: "both", Username: "clerk", Role: "03"}, domain.ErrRoleBusiness},
		{"withdrawn app", AddAccount{TaxNo: h.bj, Business: "receive", Username: "clerk", LoginType: "fapiaoyun_app"}, domain.ErrLoginTypeWithdrawn},
		{"bad tax number", AddAccount{TaxNo: "91110000XXXXXXXXXX", Business: "receive", Username: "clerk"}, domain.ErrInvalidTaxNo},
		{"unknown enterprise", AddAccount{TaxNo: domain.MakeTaxNo("31", 9), Business: "receive", Username: "clerk"}, domain.ErrEnterpriseNotFound},
		{"bad business", AddAccount{TaxNo: h.bj, Business: "sell", Username: "clerk"}, domain.ErrInvalidBusiness},
		{"no username", AddAccount{TaxNo: h.bj, Business: "receive"}, domain.ErrInvalidInput},
		{"not linked", AddAccount{OpenID: "o_stranger", TaxNo: h.bj, Business: "receive", Username: "clerk"}, domain.ErrNotLinked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, add(tc.cmd), tc.want)
		})
	}
	if domain.ErrNoRelation.Message != "未查询到您与该企业的关联关系信息，请确认录入的信息是否正确！" {
		t.Fatal("the manual's no-relation text changed")
	}
	if n := len(h.sim.SentCodes(phoneB)); n != 0 {
		t.Fatalf("refused adds sent %d codes", n)
	}
}

// TestF3HostedAndNoSMS: hosted types and no-SMS regions finish without a person.
func TestF3HostedAndNoSMS(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("hm", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	h.person("qx", phoneB, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	h.person("gd", phoneC, pwA, rel(h.gd, "44", domain.RoleInvoicer))
	for _, tc := range []struct {
		user, tax string
		lt        domain.LoginType
	}{{"hm", h.bj, domain.LoginHuameng}, {"qx", h.bj, domain.LoginQixiangyun}, {"gd", h.gd, domain.LoginManual}} {
		r, err := h.eng.AddAccount(h.ctx(), h.tenant, AddAccount{OpenID: wxAlice, TaxNo: tc.tax, Business: "issue",
			Username: tc.user, Password: domain.NewSecret(pwA), LoginType: string(tc.lt)})
		h.ok(err)
		if r.State != FlowDone {
			t.Fatalf("%s: state %s, want done without a person", tc.user, r.State)
		}
	}
	if len(h.sim.SentCodes(phoneC)) != 0 {
		t.Fatal("广东 sent a code")
	}
}

// TestF4F10Permissions: bound accounts are operated by their user and admins only.
func TestF4F10Permissions(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.link(wxBob)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneA, domain.LoginManual)
	// unbound: anyone linked may bind
	wantErr(t, h.eng.Bind(h.ctx(), h.tenant, id, "o_stranger"), domain.ErrNotLinked)
	h.ok(h.eng.Bind(h.ctx(), h.tenant, id, wxAlice))
	if v := h.account(id); !v.Bound {
		t.Fatal("not bound")
	}
	wantErr(t, h.eng.Bind(h.ctx(), h.tenant, id, wxBob), domain.ErrAlreadyBound)
	wantErr(t, h.eng.DeleteAccount(h.ctx(), h.tenant, id, wxBob), domain.ErrNotPermitted)
	wantErr(t, h.eng.Unbind(h.ctx(), h.tenant, id, wxBob), domain.ErrNotPermitted)
	wantErr(t, h.eng.SetDefault(h.ctx(), h.tenant, id, wxBob, domain.BusinessBoth), domain.ErrNotPermitted)
	_, err := h.eng.RequestSession(h.ctx(), h.tenant, SessionRequest{AccountID: id, Business: domain.ChannelIssue, OpenID: wxBob})
	wantErr(t, err, domain.ErrNotPermitted)
	// F7: the bound user unbinds; then bob may operate
	h.ok(h.eng.Unbind(h.ctx(), h.tenant, id, wxAlice))
	wantErr(t, h.eng.Unbind(h.ctx(), h.tenant, id, wxAlice), domain.ErrNotBound)
	h.ok(h.eng.Bind(h.ctx(), h.tenant, id, wxBob))
	h.ok(h.eng.DeleteAccount(h.ctx(), h.tenant, id, wxBob))
	if vs, _ := h.eng.Accounts(h.ctx(), h.tenant, "", ""); len(vs) != 0 {
		t.Fatalf("deleted account listed: %+v", vs)
	}
	if _, err := h.store.Get(h.ctx(), keyAccount(h.tenant, id)); err == nil {
		t.Fatal("deleted account's record (and sealed password) still stored")
	}
}

// TestF5Defaults: the manual's default-account rules and their use by clients.
func TestF5Defaults(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("boss", phoneA, pwA, rel(h.bj, "11", domain.RoleLegalRep))
	h.person("clerk", phoneB, pwA, rel(h.bj, "11", domain.RoleTaxClerk))
	boss := h.addAccount(wxAlice, h.bj, "both", "boss", pwA, phoneA, domain.LoginManual)
	// single account: only both
	wantErr(t, h.eng.SetDefault(h.ctx(), h.tenant, boss, wxAlice, domain.BusinessIssue), domain.ErrDefaultSingleBoth)
	_, err := h.session("", domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrEnterpriseNotFound) // no tax number, no account: nothing to resolve
	_, err = h.eng.RequestSession(h.ctx(), h.tenant, SessionRequest{TaxNo: h.bj, Business: domain.ChannelIssue})
	wantErr(t, err, domain.ErrNoDefaultAccount)
	h.ok(h.eng.SetDefault(h.ctx(), h.tenant, boss, wxAlice, domain.BusinessBoth))
	h.clk.Advance(4 * time.Minute) // past the SMS interval
	clerk := h.addAccount(wxAlice, h.bj, "receive", "clerk", pwA, phoneB, domain.LoginManual)
	wantErr(t, h.eng.SetDefault(h.ctx(), h.tenant, clerk, wxAlice, domain.BusinessIssue), domain.ErrDefaultNoIssue)
	h.ok(h.eng.SetDefault(h.ctx(), h.tenant, clerk, wxAlice, domain.BusinessReceive))
	if v := h.account(boss); v.DefaultFor != domain.BusinessIssue {
		t.Fatalf("boss default = %v, want issue only (receive moved)", v.DefaultFor)
	}
	if v := h.account(clerk); v.DefaultFor != domain.BusinessReceive {
		t.Fatalf("clerk default = %v", v.DefaultFor)
	}
	r, err := h.eng.RequestSession(h.ctx(), h.tenant, SessionRequest{TaxNo: h.bj, Business: domain.ChannelReceive})
	h.ok(err)
	if r.AccountID != clerk || r.State != RequestReady {
		t.Fatalf("default receive → %+v", r)
	}
	r, err = h.eng.RequestSession(h.ctx(), h.tenant, SessionRequest{TaxNo: h.bj, Business: domain.ChannelIssue})
	h.ok(err)
	if r.AccountID != boss {
		t.Fatalf("default issue → %s", r.AccountID)
	}
	// F10: deleting clears the default
	h.ok(h.eng.DeleteAccount(h.ctx(), h.tenant, clerk, wxAlice))
	_, err = h.eng.RequestSession(h.ctx(), h.tenant, SessionRequest{TaxNo: h.bj, Business: domain.ChannelReceive})
	wantErr(t, err, domain.ErrNoDefaultAccount)
}

// TestB1SingleFlight: 1,000 concurrent requests for a logged-out account cause
// one bureau login and one prompt; one code completes them all.
func TestB1SingleFlight(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneH, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneH, domain.LoginManual)
	h.ok(h.eng.Bind(h.ctx(), h.tenant, id, wxAlice))
	r, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	h.ok(h.eng.ReportInvalid(h.ctx(), h.tenant, id, domain.ChannelIssue, r.Session.Token))
	h.clk.Advance(4 * time.Minute)
	h.sim.ResetCalls()
	before := len(h.pub.All())

	const n = 1000
	replies := make([]*SessionReply, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			replies[i], errs[i] = h.session(id, domain.ChannelIssue, ActionLogin)
		}(i)
	}
	wg.Wait()
	for i := range errs {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if replies[i].State != RequestAwaitingUser || replies[i].Prompt == nil {
			t.Fatalf("request %d: %+v", i, replies[i])
		}
	}
	if c := h.sim.Calls(taxbureau.MethodLogin); c != 1 {
		t.Fatalf("bureau logins = %d, want 1", c)
	}
	ps := h.pub.All()[before:]
	if len(ps) != 1 || ps[0].Kind != prompts.KindSMSCode || ps[0].OpenID != wxAlice {
		t.Fatalf("prompts = %+v", ps)
	}
	want := "请151****1832绑定的微信用户，前往发票云公众号点击收到的登录通知进行操作"
	if replies[0].Prompt.Message != want {
		t.Fatalf("message = %q", replies[0].Prompt.Message)
	}
	// every request waits; one code completes them all
	done := make([]*SessionReply, n)
	var wg2 sync.WaitGroup
	for i := 0; i < n; i++ {
		wg2.Add(1)
		go func(i int) {
			defer wg2.Done()
			done[i], errs[i] = h.eng.AwaitRequest(h.ctx(), h.tenant, replies[i].RequestID, 15*time.Second)
		}(i)
	}
	// answer once the waiters are registered (any order is fine: a finished
	// request answers an await at once)
	ans, err := h.eng.Answer(h.ctx(), h.tenant, "", id, wxAlice, h.sim.LastCode(phoneH))
	h.ok(err)
	if ans.State != RequestReady || ans.Session == nil {
		t.Fatalf("answer = %+v", ans)
	}
	wg2.Wait()
	for i := range done {
		if errs[i] != nil || done[i].State != RequestReady || done[i].Session.Token != ans.Session.Token {
			t.Fatalf("await %d: %+v %v", i, done[i], errs[i])
		}
	}
	if c := h.sim.Calls(taxbureau.MethodSubmitCode); c != 1 {
		t.Fatalf("code submissions = %d", c)
	}
}

// TestB2LockoutGuard: after "wrong password" the password is never sent again.
func TestB2LockoutGuard(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.gd, "44", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.gd, "issue", "alice", pwA, phoneA, domain.LoginManual)
	r, _ := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(h.eng.ReportInvalid(h.ctx(), h.tenant, id, domain.ChannelIssue, r.Session.Token))
	h.ok(h.sim.SetPassword("alice", "Changed@2026x")) // changed at the bureau, not here
	h.sim.ResetCalls()
	_, err := h.session(id, domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrWrongPassword)
	for i := 0; i < 5; i++ {
		_, err = h.session(id, domain.ChannelIssue, ActionLogin)
		wantErr(t, err, domain.ErrPasswordInvalid)
	}
	if c := h.sim.Calls(taxbureau.MethodLogin); c != 1 {
		t.Fatalf("bureau saw %d logins, want 1", c)
	}
	if h.sim.PasswordLocked("alice") {
		t.Fatal("we triggered the bureau's lock")
	}
	// F12: the new password is checked, stored, and the guard lifts
	fr, err := h.eng.UpdatePassword(h.ctx(), h.tenant, id, wxAlice, domain.NewSecret("Changed@2026x"))
	h.ok(err)
	if fr.Updated != 1 {
		t.Fatalf("updated = %d", fr.Updated)
	}
	r, err = h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if r.State != RequestReady {
		t.Fatalf("after update: %+v", r)
	}
	if h.sim.Calls(taxbureau.MethodLogin) != 2 {
		t.Fatalf("bureau logins = %d, want 2", h.sim.Calls(taxbureau.MethodLogin))
	}
}

// TestB3SMSBudget: one code per account per 3 minutes; 20 per phone per day.
func TestB3SMSBudget(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneA, domain.LoginManual)
	r, _ := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(h.eng.ReportInvalid(h.ctx(), h.tenant, id, domain.ChannelIssue, r.Session.Token))
	_, err := h.session(id, domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrSMSTooFrequent)
	// spend the day's budget: each login sends one code and expires
	sent := len(h.sim.SentCodes(phoneA))
	for i := sent; i < 20; i++ {
		h.clk.Advance(5*time.Minute + time.Second) // expires the previous code
		r, err := h.session(id, domain.ChannelIssue, ActionLogin)
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		if r.State != RequestAwaitingUser {
			t.Fatalf("login %d: %+v", i, r)
		}
	}
	h.clk.Advance(5 * time.Minute)
	_, err = h.session(id, domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrSMSBudget)
	if v := h.account(id); v.SMSRemaining != 0 {
		t.Fatalf("visible budget = %d", v.SMSRemaining)
	}
	// next bureau day
	h.clk.Set(time.Date(2026, 11, 28, 0, 1, 0, 0, domain.ChinaTime))
	r, err = h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if r.State != RequestAwaitingUser {
		t.Fatalf("next day: %+v", r)
	}
}

// TestF13LockHosted: hosted accounts lock after 2 wrong codes and after 3
// code timeouts; a locked account never reaches the bureau; unlock resets.
func TestF13LockHosted(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("hm", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "hm", pwA, phoneA, domain.LoginHuameng)
	logout := func() {
		r, err := h.session(id, domain.ChannelIssue, ActionLogin)
		h.ok(err)
		if r.Session != nil {
			h.ok(h.eng.ReportInvalid(h.ctx(), h.tenant, id, domain.ChannelIssue, r.Session.Token))
		}
	}
	attempt := func() *SessionReply {
		t.Helper()
		h.clk.Advance(3*time.Minute + time.Second)
		r, err := h.session(id, domain.ChannelIssue, ActionLogin)
		if err != nil {
			return failed("", id, err)
		}
		r, err = h.eng.AwaitRequest(h.ctx(), h.tenant, r.RequestID, 5*time.Second)
		h.ok(err)
		return r
	}
	logout()
	h.sms.SetFault("hm", taxbureau.SMSFaultWrongCode)
	if r := attempt(); r.State != RequestFailed || r.Error.Code != domain.ErrWrongCode.Code {
		t.Fatalf("first wrong code: %+v", r)
	}
	if r := attempt(); r.State != RequestFailed || r.Error.Code != domain.ErrLocked.Code {
		t.Fatalf("second wrong code: %+v", r)
	}
	v := h.account(id)
	if !v.Locked || v.LockReason != domain.LockWrongCode {
		t.Fatalf("view = %+v", v)
	}
	var locked []events.Event
	for _, e := range h.events.Events() {
		if e.Type == events.EventAccountLocked {
			locked = append(locked, e)
		}
	}
	if len(locked) != 1 || locked[0].Account != id || locked[0].Reason != string(domain.LockWrongCode) {
		t.Fatalf("account.locked events = %+v", locked)
	}
	h.sim.ResetCalls()
	h.clk.Advance(time.Hour)
	_, err := h.session(id, domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrLocked)
	if h.sim.Calls(taxbureau.MethodLogin) != 0 {
		t.Fatal("a locked account reached the bureau")
	}
	// the lock survives a restart
	h.restart()
	_, err = h.session(id, domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrLocked)
	// another user cannot unlock a bound account
	h.link(wxBob)
	h.ok(h.eng.Bind(h.ctx(), h.tenant, id, wxAlice))
	wantErr(t, h.eng.Unlock(h.ctx(), h.tenant, id, wxBob), domain.ErrNotPermitted)
	h.ok(h.eng.Unlock(h.ctx(), h.tenant, id, wxAlice))
	// three code timeouts
	h.sms.SetFault("hm", taxbureau.SMSFaultTimeout)
	for i := 1; i <= 3; i++ {
		r := attempt()
		if i < 3 && r.Error.Code != domain.ErrHostedCodeTimeout.Code {
			t.Fatalf("timeout %d: %+v", i, r.Error)
		}
		if i == 3 && r.Error.Code != domain.ErrLocked.Code {
			t.Fatalf("timeout %d: %+v", i, r.Error)
		}
	}
	if v := h.account(id); v.LockReason != domain.LockCodeTimeout {
		t.Fatalf("reason = %s", v.LockReason)
	}
	h.ok(h.eng.Unlock(h.ctx(), h.tenant, id, wxAlice))
	h.sms.SetFault("hm", taxbureau.SMSFaultNone)
	if r := attempt(); r.State != RequestReady {
		t.Fatalf("after unlock: %+v", r)
	}
}

// TestF13WrongPasswordLocksHosted: one wrong password locks a hosted account.
func TestF13WrongPasswordLocksHosted(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("qx", phoneA, pwA, rel(h.gd, "44", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.gd, "issue", "qx", pwA, phoneA, domain.LoginQixiangyun)
	r, _ := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(h.eng.ReportInvalid(h.ctx(), h.tenant, id, domain.ChannelIssue, r.Session.Token))
	h.ok(h.sim.SetPassword("qx", "Other@2026xy"))
	_, err := h.session(id, domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrWrongPassword)
	v := h.account(id)
	if !v.Locked || v.LockReason != domain.LockWrongPassword || !v.PasswordInvalid {
		t.Fatalf("view = %+v", v)
	}
	// unlock alone keeps the refused password blocked (the page warns)
	h.ok(h.eng.Unlock(h.ctx(), h.tenant, id, wxAlice))
	_, err = h.session(id, domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrPasswordInvalid)
}

// TestF11ResetPropagates: a reset reaches every account of the same person
// and unlocks them.
func TestF11ResetPropagates(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("boss", phoneA, pwA, rel(h.bj, "11", domain.RoleLegalRep), rel(h.gd, "44", domain.RoleLegalRep))
	h.person("other", phoneB, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	a1 := h.addAccount(wxAlice, h.bj, "issue", "boss", pwA, phoneA, domain.LoginManual)
	a2 := h.addAccount(wxAlice, h.gd, "issue", "boss", pwA, phoneA, domain.LoginManual)
	h.clk.Advance(4 * time.Minute)
	h.addAccount(wxAlice, h.bj, "issue", "other", pwA, phoneB, domain.LoginManual)
	p, _ := h.sim.FindPerson("boss")
	_, err := h.eng.StartPasswordReset(h.ctx(), h.tenant, a1, wxAlice, "201", "110101199001000000")
	wantErr(t, err, domain.ErrIdentityMismatch)
	h.clk.Advance(4 * time.Minute)
	r, err := h.eng.StartPasswordReset(h.ctx(), h.tenant, a1, wxAlice, "201", p.IDNumber)
	h.ok(err)
	if r.State != FlowAwaitingCode {
		t.Fatalf("reset = %+v", r)
	}
	r, err = h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice, h.sim.LastCode(phoneA))
	h.ok(err)
	if r.State != FlowAwaitingPassword {
		t.Fatalf("after code = %+v", r)
	}
	_, err = h.eng.CompleteReset(h.ctx(), h.tenant, r.FlowID, wxAlice, domain.NewSecret("short"), domain.NewSecret("short"))
	wantErr(t, err, domain.ErrPasswordPolicy)
	_, err = h.eng.CompleteReset(h.ctx(), h.tenant, r.FlowID, wxAlice, domain.NewSecret("NewPass@2026"), domain.NewSecret("NewPass@2027"))
	wantErr(t, err, domain.ErrPasswordMismatch)
	r, err = h.eng.CompleteReset(h.ctx(), h.tenant, r.FlowID, wxAlice, domain.NewSecret("NewPass@2026"), domain.NewSecret("NewPass@2026"))
	h.ok(err)
	if r.State != FlowDone || r.Updated != 2 {
		t.Fatalf("reset done = %+v, want 2 updated", r)
	}
	// both accounts log in with the new password (the old one is gone)
	for _, id := range []string{a1, a2} {
		s, err := h.session(id, domain.ChannelIssue, ActionLogin)
		h.ok(err)
		h.ok(h.eng.ReportInvalid(h.ctx(), h.tenant, id, domain.ChannelIssue, s.Session.Token))
	}
	h.clk.Advance(4 * time.Minute)
	r2, err := h.session(a2, domain.ChannelIssue, ActionLogin) // 广东: no SMS, straight to the bureau
	h.ok(err)
	if r2.State != RequestReady {
		t.Fatalf("a2 with the new password: %+v", r2)
	}
}

// TestF9AdminAndF7F8 covers 数电配置管理员, unbinding an enterprise and
// changing the bound WeChat.
func TestF9AdminAndF7F8(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.link(wxBob)
	h.person("boss", phoneA, pwA, rel(h.bj, "11", domain.RoleLegalRep))
	h.person("clerk", phoneB, pwA, rel(h.bj, "11", domain.RoleTaxClerk))
	clerk := h.addAccount(wxAlice, h.bj, "receive", "clerk", pwA, phoneB, domain.LoginManual)
	h.ok(h.eng.Bind(h.ctx(), h.tenant, clerk, wxAlice))
	// a clerk's credentials do not make an admin
	h.clk.Advance(4 * time.Minute)
	_, err := h.eng.ApplyAdmin(h.ctx(), h.tenant, h.bj, wxBob, "clerk", domain.NewSecret(pwA))
	wantErr(t, err, domain.ErrNotAdminRole)
	r, err := h.eng.ApplyAdmin(h.ctx(), h.tenant, h.bj, wxBob, "boss", domain.NewSecret(pwA))
	h.ok(err)
	r, err = h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, wxBob, h.sim.LastCode(phoneA))
	h.ok(err)
	if r.State != FlowDone {
		t.Fatalf("admin = %+v", r)
	}
	es, _ := h.eng.Enterprises(h.ctx(), h.tenant, wxBob)
	if len(es) == 0 || !es[0].IsAdmin && !es[1].IsAdmin {
		t.Fatalf("bob is no admin: %+v", es)
	}
	// the admin may delete alice's bound account (the manual's 离职 case)
	h.ok(h.eng.DeleteAccount(h.ctx(), h.tenant, clerk, wxBob))
	h.ok(h.eng.StepDownAdmin(h.ctx(), h.tenant, h.bj, wxBob))
	wantErr(t, h.eng.StepDownAdmin(h.ctx(), h.tenant, h.bj, wxBob), domain.ErrNotAdmin)
}

func TestF7F8UnbindAndRebind(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.link(wxBob)
	h.person("bob", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	h.person("bob2", phoneB, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "bob", pwA, phoneA, domain.LoginManual)
	id2 := h.addAccount(wxAlice, h.bj, "issue", "bob2", pwA, phoneB, domain.LoginManual)
	h.ok(h.eng.Bind(h.ctx(), h.tenant, id, wxAlice))
	h.ok(h.eng.Bind(h.ctx(), h.tenant, id2, wxAlice))
	// F8: bob proves ownership of "bob" and takes it over
	h.clk.Advance(4 * time.Minute)
	_, err := h.eng.ChangeBinding(h.ctx(), h.tenant, id, wxBob, "bob", domain.NewSecret("wrong"))
	wantErr(t, err, domain.ErrWrongPassword)
	r, err := h.eng.ChangeBinding(h.ctx(), h.tenant, id, wxBob, "bob", domain.NewSecret(pwA))
	h.ok(err)
	r, err = h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, wxBob, h.sim.LastCode(phoneA))
	h.ok(err)
	if r.State != FlowDone {
		t.Fatalf("rebind = %+v", r)
	}
	vs, _ := h.eng.Accounts(h.ctx(), h.tenant, "", wxBob)
	for _, v := range vs {
		if v.ID == id && !v.BoundToMe {
			t.Fatal("binding did not move to bob")
		}
	}
	notices := promptsOf(h.pub, prompts.KindNotice)
	if len(notices) != 1 || notices[0].OpenID != wxAlice {
		t.Fatalf("previous user not told: %+v", notices)
	}
	// F7: alice unbinds the whole enterprise: only her binding goes
	n, err := h.eng.UnbindEnterprise(h.ctx(), h.tenant, h.bj, wxAlice)
	h.ok(err)
	if n != 1 {
		t.Fatalf("unbound %d", n)
	}
	// F2: bob unlinks the tenant; the preview names what he loses
	pv, err := h.eng.UnlinkPreview(h.ctx(), h.tenant, wxBob)
	h.ok(err)
	if len(pv) != 1 || pv[0].ID != id {
		t.Fatalf("preview = %+v", pv)
	}
	_, err = h.eng.UnlinkTenant(h.ctx(), h.tenant, wxBob)
	h.ok(err)
	if v := h.account(id); v.Bound {
		t.Fatal("still bound after unlink")
	}
	ts, _ := h.eng.TenantsOf(h.ctx(), wxBob)
	if len(ts) != 0 {
		t.Fatalf("tenant still shown: %+v", ts)
	}
	wantErr(t, h.eng.Bind(h.ctx(), h.tenant, id, wxBob), domain.ErrNotLinked)
}

// TestF14CertifyAndChannels: login per channel and face certification.
func TestF14CertifyAndChannels(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("boss", phoneA, pwA, rel(h.gd, "44", domain.RoleLegalRep))
	id := h.addAccount(wxAlice, h.gd, "both", "boss", pwA, phoneA, domain.LoginManual)
	v := h.account(id)
	if v.Channels[domain.ChannelIssue].State != domain.StateLoggedIn || v.Channels[domain.ChannelReceive].State != domain.StateLoggedOut {
		t.Fatalf("channels = %+v", v.Channels)
	}
	r, err := h.eng.RequestSession(h.ctx(), h.tenant, SessionRequest{AccountID: id, Business: domain.ChannelReceive, OpenID: wxAlice})
	h.ok(err)
	if r.State != RequestReady || r.Session.Channel != domain.ChannelReceive {
		t.Fatalf("receive channel = %+v", r)
	}
	issue, _ := h.session(id, domain.ChannelIssue, ActionLogin)
	if issue.Session.Token == r.Session.Token {
		t.Fatal("channels share a token")
	}
	c, err := h.session(id, domain.ChannelIssue, ActionCertify)
	h.ok(err)
	if c.State != RequestAwaitingUser || c.Prompt.Kind != KindFace || c.Prompt.QRContent == "" {
		t.Fatalf("certify = %+v", c)
	}
	_, err = h.eng.ConfirmCertification(h.ctx(), h.tenant, id, wxAlice)
	h.ok(err) // not passed yet: still waiting
	h.ok(h.passFace(c.Prompt.QRContent))
	done, err := h.eng.ConfirmCertification(h.ctx(), h.tenant, id, wxAlice)
	h.ok(err)
	if done.State != RequestReady || done.CertifiedUntil == nil {
		t.Fatalf("confirm = %+v", done)
	}
	final, err := h.eng.AwaitRequest(h.ctx(), h.tenant, c.RequestID, time.Second)
	h.ok(err)
	if final.State != RequestReady || final.CertifiedUntil == nil || !final.CertifiedUntil.Equal(t0.Add(24*time.Hour)) {
		t.Fatalf("certified = %+v", final)
	}
	again, _ := h.session(id, domain.ChannelIssue, ActionCertify)
	if again.State != RequestReady {
		t.Fatalf("certified account asked again: %+v", again)
	}
	if v := h.account(id); v.CertifiedUntil == nil {
		t.Fatal("view lacks certification")
	}
}

// passFace finds the certification behind a face prompt's QR content.
func (h *harness) passFace(content string) error {
	return h.sim.PassFace(certIDFrom(content))
}

// TestF15QRLogin: start, scan, poll; expiry.
func TestF15QRLogin(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneA, domain.LoginManual)
	h.logout(id, domain.ChannelIssue)
	// a client is waiting for a code...
	req, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	// ...and the person scans instead
	qr, err := h.eng.StartQRLogin(h.ctx(), h.tenant, id, wxAlice, domain.ChannelIssue, AppTax)
	h.ok(err)
	if qr.State != QRWaiting || !qr.ExpiresAt.Equal(h.clk.Now().Add(120*time.Second)) {
		t.Fatalf("qr = %+v", qr)
	}
	p, err := h.eng.PollQRLogin(h.ctx(), h.tenant, id, wxAlice, qr.QRID)
	h.ok(err)
	if p.State != QRWaiting {
		t.Fatalf("poll = %+v", p)
	}
	h.ok(h.sim.ScanQR(qr.QRID, "alice"))
	p, err = h.eng.PollQRLogin(h.ctx(), h.tenant, id, wxAlice, qr.QRID)
	h.ok(err)
	if p.State != QRConfirmed {
		t.Fatalf("poll = %+v", p)
	}
	out, err := h.eng.AwaitRequest(h.ctx(), h.tenant, req.RequestID, 5*time.Second)
	h.ok(err)
	if out.State != RequestReady {
		t.Fatalf("waiting client = %+v", out)
	}
	// expiry
	qr, err = h.eng.StartQRLogin(h.ctx(), h.tenant, id, wxAlice, domain.ChannelIssue, AppIIT)
	h.ok(err)
	h.clk.Advance(121 * time.Second)
	p, err = h.eng.PollQRLogin(h.ctx(), h.tenant, id, wxAlice, qr.QRID)
	h.ok(err)
	if p.State != QRExpired {
		t.Fatalf("expired poll = %+v", p)
	}
}

// TestCodeTimeoutFailsWaiters: an unanswered code fails the waiting requests.
func TestCodeTimeoutFailsWaiters(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneA, domain.LoginManual)
	h.logout(id, domain.ChannelIssue)
	r, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	h.clk.Advance(5*time.Minute + time.Second)
	out, err := h.eng.AwaitRequest(h.ctx(), h.tenant, r.RequestID, 5*time.Second)
	h.ok(err)
	if out.State != RequestFailed || out.Error.Code != domain.ErrCodeExpired.Code {
		t.Fatalf("outcome = %+v", out)
	}
	if v := h.account(id); v.Locked {
		t.Fatal("a manual account locked")
	}
}

// TestPassivationAndRestart: idle actors stop and come back with their state;
// a new engine on the same store sees every acknowledged change.
func TestPassivationAndRestart(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.gd, "44", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.gd, "issue", "alice", pwA, phoneA, domain.LoginManual)
	first, _ := h.session(id, domain.ChannelIssue, ActionLogin)
	n, err := h.eng.PassivateAll(h.ctx(), h.tenant)
	h.ok(err)
	if n != 1 {
		t.Fatalf("passivated %d", n)
	}
	// messages during the stop are buffered, not lost
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := h.session(id, domain.ChannelIssue, ActionLogin)
			if err != nil || r.Session.Token != first.Session.Token {
				t.Errorf("after passivation: %+v %v", r, err)
			}
		}()
	}
	wg.Wait()
	if st := h.eng.Stats(); st.Activations < 2 {
		t.Fatalf("activations = %d", st.Activations)
	}
	h.restart()
	r, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if r.Session.Token != first.Session.Token {
		t.Fatal("session lost across restart")
	}
	// idle timeout passivates by itself
	h.eng.Stop()
	h.cfg.IdleTimeout = 20 * time.Millisecond
	h.start()
	h.session(id, domain.ChannelIssue, ActionLogin)
	testutil.Eventually(t, 5*time.Second, func() error {
		if h.eng.Stats().ActiveAccounts != 0 {
			return errors.New("still active")
		}
		return nil
	})
}

// TestDeleteFailsWaiters: F10 fails waiting requests with a clear reason.
func TestDeleteFailsWaiters(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneA, domain.LoginManual)
	h.logout(id, domain.ChannelIssue)
	h.sim.ResetCalls()
	h.sim.SetLatency(300 * time.Millisecond) // the login is in flight while we delete
	ch := make(chan error, 1)
	go func() {
		_, err := h.session(id, domain.ChannelIssue, ActionLogin)
		ch <- err
	}()
	testutil.Eventually(t, 5*time.Second, func() error {
		if h.sim.Calls(taxbureau.MethodLogin) == 0 {
			return errors.New("login not started")
		}
		return nil
	})
	h.ok(h.eng.DeleteAccount(h.ctx(), h.tenant, id, wxAlice))
	wantErr(t, <-ch, domain.ErrAccountDeleted)
}

// TestNoSecretsAtRest: passwords and tokens never reach the bbolt file or
// the logs in clear.
func TestNoSecretsAtRest(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	const secret = "Sup3r$ecretPw"
	h.person("alice", phoneA, secret, rel(h.gd, "44", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.gd, "issue", "alice", secret, phoneA, domain.LoginManual)
	r, _ := h.session(id, domain.ChannelIssue, ActionLogin)
	var found []string
	h.ok(h.store.Scan(h.ctx(), "", func(rec persistence.Record) error {
		if strings.Contains(string(rec.Value), secret) || strings.Contains(string(rec.Value), r.Session.Token) {
			found = append(found, rec.Key)
		}
		return nil
	}))
	if len(found) > 0 {
		t.Fatalf("plaintext secret in %v", found)
	}
	if strings.Contains(h.logBuf.String(), secret) || strings.Contains(h.logBuf.String(), r.Session.Token) {
		t.Fatal("secret in logs")
	}
}

func certIDFrom(content string) string {
	_, id, _ := strings.Cut(content, "cert=")
	return id
}

// TestB3SMSIntervalSaysTheWait: with a 90 s interval, a login asked 40 s
// after the last code is refused for the 50 s really left, not the default
// 3 minutes.
func TestB3SMSIntervalSaysTheWait(t *testing.T) {
	h := newHarness(t)
	h.cfg.SMSPolicy.PerAccountInterval = 90 * time.Second
	h.restart()
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneA, domain.LoginManual)
	r, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	h.ok(h.eng.ReportInvalid(h.ctx(), h.tenant, id, domain.ChannelIssue, r.Session.Token))
	h.clk.Advance(40 * time.Second)
	_, err = h.session(id, domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrSMSTooFrequent)
	e := domain.AsError(err)
	if e.RetryAfterSeconds() != 50 || !strings.Contains(e.Message, "请50秒后再试") {
		t.Fatalf("refusal: Retry-After %d s, message %q; want 50 s, 请50秒后再试", e.RetryAfterSeconds(), e.Message)
	}
	h.clk.Advance(50 * time.Second)
	r, err = h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if r.State != RequestAwaitingUser {
		t.Fatalf("after the wait: %+v", r)
	}
}

// TestFlowsSurviveARestart: a flow waiting for its SMS code, and a reset
// waiting for its new password, go on in a fresh engine on the same store
// (what a tenant moving to another node amounts to): the code typed there
// adds the account, the password typed there is set. The record holds no
// secret in the clear and is gone once the flow ends; one past its expiry
// is not resumed.
func TestFlowsSurviveARestart(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleLegalRep))
	r, err := h.eng.AddAccount(h.ctx(), h.tenant, AddAccount{OpenID: wxAlice, TaxNo: h.bj, Business: "both",
		Username: "alice", Password: domain.NewSecret(pwA)})
	h.ok(err)
	if r.State != FlowAwaitingCode {
		t.Fatalf("reply = %+v", r)
	}
	rec, err := h.store.Get(h.ctx(), keyFlow(h.tenant, r.FlowID))
	h.ok(err)
	if bytes.Contains(rec.Value, []byte(pwA)) || bytes.Contains(rec.Value, []byte("alice")) {
		t.Fatal("the parked flow holds the password or the login name in the clear")
	}
	h.restart()
	// Another user cannot take it over by its id.
	_, err = h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, wxBob, h.sim.LastCode(phoneA))
	wantErr(t, err, domain.ErrNoChallenge)
	_, err = h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice, "000000")
	wantErr(t, err, domain.ErrWrongCode)
	done, err := h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice, h.sim.LastCode(phoneA))
	h.ok(err)
	if done.State != FlowDone || done.AccountID == "" {
		t.Fatalf("after the restart: %+v", done)
	}
	if _, err := h.store.Get(h.ctx(), keyFlow(h.tenant, r.FlowID)); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("the ended flow's record: %v", err)
	}
	v := h.account(done.AccountID)
	if v.Channels[domain.ChannelIssue].State != domain.StateLoggedIn {
		t.Fatalf("resumed flow's account not logged in: %+v", v.Channels)
	}

	// F11 across two restarts: the code on one engine, the password on the next.
	p, _ := h.sim.FindPerson("alice")
	h.clk.Advance(4 * time.Minute)
	rs, err := h.eng.StartPasswordReset(h.ctx(), h.tenant, done.AccountID, wxAlice, "201", p.IDNumber)
	h.ok(err)
	h.restart()
	rs, err = h.eng.SubmitFlowCode(h.ctx(), h.tenant, rs.FlowID, wxAlice, h.sim.LastCode(phoneA))
	h.ok(err)
	if rs.State != FlowAwaitingPassword {
		t.Fatalf("reset after a restart: %+v", rs)
	}
	h.restart()
	rs, err = h.eng.CompleteReset(h.ctx(), h.tenant, rs.FlowID, wxAlice, domain.NewSecret("NewPass@2026"), domain.NewSecret("NewPass@2026"))
	h.ok(err)
	if rs.State != FlowDone || rs.Updated != 1 {
		t.Fatalf("reset done after two restarts: %+v", rs)
	}

	// Past its expiry a parked flow is not resumed, and the record goes.
	h.person("carol", phoneB, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	h.clk.Advance(4 * time.Minute)
	r, err = h.eng.AddAccount(h.ctx(), h.tenant, AddAccount{OpenID: wxAlice, TaxNo: h.bj, Business: "issue",
		Username: "carol", Password: domain.NewSecret(pwA)})
	h.ok(err)
	h.eng.Stop()
	h.clk.Advance(h.cfg.withDefaults().CodeTTL + 2*time.Minute)
	h.start()
	_, err = h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice, h.sim.LastCode(phoneB))
	wantErr(t, err, domain.ErrNoChallenge)
	if _, err := h.store.Get(h.ctx(), keyFlow(h.tenant, r.FlowID)); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("an expired flow's record: %v", err)
	}
}
