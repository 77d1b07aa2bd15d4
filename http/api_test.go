package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
)

func sessionBody(acct string) map[string]any {
	return map[string]any{"business": "issue", "action": "login", "account_id": acct}
}

// TestSessionLifecycle walks an ERP's day over HTTP: ready, logged out →
// 202 with the prompt, status reads, a wrong and a right code through the
// answer endpoint, ready again.
func TestSessionLifecycle(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()

	r := e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)})
	var ready SessionAnswer
	r.decode(t, &ready)
	if r.status != 200 || ready.State != "ready" || ready.AccountID != id || ready.Session == nil || ready.Session.Token == "" ||
		ready.Session.Channel != "issue" || ready.Session.ExpiresAt.IsZero() || ready.RequestID == "" || ready.Prompt != nil {
		t.Fatalf("ready = %d %s", r.status, r.body)
	}

	e.loggedOut(id)
	r = e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)})
	var waiting SessionAnswer
	r.decode(t, &waiting)
	if r.status != 202 || waiting.State != "awaiting_user" || waiting.Prompt == nil || waiting.Session != nil {
		t.Fatalf("after logout = %d %s", r.status, r.body)
	}
	p := waiting.Prompt
	if p.Kind != "sms_code" || p.LoginURL != "" || p.ExpiresAt.IsZero() ||
		p.Message != "请151****1832绑定的微信用户，前往发票云公众号点击收到的登录通知进行操作" {
		t.Fatalf("prompt = %+v", p)
	}
	if strings.Contains(string(r.body), phoneH) {
		t.Fatal("the full phone number reached the client")
	}

	r = e.do(req{method: "GET", path: "/api/v1/requests/" + waiting.RequestID})
	var status SessionAnswer
	r.decode(t, &status)
	if r.status != 202 || status.State != "awaiting_user" || status.RequestID != waiting.RequestID || status.Prompt == nil {
		t.Fatalf("status = %d %s", r.status, r.body)
	}

	answerPath := "/api/v1/requests/" + waiting.RequestID + "/answer"
	r = e.do(req{method: "POST", path: answerPath, body: map[string]string{"sms_code": "000000"}})
	if r.status != 422 || r.errCode(t) != "wrong_code" {
		t.Fatalf("wrong code = %d %s", r.status, r.body)
	}
	r = e.do(req{method: "POST", path: answerPath, body: map[string]string{"sms_code": e.sim.LastCode(phoneH)}})
	var done SessionAnswer
	r.decode(t, &done)
	if r.status != 200 || done.State != "ready" || done.Session == nil || done.Session.Token == ready.Session.Token {
		t.Fatalf("answer = %d %s", r.status, r.body)
	}
	r = e.do(req{method: "GET", path: "/api/v1/requests/" + waiting.RequestID + "?wait=5"})
	var final SessionAnswer
	r.decode(t, &final)
	if r.status != 200 || final.State != "ready" || final.Session.Token != done.Session.Token {
		t.Fatalf("final = %d %s", r.status, r.body)
	}
	r = e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)})
	if r.status != 200 {
		t.Fatalf("next call = %d %s", r.status, r.body)
	}
}

// TestLongPollReturnsOnAnswer: a long poll returns the session as soon as
// the person answers, long before its wait runs out.
func TestLongPollReturnsOnAnswer(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()
	e.loggedOut(id)
	var waiting SessionAnswer
	if r := e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)}); r.status != 202 {
		t.Fatalf("POST = %d %s", r.status, r.body)
	} else {
		r.decode(t, &waiting)
	}

	polled := make(chan resp, 1)
	start := time.Now()
	go func() {
		polled <- e.do(req{method: "GET", path: "/api/v1/requests/" + waiting.RequestID + "?wait=30", timeout: 40 * time.Second})
	}()
	// The person answers in the H5 page, from another goroutine. Whether
	// the poll registered before or after, the outcome is the same (a
	// finished request answers a poll at once); the elapsed time below
	// shows the poll did not run out its wait.
	var answered *actors.SessionReply
	var answerErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Not a retry: the pause only makes the interesting order (the
		// poll waiting before the answer) the likely one; the test holds
		// in either order, so nothing waits for a condition here.
		time.Sleep(50 * time.Millisecond)
		answered, answerErr = e.eng.Answer(context.Background(), "t1", "", id, wxAlice, e.sim.LastCode(phoneH))
	}()
	r := <-polled
	wg.Wait()
	if answerErr != nil {
		t.Fatal(answerErr)
	}
	var got SessionAnswer
	r.decode(t, &got)
	if r.status != 200 || got.State != "ready" || got.Session == nil || got.Session.Token != answered.Session.Token {
		t.Fatalf("long poll = %d %s", r.status, r.body)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Fatalf("the long poll took %v: it waited out its time", el)
	}
}

// TestLongPollTimesOut: with nobody answering, the poll returns the current
// state after its wait.
func TestLongPollTimesOut(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()
	e.loggedOut(id)
	var waiting SessionAnswer
	e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)}).decode(t, &waiting)
	start := time.Now()
	r := e.do(req{method: "GET", path: "/api/v1/requests/" + waiting.RequestID + "?wait=1"})
	if r.status != 202 || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("poll = %d %s after %v", r.status, r.body, time.Since(start))
	}
}

// TestRequestFailed: a request whose code expired reads as failed, with the
// error, and a 200 (the read worked).
func TestRequestFailed(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()
	e.loggedOut(id)
	var waiting SessionAnswer
	e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)}).decode(t, &waiting)
	e.clk.Advance(5*time.Minute + time.Second)
	r := e.do(req{method: "GET", path: "/api/v1/requests/" + waiting.RequestID + "?wait=5"})
	var got SessionAnswer
	r.decode(t, &got)
	if r.status != 200 || got.State != "failed" || got.Error == nil || got.Error.Code != "code_expired" || got.Error.Message == "" ||
		got.Error.MessageEN == "" || got.Session != nil {
		t.Fatalf("failed request = %d %s", r.status, r.body)
	}
}

// TestLoginURLWhenUnbound: nobody bound → the prompt carries a login link.
func TestLoginURLWhenUnbound(t *testing.T) {
	e := newEnv(t)
	e.person("bob", phoneB, e.gd, "44")
	id := e.addAccount("", e.gd, "bob", phoneB)
	e.person("carol", phoneA, e.bj, "11")
	bj := e.addAccount("", e.bj, "carol", phoneA)
	e.loggedOut(bj)
	var w SessionAnswer
	r := e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(bj)})
	r.decode(t, &w)
	if r.status != 202 || w.Prompt == nil || w.Prompt.LoginURL == "" {
		t.Fatalf("unbound = %d %s", r.status, r.body)
	}
	if u, err := url.Parse(w.Prompt.LoginURL); err != nil || u.Query().Get("link") == "" {
		t.Fatalf("login_url %q", w.Prompt.LoginURL)
	}
	// 广东 needs no SMS: the unbound account is simply ready.
	if r := e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)}); r.status != 200 {
		t.Fatalf("gd = %d %s", r.status, r.body)
	}
}

// TestDefaultAccount: without account_id the enterprise's default for the
// business is used; none set is a clear error.
func TestDefaultAccount(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()
	body := map[string]any{"tax_no": e.bj, "business": "issue"}
	r := e.do(req{method: "POST", path: "/api/v1/sessions", body: body})
	if r.status != 409 || r.errCode(t) != "no_default_account" {
		t.Fatalf("no default = %d %s", r.status, r.body)
	}
	if err := e.eng.SetDefault(e.ctx(), "t1", id, wxAlice, domain.BusinessBoth); err != nil {
		t.Fatal(err)
	}
	var got SessionAnswer
	r = e.do(req{method: "POST", path: "/api/v1/sessions", body: body})
	r.decode(t, &got)
	if r.status != 200 || got.AccountID != id {
		t.Fatalf("default = %d %s", r.status, r.body)
	}
	r = e.do(req{method: "POST", path: "/api/v1/sessions", body: map[string]any{"tax_no": domain.MakeTaxNo("31", 9), "business": "issue"}})
	if r.status != 404 || r.errCode(t) != "enterprise_not_found" {
		t.Fatalf("unknown enterprise = %d %s", r.status, r.body)
	}
}

// TestPasswordErrors: the bureau refuses the stored password (422), then
// etaxd refuses to send it again (409) — their codes and statuses.
func TestPasswordErrors(t *testing.T) {
	e := newEnv(t)
	e.person("bob", phoneB, e.gd, "44")
	id := e.addAccount("", e.gd, "bob", phoneB)
	e.loggedOut(id)
	if err := e.sim.SetPassword("bob", "Changed@2026x"); err != nil {
		t.Fatal(err)
	}
	r := e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)})
	if r.status != 422 || r.errCode(t) != "wrong_password" {
		t.Fatalf("first = %d %s", r.status, r.body)
	}
	r = e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)})
	var b ErrorBody
	r.decode(t, &b)
	if r.status != 409 || b.Error.Code != "password_invalid" || b.Error.Message != domain.ErrPasswordInvalid.Message ||
		b.Error.MessageEN != domain.ErrPasswordInvalid.MessageEN {
		t.Fatalf("second = %d %s", r.status, r.body)
	}
}

// TestSessionsInvalid: a reported session is dropped; the next request
// needs a person again.
func TestSessionsInvalid(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()
	var s SessionAnswer
	e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)}).decode(t, &s)
	r := e.do(req{method: "POST", path: "/api/v1/sessions/invalid", body: map[string]string{"account_id": id, "channel": "issue", "token": s.Session.Token}})
	if r.status != 200 || !strings.Contains(string(r.body), `"reported":true`) {
		t.Fatalf("invalid = %d %s", r.status, r.body)
	}
	e.clk.Advance(4 * time.Minute)
	if r := e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)}); r.status != 202 {
		t.Fatalf("after invalid = %d %s", r.status, r.body)
	}
	for _, tc := range []struct {
		name string
		body map[string]string
		code string
	}{
		{"bad channel", map[string]string{"account_id": id, "channel": "both", "token": "x"}, "invalid_input"},
		{"no token", map[string]string{"account_id": id, "channel": "issue"}, "invalid_input"},
		{"unknown account", map[string]string{"account_id": "a-none", "channel": "issue", "token": "x"}, "account_not_found"},
	} {
		r := e.do(req{method: "POST", path: "/api/v1/sessions/invalid", body: tc.body})
		if r.errCode(t) != tc.code || r.status != StatusOf(tc.code) {
			t.Errorf("%s: %d %s", tc.name, r.status, r.body)
		}
	}
}

// TestCertifyAfterBureauDroppedSession: a certify whose stored session the
// bureau forgot is not 409 not_logged_in: etaxd logs in again and answers 202
// with the login's prompt.
func TestCertifyAfterBureauDroppedSession(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()
	e.sim.DropSessions()
	e.clk.Advance(4 * time.Minute)
	r := e.do(req{method: "POST", path: "/api/v1/sessions", body: map[string]any{"business": "issue", "action": "certify", "account_id": id}})
	var a SessionAnswer
	r.decode(t, &a)
	if r.status != 202 || a.State != "awaiting_user" || a.Prompt == nil || a.Prompt.Kind != "sms_code" {
		t.Fatalf("certify = %d %s", r.status, r.body)
	}
}

// TestAccounts lists accounts without any secret or full phone number.
func TestAccounts(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()
	e.person("bob", phoneB, e.gd, "44")
	gd := e.addAccount("", e.gd, "bob", phoneB)
	var s SessionAnswer
	e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)}).decode(t, &s)

	var all struct {
		Accounts []actors.AccountView `json:"accounts"`
	}
	r := e.do(req{method: "GET", path: "/api/v1/accounts"})
	r.decode(t, &all)
	if r.status != 200 || len(all.Accounts) != 2 {
		t.Fatalf("accounts = %d %s", r.status, r.body)
	}
	for _, secret := range []string{pwA, s.Session.Token, phoneH, phoneB, secret1} {
		if strings.Contains(string(r.body), secret) {
			t.Fatalf("the listing carries a secret or a full phone: %s", r.body)
		}
	}
	if !strings.Contains(string(r.body), "151****1832") || !strings.Contains(string(r.body), `"bound":true`) {
		t.Errorf("listing lacks the masked phone or the binding: %s", r.body)
	}
	var one struct {
		Accounts []actors.AccountView `json:"accounts"`
	}
	e.do(req{method: "GET", path: "/api/v1/accounts?tax_no=" + e.gd}).decode(t, &one)
	if len(one.Accounts) != 1 || one.Accounts[0].ID != gd {
		t.Fatalf("gd accounts = %+v", one.Accounts)
	}
	if r := e.do(req{method: "GET", path: "/api/v1/accounts?tax_no=123"}); r.status != 400 || r.errCode(t) != "invalid_tax_no" {
		t.Fatalf("bad tax_no = %d %s", r.status, r.body)
	}
	var other struct {
		Accounts []actors.AccountView `json:"accounts"`
	}
	if r := e.do(req{method: "GET", path: "/api/v1/accounts", keyID: key2, secret: secret2}); r.status != 200 {
		t.Fatalf("t2 = %d %s", r.status, r.body)
	} else if r.decode(t, &other); len(other.Accounts) != 0 {
		t.Fatalf("t2 sees t1's accounts: %s", r.body)
	}
}

// TestAudit reads the tenant's audit log as JSON and as CSV.
func TestAudit(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()
	e.loggedOut(id)
	var page AuditPage
	r := e.do(req{method: "GET", path: "/api/v1/audit"})
	r.decode(t, &page)
	if r.status != 200 || len(page.Events) == 0 || page.Truncated {
		t.Fatalf("audit = %d %s", r.status, r.body)
	}
	for _, ev := range page.Events {
		if ev.Tenant != "t1" {
			t.Fatalf("event of another tenant: %+v", ev)
		}
	}
	actions := map[string]bool{}
	for _, ev := range page.Events {
		actions[ev.Action] = true
	}
	if !actions["session.invalid"] {
		t.Errorf("audit lacks session.invalid: %v", actions)
	}
	// The clock runs in China time; the answer's times are UTC all the same.
	var raw struct{ Events []struct{ Time string } }
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	for _, ev := range raw.Events {
		if !strings.HasSuffix(ev.Time, "Z") {
			t.Errorf("json audit time %q is not in UTC", ev.Time)
		}
	}

	from := url.QueryEscape(t0.Add(-time.Hour).Format(time.RFC3339))
	to := url.QueryEscape(e.clk.Now().Add(time.Hour).Format(time.RFC3339))
	r = e.do(req{method: "GET", path: "/api/v1/audit?from=" + from + "&to=" + to + "&format=csv"})
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv = %d %s", r.status, r.body)
	}
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rows[0], []string{"seq", "time", "actor", "action", "target", "outcome", "detail"}) || len(rows) != len(page.Events)+1 {
		t.Fatalf("csv rows = %v (json had %d)", rows, len(page.Events))
	}
	for _, row := range rows[1:] {
		if _, err := time.Parse(time.RFC3339Nano, row[1]); err != nil || !strings.HasSuffix(row[1], "Z") {
			t.Errorf("csv audit time %q is not RFC 3339 in UTC", row[1])
		}
	}
	// an empty window
	future := url.QueryEscape(e.clk.Now().Add(24 * time.Hour).Format(time.RFC3339))
	e.do(req{method: "GET", path: "/api/v1/audit?from=" + future}).decode(t, &page)
	if len(page.Events) != 0 {
		t.Fatalf("future window = %+v", page.Events)
	}
	// t2 sees none of t1's events
	e.do(req{method: "GET", path: "/api/v1/audit", keyID: key2, secret: secret2}).decode(t, &page)
	for _, ev := range page.Events {
		if ev.Tenant != "t2" {
			t.Fatalf("t2 sees %+v", ev)
		}
	}
	for _, q := range []string{"?from=yesterday", "?to=2026-13-01T00:00:00Z", "?format=xml", "?from=" + to + "&to=" + from} {
		if r := e.do(req{method: "GET", path: "/api/v1/audit" + q}); r.status != 400 || r.errCode(t) != "invalid_input" {
			t.Errorf("audit%s = %d %s", q, r.status, r.body)
		}
	}
}

// TestBodyRules: JSON only, bounded, no unknown fields, one object.
func TestBodyRules(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()
	tests := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"unknown field", req{raw: []byte(`{"business":"issue","account_id":"` + id + `","extra":1}`)}, 400, "invalid_input"},
		{"trailing data", req{raw: []byte(`{"business":"issue","account_id":"` + id + `"} {}`)}, 400, "invalid_input"},
		{"array", req{raw: []byte(`[]`)}, 400, "invalid_input"},
		{"empty", req{raw: []byte(``), contentType: "application/json"}, 415, "unsupported_media_type"},
		{"wrong type", req{raw: []byte(`{"business":1}`)}, 400, "invalid_input"},
		{"not JSON", req{raw: []byte(`business=issue`), contentType: "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"},
		{"too large", req{raw: append(append([]byte(`{"tax_no":"`), bytes.Repeat([]byte("x"), maxAPIBody)...), `"}`...)}, 413, "body_too_large"},
		{"bad business", req{body: map[string]any{"business": "both", "account_id": id}}, 400, "invalid_business"},
		{"upper-case business", req{body: map[string]any{"business": "ISSUE", "account_id": id}}, 400, "invalid_business"},
		{"bad action", req{body: map[string]any{"business": "issue", "action": "logout", "account_id": id}}, 400, "invalid_input"},
		{"nothing to resolve", req{body: map[string]any{"business": "issue"}}, 400, "invalid_input"},
		{"bad tax no", req{body: map[string]any{"business": "issue", "tax_no": "12345"}}, 400, "invalid_tax_no"},
		{"unknown account", req{body: map[string]any{"business": "issue", "account_id": "a-none"}}, 404, "account_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.method, tt.r.path = "POST", "/api/v1/sessions"
			r := e.do(tt.r)
			if r.status != tt.status || r.errCode(t) != tt.code {
				t.Fatalf("= %d %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
		})
	}
	if r := e.do(req{method: "POST", path: "/api/v1/sessions", raw: []byte{}, contentType: "application/json", header: map[string]string{"Content-Type": "application/json"}}); r.status != 415 && r.status != 400 {
		t.Fatalf("empty body = %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "GET", path: "/api/v1/requests/x?wait=61"}); r.status != 400 {
		t.Fatalf("wait=61 = %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "PUT", path: "/api/v1/sessions", body: map[string]any{}}); r.status != 405 || r.errCode(t) != "method_not_allowed" {
		t.Fatalf("PUT = %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "GET", path: "/api/v1/nothing"}); r.status != 404 || r.errCode(t) != "not_found" {
		t.Fatalf("unknown route = %d %s", r.status, r.body)
	}
}

// fakeWebhooks is an in-memory Webhooks.
type fakeWebhooks struct {
	mu    sync.Mutex
	hooks map[string][]actors.Webhook // tenant → hooks
	n     int
}

func (f *fakeWebhooks) Register(_ context.Context, tenant, u string, events []actors.EventType) (actors.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	w := actors.Webhook{ID: "wh-" + strconv.Itoa(f.n), Tenant: tenant, URL: u, Events: events, Secret: "whsec-" + tenant, CreatedAt: t0}
	if f.hooks == nil {
		f.hooks = map[string][]actors.Webhook{}
	}
	f.hooks[tenant] = append(f.hooks[tenant], w)
	return w, nil
}

func (f *fakeWebhooks) List(_ context.Context, tenant string) ([]actors.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]actors.Webhook(nil), f.hooks[tenant]...), nil
}

func (f *fakeWebhooks) Delete(_ context.Context, tenant, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, w := range f.hooks[tenant] {
		if w.ID == id {
			f.hooks[tenant] = slices.Delete(f.hooks[tenant], i, i+1)
			return nil
		}
	}
	return actors.ErrWebhookNotFound
}

func (f *fakeWebhooks) Deliveries(_ context.Context, tenant string) ([]actors.WebhookDelivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []actors.WebhookDelivery
	for _, w := range f.hooks[tenant] {
		out = append(out, actors.WebhookDelivery{WebhookID: w.ID, URL: w.URL, State: actors.DeliveryRetrying, Attempts: 2, LastStatus: 503})
	}
	return out, nil
}

func TestWebhooksNotEnabled(t *testing.T) {
	e := newEnv(t)
	for _, r := range []req{{method: "GET", path: "/api/v1/webhooks"}, {method: "DELETE", path: "/api/v1/webhooks/wh_1"},
		{method: "POST", path: "/api/v1/webhooks", body: map[string]any{"url": "https://x.example/h"}}} {
		if got := e.do(r); got.status != 501 || got.errCode(t) != "not_implemented" {
			t.Fatalf("%s %s = %d %s", r.method, r.path, got.status, got.body)
		}
	}
}

// TestWebhooks runs the endpoints against the real registry
// (events.Webhooks without a bus: registrations only) and a fake that
// reports a delivery state.
func TestWebhooks(t *testing.T) {
	for _, impl := range []string{"prompts", "fake"} {
		t.Run(impl, func(t *testing.T) {
			var e *env
			if impl == "fake" {
				e = newEnv(t, func(d *Deps) { d.Webhooks = &fakeWebhooks{} })
			} else {
				e = newEnv(t)
				// Every name resolves to a public address: no DNS in tests.
				public := events.ResolverFunc(func(context.Context, string, string) ([]netip.Addr, error) {
					return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
				})
				wh, err := events.NewWebhooks(e.store, nil, events.WebhookOptions{MaxPerTenant: 2, Resolver: public, Logger: e.deps.Logger})
				if err != nil {
					t.Fatal(err)
				}
				e.deps.Webhooks = actors.NewWebhookRegistry(wh)
				e.app = New(e.deps)
			}
			body := map[string]any{"url": "https://erp.example.com/etaxd?x=1", "events": []string{"session.ready", "account.locked", "session.ready"}}
			r := e.do(req{method: "POST", path: "/api/v1/webhooks", body: body})
			var w events.Webhook
			r.decode(t, &w)
			if r.status != 201 || w.ID == "" || w.Secret == "" || w.URL != "https://erp.example.com/etaxd?x=1" {
				t.Fatalf("register = %d %s", r.status, r.body)
			}
			r = e.do(req{method: "GET", path: "/api/v1/webhooks"})
			var list struct {
				Webhooks []WebhookView `json:"webhooks"`
			}
			r.decode(t, &list)
			if r.status != 200 || len(list.Webhooks) != 1 || list.Webhooks[0].ID != w.ID || list.Webhooks[0].Delivery == nil ||
				strings.Contains(string(r.body), w.Secret) || strings.Contains(string(r.body), `"secret"`) {
				t.Fatalf("list = %d %s", r.status, r.body)
			}
			if impl == "fake" && list.Webhooks[0].Delivery.State != events.DeliveryRetrying {
				t.Fatalf("delivery = %+v", list.Webhooks[0].Delivery)
			}
			var other struct {
				Webhooks []WebhookView `json:"webhooks"`
			}
			e.do(req{method: "GET", path: "/api/v1/webhooks", keyID: key2, secret: secret2}).decode(t, &other)
			if len(other.Webhooks) != 0 {
				t.Fatalf("t2 sees t1's webhooks: %+v", other)
			}
			if r := e.do(req{method: "DELETE", path: "/api/v1/webhooks/" + w.ID, keyID: key2, secret: secret2}); r.status != 404 || r.errCode(t) != "webhook_not_found" {
				t.Fatalf("delete by t2 = %d %s", r.status, r.body)
			}
			if r := e.do(req{method: "DELETE", path: "/api/v1/webhooks/" + w.ID}); r.status != 204 || len(r.body) != 0 {
				t.Fatalf("delete = %d %s", r.status, r.body)
			}
			if r := e.do(req{method: "DELETE", path: "/api/v1/webhooks/" + w.ID}); r.status != 404 {
				t.Fatalf("delete again = %d %s", r.status, r.body)
			}
			if impl == "fake" {
				return
			}
			for name, b := range map[string]map[string]any{
				"unknown event": {"url": "https://erp.example.com/h", "events": []string{"session.stolen"}},
				"ftp":           {"url": "ftp://erp.example.com/h"},
				"relative":      {"url": "/h"},
				"user info":     {"url": "https://u:p@erp.example.com/h"},
				"no url":        {"events": []string{"session.ready"}},
			} {
				if r := e.do(req{method: "POST", path: "/api/v1/webhooks", body: b}); r.status != 400 || r.errCode(t) != "invalid_input" {
					t.Errorf("%s: %d %s", name, r.status, r.body)
				}
			}
			// Issue 8: a tenant's webhook aimed at the node's own operator
			// API (or anything else not public) is refused.
			for _, u := range []string{"http://127.0.0.1:8080/ops/v1/tenants/victim/rotate-code", "http://localhost:8080/ops/v1/tenants",
				"http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]:8080/", "http://10.0.0.5/h"} {
				r := e.do(req{method: "POST", path: "/api/v1/webhooks", body: map[string]any{"url": u}})
				var eb ErrorBody
				r.decode(t, &eb)
				if r.status != 400 || eb.Error.Code != "webhook_url_forbidden" || eb.Error.Message != ErrWebhookURLForbidden.Message {
					t.Errorf("%s: %d %s", u, r.status, r.body)
				}
			}
			for i := 0; i < 2; i++ {
				if r := e.do(req{method: "POST", path: "/api/v1/webhooks", body: map[string]any{"url": "https://erp.example.com/h"}}); r.status != 201 {
					t.Fatalf("register %d = %d %s", i, r.status, r.body)
				}
			}
			if r := e.do(req{method: "POST", path: "/api/v1/webhooks", body: map[string]any{"url": "https://erp.example.com/h"}}); r.status != 409 || r.errCode(t) != "too_many_webhooks" {
				t.Fatalf("over the limit = %d %s", r.status, r.body)
			}
		})
	}
}

// TestHugeBody: a body beyond what Fiber reads at all is refused by the
// server from its Content-Length, still with a catalogue answer (over a raw
// connection: app.Test and net/http cannot read an answer sent before the
// body).
func TestHugeBody(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.app.Listener(ln) }()
	defer func() { _ = e.app.Shutdown() }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 2*bodyLimit)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 413 || !strings.Contains(string(body), `"code":"body_too_large"`) {
		t.Fatalf("= %d %s", res.StatusCode, body)
	}
}
