package opsapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/teststack"
	"github.com/etaxd/etaxd/internal/teststack/base"
	"github.com/etaxd/etaxd/taxbureau"
)

// TestProvisioning walks an onboarding: enterprise, link, account with its
// SMS code, bind, default, unlock, delete — and the refusals on the way.
func TestProvisioning(t *testing.T) {
	st := teststack.New(t, teststack.Options{Options: base.Options{Clock: clock.Real{}, Quiet: true}})
	eng, sim := st.Engine, st.Sim

	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	Register(app.Group("/ops"), eng, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	RegisterProvisioning(app.Group("/ops"), eng)

	r := do(t, app, "POST", "/ops/v1/tenants", `{"id":"acme","name":"Acme"}`)
	var ten Tenant
	r.json(t, &ten)
	bj := domain.MakeTaxNo("11", 5)
	if r = do(t, app, "POST", "/ops/v1/tenants/acme/enterprises", `{"tax_no":"`+bj+`","name":"北京阿克米"}`); r.status != 201 {
		t.Fatalf("enterprise = %d %s", r.status, r.body)
	}
	if r = do(t, app, "POST", "/ops/v1/tenants/acme/enterprises", `{"tax_no":"91110000XXXXXXXXXX","name":"x"}`); r.status != 400 || r.errorCode(t) != "invalid_tax_no" {
		t.Fatalf("bad tax number = %d %s", r.status, r.body)
	}
	if r = do(t, app, "POST", "/ops/v1/tenants/acme/links", `{"openid":"o_1","activation_code":"WRONG-CODE"}`); r.errorCode(t) != "activation_code_wrong" {
		t.Fatalf("wrong code = %d %s", r.status, r.body)
	}
	if r = do(t, app, "POST", "/ops/v1/tenants/acme/links", `{"openid":"o_1","activation_code":"`+ten.ActivationCode+`"}`); r.status != 200 {
		t.Fatalf("link = %d %s", r.status, r.body)
	}
	// A code of another tenant, sent to acme's links, links nobody to
	// either tenant.
	r = do(t, app, "POST", "/ops/v1/tenants", `{"id":"other","name":"Other"}`)
	var other Tenant
	r.json(t, &other)
	if r = do(t, app, "POST", "/ops/v1/tenants/acme/links", `{"openid":"o_cross","activation_code":"`+other.ActivationCode+`"}`); r.errorCode(t) != "activation_code_wrong" {
		t.Fatalf("another tenant's code = %d %s", r.status, r.body)
	}
	if ts, err := eng.TenantsOf(context.Background(), "o_cross"); err != nil || len(ts) != 0 {
		t.Fatalf("o_cross is linked to %+v (%v) by a code sent to another tenant's links", ts, err)
	}
	if err := sim.AddPerson(taxbureau.Person{Username: "boss", Phone: "13800000009", IDNumber: "110101199001011237", Password: "Boss@2026x",
		Relations: []taxbureau.Relation{{TaxNo: bj, Region: "11", Role: domain.RoleLegalRep}}}); err != nil {
		t.Fatal(err)
	}
	r = do(t, app, "POST", "/ops/v1/tenants/acme/accounts", `{"openid":"o_1","tax_no":"`+bj+`","business":"both","username":"boss","password":"Boss@2026x"}`)
	var fr actors.FlowReply
	r.json(t, &fr)
	if fr.State != actors.FlowAwaitingCode {
		t.Fatalf("add = %d %s", r.status, r.body)
	}
	r = do(t, app, "POST", "/ops/v1/tenants/acme/flows/"+fr.FlowID+"/code", fmt.Sprintf(`{"openid":"o_1","code":%q}`, sim.LastCode("13800000009")))
	r.json(t, &fr)
	if fr.State != actors.FlowDone || fr.AccountID == "" {
		t.Fatalf("code = %d %s", r.status, r.body)
	}
	acct := "/ops/v1/tenants/acme/accounts/" + fr.AccountID
	for _, step := range []struct{ path, body string }{
		{acct + "/bind", `{"openid":"o_1"}`},
		{acct + "/default", `{"openid":"o_1","which":"both"}`},
		{acct + "/unlock", `{"openid":"o_1"}`},
	} {
		if r = do(t, app, "POST", step.path, step.body); r.status != 200 {
			t.Fatalf("%s = %d %s", step.path, r.status, r.body)
		}
	}
	if r = do(t, app, "POST", acct+"/bind", `{"openid":"o_2"}`); r.status < 400 {
		t.Fatalf("second bind = %d", r.status)
	}
	if r = do(t, app, "POST", acct+"/default", `{"openid":"o_1","which":"sell"}`); r.errorCode(t) != "invalid_business" {
		t.Fatalf("bad default = %s", r.body)
	}
	if r = do(t, app, "DELETE", acct, `{"openid":"o_2"}`); r.status < 400 {
		t.Fatalf("stranger deleted: %d", r.status)
	}
	if r = do(t, app, "DELETE", acct, `{"openid":"o_1"}`); r.status != 200 {
		t.Fatalf("delete = %d %s", r.status, r.body)
	}
	if r = do(t, app, "GET", "/ops/v1/tenants/acme/enterprises", ""); r.status != 200 {
		t.Fatalf("list = %d", r.status)
	}
	if r = do(t, app, "GET", "/ops/v1/tenants/nobody/enterprises", ""); r.status != 404 {
		t.Fatalf("unknown tenant = %d %s", r.status, r.body)
	}
	// Guessing activation codes with fresh openids from one address: the
	// address's limit answers 429 with Retry-After (two wrong codes above:
	// a wrong one, and one of another tenant).
	for i := 2; i < actors.DefaultConfig().ActivationPerAddress; i++ {
		body := fmt.Sprintf(`{"openid":"o_fresh%d","activation_code":"GUESS-%04d"}`, i, i)
		if r = do(t, app, "POST", "/ops/v1/tenants/acme/links", body); r.errorCode(t) != "activation_code_wrong" {
			t.Fatalf("guess %d = %d %s", i, r.status, r.body)
		}
	}
	r = do(t, app, "POST", "/ops/v1/tenants/acme/links", `{"openid":"o_fresh_next","activation_code":"`+ten.ActivationCode+`"}`)
	if r.status != 429 || r.errorCode(t) != "activation_rate_limited" || r.header.Get("Retry-After") == "" {
		t.Fatalf("guess past the limit = %d %v %s", r.status, r.header, r.body)
	}
}
