package blackbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/sign"
	"github.com/etaxd/etaxd/internal/testutil"
)

// client is an HTTP caller: plain, operator (bearer) or ERP (signed).
type client struct {
	t      *testing.T
	base   string
	token  string
	key    string
	secret []byte
}

func (c *client) do(method, path string, body any) (int, map[string]any) {
	c.t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			c.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(raw))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.key != "" {
		for k, v := range sign.Headers(c.key, c.secret, method, path, raw, time.Now()) {
			req.Header.Set(k, v)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatalf("%s %s: bad JSON %q", method, path, b)
		}
	} else if len(b) > 0 && b[0] == '[' {
		var list []any
		_ = json.Unmarshal(b, &list)
		m = map[string]any{"items": list}
	}
	return resp.StatusCode, m
}

func (c *client) must(want int, method, path string, body any) map[string]any {
	c.t.Helper()
	code, m := c.do(method, path, body)
	if code != want {
		c.t.Fatalf("%s %s = %d %v, want %d", method, path, code, m, want)
	}
	return m
}

func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

func errCode(m map[string]any) string { return str(m, "error", "code") }

// TestERPDay: an ERP's day against etaxd and etax-sim as processes.
func TestERPDay(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("uses SIGTERM and /proc-free loopback only; run on linux")
	}
	dir := t.TempDir()
	etaxd := testutil.BuildBinary(t, dir, "cmd/etaxd", raceEnabled)
	etaxSim := testutil.BuildBinary(t, dir, "cmd/etax-sim", raceEnabled)
	simAddr, addr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	testutil.StartProcess(t, dir, etaxSim, nil, "--listen", simAddr)
	testutil.WaitReady(t, "http://"+simAddr+"/healthz", 60*time.Second)
	const opToken = "operator-secret-token-for-tests"
	// Production mode, as an ERP meets etaxd: a master key of its own, the
	// gateway, the operator token.
	testutil.StartProcess(t, dir, etaxd, []string{
		"ETAXD_DATA=" + filepath.Join(dir, "data"),
		"ETAXD_MASTER_KEYS=v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
		"ETAXD_LISTEN=" + addr,
		"ETAXD_TAXBUREAU_URL=http://" + simAddr,
		"ETAXD_OPERATOR_TOKEN=" + opToken,
		"ETAXD_SMS_PER_ACCOUNT_INTERVAL=1s", // B3's 3 minutes, shortened for the test
	}, "serve")
	base := "http://" + addr
	testutil.WaitReady(t, base+"/readyz", 60*time.Second)

	sim := &client{t: t, base: "http://" + simAddr}
	op := &client{t: t, base: base, token: opToken}

	// The operator sets up a tenant, an enterprise and an API key.
	ten := op.must(201, "POST", "/ops/v1/tenants", map[string]any{"id": "acme", "name": "Acme 财务"})
	code := str(ten, "activation_code")
	bj := domain.MakeTaxNo("11", 42) // 北京: SMS step
	op.must(201, "POST", "/ops/v1/tenants/acme/enterprises", map[string]any{"tax_no": bj, "name": "北京阿克米有限公司"})
	key := op.must(201, "POST", "/ops/v1/tenants/acme/apikeys", nil)
	erp := &client{t: t, base: base, key: str(key, "id"), secret: []byte(str(key, "secret"))}

	// A person exists at the bureau; finance staff link the tenant and add
	// the account (the H5 pages do this in production).
	const pw = "Erp@2026day"
	phone := "13812345678"
	sim.must(201, "POST", "/sim/v1/persons", map[string]any{"name": "王会计", "id_type": "201", "id_number": "110101199001011237",
		"phone": phone, "username": "wangkj", "password": pw, "relations": []map[string]any{{"tax_no": bj, "region": "11", "role": "01"}}})
	op.must(200, "POST", "/ops/v1/tenants/acme/links", map[string]any{"openid": "o_wang", "activation_code": code})
	fr := op.must(200, "POST", "/ops/v1/tenants/acme/accounts", map[string]any{"openid": "o_wang", "tax_no": bj,
		"business": "both", "username": "wangkj", "password": pw, "login_type": "manual"})
	if str(fr, "state") != "awaiting_code" {
		t.Fatalf("add account = %v", fr)
	}
	fr = op.must(200, "POST", "/ops/v1/tenants/acme/flows/"+str(fr, "flow_id")+"/code", map[string]any{"openid": "o_wang", "code": lastCode(t, sim, phone)})
	acct := str(fr, "account_id")
	op.must(200, "POST", "/ops/v1/tenants/acme/accounts/"+acct+"/bind", map[string]any{"openid": "o_wang"})
	op.must(200, "POST", "/ops/v1/tenants/acme/accounts/"+acct+"/default", map[string]any{"openid": "o_wang", "which": "both"})

	// 200: the account is logged in since it was added; the default is used.
	r := erp.must(200, "POST", "/api/v1/sessions", map[string]any{"tax_no": bj, "business": "issue", "action": "login"})
	if str(r, "state") != "ready" || str(r, "account_id") != acct || str(r, "session", "token") == "" {
		t.Fatalf("default session = %v", r)
	}
	// The session died at the client: report it, ask again → 202 and a prompt.
	erp.must(200, "POST", "/api/v1/sessions/invalid", map[string]any{"account_id": acct, "channel": "issue", "token": str(r, "session", "token")})
	r = awaiting(t, erp, map[string]any{"tax_no": bj, "business": "issue", "action": "login", "account_id": acct})
	if !strings.Contains(str(r, "prompt", "message"), "138****5678") {
		t.Fatalf("awaiting = %v", r)
	}
	reqID := str(r, "request_id")
	// The person reads the code; the ERP collects it and answers; the long
	// poll returns the session.
	done := make(chan map[string]any, 1)
	go func() {
		_, m := erp.do("GET", "/api/v1/requests/"+reqID+"?wait=30", nil)
		done <- m
	}()
	erp.must(200, "POST", "/api/v1/requests/"+reqID+"/answer", map[string]any{"sms_code": lastCode(t, sim, phone)})
	got := <-done
	if str(got, "state") != "ready" || str(got, "session", "token") == "" {
		t.Fatalf("long poll = %v", got)
	}
	// 200 on the next call.
	r = erp.must(200, "POST", "/api/v1/sessions", map[string]any{"tax_no": bj, "business": "issue", "action": "login", "account_id": acct})
	if str(r, "session", "token") != str(got, "session", "token") {
		t.Fatal("next call got another session")
	}
	// sessions/invalid → 202 again
	erp.must(200, "POST", "/api/v1/sessions/invalid", map[string]any{"account_id": acct, "channel": "issue", "token": str(r, "session", "token")})
	awaiting(t, erp, map[string]any{"tax_no": bj, "business": "issue", "action": "login"})

	// Another tenant's key sees nothing of acme: 404.
	op.must(201, "POST", "/ops/v1/tenants", map[string]any{"id": "other", "name": "Other"})
	k2 := op.must(201, "POST", "/ops/v1/tenants/other/apikeys", nil)
	other := &client{t: t, base: base, key: str(k2, "id"), secret: []byte(str(k2, "secret"))}
	if code, _ := other.do("GET", "/api/v1/requests/"+reqID, nil); code != 404 {
		t.Fatalf("cross-tenant request = %d", code)
	}

	// A hosted account with a wrong password locks; the ERP sees the code.
	sim.must(201, "POST", "/sim/v1/persons", map[string]any{"name": "托管", "id_type": "201", "id_number": "110101199001011253",
		"phone": "13912345670", "username": "hosted1", "password": pw, "relations": []map[string]any{{"tax_no": bj, "region": "11", "role": "09"}}})
	fr = op.must(200, "POST", "/ops/v1/tenants/acme/accounts", map[string]any{"openid": "o_wang", "tax_no": bj,
		"business": "issue", "username": "hosted1", "password": pw, "login_type": "huameng"})
	hosted := str(fr, "account_id")
	if hosted == "" {
		t.Fatalf("hosted add = %v", fr)
	}
	rs := erp.must(200, "POST", "/api/v1/sessions", map[string]any{"tax_no": bj, "business": "issue", "action": "login", "account_id": hosted})
	erp.must(200, "POST", "/api/v1/sessions/invalid", map[string]any{"account_id": hosted, "channel": "issue", "token": str(rs, "session", "token")})
	// the password changes at the bureau behind etaxd's back
	sim.must(200, "POST", "/sim/v1/persons/hosted1/password", map[string]any{"password": "Changed@2026x"})
	code2, m := past429(t, erp, map[string]any{"tax_no": bj, "business": "issue", "action": "login", "account_id": hosted})
	if code2 < 400 || errCode(m) != "wrong_password" {
		t.Fatalf("wrong password = %d %v", code2, m)
	}
	code2, m = erp.do("POST", "/api/v1/sessions", map[string]any{"tax_no": bj, "business": "issue", "action": "login", "account_id": hosted})
	if code2 < 400 || errCode(m) != "locked" {
		t.Fatalf("locked account = %d %v", code2, m)
	}
	accts := erp.must(200, "GET", "/api/v1/accounts?tax_no="+bj, nil)
	b, _ := json.Marshal(accts)
	if strings.Contains(string(b), pw) || strings.Contains(string(b), phone) {
		t.Fatalf("secret or full phone in accounts: %s", b)
	}
	if !strings.Contains(string(b), `"locked":true`) {
		t.Fatalf("locked account not listed as locked: %s", b)
	}
	// The operator sees it: bureau calls by outcome in /metrics (token
	// required), the nodes' status.
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 401 && resp.StatusCode != 403 {
		t.Fatalf("metrics without a token = %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	req.Header.Set("Authorization", "Bearer "+opToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`etaxd_bureau_calls_total{op="Login",outcome="wrong_password"} 1`, "etaxd_http_requests_total"} {
		if !strings.Contains(string(mb), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	_ = fmt.Sprint
}

// past429 asks for a session until the answer is not the per-account SMS
// interval's 429, and returns it.
func past429(t *testing.T, erp *client, body map[string]any) (int, map[string]any) {
	t.Helper()
	var code int
	var m map[string]any
	testutil.Eventually(t, 30*time.Second, func() error {
		if code, m = erp.do("POST", "/api/v1/sessions", body); code == 429 {
			return fmt.Errorf("session = %d %v, still the SMS interval", code, m)
		}
		return nil
	})
	return code, m
}

// awaiting asks for a session until the answer is 202, waiting out the
// per-account SMS interval (429 sms_too_frequent) the test shortened to 1 s.
func awaiting(t *testing.T, erp *client, body map[string]any) map[string]any {
	t.Helper()
	var m map[string]any
	testutil.Eventually(t, 30*time.Second, func() error {
		code, got := erp.do("POST", "/api/v1/sessions", body)
		if code == 202 && str(got, "state") == "awaiting_user" {
			m = got
			return nil
		}
		if code != 429 {
			t.Fatalf("session = %d %v, want 202", code, got)
		}
		return fmt.Errorf("session = %d %v, want 202", code, got)
	})
	return m
}

func lastCode(t *testing.T, sim *client, phone string) string {
	t.Helper()
	m := sim.must(200, "GET", "/sim/v1/sms?phone="+phone, nil)
	items, _ := m["items"].([]any)
	if len(items) == 0 {
		t.Fatalf("no code sent to %s", phone)
	}
	first, _ := items[0].(map[string]any)
	return str(first, "code")
}
