package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/config"
	"github.com/etaxd/etaxd/internal/sign"
)

const (
	testKeyID  = "erp-1"
	testSecret = "0123456789abcdef0123456789abcdef-test-secret"
)

// signedAPI is a stand-in for the client API: it checks each request's
// signature with sign.Valid, answers 202 with a JSON body when it holds,
// 401 otherwise, and records what it saw.
type signedAPI struct {
	secrets map[string]string // key id → secret
	mu      sync.Mutex
	seen    []seenRequest
}

type seenRequest struct {
	method, uri, body, idem string
	valid                   bool
}

func (a *signedAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	secret, known := a.secrets[r.Header.Get(sign.HeaderKey)]
	ts := r.Header.Get(sign.HeaderTimestamp)
	valid := known && sign.Fresh(ts, time.Now()) &&
		sign.Valid([]byte(secret), r.Header.Get(sign.HeaderSignature), r.Method, r.URL.RequestURI(), ts, r.Header.Get(sign.HeaderNonce), body)
	a.mu.Lock()
	a.seen = append(a.seen, seenRequest{r.Method, r.URL.RequestURI(), string(body), r.Header.Get(sign.HeaderIdem), valid})
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !valid {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"code":"unauthorized","message":"签名无效","message_en":"bad signature"}}`)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"state":"awaiting_user","request_id":"r1"}`)
}

func (a *signedAPI) last(t *testing.T) seenRequest {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.seen) == 0 {
		t.Fatal("the server saw no request")
	}
	return a.seen[len(a.seen)-1]
}

// demoDir writes a demo.json holding the test key into a new data dir.
func demoDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	df, err := newDemoFile()
	if err != nil {
		t.Fatal(err)
	}
	df.APIKeyID, df.APIKeySecret = testKeyID, testSecret
	if err := writeDemoFile(filepath.Join(dir, "demo.json"), df); err != nil {
		t.Fatal(err)
	}
	return dir
}

// parseHeaders reads "Name: value" lines.
func parseHeaders(t *testing.T, out string) map[string]string {
	t.Helper()
	h := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("not a header line: %q", line)
		}
		h[k] = v
	}
	return h
}

func TestSign(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name               string
		args               []string
		method, path, body string
	}{
		{"get with a query", []string{"GET", "/api/v1/accounts?tax_no=91110000000000019B"}, "GET", "/api/v1/accounts?tax_no=91110000000000019B", ""},
		{"post with a body", []string{"post", "/api/v1/sessions", `{"tax_no":"x","business":"issue","action":"login"}`},
			"POST", "/api/v1/sessions", `{"tax_no":"x","business":"issue","action":"login"}`},
		{"flags after the arguments", []string{"GET", "/api/v1/requests/r1?wait=30"}, "GET", "/api/v1/requests/r1?wait=30", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"sign", "--key", testKeyID, "--secret", testSecret}, tt.args...)
			if tt.name == "flags after the arguments" {
				args = append(append([]string{"sign"}, tt.args...), "--key", testKeyID, "--secret", testSecret)
			}
			out, _ := cli(t, 0, args...)
			h := parseHeaders(t, out)
			if len(h) != 4 || h[sign.HeaderKey] != testKeyID || !sign.Fresh(h[sign.HeaderTimestamp], time.Now()) {
				t.Fatalf("headers %v", h)
			}
			if !sign.Valid([]byte(testSecret), h[sign.HeaderSignature], tt.method, tt.path, h[sign.HeaderTimestamp], h[sign.HeaderNonce], []byte(tt.body)) {
				t.Errorf("sign.Valid refuses the signature of %v", tt.args)
			}
		})
	}

	t.Run("secret from the environment, demo key, idempotency key", func(t *testing.T) {
		t.Setenv(envAPISecret, testSecret)
		out, _ := cli(t, 0, "sign", "--key", testKeyID, "--idempotency-key", "idem-1", "POST", "/api/v1/sessions", "{}")
		if h := parseHeaders(t, out); h[sign.HeaderIdem] != "idem-1" ||
			!sign.Valid([]byte(testSecret), h[sign.HeaderSignature], "POST", "/api/v1/sessions", h[sign.HeaderTimestamp], h[sign.HeaderNonce], []byte("{}")) {
			t.Errorf("headers %v", h)
		}
		t.Setenv(envAPISecret, "")
		out, _ = cli(t, 0, "sign", "--demo", "--data", demoDir(t), "GET", "/api/v1/accounts")
		if h := parseHeaders(t, out); h[sign.HeaderKey] != testKeyID ||
			!sign.Valid([]byte(testSecret), h[sign.HeaderSignature], "GET", "/api/v1/accounts", h[sign.HeaderTimestamp], h[sign.HeaderNonce], nil) {
			t.Errorf("headers %v", h)
		}
	})

	t.Run("curl", func(t *testing.T) {
		body := `{"tax_no":"x","note":"it's"}`
		out, _ := cli(t, 0, "sign", "--curl", "--server", "http://127.0.0.1:9", "--key", testKeyID, "--secret", testSecret,
			"POST", "/api/v1/sessions", body)
		line := strings.TrimSpace(out)
		for _, want := range []string{
			"curl -sS -X POST ", "-H 'X-Etaxd-Key: " + testKeyID + "'", "-H 'X-Etaxd-Signature: ",
			`--data-binary '{"tax_no":"x","note":"it'\''s"}'`, " 'http://127.0.0.1:9/api/v1/sessions'",
		} {
			if !strings.Contains(line, want) {
				t.Errorf("curl line lacks %q:\n%s", want, line)
			}
		}
	})

	refusals := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no key", []string{"sign", "GET", "/api/v1/accounts"}, 2, "give --key and --secret"},
		{"key and demo", []string{"sign", "--demo", "--key", "k", "GET", "/x"}, 2, "drop --key and --secret"},
		{"no demo file", []string{"sign", "--demo", "--data", t.TempDir(), "GET", "/x"}, 1, "run etaxd serve --demo first"},
		{"bad method", []string{"sign", "--key", "k", "--secret", "s", "FETCH", "/x"}, 2, "METHOD must be"},
		{"relative path", []string{"sign", "--key", "k", "--secret", "s", "GET", "api/v1"}, 2, "PATH must start with /"},
		{"no path", []string{"sign", "--key", "k", "--secret", "s", "GET"}, 2, "want 2 to 3 arguments, got 1"},
		{"missing body file", []string{"sign", "--key", "k", "--secret", "s", "POST", "/x", "@/nonexistent.json"}, 1, "read the body"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, want %d and %q\nstdout: %s\nstderr: %s", code, tt.code, tt.stderr, stdout, stderr)
			}
		})
	}
}

func TestCall(t *testing.T) {
	clearEnv(t)
	api := &signedAPI{secrets: map[string]string{testKeyID: testSecret}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	dir := demoDir(t)

	body := `{"tax_no":"91110000000000019B","business":"issue","action":"login"}`
	out, _ := cli(t, 0, "call", "--server", srv.URL, "--demo", "--data", dir, "--idempotency-key", "idem-7", "POST", "/api/v1/sessions", body)
	if !strings.HasPrefix(out, "HTTP 202 Accepted\n{\n  \"state\": \"awaiting_user\",") {
		t.Errorf("call printed:\n%s", out)
	}
	if r := api.last(t); !r.valid || r.body != body || r.idem != "idem-7" || r.method != "POST" {
		t.Errorf("the server saw %+v", r)
	}

	file := filepath.Join(t.TempDir(), "body.json")
	if err := os.WriteFile(file, []byte(body+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cli(t, 0, "call", "POST", "/api/v1/sessions", "@"+file, "--server", srv.URL, "--key", testKeyID, "--secret", testSecret, "--raw")
	if r := api.last(t); !r.valid || r.body != body+"\n" {
		t.Errorf("the server saw %+v", r)
	}
	cli(t, 0, "call", "--server", srv.URL, "--key", testKeyID, "--secret", testSecret, "GET", "/api/v1/requests/r1?wait=5")
	if r := api.last(t); !r.valid || r.uri != "/api/v1/requests/r1?wait=5" {
		t.Errorf("the server saw %+v", r)
	}

	out, _ = cli(t, 1, "call", "--server", srv.URL, "--key", testKeyID, "--secret", "not-the-secret", "GET", "/api/v1/accounts")
	if !strings.HasPrefix(out, "HTTP 401 Unauthorized\n") || !strings.Contains(out, `"code": "unauthorized"`) {
		t.Errorf("a refused call printed:\n%s", out)
	}
	if _, stderr := cli(t, 1, "call", "--server", "http://127.0.0.1:1", "--key", "k", "--secret", "s", "GET", "/x"); !strings.Contains(stderr, "is etaxd running there?") {
		t.Errorf("stderr: %s", stderr)
	}
}

func TestBoundListen(t *testing.T) {
	addr := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 54321}
	tests := []struct{ configured, want string }{
		{"127.0.0.1:0", "127.0.0.1:54321"},
		{":0", ":54321"},
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"0.0.0.0:8080", "0.0.0.0:8080"},
	}
	for _, tt := range tests {
		if got := boundListen(tt.configured, addr); got != tt.want {
			t.Errorf("boundListen(%q) = %q, want %q", tt.configured, got, tt.want)
		}
	}
}

// shellWords splits a line as a POSIX shell would, for the subset
// printURLs writes: words separated by spaces, single-quoted strings and
// backslash escapes outside them.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\'':
			quoted = false
		case quoted:
			cur.WriteByte(c)
		case c == '\'':
			quoted, inWord = true, true
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
			inWord = true
		case c == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unterminated quote in %q", line)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// TestPrintURLs: serve names only the endpoints it mounts, and the signed
// example it prints works when pasted.
func TestPrintURLs(t *testing.T) {
	clearEnv(t)
	api := &signedAPI{secrets: map[string]string{testKeyID: testSecret}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	dir := demoDir(t)
	df, err := readDemoFile(filepath.Join(dir, "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	opts := config.Default()
	opts.DataDir = dir
	opts.Listen = strings.TrimPrefix(srv.URL, "http://")
	base := srv.URL

	routes := func(paths ...string) []fiber.Route {
		var rs []fiber.Route
		for _, p := range paths {
			m, path, _ := strings.Cut(p, " ")
			rs = append(rs, fiber.Route{Method: m, Path: path})
		}
		return rs
	}

	var b strings.Builder
	printURLs(&b, routes("GET /healthz", "GET /readyz", "GET /ops/status"), opts, nil, "etaxd")
	if out := b.String(); !regexp.MustCompile(`(?m)^  status\s+`+regexp.QuoteMeta(base)+`/ops/status\s+\(etaxd status --server '`+regexp.QuoteMeta(base)+`'\)$`).MatchString(out) ||
		strings.Contains(out, "api/v1") || strings.Contains(out, "metrics") || strings.Contains(out, "inbox") || strings.Contains(out, "demo") {
		t.Errorf("with only the ops endpoints:\n%s", out)
	}

	b.Reset()
	printURLs(&b, routes("GET /ops/status", "POST /api/v1/sessions", "GET /api/v1/accounts", "GET /metrics", "GET /dev/inbox"),
		opts, df, "etaxd")
	out := b.String()
	for _, want := range []string{
		"client API", base + "/api/v1\n", base + "/metrics\n", base + "/dev/inbox?openid=o_demo_openid\n",
		"demo API key", testKeyID, filepath.Join(dir, "demo.json"),
		"etaxd call --demo --server '" + base + "' --data '" + dir + "' POST /api/v1/sessions '{\"tax_no\":\"" + df.Enterprises[0].TaxNo +
			"\",\"business\":\"issue\",\"action\":\"login\"}'",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, testSecret) {
		t.Errorf("the demo secret was printed:\n%s", out)
	}

	// Paste the example: it makes a request the server accepts.
	i := strings.Index(out, "etaxd call ")
	words := shellWords(t, strings.TrimSpace(out[i:]))
	got, _ := cli(t, 0, words[1:]...)
	if r := api.last(t); !r.valid || r.uri != "/api/v1/sessions" || !strings.Contains(r.body, df.Enterprises[0].TaxNo) {
		t.Errorf("the example's request: %+v\n%s", r, got)
	}

	// With the defaults, the example needs no --server or --data.
	b.Reset()
	printURLs(&b, routes("POST /api/v1/sessions"), config.Default(), df, "go run ./cmd/etaxd")
	if !strings.Contains(b.String(), "    go run ./cmd/etaxd call --demo POST /api/v1/sessions '{") {
		t.Errorf("default example:\n%s", b.String())
	}
}
