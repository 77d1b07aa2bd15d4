package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/config"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/wechat"
)

// testMasterKeys is a production master key given through the environment.
const testMasterKeys = "v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

// TestServeRefusesDevOnTheNetwork: dev mode serves a sign-in as anyone, so
// etaxd will not start it on an address other machines reach, and says why
// and what to run instead. Nothing is created in the data directory.
func TestServeRefusesDevOnTheNetwork(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name   string
		args   []string
		devEnv bool // dev mode from ETAXD_DEV rather than --dev
		key    string
	}{
		{"every interface", []string{"--listen", "0.0.0.0:0"}, false, "listen"},
		{"no host", []string{"--listen", ":0"}, false, "listen"},
		{"NATS on every interface", []string{"--listen", "127.0.0.1:0", "--nats-listen", "0.0.0.0:0", "--nats-token", "nats-token-0123456789"}, false, "nats.listen"},
		{"IPv6 every interface, ETAXD_DEV=true", []string{"--listen", "[::]:0"}, true, "listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			args := append([]string{"serve", "--data", dir}, tt.args...)
			if tt.devEnv {
				t.Setenv("ETAXD_DEV", "true")
			} else {
				args = append(args, "--dev")
			}
			code, stdout, stderr := runCLI(t, args...)
			if code != 1 || stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
			}
			for _, want := range []string{tt.key + ": ", "dev mode listens on loopback addresses only", "sign in as any WeChat user",
				"--dev=false", "docs/SECURITY.md"} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the refused start made the data directory (%v)", err)
			}
		})
	}
}

// TestServeProductionNeedsATaxBureau: outside dev mode an empty
// taxbureau.url is refused (ERPs would get the simulator's fake sessions).
func TestServeProductionNeedsATaxBureau(t *testing.T) {
	clearEnv(t)
	t.Setenv("ETAXD_MASTER_KEYS", testMasterKeys)
	code, _, stderr := runCLI(t, "serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0")
	if code != 1 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, want := range []string{"taxbureau.url: is required outside dev mode", "sim: to run the built-in simulator on purpose", "--dev"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
}

// serveInProcess runs serve with args in this process until the test ends
// and returns its URL and its stderr.
func serveInProcess(t *testing.T, args ...string) (string, *lockedWriter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr lockedWriter
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"serve"}, args...), &stdout, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exit code %d:\n%s", code, stderr.String())
			}
		case <-time.After(time.Minute):
			t.Error("serve did not stop")
		}
	})
	var base string
	testutil.Eventually(t, 60*time.Second, func() error {
		select {
		case code := <-done:
			done <- code
			t.Fatalf("serve exited %d:\n%s", code, stderr.String())
		default:
		}
		m := servingLine.FindStringSubmatch(stdout.String())
		if m == nil {
			return fmt.Errorf("no serving line yet: %q", stdout.String())
		}
		base = m[1]
		return nil
	})
	return base, &stderr
}

func getStatus(t *testing.T, u, token string) int {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	c.CloseIdleConnections()
	return res.StatusCode
}

// TestProductionOperatorToken: production without a configured token makes
// one in <data>/operator.token (0600, never logged), wants it on /ops and
// /metrics from anywhere, loopback included, reuses it on the next start,
// and the operator commands find it in the data directory. sim: is accepted
// with a WARN, and so is the lack of WeChat.
func TestProductionOperatorToken(t *testing.T) {
	clearEnv(t)
	t.Setenv("ETAXD_MASTER_KEYS", testMasterKeys)
	dir := t.TempDir()
	path := filepath.Join(dir, "operator.token")
	args := []string{"--data", dir, "--listen", "127.0.0.1:0", "--taxbureau-url", "sim:"}

	var token string
	t.Run("first start", func(t *testing.T) {
		base, logs := serveInProcess(t, args...)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("operator.token mode %04o, want 0600", fi.Mode().Perm())
		}
		b, _ := os.ReadFile(path)
		token = strings.TrimSpace(string(b))
		if len(token) < 32 {
			t.Fatalf("operator.token holds %d characters", len(token))
		}
		for _, u := range []string{"/ops/status", "/metrics", "/ops/v1/tenants"} {
			if s := getStatus(t, base+u, ""); s != 401 {
				t.Errorf("GET %s without the token from loopback = %d, want 401", u, s)
			}
			if s := getStatus(t, base+u, token); s != 200 {
				t.Errorf("GET %s with the token = %d", u, s)
			}
		}
		for _, u := range []string{"/h5/dev/signin", "/dev/inbox?openid=o_x", "/sim/v1/sms?phone=13800000000"} {
			if s := getStatus(t, base+u, token); s != 404 {
				t.Errorf("GET %s in production = %d, want 404", u, s)
			}
		}
		code, stdout, stderr := runCLI(t, "status", "--server", base, "--data", dir)
		if code != 0 || !strings.Contains(stdout, "ready") {
			t.Errorf("etaxd status --data: exit %d\n%s%s", code, stdout, stderr)
		}
		t.Setenv("ETAXD_DATA", dir)
		if code, _, stderr := runCLI(t, "status", "--server", base); code != 0 {
			t.Errorf("etaxd status with ETAXD_DATA: exit %d\n%s", code, stderr)
		}
		t.Setenv("ETAXD_DATA", "")
		if code, _, stderr := runCLI(t, "status", "--server", base, "--data", t.TempDir()); code != 1 || !strings.Contains(stderr, "operator_token_required") {
			t.Errorf("etaxd status without the token: exit %d\n%s", code, stderr)
		}
		l := logs.String()
		for _, want := range []string{"created an operator token file", path, "built-in simulator (taxbureau.url=sim:)", "FAKE sessions",
			"no WeChat official account", "login links handed to the ERP"} {
			if !strings.Contains(l, want) {
				t.Errorf("log lacks %q:\n%s", want, l)
			}
		}
		if !strings.Contains(l, `level=WARN msg="tax bureau: the built-in simulator`) {
			t.Errorf("sim: is not a WARN:\n%s", l)
		}
		if strings.Contains(l, token) {
			t.Error("the log holds the operator token")
		}
		if strings.Contains(l, "DEV MODE") {
			t.Errorf("production logged dev mode:\n%s", l)
		}
	})
	t.Run("second start", func(t *testing.T) {
		base, logs := serveInProcess(t, args...)
		b, _ := os.ReadFile(path)
		if strings.TrimSpace(string(b)) != token {
			t.Error("the second start replaced the token")
		}
		if s := getStatus(t, base+"/ops/status", token); s != 200 {
			t.Errorf("GET /ops/status with the first token = %d", s)
		}
		if l := logs.String(); !strings.Contains(l, "operator token read from its file") || strings.Contains(l, token) {
			t.Errorf("log of the second start:\n%s", l)
		}
	})
	t.Run("configured token", func(t *testing.T) {
		t.Setenv("ETAXD_OPERATOR_TOKEN", "configured-token-0123456789")
		base, _ := serveInProcess(t, args...)
		if s := getStatus(t, base+"/ops/status", token); s != 401 {
			t.Errorf("the file's token while another is configured = %d", s)
		}
		if s := getStatus(t, base+"/ops/status", "configured-token-0123456789"); s != 200 {
			t.Errorf("the configured token = %d", s)
		}
	})
}

// TestOperatorTokenFile: the file is created 0600 and reused; one others
// may read, or holding no token, stops the start without quoting it.
func TestOperatorTokenFile(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "operator.token")
	tok, err := operatorToken(path, log)
	if err != nil {
		t.Fatal(err)
	}
	again, err := operatorToken(path, log)
	if err != nil || again != tok {
		t.Fatalf("second read = %q, %v; want the first token", again, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o", fi.Mode().Perm())
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := operatorToken(path, log); err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), tok) {
		t.Errorf("a world-readable file = %v", err)
	}
	bad := filepath.Join(dir, "bad.token")
	if err := os.WriteFile(bad, []byte("short secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := operatorToken(bad, log); err == nil || strings.Contains(err.Error(), "short secret") {
		t.Errorf("a file without a token = %v", err)
	}
	other, err := operatorToken(filepath.Join(dir, "other.token"), log)
	if err != nil || other == tok {
		t.Errorf("a second file got %q, %v: tokens must be fresh", other, err)
	}
}

// devApp serves what serve mounts on a dev-mode stack of dir, through a
// real 127.0.0.1 listener; it returns the app (for app.Test, whose peer is
// 0.0.0.0: another machine) and the listener's address.
func devApp(t *testing.T, tune func(*stack)) (*fiber.App, string) {
	t.Helper()
	st := openTestStack(t, t.TempDir(), nil)
	if tune != nil {
		tune(st)
	}
	app, err := newApp(st, st.httpDeps(context.Background(), func() bool { return true }, time.Now()), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.Shutdown() })
	return app, ln.Addr().String()
}

// devCall is one request to the dev endpoints.
type devCall struct {
	method, path, body, contentType string
}

var devCalls = []devCall{
	{"GET", "/h5/dev/signin", "", ""},
	{"POST", "/h5/dev/signin", "openid=o_demo_openid", "application/x-www-form-urlencoded"},
	{"GET", "/h5/dev/inbox", "", ""},
	{"GET", "/dev/inbox?openid=o_demo_openid", "", ""},
	{"GET", "/sim/v1/sms?phone=13900000001", "", ""},
	{"POST", "/sim/v1/persons", `{}`, "application/json"},
}

// TestDevEndpointsAreLocal: in dev mode the dev sign-in, both dev inboxes
// and the simulator's test endpoints answer this machine's programs and
// same-origin pages only: not another machine, not a Host of another name
// (DNS rebinding), not a cross-site request.
func TestDevEndpointsAreLocal(t *testing.T) {
	app, addr := devApp(t, nil)
	send := func(c devCall, host string, header map[string]string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(c.method, "http://"+addr+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		if host != "" {
			req.Host = host
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		cl := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		cl.CloseIdleConnections()
		return res.StatusCode, string(b), res.Header
	}
	for _, c := range devCalls {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			status, body, _ := send(c, "", nil)
			if status == 403 || status == 404 || status >= 500 {
				t.Fatalf("from this machine = %d %.300s", status, body)
			}
			if status, body, h := send(c, "", map[string]string{"Origin": "http://" + addr, "Sec-Fetch-Site": "same-origin"}); status == 403 {
				t.Errorf("same-origin page = %d %.300s (cookie %q)", status, body, h.Get("Set-Cookie"))
			}
			for name, refusal := range map[string]struct {
				host   string
				header map[string]string
				text   string
			}{
				"Host of another name": {host: "rebind.evil.example", text: "localhost"},
				"cross-site Origin":    {header: map[string]string{"Origin": "http://evil.example"}, text: "跨站"},
				"cross-site fetch":     {header: map[string]string{"Sec-Fetch-Site": "cross-site"}, text: "跨站"},
			} {
				status, body, h := send(c, refusal.host, refusal.header)
				if status != 403 || !strings.Contains(body, refusal.text) || h.Get("Set-Cookie") != "" || strings.Contains(body, "o_demo_openid") {
					t.Errorf("%s = %d (cookie %q) %.300s", name, status, h.Get("Set-Cookie"), body)
				}
			}
			req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
			req.Host = "127.0.0.1"
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			res, err := app.Test(req, 10000)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			if res.StatusCode != 403 || !strings.Contains(string(b), "仅允许本机访问") || res.Header.Get("Set-Cookie") != "" {
				t.Errorf("another machine = %d %.300s", res.StatusCode, b)
			}
		})
	}
	// The ops surface without a token: the same, plus JSON writes only.
	if status, body, _ := send(devCall{"POST", "/ops/v1/tenants", "id=x&name=y", "application/x-www-form-urlencoded"}, "", nil); status != 415 {
		t.Errorf("a form POST to /ops = %d %s", status, body)
	}
	if status, body, _ := send(devCall{"POST", "/ops/v1/tenants", `{"id":"x","name":"y"}`, "text/plain"}, "", nil); status != 415 {
		t.Errorf("a text/plain POST to /ops = %d %s", status, body)
	}
	if status, body, _ := send(devCall{"POST", "/ops/v1/tenants", `{"id":"acme","name":"Acme"}`, "application/json"}, "", nil); status != 201 {
		t.Errorf("a JSON POST to /ops = %d %s", status, body)
	}
}

// TestNoDevSignInWithWeChat: with an official account configured the dev
// sign-in is not mounted, in dev mode too: WeChat alone signs people in.
func TestNoDevSignInWithWeChat(t *testing.T) {
	_, addr := devApp(t, func(st *stack) {
		st.opts.WeChat = config.WeChatOptions{AppID: "wx0123456789abcdef", AppSecret: "0123456789abcdef0123456789abcdef",
			Token: "wxtoken123", TemplateID: "tmpl-login"}
		st.opts.PublicURL = "https://etaxd.example.com"
		wc, err := wechat.New(st.opts.WeChatConfig(), wechat.Options{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		st.wechat = wc
	})
	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, "http://"+addr+"/h5/dev/signin", strings.NewReader(url.Values{"openid": {"o_admin"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		cl := &http.Client{Timeout: 10 * time.Second}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		cl.CloseIdleConnections()
		if res.StatusCode != 404 || res.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s /h5/dev/signin with WeChat = %d, cookie %q", method, res.StatusCode, res.Header.Get("Set-Cookie"))
		}
	}
}

// TestKeysInit: keys init writes a fresh key file (0600) that serve loads,
// and never overwrites one.
func TestKeysInit(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "master.keys")
	out, _ := cli(t, 0, "keys", "init", "--data", dir)
	if !strings.Contains(out, "created master key file "+path) {
		t.Errorf("stdout %q", out)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	k, err := persistence.LoadKeyring(persistence.KeyringOptions{File: path, Logger: slog.New(slog.DiscardHandler)})
	if err != nil || k.CurrentVersion() != 1 {
		t.Fatalf("load the new key file: %v, %v", k, err)
	}
	before, _ := os.ReadFile(path)
	_, stderr := cli(t, 1, "keys", "init", "--data", dir)
	if !strings.Contains(stderr, "exists: nothing was changed") {
		t.Errorf("second init: %s", stderr)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the second init changed the key file")
	}
	other := filepath.Join(t.TempDir(), "etc", "etaxd.keys")
	if err := os.MkdirAll(filepath.Dir(other), 0o700); err != nil {
		t.Fatal(err)
	}
	if out, _ := cli(t, 0, "keys", "init", "--key-file", other); !strings.Contains(out, other) {
		t.Errorf("--key-file: %q", out)
	}
	if b, _ := os.ReadFile(other); string(b) == string(before) {
		t.Error("two key files hold the same key")
	}
}
