package opsapi

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/domain"
)

// FuzzBodies sends arbitrary bodies to every operator route that takes a
// JSON body, against a real engine with a tenant, an enterprise and a
// linked user: never a panic, never a 5xx, and every refusal is a
// catalogue error (a stable code with a Chinese message). Whatever the
// bodies did, the tenant still answers afterwards.
func FuzzBodies(f *testing.F) {
	for _, seed := range []string{
		`{"name":"新租户"}`, `{"id":"t2","name":"x","activation_code":"ABCD-EFGH"}`,
		`{"id":"k1"}`, `{"tax_no":"91440000000000027N","name":"广东","region":"44"}`,
		`{"openid":"o1","activation_code":"nope"}`,
		`{"openid":"o1","tax_no":"91440000000000027N","business":"issue","username":"u","password":"Pw@12345678","role":"01","login_type":"manual"}`,
		`{"openid":"o1","code":"123456"}`, `{"openid":"o1","which":"both"}`, `{"openid":""}`,
		`{"business":null,"tax_no":{}}`, `[]`, `null`, `{`, "\xff\xfe", `{"a":1}{"b":2}`, `{"openid":"` + "o\u0000" + `"}`,
	} {
		f.Add([]byte(seed))
	}
	eng := startEngine(f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := eng.CreateTenant(ctx, "t1", "租户", "")
	if err != nil {
		f.Fatal(err)
	}
	taxNo := domain.MakeTaxNo("44", 7)
	if _, err := eng.AddEnterprise(ctx, "t1", taxNo, "广东企业", "44"); err != nil {
		f.Fatal(err)
	}
	if _, err := eng.LinkTenant(ctx, "o1", info.ActivationCode); err != nil {
		f.Fatal(err)
	}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	ops := app.Group("/ops")
	log := WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	Register(ops, eng, log)
	RegisterProvisioning(ops, eng, log)
	routes := []struct{ method, path string }{
		{"POST", "/ops/v1/tenants"},
		{"POST", "/ops/v1/tenants/t1/rotate-code"},
		{"POST", "/ops/v1/tenants/t1/apikeys"},
		{"POST", "/ops/v1/tenants/t1/enterprises"},
		{"POST", "/ops/v1/tenants/t1/links"},
		{"POST", "/ops/v1/tenants/t1/accounts"},
		{"POST", "/ops/v1/tenants/t1/flows/f1/code"},
		{"POST", "/ops/v1/tenants/t1/accounts/a1/bind"},
		{"POST", "/ops/v1/tenants/t1/accounts/a1/default"},
		{"POST", "/ops/v1/tenants/t1/accounts/a1/unlock"},
		{"DELETE", "/ops/v1/tenants/t1/accounts/a1"},
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, r := range routes {
			resp := do(t, app, r.method, r.path, string(body))
			if resp.status >= 500 {
				t.Fatalf("%s %s %q = %d %s", r.method, r.path, body, resp.status, resp.body)
			}
			if resp.status >= 400 {
				resp.errorCode(t)
			}
		}
		if _, err := eng.Enterprises(context.Background(), "t1", "o1"); err != nil {
			t.Fatalf("the tenant no longer answers: %v", err)
		}
	})
}
