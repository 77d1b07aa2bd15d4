package httpapi

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
)

// listen serves e's app on a real 127.0.0.1 listener (so that the peer is
// loopback, which app.Test's 0.0.0.0 is not) and returns its address.
func (e *env) listen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = e.app.Listener(ln) }()
	t.Cleanup(func() { _ = e.app.Shutdown() })
	return ln.Addr().String()
}

// rawCall is one request to a real listener, with the headers a browser
// (or a forger) may set.
type rawCall struct {
	method, path string
	host         string // the Host header; "" means the listener's address
	header       map[string]string
	body         string
}

// do sends rc to addr and returns the status and, for an error, its code.
func (rc rawCall) do(t *testing.T, addr string) (int, string) {
	t.Helper()
	status, code, _ := rc.send(t, addr)
	return status, code
}

// send is do with the body too.
func (rc rawCall) send(t *testing.T, addr string) (status int, code, body string) {
	t.Helper()
	req, err := http.NewRequest(rc.method, "http://"+addr+rc.path, strings.NewReader(rc.body))
	if err != nil {
		t.Fatal(err)
	}
	if rc.host != "" {
		req.Host = rc.host
	}
	for k, v := range rc.header {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	c.CloseIdleConnections()
	if res.StatusCode >= 400 {
		code = resp{status: res.StatusCode, body: b}.errCode(t)
	}
	return res.StatusCode, code, string(b)
}

// guardCase is a request and the answer a guard must give it: the status
// and, for an error, its code.
type guardCase struct {
	name   string
	call   rawCall
	status int
	code   string
}

// runGuardCases sends each case to addr as a subtest.
func runGuardCases(t *testing.T, addr string, cases []guardCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			status, code := tt.call.do(t, addr)
			if status != tt.status || code != tt.code {
				t.Errorf("%s %s = %d %q, want %d %q", tt.call.method, tt.call.path, status, code, tt.status, tt.code)
			}
		})
	}
}

// echoRoutes adds POST /ops/echo, which answers 200 once the guard let the
// request through.
func echoRoutes(d *Deps) {
	d.OpsRoutes = func(ops fiber.Router) {
		ops.Post("/echo", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"ok": true}) })
	}
}

// TestOperatorGuardWithoutToken: without an operator token (dev mode) the
// ops surface answers this machine's programs only, never a web page: the
// peer must be loopback, the Host a loopback name (no DNS rebinding), the
// request not cross-site, and a POST body JSON (no form or text/plain
// request, which a page may send without a CORS preflight).
func TestOperatorGuardWithoutToken(t *testing.T) {
	e := newEnv(t, func(d *Deps) { d.OperatorToken = "" }, echoRoutes)
	addr := e.listen(t)
	_, port, _ := net.SplitHostPort(addr)
	self := "http://" + addr
	json := map[string]string{"Content-Type": "application/json"}
	tests := []guardCase{
		{"status from this machine", rawCall{method: "GET", path: "/ops/status"}, 200, ""},
		{"Host localhost", rawCall{method: "GET", path: "/ops/status", host: "localhost:" + port}, 200, ""},
		{"metrics from this machine", rawCall{method: "GET", path: "/metrics"}, 200, ""},
		{"Host of another site (DNS rebinding)", rawCall{method: "GET", path: "/ops/status", host: "evil.example:" + port}, 403, "local_host_required"},
		{"Host a LAN address", rawCall{method: "GET", path: "/ops/status", host: "192.168.1.10:" + port}, 403, "local_host_required"},
		{"metrics, Host of another site", rawCall{method: "GET", path: "/metrics", host: "evil.example"}, 403, "local_host_required"},
		{"Origin of another site", rawCall{method: "GET", path: "/ops/status", header: map[string]string{"Origin": "http://evil.example"}}, 403, "cross_site_refused"},
		{"Origin of another local port", rawCall{method: "GET", path: "/ops/status", header: map[string]string{"Origin": "http://127.0.0.1:1"}}, 403, "cross_site_refused"},
		{"Origin null", rawCall{method: "GET", path: "/ops/status", header: map[string]string{"Origin": "null"}}, 403, "cross_site_refused"},
		{"Origin itself", rawCall{method: "GET", path: "/ops/status", header: map[string]string{"Origin": self}}, 200, ""},
		{"Sec-Fetch-Site cross-site", rawCall{method: "GET", path: "/ops/status", header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403, "cross_site_refused"},
		{"Sec-Fetch-Site same-site", rawCall{method: "GET", path: "/ops/status", header: map[string]string{"Sec-Fetch-Site": "same-site"}}, 403, "cross_site_refused"},
		{"Sec-Fetch-Site same-origin", rawCall{method: "GET", path: "/ops/status", header: map[string]string{"Sec-Fetch-Site": "same-origin"}}, 200, ""},
		{"Sec-Fetch-Site none (typed in)", rawCall{method: "GET", path: "/ops/status", header: map[string]string{"Sec-Fetch-Site": "none"}}, 200, ""},
		{"POST JSON", rawCall{method: "POST", path: "/ops/echo", header: json, body: "{}"}, 200, ""},
		{"POST JSON with charset", rawCall{method: "POST", path: "/ops/echo", header: map[string]string{"Content-Type": "application/json; charset=utf-8"}, body: "{}"}, 200, ""},
		{"POST JSON without a body", rawCall{method: "POST", path: "/ops/echo", header: json}, 200, ""},
		{"POST form", rawCall{method: "POST", path: "/ops/echo", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: "a=b"}, 415, "unsupported_media_type"},
		{"POST multipart", rawCall{method: "POST", path: "/ops/echo", header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, body: "--x--"}, 415, "unsupported_media_type"},
		{"POST text/plain", rawCall{method: "POST", path: "/ops/echo", header: map[string]string{"Content-Type": "text/plain"}, body: `{"a":1}`}, 415, "unsupported_media_type"},
		{"POST without a type", rawCall{method: "POST", path: "/ops/echo", body: "{}"}, 415, "unsupported_media_type"},
		// An import file (etaxd import accounts): neither type is one a page
		// may send without a preflight.
		{"POST text/csv", rawCall{method: "POST", path: "/ops/echo", header: map[string]string{"Content-Type": "text/csv; charset=utf-8"}, body: "a,b"}, 200, ""},
		{"POST XLSX", rawCall{method: "POST", path: "/ops/echo", header: map[string]string{"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}, body: "PK"}, 200, ""},
		{"POST JSON cross-site", rawCall{method: "POST", path: "/ops/echo", header: map[string]string{"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, body: "{}"}, 403, "cross_site_refused"},
	}
	runGuardCases(t, addr, tests)
	// Another machine (app.Test's peer is 0.0.0.0) is refused first.
	if r := e.do(req{method: "GET", path: "/ops/status", unsigned: true}); r.status != 403 || r.errCode(t) != "operator_loopback_only" {
		t.Errorf("another machine = %d %s", r.status, r.body)
	}
}

// TestOperatorGuardWithToken: with a token (production) the bearer token is
// what counts, wherever the request comes from and whatever its Host (a
// reverse proxy names the public host).
func TestOperatorGuardWithToken(t *testing.T) {
	e := newEnv(t, echoRoutes)
	addr := e.listen(t)
	bearer := "Bearer " + opToken
	tests := []guardCase{
		{"no token, from this machine", rawCall{method: "GET", path: "/ops/status"}, 401, "operator_token_required"},
		{"no token, POST JSON", rawCall{method: "POST", path: "/ops/echo", header: map[string]string{"Content-Type": "application/json"}, body: "{}"}, 401, "operator_token_required"},
		{"token", rawCall{method: "GET", path: "/ops/status", header: map[string]string{"Authorization": bearer}}, 200, ""},
		{"token, public Host", rawCall{method: "GET", path: "/ops/status", host: "etaxd.example.com", header: map[string]string{"Authorization": bearer}}, 200, ""},
		{"token, POST JSON", rawCall{method: "POST", path: "/ops/echo", header: map[string]string{"Authorization": bearer, "Content-Type": "application/json"}, body: "{}"}, 200, ""},
	}
	runGuardCases(t, addr, tests)
}

// TestDevInboxIsLocal: GET /dev/inbox (every user's prompts, dev mode only)
// answers this machine's programs only, even with the operator token.
func TestDevInboxIsLocal(t *testing.T) {
	inbox := func(openid string) []actors.Prompt {
		return []actors.Prompt{{ID: "p1", OpenID: openid, Kind: actors.KindSMSCode, Message: "请…"}}
	}
	for _, token := range []string{"", opToken} {
		e := newEnv(t, func(d *Deps) { d.DevInbox, d.OperatorToken = inbox, token })
		addr := e.listen(t)
		auth := map[string]string{}
		if token != "" {
			auth["Authorization"] = "Bearer " + token
		}
		with := func(extra map[string]string) map[string]string {
			h := map[string]string{}
			for k, v := range auth {
				h[k] = v
			}
			for k, v := range extra {
				h[k] = v
			}
			return h
		}
		name := map[bool]string{true: "token set", false: "no token"}[token != ""]
		t.Run(name, func(t *testing.T) {
			runGuardCases(t, addr, []guardCase{
				{"this machine", rawCall{method: "GET", path: "/dev/inbox?openid=o_x", header: auth}, 200, ""},
				{"Host of another site", rawCall{method: "GET", path: "/dev/inbox?openid=o_x", host: "evil.example", header: auth}, 403, "local_host_required"},
				{"cross-site", rawCall{method: "GET", path: "/dev/inbox?openid=o_x", header: with(map[string]string{"Sec-Fetch-Site": "cross-site"})}, 403, "cross_site_refused"},
			})
		})
		if r := e.do(req{method: "GET", path: "/dev/inbox?openid=o_x", unsigned: true, header: auth}); r.status != 403 || r.errCode(t) != "dev_loopback_only" {
			t.Errorf("another machine (token %v) = %d %s", token != "", r.status, r.body)
		}
		if token != "" {
			if status, code := (rawCall{method: "GET", path: "/dev/inbox?openid=o_x"}).do(t, addr); status != 401 || code != "operator_token_required" {
				t.Errorf("this machine without the token = %d %s", status, code)
			}
		}
		if status, _, body := (rawCall{method: "GET", path: "/dev/inbox?openid=o_x", header: auth}).send(t, addr); status != 200 ||
			!strings.Contains(body, `"openid":"o_x"`) || !strings.Contains(body, `"id":"p1"`) {
			t.Errorf("inbox = %d %s", status, body)
		}
		if status, code := (rawCall{method: "GET", path: "/dev/inbox", header: auth}).do(t, addr); status != 400 || code != "invalid_input" {
			t.Errorf("inbox without openid = %d %s", status, code)
		}
	}
}

// TestLocalOnly: the guard etaxd puts before the simulator's test endpoints
// and the dev pages refuses another machine, a foreign Host and a
// cross-site request, each with its code.
func TestLocalOnly(t *testing.T) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	peer := net.IPv4(127, 0, 0, 1)
	app.Use(func(c *fiber.Ctx) error { // what the connection says, set by the test
		c.Context().SetRemoteAddr(&net.TCPAddr{IP: peer, Port: 40000})
		return c.Next()
	})
	app.All("/sim/*", LocalOnly, func(c *fiber.Ctx) error { return c.SendString("ok") })
	do := func(host string, header map[string]string) (int, string) {
		t.Helper()
		r, _ := http.NewRequest("POST", "http://"+host+"/sim/v1/persons", strings.NewReader("{}"))
		r.Host = host
		for k, v := range header {
			r.Header.Set(k, v)
		}
		res, err := app.Test(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode == 200 {
			return 200, ""
		}
		return res.StatusCode, resp{status: res.StatusCode, body: b}.errCode(t)
	}
	if s, c := do("127.0.0.1:8080", nil); s != 200 {
		t.Errorf("loopback = %d %s", s, c)
	}
	if s, c := do("[::1]:8080", map[string]string{"Origin": "http://[::1]:8080"}); s != 200 {
		t.Errorf("loopback, same origin = %d %s", s, c)
	}
	if s, c := do("evil.example:8080", nil); s != 403 || c != "local_host_required" {
		t.Errorf("foreign Host = %d %s", s, c)
	}
	if s, c := do("127.0.0.1:8080", map[string]string{"Origin": "https://evil.example"}); s != 403 || c != "cross_site_refused" {
		t.Errorf("cross-site Origin = %d %s", s, c)
	}
	peer = net.IPv4(192, 168, 1, 20)
	if s, c := do("127.0.0.1:8080", nil); s != 403 || c != "dev_loopback_only" {
		t.Errorf("another machine = %d %s", s, c)
	}
}
