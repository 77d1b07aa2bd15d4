package actors

import (
	"errors"
	"testing"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/prompts"
)

// TestAddAccountAwaitingLogin: a manual account added without the bureau
// (the bulk import) is stored with its password sealed and no session; the
// bureau is not asked and no code is sent. Its first login goes through the
// usual SMS prompt to the bound user, and the code logs it in.
func TestAddAccountAwaitingLogin(t *testing.T) {
	h := newHarness(t)
	h.person("wangkj", "13900000031", "Wang@2026kj", rel(h.bj, "11", domain.RoleFinanceManager))
	h.link("o_wang")
	id, err := h.eng.AddAccountAwaitingLogin(h.ctx(), h.tenant, AddAccount{TaxNo: h.bj, Business: "both",
		Username: "wangkj", Password: domain.NewSecret("Wang@2026kj"), LoginType: "manual", Role: "02"})
	if err != nil {
		t.Fatal(err)
	}
	if h.sim.LastCode("13900000031") != "" {
		t.Fatal("adding without the bureau sent a code")
	}
	v := h.account(id)
	if v.Role != domain.RoleFinanceManager || v.Business != domain.BusinessBoth || v.LoginType != domain.LoginManual {
		t.Fatalf("view = %+v", v)
	}
	for ch, cv := range v.Channels {
		if cv.State != domain.StateLoggedOut {
			t.Fatalf("channel %s = %s before the first login", ch, cv.State)
		}
	}
	// The same tax number and username again: exists, nothing changed.
	_, err = h.eng.AddAccountAwaitingLogin(h.ctx(), h.tenant, AddAccount{TaxNo: h.bj, Business: "both",
		Username: "wangkj", Password: domain.NewSecret("Other@2026x"), LoginType: "manual", Role: "02"})
	wantErr(t, err, domain.ErrAccountExists)

	h.ok(h.eng.Bind(h.ctx(), h.tenant, id, "o_wang"))
	r, err := h.session(id, domain.ChannelIssue, ActionLogin)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != RequestAwaitingUser || r.Prompt == nil || r.Prompt.Kind != KindSMSCode {
		t.Fatalf("first login = %+v", r)
	}
	if ps := promptsOf(h.pub, prompts.KindSMSCode); len(ps) != 1 || ps[0].OpenID != "o_wang" {
		t.Fatalf("prompts = %+v", ps)
	}
	code := h.sim.LastCode("13900000031")
	if code == "" {
		t.Fatal("the first login sent no code")
	}
	r, err = h.eng.Answer(h.ctx(), h.tenant, r.RequestID, "", "", code)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != RequestReady || r.Session == nil || r.Session.Token == "" {
		t.Fatalf("after the code = %+v", r)
	}
}

// TestAddAccountAwaitingLoginRefusals: the same checks as F3's form, plus:
// only a manual login type, and the role is required (nothing else tells
// it before the first login).
func TestAddAccountAwaitingLoginRefusals(t *testing.T) {
	h := newHarness(t)
	base := AddAccount{TaxNo: h.bj, Business: "issue", Username: "u1", Password: domain.NewSecret("Pass@2026x"), LoginType: "manual", Role: "09"}
	for _, c := range []struct {
		name string
		mod  func(*AddAccount)
		want *domain.Error
	}{
		{"hosted", func(a *AddAccount) { a.LoginType = "huameng" }, domain.ErrInvalidLoginType},
		{"no role", func(a *AddAccount) { a.Role = "" }, domain.ErrInvalidRole},
		{"role cannot issue", func(a *AddAccount) { a.Role = "03" }, domain.ErrRoleBusiness},
		{"bad tax number", func(a *AddAccount) { a.TaxNo = "91110000XXXXXXXXXX" }, domain.ErrInvalidTaxNo},
		{"unknown enterprise", func(a *AddAccount) { a.TaxNo = domain.MakeTaxNo("11", 77) }, domain.ErrEnterpriseNotFound},
		{"no password", func(a *AddAccount) { a.Password = domain.Secret{} }, domain.ErrInvalidInput},
		{"not linked", func(a *AddAccount) { a.OpenID = "o_stranger" }, domain.ErrNotLinked},
	} {
		cmd := base
		c.mod(&cmd)
		_, err := h.eng.AddAccountAwaitingLogin(h.ctx(), h.tenant, cmd)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: error = %v, want %s", c.name, err, c.want.Code)
		}
	}
	if vs, err := h.eng.Accounts(h.ctx(), h.tenant, "", ""); err != nil || len(vs) != 0 {
		t.Fatalf("accounts after refusals = %d, %v", len(vs), err)
	}
}
