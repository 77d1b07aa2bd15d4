package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/sign"
)

// TestAuthRefusals: every way a request can fail authentication, with its
// code; and the edges that must pass.
func TestAuthRefusals(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()
	ok := req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)}
	now := e.clk.Now().Unix()
	with := func(f func(*req)) req { r := ok; f(&r); return r }

	replayed := with(func(r *req) { r.nonce = "replayed-nonce-1" })
	if r := e.do(replayed); r.status != 200 {
		t.Fatalf("first use of the nonce = %d %s", r.status, r.body)
	}
	if err := e.eng.RevokeAPIKey(e.ctx(), key2); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		r    req
		code string
	}{
		{"unsigned", with(func(r *req) { r.unsigned = true }), "auth_required"},
		{"no signature", with(func(r *req) { r.header = map[string]string{sign.HeaderSignature: ""} }), "auth_required"},
		{"bad signature", with(func(r *req) { r.sig = strings.Repeat("ab", 32) }), "signature_invalid"},
		{"short signature", with(func(r *req) { r.sig = "abc" }), "signature_invalid"},
		{"wrong secret", with(func(r *req) { r.secret = secret2 }), "signature_invalid"},
		{"signed another path", with(func(r *req) {
			r.sig = sign.Signature([]byte(secret1), "POST", "/api/v1/sessions/invalid", strconv.FormatInt(now, 10), "nonce-other-path", mustJSON(t, r.body))
			r.ts, r.nonce = strconv.FormatInt(now, 10), "nonce-other-path"
		}), "signature_invalid"},
		{"signed another body", with(func(r *req) {
			r.sig = sign.Signature([]byte(secret1), "POST", r.path, strconv.FormatInt(now, 10), "nonce-other-body", []byte(`{}`))
			r.ts, r.nonce = strconv.FormatInt(now, 10), "nonce-other-body"
		}), "signature_invalid"},
		{"signed another method", with(func(r *req) {
			r.sig = sign.Signature([]byte(secret1), "GET", r.path, strconv.FormatInt(now, 10), "nonce-other-meth", mustJSON(t, r.body))
			r.ts, r.nonce = strconv.FormatInt(now, 10), "nonce-other-meth"
		}), "signature_invalid"},
		{"stale", with(func(r *req) { r.ts = strconv.FormatInt(now-301, 10) }), "timestamp_out_of_window"},
		{"future", with(func(r *req) { r.ts = strconv.FormatInt(now+301, 10) }), "timestamp_out_of_window"},
		{"milliseconds", with(func(r *req) { r.ts = strconv.FormatInt(now*1000, 10) }), "timestamp_out_of_window"},
		{"not a number", with(func(r *req) { r.ts = "yesterday" }), "timestamp_out_of_window"},
		{"replayed nonce", replayed, "nonce_reused"},
		{"short nonce", with(func(r *req) { r.nonce = "abc" }), "signature_invalid"},
		{"nonce with spaces", with(func(r *req) { r.nonce = "a nonce with spaces" }), "signature_invalid"},
		{"unknown key", with(func(r *req) { r.keyID, r.secret = "k-nobody", secret1 }), "api_key_not_found"},
		{"revoked key", with(func(r *req) { r.keyID, r.secret = key2, secret2 }), "api_key_not_found"},
		{"long key", with(func(r *req) { r.keyID = strings.Repeat("k", 100) }), "signature_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(tt.r)
			if r.status != 401 || r.errCode(t) != tt.code {
				t.Fatalf("= %d %s, want 401 %s", r.status, r.body, tt.code)
			}
		})
	}
	// The window's edges pass; the same nonce under another key is another
	// nonce.
	for name, r := range map[string]req{
		"300 s old":         with(func(r *req) { r.ts = strconv.FormatInt(now-300, 10) }),
		"300 s ahead":       with(func(r *req) { r.ts = strconv.FormatInt(now+300, 10) }),
		"case of headers":   with(func(r *req) {}),
		"nonce of key2 too": with(func(r *req) { r.nonce = "replayed-nonce-1"; r.keyID, r.secret = "k-three", secret1 }),
	} {
		if name == "nonce of key2 too" {
			if _, err := e.eng.CreateAPIKey(e.ctx(), "t1", "k-three", secret1); err != nil {
				t.Fatal(err)
			}
		}
		if got := e.do(r); got.status != 200 {
			t.Errorf("%s: %d %s", name, got.status, got.body)
		}
	}
	// A nonce is refused again for as long as its timestamp is fresh.
	stale := with(func(r *req) { r.nonce = "nonce-window-1" })
	if r := e.do(stale); r.status != 200 {
		t.Fatal(r.status)
	}
	e.clk.Advance(299 * time.Second)
	stale.ts = strconv.FormatInt(now, 10)
	if r := e.do(stale); r.status != 401 || r.errCode(t) != "nonce_reused" {
		t.Fatalf("nonce after 299 s = %d %s", r.status, r.body)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCrossTenant: whatever belongs to another tenant is not found (404),
// never forbidden.
func TestCrossTenant(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()
	e.loggedOut(id)
	var w SessionAnswer
	e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)}).decode(t, &w)
	as2 := func(r req) resp { r.keyID, r.secret = key2, secret2; return e.do(r) }
	tests := []struct {
		name string
		r    req
		code string
	}{
		{"session of t1's account", req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)}, "account_not_found"},
		{"session by t1's tax no", req{method: "POST", path: "/api/v1/sessions", body: map[string]any{"tax_no": e.bj, "business": "issue"}}, "enterprise_not_found"},
		{"t1's request", req{method: "GET", path: "/api/v1/requests/" + w.RequestID}, "request_not_found"},
		{"t1's request, long poll", req{method: "GET", path: "/api/v1/requests/" + w.RequestID + "?wait=1"}, "request_not_found"},
		{"t1's request id made t2's", req{method: "GET", path: "/api/v1/requests/t2" + strings.TrimPrefix(w.RequestID, "t1")}, "request_not_found"},
		{"answer t1's request", req{method: "POST", path: "/api/v1/requests/" + w.RequestID + "/answer", body: map[string]string{"sms_code": "123456"}}, "request_not_found"},
		{"invalidate t1's session", req{method: "POST", path: "/api/v1/sessions/invalid", body: map[string]string{"account_id": id, "channel": "issue", "token": "x"}}, "account_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := as2(tt.r)
			if r.status != 404 || r.errCode(t) != tt.code {
				t.Fatalf("= %d %s, want 404 %s", r.status, r.body, tt.code)
			}
		})
	}
	// and t1's request is still waiting for its person
	if r := e.do(req{method: "GET", path: "/api/v1/requests/" + w.RequestID}); r.status != 202 {
		t.Fatalf("t1's own request = %d %s", r.status, r.body)
	}
}

// TestIdempotency: same key and body → the same answer, replayed; another
// body → 422; another API key → its own scope; concurrent repeats run once.
func TestIdempotency(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()
	e.loggedOut(id)
	first := e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id), idem: "order-42"})
	if first.status != 202 || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first = %d %s", first.status, first.body)
	}
	// the person answers: a fresh call would now be 200 ready
	if _, err := e.eng.Answer(e.ctx(), "t1", "", id, wxAlice, e.sim.LastCode(phoneH)); err != nil {
		t.Fatal(err)
	}
	again := e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id), idem: "order-42"})
	if again.status != first.status || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay = %d %s, want %d %s", again.status, again.body, first.status, first.body)
	}
	if r := e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)}); r.status != 200 {
		t.Fatalf("without the key = %d %s", r.status, r.body)
	}
	other := map[string]any{"business": "receive", "account_id": id}
	if r := e.do(req{method: "POST", path: "/api/v1/sessions", body: other, idem: "order-42"}); r.status != 422 || r.errCode(t) != "idempotency_key_reused" {
		t.Fatalf("other body = %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "POST", path: "/api/v1/sessions/invalid", body: sessionBody(id), idem: "order-42"}); r.status != 422 {
		t.Fatalf("other path = %d %s", r.status, r.body)
	}
	// t2's key has its own keys: the same Idempotency-Key runs anew
	if r := e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id), idem: "order-42", keyID: key2, secret: secret2}); r.status != 404 {
		t.Fatalf("t2 = %d %s", r.status, r.body)
	}
	// errors are kept too (a 4xx changed nothing, and says so again)
	bad := map[string]any{"business": "issue", "account_id": "a-none"}
	r1 := e.do(req{method: "POST", path: "/api/v1/sessions", body: bad, idem: "bad-1"})
	r2 := e.do(req{method: "POST", path: "/api/v1/sessions", body: bad, idem: "bad-1"})
	if r1.status != 404 || r2.status != 404 || r2.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("error replay = %d, %d %v", r1.status, r2.status, r2.header)
	}
	if r := e.do(req{method: "POST", path: "/api/v1/sessions", body: bad, idem: strings.Repeat("x", 256)}); r.status != 400 {
		t.Fatalf("long key = %d %s", r.status, r.body)
	}
	// one key, many concurrent calls: one runs, the others replay it
	var wg sync.WaitGroup
	bodies := make([]string, 16)
	for i := range bodies {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			bodies[i] = string(e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id), idem: "burst"}).body)
		}(i)
	}
	wg.Wait()
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Fatalf("concurrent answers differ:\n%s\n%s", bodies[0], b)
		}
	}
	// 24 hours later the key is free again
	e.clk.Advance(IdempotencyTTL + time.Second)
	if r := e.do(req{method: "POST", path: "/api/v1/sessions", body: other, idem: "order-42"}); r.status == 422 {
		t.Fatalf("after 24 h = %d %s", r.status, r.body)
	}
}

// TestLogs: one line per request with its request id, route and status;
// the tenant once known; never a secret, token or signature.
func TestLogs(t *testing.T) {
	e := newEnv(t)
	id := e.boundAccount()
	var s SessionAnswer
	r := e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id), nonce: "nonce-for-log-test", header: map[string]string{"X-Request-ID": "erp-req-1"}})
	r.decode(t, &s)
	if r.header.Get("X-Request-ID") != "erp-req-1" {
		t.Fatalf("request id = %q", r.header.Get("X-Request-ID"))
	}
	e.do(req{method: "POST", path: "/api/v1/requests/t1.x.y/answer", body: map[string]string{"sms_code": "654321"}})
	e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id), sig: strings.Repeat("cd", 32)})
	logs := e.logs.String()
	var line string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "request_id=erp-req-1") {
			line = l
		}
	}
	for _, want := range []string{"tenant=t1", "key_id=" + key1, "route=/api/v1/sessions", "status=200", "latency="} {
		if !strings.Contains(line, want) {
			t.Errorf("log line lacks %s: %s", want, line)
		}
	}
	for _, secret := range []string{secret1, s.Session.Token, "654321", pwA, strings.Repeat("cd", 32), "nonce-for-log-test"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log carries a secret %q", secret)
		}
	}
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "component=http") && !strings.Contains(l, "request_id=") {
			t.Errorf("http log line without a request id: %s", l)
		}
	}
	// a bad client request id is replaced
	r = e.do(req{method: "GET", path: "/api/v1/accounts", header: map[string]string{"X-Request-ID": "bad id with spaces"}})
	if rid := r.header.Get("X-Request-ID"); rid == "" || strings.Contains(rid, " ") {
		t.Fatalf("request id = %q", rid)
	}
}

// TestOperatorSurface: the token guards /ops/*, /metrics and /dev/*;
// without a token only loopback clients are served.
func TestOperatorSurface(t *testing.T) {
	inbox := func(openid string) []actors.Prompt {
		return []actors.Prompt{{ID: "p1", OpenID: openid, Kind: actors.KindSMSCode, Message: "请…"}}
	}
	e := newEnv(t, func(d *Deps) {
		d.DevInbox = inbox
		d.QueueDepths = func() map[string]int64 { return map[string]int64{"webhooks.pending": 3} }
		d.NATSPending = func() map[string]int64 { return map[string]int64{"notifier-dev": 2} }
		d.PromptStates = func() map[string]int64 { return map[string]int64{"queued": 1, "delivered": 5} }
		d.BureauStats = func() []BureauStat {
			return []BureauStat{{Op: "login", Outcome: "ok", Count: 4, Seconds: 0.5, Buckets: map[float64]uint64{0.1: 3, 1: 4}},
				{Op: "send_sms", Outcome: "bureau_unavailable", Count: 1, Seconds: 2}}
		}
	})
	id := e.boundAccount()
	e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody(id)})
	e.do(req{method: "POST", path: "/api/v1/sessions", unsigned: true})
	for _, path := range []string{"/ops/status", "/metrics"} {
		for name, h := range map[string]map[string]string{
			"no token":    nil,
			"wrong token": {"Authorization": "Bearer nope"},
			"basic":       {"Authorization": "Basic " + opToken},
		} {
			r := e.do(req{method: "GET", path: path, unsigned: true, header: h})
			if r.status != 401 || r.errCode(t) != "operator_token_required" || r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s = %d %s", path, name, r.status, r.body)
			}
		}
	}
	bearer := map[string]string{"Authorization": "Bearer " + opToken}
	r := e.do(req{method: "GET", path: "/ops/status", unsigned: true, header: bearer})
	var st Status
	r.decode(t, &st)
	if r.status != 200 || st.Queues["webhooks.pending"] != 3 || st.NATSPending["notifier-dev"] != 2 || st.Prompts["delivered"] != 5 ||
		st.Engine == nil || st.Store == nil || st.Caches["nonces"] < 1 {
		t.Fatalf("status = %d %s", r.status, r.body)
	}
	r = e.do(req{method: "GET", path: "/metrics", unsigned: true, header: bearer})
	text := string(r.body)
	for _, want := range []string{
		`etaxd_http_requests_total{method="POST",route="/api/v1/sessions",status="200"} 1`,
		`etaxd_http_request_duration_seconds_bucket{method="POST",route="/api/v1/sessions"`,
		`etaxd_api_refused_total{code="auth_required"} 1`,
		`etaxd_http_requests_total{method="POST",route="/api/v1/sessions",status="401"} 1`,
		`etaxd_http_requests_total{method="GET",route="/ops/*",status="401"}`,
		`etaxd_actors_active{kind="account"}`,
		`etaxd_session_requests_total`,
		`etaxd_store_writes_total{outcome="committed"}`,
		`etaxd_store_commit_latency_seconds{which="max"}`,
		`etaxd_queue_depth{queue="webhooks.pending"} 3`,
		`etaxd_nats_pending{consumer="notifier-dev"} 2`,
		`etaxd_prompts{state="queued"} 1`,
		`etaxd_bureau_calls_total{op="login",outcome="ok"} 4`,
		`etaxd_bureau_call_seconds_bucket{op="login",outcome="ok",le="0.1"} 3`,
		`etaxd_bureau_call_seconds_count{op="send_sms",outcome="bureau_unavailable"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s\n%s", want, text)
		}
	}
	if r.status != 200 || strings.Contains(text, secret1) {
		t.Fatalf("/metrics = %d", r.status)
	}
	// /dev/inbox answers this machine only, token or not (TestDevInboxIsLocal
	// reads it from a loopback peer); app.Test's peer is 0.0.0.0.
	r = e.do(req{method: "GET", path: "/dev/inbox?openid=o_x", unsigned: true, header: bearer})
	if r.status != 403 || r.errCode(t) != "dev_loopback_only" {
		t.Fatalf("inbox from another machine = %d %s", r.status, r.body)
	}
	// without DevInbox there is no /dev/inbox
	plain := newEnv(t)
	if r := plain.do(req{method: "GET", path: "/dev/inbox?openid=o", unsigned: true, header: bearer}); r.status != 404 {
		t.Fatalf("inbox outside dev = %d", r.status)
	}
	// without a token: loopback only (app.Test's client is 0.0.0.0)
	open := newEnv(t, func(d *Deps) { d.OperatorToken = "" })
	if r := open.do(req{method: "GET", path: "/ops/status", unsigned: true}); r.status != 403 || r.errCode(t) != "operator_loopback_only" {
		t.Fatalf("remote without token = %d %s", r.status, r.body)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = open.app.Listener(ln) }()
	defer func() { _ = open.app.Shutdown() }()
	res, err := http.Get("http://" + ln.Addr().String() + "/ops/status")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("loopback without token = %d", res.StatusCode)
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestReadyzChecks: a failing named check makes the node not ready.
func TestReadyzChecks(t *testing.T) {
	connected := true
	var mu sync.Mutex
	e := newEnv(t, func(d *Deps) {
		d.Checks = []Check{ReadyCheck("nats", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return connected
		})}
	})
	if r := e.do(req{method: "GET", path: "/readyz", unsigned: true}); r.status != 200 {
		t.Fatalf("readyz = %d %s", r.status, r.body)
	}
	mu.Lock()
	connected = false
	mu.Unlock()
	r := e.do(req{method: "GET", path: "/readyz", unsigned: true})
	if r.status != 503 || !strings.Contains(string(r.body), `"reasons":["nats"]`) {
		t.Fatalf("readyz = %d %s", r.status, r.body)
	}
	var st Status
	e.do(req{method: "GET", path: "/ops/status", unsigned: true, header: map[string]string{"Authorization": "Bearer " + opToken}}).decode(t, &st)
	if st.Ready || len(st.NotReady) != 1 || st.NotReady[0] != "nats" {
		t.Fatalf("status = %+v", st)
	}
}

// TestStatusTableCoversCatalogue: the API's own entries are in the
// catalogue (so internal/errbody's pinned table covers them) with a kind and
// both messages; a few statuses as clients know them.
func TestStatusTableCoversCatalogue(t *testing.T) {
	all := domain.Catalogue()
	for _, e := range []*domain.Error{ErrAuthRequired, ErrSignatureInvalid, ErrTimestampSkew, ErrNonceReused, ErrIdempotencyMismatch,
		ErrBodyTooLarge, ErrAmbiguousFraming, ErrUnsupportedMedia, ErrRouteNotFound, ErrMethodNotAllowed, ErrNotImplemented,
		ErrOperatorToken, ErrOperatorLoopback, ErrDevLoopback, ErrLocalHost, ErrCrossSite, ErrWebhookNotFound,
		ErrWebhookURLForbidden, ErrTooManyWebhooks} {
		if !slices.Contains(all, e) || e.Kind == domain.KindUnknown || e.Message == "" || e.MessageEN == "" {
			t.Errorf("API code %q: not in the catalogue, or kind or messages missing", e.Code)
		}
	}
	for code, want := range map[string]int{"locked": 423, "password_invalid": 409, "sms_budget_exhausted": 429, "sms_too_frequent": 429,
		"busy": 503, "bureau_unavailable": 503, "internal": 500, "request_not_found": 404, "invalid_tax_no": 400, "unknown_code": 422,
		"body_too_large": 413, "unsupported_media_type": 415, "method_not_allowed": 405, "hosted_code_timeout": 504} {
		if got := StatusOf(code); got != want {
			t.Errorf("StatusOf(%s) = %d, want %d", code, got, want)
		}
	}
}

// TestInternalErrorsHideTheirCause: an engine failure that is not in the
// catalogue is a 500 whose body is the generic one.
func TestInternalErrorsHideTheirCause(t *testing.T) {
	e := newEnv(t)
	e.app = New(Deps{Engine: &failingEngine{Engine: e.eng}, Clock: e.clk, Logger: e.deps.Logger})
	r := e.do(req{method: "GET", path: "/api/v1/accounts"})
	var b ErrorBody
	r.decode(t, &b)
	if r.status != 500 || b.Error.Code != "internal" || b.Error.Message != domain.ErrInternal.Message || strings.Contains(string(r.body), "disk") {
		t.Fatalf("= %d %s", r.status, r.body)
	}
	if !strings.Contains(e.logs.String(), "disk on fire") {
		t.Fatal("the cause is not logged")
	}
	r = e.do(req{method: "POST", path: "/api/v1/sessions", body: sessionBody("a-x")})
	if r.status != 503 || r.errCode(t) != "busy" || r.header.Get("Retry-After") != "1" {
		t.Fatalf("busy = %d %s %v", r.status, r.body, r.header)
	}
}

type failingEngine struct{ Engine }

func (f *failingEngine) Accounts(context.Context, string, string, string) ([]actors.AccountView, error) {
	return nil, errors.New("disk on fire at /var/lib/etaxd")
}

func (f *failingEngine) RequestSession(context.Context, string, actors.SessionRequest) (*actors.SessionReply, error) {
	return nil, domain.ErrBusy.Wrap(errors.New("ask timed out"))
}

// TestOpsRoutes: routes added through OpsRoutes sit behind the guard.
func TestOpsRoutes(t *testing.T) {
	e := newEnv(t, func(d *Deps) {
		d.OpsRoutes = func(ops fiber.Router) {
			ops.Get("/v1/ping", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"pong": true}) })
		}
	})
	if r := e.do(req{method: "GET", path: "/ops/v1/ping", unsigned: true}); r.status != 401 {
		t.Fatalf("without token = %d %s", r.status, r.body)
	}
	r := e.do(req{method: "GET", path: "/ops/v1/ping", unsigned: true, header: map[string]string{"Authorization": "Bearer " + opToken}})
	if r.status != 200 || string(r.body) != `{"pong":true}` {
		t.Fatalf("with token = %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "GET", path: "/ops/nothing", unsigned: true, header: map[string]string{"Authorization": "Bearer " + opToken}}); r.status != 404 {
		t.Fatalf("unknown ops route = %d %s", r.status, r.body)
	}
}

// TestRetryAfterOwnWait: an error that knows its wait sends it as
// Retry-After; others keep their code's fixed value.
func TestRetryAfterOwnWait(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		want   string
	}{
		{domain.ErrPasswordGuard.RetryIn(90*time.Second + time.Millisecond), 429, "91"},
		{domain.ErrPasswordRate.RetryIn(10 * time.Minute), 429, "600"},
		{domain.ErrActivationRateLimit.RetryIn(time.Second), 429, "1"},
		{domain.ErrSMSTooFrequent, 429, "180"}, // a bureau's refusal: no wait known
		{domain.ErrWrongPassword, 422, ""},
	} {
		r := failure(nil, tc.err)
		if r.status != tc.status || r.retryAfter != tc.want {
			t.Errorf("%v: status %d, Retry-After %q; want %d, %q", tc.err, r.status, r.retryAfter, tc.status, tc.want)
		}
	}
}

// TestSMSTooFrequentSaysTheWait: with a 90 s interval and 40 s gone, the
// answer says 50 s, in Retry-After and in the message.
func TestSMSTooFrequentSaysTheWait(t *testing.T) {
	sent := t0.Add(-40 * time.Second)
	err := domain.CheckAccountInterval(sent, domain.SMSPolicy{PerPhonePerDay: 20, PerAccountInterval: 90 * time.Second}, t0)
	r := failure(nil, err)
	var body ErrorBody
	if e := json.Unmarshal(r.body, &body); e != nil {
		t.Fatal(e)
	}
	if r.status != 429 || r.retryAfter != "50" || body.Error.Code != "sms_too_frequent" {
		t.Fatalf("status %d, Retry-After %q, code %q; want 429, \"50\", sms_too_frequent", r.status, r.retryAfter, body.Error.Code)
	}
	if !strings.Contains(body.Error.Message, "请50秒后再试") || strings.Contains(body.Error.Message, "3分钟") {
		t.Errorf("message %q does not say 50秒", body.Error.Message)
	}
}
