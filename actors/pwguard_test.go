package actors

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

// passwordTries is how many passwords reached the simulator since the last
// ResetCalls: every Login and VerifyPassword checks one.
func (h *harness) passwordTries() int {
	return h.sim.Calls(taxbureau.MethodLogin) + h.sim.Calls(taxbureau.MethodVerifyPassword)
}

// wantGuard checks that err is etaxd's password-guard refusal with a wait.
func wantGuard(t *testing.T, err error, want *domain.Error) {
	t.Helper()
	wantErr(t, err, want)
	var e *domain.Error
	if !errors.As(err, &e) || e.RetryAfter <= 0 {
		t.Fatalf("%v carries no retry-after", err)
	}
}

// TestPasswordGuardAcrossFlows is issue 8's attack: a linked user who is not
// an admin submits wrong passwords of 李财务 through 申请绑定 (F9), 新增 (F3),
// 更换微信 (F8) and 仅更新发票云 (F12). After two wrong tries etaxd refuses
// without asking the bureau, also after a restart, while another person is
// unaffected.
func TestPasswordGuardAcrossFlows(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.link(wxBob) // the attacker: linked, no admin
	h.person("licai", phoneA, pwA, rel(h.bj, "11", domain.RoleFinanceManager), rel(h.gd, "44", domain.RoleFinanceManager))
	h.person("wangkj", phoneB, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	licai := h.addAccount(wxAlice, h.bj, "issue", "licai", pwA, phoneA, domain.LoginManual)
	h.clk.Advance(4 * time.Minute)
	wang := h.addAccount(wxAlice, h.bj, "issue", "wangkj", pwA, phoneB, domain.LoginManual)
	h.sim.ResetCalls()
	wrong := domain.NewSecret("Guess@0001")

	_, err := h.eng.ApplyAdmin(h.ctx(), h.tenant, h.bj, wxBob, "licai", wrong)
	wantErr(t, err, domain.ErrWrongPassword)
	_, err = h.eng.AddAccount(h.ctx(), h.tenant, AddAccount{OpenID: wxBob, TaxNo: h.gd, Business: "issue", Username: "licai",
		Password: wrong, LoginType: string(domain.LoginManual)})
	wantErr(t, err, domain.ErrWrongPassword)
	_, err = h.eng.ChangeBinding(h.ctx(), h.tenant, licai, wxBob, "licai", wrong)
	wantGuard(t, err, domain.ErrPasswordGuard)
	_, err = h.eng.UpdatePassword(h.ctx(), h.tenant, licai, wxBob, wrong)
	wantGuard(t, err, domain.ErrPasswordGuard)
	if n := h.passwordTries(); n != 2 {
		t.Fatalf("the bureau saw %d of licai's passwords, want 2", n)
	}

	// The count is stored: a restart does not hand out fresh tries, and the
	// right password waits too (the count is per person, not per password).
	h.restart()
	_, err = h.eng.ApplyAdmin(h.ctx(), h.tenant, h.bj, wxBob, "licai", domain.NewSecret(pwA))
	wantGuard(t, err, domain.ErrPasswordGuard)
	if n := h.passwordTries(); n != 2 || h.sim.PasswordLocked("licai") {
		t.Fatalf("after a restart the bureau saw %d passwords (locked %v), want 2", n, h.sim.PasswordLocked("licai"))
	}

	// Another person is unaffected.
	r, err := h.eng.ChangeBinding(h.ctx(), h.tenant, wang, wxBob, "wangkj", domain.NewSecret(pwA))
	h.ok(err)
	if r.State != FlowAwaitingCode {
		t.Fatalf("wangkj's rebind = %+v", r)
	}

	// The window passes: licai's password may be tried again.
	h.clk.Advance(24 * time.Hour)
	fr, err := h.eng.UpdatePassword(h.ctx(), h.tenant, licai, wxAlice, domain.NewSecret(pwA))
	h.ok(err)
	if fr.Updated != 1 {
		t.Fatalf("update = %+v", fr)
	}
}

// TestPasswordGuardCountsStoredPassword: the account actor's stored-password
// login refused by the bureau (B2) counts toward the same person's tries.
func TestPasswordGuardCountsStoredPassword(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.link(wxBob)
	h.person("licai", phoneA, pwA, rel(h.gd, "44", domain.RoleFinanceManager))
	id := h.addAccount(wxAlice, h.gd, "issue", "licai", pwA, phoneA, domain.LoginManual)
	h.logout(id, domain.ChannelIssue)
	h.ok(h.sim.SetPassword("licai", "Changed@2026x"))
	h.sim.ResetCalls()
	_, err := h.session(id, domain.ChannelIssue, ActionLogin)
	wantErr(t, err, domain.ErrWrongPassword)
	_, err = h.eng.ApplyAdmin(h.ctx(), h.tenant, h.gd, wxBob, "licai", domain.NewSecret("Guess@0001"))
	wantErr(t, err, domain.ErrWrongPassword)
	_, err = h.eng.UpdatePassword(h.ctx(), h.tenant, id, wxAlice, domain.NewSecret("Changed@2026x"))
	wantGuard(t, err, domain.ErrPasswordGuard)
	if n := h.passwordTries(); n != 2 {
		t.Fatalf("the bureau saw %d passwords, want 2", n)
	}
}

// TestPasswordGuardResetClears: a password reset (F11) clears the bureau's
// count, and etaxd's with it.
func TestPasswordGuardResetClears(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("licai", phoneA, pwA, rel(h.bj, "11", domain.RoleFinanceManager))
	id := h.addAccount(wxAlice, h.bj, "issue", "licai", pwA, phoneA, domain.LoginManual)
	for i := 0; i < 2; i++ {
		_, err := h.eng.UpdatePassword(h.ctx(), h.tenant, id, wxAlice, domain.NewSecret("Guess@000"+fmt.Sprint(i)))
		wantErr(t, err, domain.ErrWrongPassword)
	}
	_, err := h.eng.UpdatePassword(h.ctx(), h.tenant, id, wxAlice, domain.NewSecret(pwA))
	wantGuard(t, err, domain.ErrPasswordGuard)
	p, _ := h.sim.FindPerson("licai")
	h.clk.Advance(4 * time.Minute)
	r, err := h.eng.StartPasswordReset(h.ctx(), h.tenant, id, wxAlice, "201", p.IDNumber)
	h.ok(err)
	r, err = h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice, h.sim.LastCode(phoneA))
	h.ok(err)
	_, err = h.eng.CompleteReset(h.ctx(), h.tenant, r.FlowID, wxAlice, domain.NewSecret("NewPass@2026"), domain.NewSecret("NewPass@2026"))
	h.ok(err)
	_, err = h.eng.UpdatePassword(h.ctx(), h.tenant, id, wxAlice, domain.NewSecret("NewPass@2026"))
	h.ok(err)
}

// TestPasswordFlowsPerOpenID: one WeChat user may submit only so many wrong
// passwords, whoever's they are.
func TestPasswordFlowsPerOpenID(t *testing.T) {
	h := newHarness(t)
	h.link(wxBob)
	h.link(wxAlice)
	for i := 0; i < h.cfg.PasswordFlowLimit; i++ {
		_, err := h.eng.ApplyAdmin(h.ctx(), h.tenant, h.bj, wxBob, fmt.Sprintf("nobody%d", i), domain.NewSecret("Guess@0001"))
		wantErr(t, err, domain.ErrWrongPassword)
	}
	h.sim.ResetCalls()
	_, err := h.eng.ApplyAdmin(h.ctx(), h.tenant, h.bj, wxBob, "someone", domain.NewSecret("Guess@0001"))
	wantGuard(t, err, domain.ErrPasswordRate)
	_, err = h.eng.AddAccount(h.ctx(), h.tenant, AddAccount{OpenID: wxBob, TaxNo: h.gd, Business: "issue", Username: "someone",
		Password: domain.NewSecret("Guess@0001"), LoginType: string(domain.LoginManual)})
	wantGuard(t, err, domain.ErrPasswordRate)
	if n := h.passwordTries(); n != 0 {
		t.Fatalf("the bureau saw %d passwords after the limit", n)
	}
	_, err = h.eng.ApplyAdmin(h.ctx(), h.tenant, h.bj, wxAlice, "someone", domain.NewSecret("Guess@0001"))
	wantErr(t, err, domain.ErrWrongPassword) // another user is unaffected
	h.clk.Advance(h.cfg.PasswordFlowWindow)
	_, err = h.eng.ApplyAdmin(h.ctx(), h.tenant, h.bj, wxBob, "someone", domain.NewSecret("Guess@0001"))
	wantErr(t, err, domain.ErrWrongPassword)
}

// TestActivationGuessingFreshOpenIDs: fresh openids do not reset the limits
// on wrong activation codes: per client address, and across etaxd.
func TestActivationGuessingFreshOpenIDs(t *testing.T) {
	h := newHarness(t)
	from := func(addr string) context.Context { return WithClientAddr(h.ctx(), addr) }
	for i := 0; i < h.cfg.ActivationPerAddress; i++ {
		_, err := h.eng.LinkTenant(from("203.0.113.7"), fmt.Sprintf("o_fresh%d", i), fmt.Sprintf("GUESS-%04d", i))
		wantErr(t, err, domain.ErrActivationCode)
	}
	// even the right code is refused from that address now
	_, err := h.eng.LinkTenant(from("203.0.113.7"), "o_fresh_next", h.code)
	wantGuard(t, err, domain.ErrActivationRateLimit)
	_, err = h.eng.LinkTenant(from("198.51.100.1"), "o_elsewhere", h.code)
	h.ok(err)

	// Fresh addresses too: the total stops the guessing.
	for i := h.cfg.ActivationPerAddress; i < h.cfg.ActivationTotal; i++ {
		_, err := h.eng.LinkTenant(from(fmt.Sprintf("192.0.2.%d", i)), fmt.Sprintf("o_fresh%d", i), fmt.Sprintf("GUESS-%04d", i))
		wantErr(t, err, domain.ErrActivationCode)
	}
	_, err = h.eng.LinkTenant(from("192.0.2.250"), "o_fresh_last", h.code)
	wantGuard(t, err, domain.ErrActivationRateLimit)
	h.clk.Advance(h.cfg.ActivationWindow)
	_, err = h.eng.LinkTenant(from("192.0.2.250"), "o_fresh_last", h.code)
	h.ok(err)
}
