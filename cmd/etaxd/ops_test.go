package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/http/opsapi"
	"github.com/etaxd/etaxd/persistence"
)

const testOperatorToken = "operator-token-for-tests-0123"

// opsStatus is what the stub /ops/status answers, shaped as etaxd's.
const opsStatus = `{"node":"n-test","version":"dev","go_version":"go1.26.0","started_at":"2026-11-27T01:00:00Z",
 "uptime_seconds":3723.4,"ready":true,"goroutines":42,
 "engine":{"activations":3,"active_accounts":2,"prompts":0},
 "store":{"commits":12,"avg_batch":1.5,"last_commit_latency_ms":0.25},
 "nats":{"connected":true,"pending":{"prompts":4}}}`

// startOpsServer serves the ops API of a real engine (a test stack on a
// temp data dir), with the import route, through an httptest server, behind a bearer-token guard as
// etaxd mounts it, with a stub /ops/status. It returns the server's URL.
func startOpsServer(t *testing.T) (string, *stack) {
	t.Helper()
	st := openTestStack(t, t.TempDir(), nil)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	ops := app.Group("/ops", func(c *fiber.Ctx) error {
		if c.Get(fiber.HeaderAuthorization) != "Bearer "+testOperatorToken {
			return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"error": fiber.Map{
				"code": "unauthorized", "message": "需要运维令牌", "message_en": "operator token required"}})
		}
		return c.Next()
	})
	ops.Get("/status", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.SendString(opsStatus)
	})
	opsapi.Register(ops, st.engine)
	opsapi.RegisterProvisioning(ops, st.engine)
	opsapi.RegisterImport(ops, st.engine, opsapi.WithLogger(slog.New(slog.DiscardHandler)))
	opsapi.RegisterDump(ops, func(ctx context.Context, w io.Writer) error {
		_, err := persistence.Dump(ctx, st.store, w, time.Now())
		return err
	}, opsapi.WithLogger(slog.New(slog.DiscardHandler)))
	srv := httptest.NewServer(adaptor.FiberApp(app))
	t.Cleanup(srv.Close)
	return srv.URL, st
}

// cli runs etaxd with args and checks the exit code; it returns stdout.
func cli(t *testing.T, wantCode int, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, args...)
	if code != wantCode {
		t.Fatalf("etaxd %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, wantCode, stdout, stderr)
	}
	return stdout, stderr
}

var (
	codeLine   = regexp.MustCompile(`activation code: (\S+)`)
	secretLine = regexp.MustCompile(`(?m)^secret: (\S+)$`)
)

// TestOpsCommands runs the tenant, apikey, audit and status commands
// against a real engine's ops API, the token taken from the environment
// as an operator would set it.
func TestOpsCommands(t *testing.T) {
	clearEnv(t)
	url, st := startOpsServer(t)
	t.Setenv("ETAXD_OPERATOR_TOKEN", testOperatorToken)
	ctx := context.Background()
	s := "--server=" + url

	out, _ := cli(t, 0, "tenant", "create", s, "--name", "某某集团", "--id", "acme")
	m := codeLine.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "tenant acme (某某集团) created") {
		t.Fatalf("tenant create printed:\n%s", out)
	}
	if _, err := st.engine.LinkTenant(ctx, "o_first", m[1]); err != nil {
		t.Errorf("the printed activation code does not link: %v", err)
	}
	out, _ = cli(t, 0, "tenant", "create", s, "--name", "Other", "--json")
	var made opsapi.Tenant
	if err := json.Unmarshal([]byte(out), &made); err != nil || made.ID == "" || made.ActivationCode == "" {
		t.Errorf("tenant create --json printed %s (%v)", out, err)
	}

	out, _ = cli(t, 0, "tenant", "list", s)
	if !regexp.MustCompile(`(?m)^acme\s+某某集团$`).MatchString(out) || !strings.Contains(out, made.ID) {
		t.Errorf("tenant list printed:\n%s", out)
	}

	out, _ = cli(t, 0, "tenant", "rotate-code", s, "--tenant", "acme")
	m2 := regexp.MustCompile(`new activation code: (\S+)`).FindStringSubmatch(out)
	if m2 == nil || m2[1] == m[1] {
		t.Fatalf("rotate-code printed:\n%s", out)
	}
	if _, err := st.engine.LinkTenant(ctx, "o_second", m2[1]); err != nil {
		t.Errorf("the rotated code does not link: %v", err)
	}

	out, _ = cli(t, 0, "apikey", "create", s, "--tenant", "acme", "--id", "erp-1")
	sm := secretLine.FindStringSubmatch(out)
	if sm == nil {
		t.Fatalf("apikey create printed:\n%s", out)
	}
	if tenant, secret, err := st.engine.LookupAPIKey(ctx, "erp-1"); err != nil || tenant != "acme" || string(secret) != sm[1] {
		t.Errorf("the printed secret is not the key's: %q %v", tenant, err)
	}
	out, _ = cli(t, 0, "apikey", "list", s, "--tenant", "acme")
	if !regexp.MustCompile(`(?m)^erp-1\s+\S+\s+-$`).MatchString(out) || strings.Contains(out, sm[1]) {
		t.Errorf("apikey list printed:\n%s", out)
	}
	out, _ = cli(t, 0, "apikey", "revoke", s, "erp-1")
	if !strings.Contains(out, "API key erp-1 revoked") {
		t.Errorf("apikey revoke printed:\n%s", out)
	}
	if _, _, err := st.engine.LookupAPIKey(ctx, "erp-1"); !errors.Is(err, domain.ErrAPIKeyNotFound) {
		t.Errorf("the key still works: %v", err)
	}
	out, _ = cli(t, 0, "apikey", "list", s, "--tenant", "acme")
	if regexp.MustCompile(`(?m)^erp-1\s+\S+\s+-$`).MatchString(out) {
		t.Errorf("apikey list does not show the revocation:\n%s", out)
	}

	file := filepath.Join(t.TempDir(), "audit.csv")
	out, _ = cli(t, 0, "audit", "export", s, "--tenant", "acme", "-o", file)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) < 3 || rows[0][0] != "seq" {
		t.Fatalf("audit.csv: %v\n%s", err, b)
	}
	var actions []string
	for _, r := range rows[1:] {
		actions = append(actions, r[4])
	}
	if a := strings.Join(actions, ","); !strings.Contains(a, "apikey.create") || !strings.Contains(a, "apikey.revoke") {
		t.Errorf("the export lacks the key's events: %v", actions)
	}
	if !strings.Contains(out, "wrote "+strconv.Itoa(len(rows)-1)+" audit events of tenant acme to "+file) {
		t.Errorf("audit export printed %q", out)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("audit.csv mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	out, _ = cli(t, 0, "audit", "export", s, "--tenant", "acme", "--format", "json", "--to", "2999-01-01")
	var exp struct{ Events []json.RawMessage }
	if err := json.Unmarshal([]byte(out), &exp); err != nil || len(exp.Events) != len(rows)-1 {
		t.Errorf("audit export --format json printed %d events (%v), want %d", len(exp.Events), err, len(rows)-1)
	}

	out, _ = cli(t, 0, "status", s)
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^server\s+` + regexp.QuoteMeta(url) + `$`),
		regexp.MustCompile(`(?m)^node\s+n-test$`),
		regexp.MustCompile(`(?m)^ready\s+yes$`),
		regexp.MustCompile(`(?m)^uptime_seconds\s+1h2m3s$`),
		regexp.MustCompile(`(?m)^engine\n(  \w+\s+\d+\n)+`),
		regexp.MustCompile(`(?m)^  active_accounts\s+2$`),
		regexp.MustCompile(`(?m)^  avg_batch\s+1.5$`),
		regexp.MustCompile(`(?m)^    prompts\s+4$`), // a section etaxd adds later shows up too
	} {
		if !want.MatchString(out) {
			t.Errorf("status lacks %s:\n%s", want, out)
		}
	}
	if strings.Index(out, "node") > strings.Index(out, "goroutines") {
		t.Errorf("status is not in its order:\n%s", out)
	}
	out, _ = cli(t, 0, "status", s, "--json")
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil || raw["node"] != "n-test" {
		t.Errorf("status --json printed %s (%v)", out, err)
	}
}

// TestEnterpriseCommands adds enterprises to a tenant with "etaxd
// enterprise add" and lists them with "enterprise list", against a real
// engine's ops API; a bad tax number and a missing flag are refused.
func TestEnterpriseCommands(t *testing.T) {
	clearEnv(t)
	url, st := startOpsServer(t)
	t.Setenv("ETAXD_OPERATOR_TOKEN", testOperatorToken)
	s := "--server=" + url
	cli(t, 0, "tenant", "create", s, "--name", "某某集团", "--id", "acme")

	out, _ := cli(t, 0, "enterprise", "add", s, "--tenant", "acme", "--tax-no", "91110000000000019B", "--name", "北京某某科技有限公司")
	if !strings.Contains(out, "enterprise 91110000000000019B (北京某某科技有限公司, region 11) added to tenant acme") {
		t.Errorf("enterprise add printed:\n%s", out)
	}
	out, _ = cli(t, 0, "enterprise", "add", s, "--tenant", "acme", "--tax-no", "91440000000000027N", "--name", "广东某某", "--json")
	var e struct {
		TaxNo  string `json:"tax_no"`
		Region string `json:"region"`
	}
	if err := json.Unmarshal([]byte(out), &e); err != nil || e.TaxNo != "91440000000000027N" || e.Region != "44" {
		t.Errorf("enterprise add --json printed %s (%v)", out, err)
	}
	es, err := st.engine.Enterprises(context.Background(), "acme", "")
	if err != nil || len(es) != 2 {
		t.Fatalf("the engine has %d enterprises (%v), want 2", len(es), err)
	}

	out, _ = cli(t, 0, "enterprise", "list", s, "--tenant", "acme")
	for _, want := range []string{`(?m)^TAX_NO\s+REGION\s+ACCOUNTS\s+ADMINS\s+NAME$`,
		`(?m)^91110000000000019B\s+11\s+0\s+0\s+北京某某科技有限公司$`, `(?m)^91440000000000027N\s+44\s+0\s+0\s+广东某某$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("enterprise list lacks %s:\n%s", want, out)
		}
	}

	tok := "--token=" + testOperatorToken
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"enterprise", "add", s, tok, "--tenant", "acme", "--tax-no", "91110000000000018B", "--name", "x"}, 1, "(HTTP 400)"},
		{[]string{"enterprise", "add", s, tok, "--tenant", "nobody", "--tax-no", "91110000000000019B", "--name", "x"}, 1, "tenant_not_found (HTTP 404)"},
		{[]string{"enterprise", "add", s, tok, "--tenant", "acme", "--name", "x"}, 2, "--tax-no is required"},
		{[]string{"enterprise", "add", s, tok, "--tax-no", "91110000000000019B", "--name", "x"}, 2, "--tenant is required"},
		{[]string{"enterprise", "list", s, tok}, 2, "--tenant is required"},
		{[]string{"enterprise"}, 2, "Usage: etaxd enterprise COMMAND"},
	} {
		if code, stdout, stderr := runCLI(t, tt.args...); code != tt.code || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("etaxd %s: exit %d, want %d; stderr lacks %q?\nstdout: %s\nstderr: %s",
				strings.Join(tt.args, " "), code, tt.code, tt.stderr, stdout, stderr)
		}
	}
}

// TestOpsCommandErrors: refusals of the server exit 1 with its error code,
// problems of the command line exit 2, and nothing is sent without the
// token.
func TestOpsCommandErrors(t *testing.T) {
	clearEnv(t)
	url, _ := startOpsServer(t)
	s, tok := "--server="+url, "--token="+testOperatorToken
	cli(t, 0, "tenant", "create", s, tok, "--name", "Acme", "--id", "acme")

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no token", []string{"tenant", "list", s}, 1, "unauthorized (HTTP 401)"},
		{"wrong token", []string{"tenant", "list", s, "--token", "wrong-token-0123456789"}, 1, "operator token required"},
		{"tenant exists", []string{"tenant", "create", s, tok, "--name", "x", "--id", "acme"}, 1, "tenant_exists (HTTP 409)"},
		{"bad tenant id", []string{"tenant", "create", s, tok, "--name", "x", "--id", "A B"}, 1, "invalid_input (HTTP 400)"},
		{"unknown tenant", []string{"apikey", "create", s, tok, "--tenant", "nobody"}, 1, "tenant_not_found (HTTP 404)"},
		{"unknown key", []string{"apikey", "revoke", s, tok, "k-none"}, 1, "api_key_not_found"},
		{"bad audit time", []string{"audit", "export", s, tok, "--tenant", "acme", "--from", "yesterday"}, 1, "invalid_input"},
		{"server down", []string{"status", "--server", "http://127.0.0.1:1", tok}, 1, "is etaxd running there?"},
		{"not found", []string{"status", s + "/nowhere", tok}, 1, "HTTP 404"},

		{"no name", []string{"tenant", "create", s, tok}, 2, "--name is required"},
		{"no tenant", []string{"apikey", "create", s, tok}, 2, "--tenant is required"},
		{"no tenant to rotate", []string{"tenant", "rotate-code", s, tok}, 2, "--tenant is required"},
		{"no key to revoke", []string{"apikey", "revoke", s, tok}, 2, "want 1 argument, got 0"},
		{"two keys to revoke", []string{"apikey", "revoke", s, tok, "a", "b"}, 2, "want 1 argument, got 2"},
		{"stray argument", []string{"tenant", "list", s, tok, "extra"}, 2, "want no arguments, got 1"},
		{"bad format", []string{"audit", "export", s, tok, "--tenant", "acme", "--format", "xml"}, 2, "--format must be csv or json"},
		{"bad server", []string{"status", "--server", "ftp://x"}, 2, `"ftp://x" is not an http(s) URL`},
		{"unknown flag", []string{"status", "--frob"}, 2, "-frob"},
		{"unknown verb", []string{"tenant", "frob"}, 2, `unknown command "frob"`},
		{"no verb", []string{"apikey"}, 2, "Usage: etaxd apikey COMMAND"},
		{"no audit verb", []string{"audit"}, 2, "Usage: etaxd audit export"},
		{"missing config", []string{"status", "--config", "/nonexistent/etaxd.json"}, 1, "/nonexistent/etaxd.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, want %d; stderr lacks %q?\nstdout: %s\nstderr: %s", code, tt.code, tt.stderr, stdout, stderr)
			}
			if strings.Contains(stderr, testOperatorToken) {
				t.Errorf("the token is in the output:\n%s", stderr)
			}
		})
	}
}

// TestClientFindsTheServerFromTheConfiguration: without --server and
// --token, the client takes serve's listen address and operator token from
// the config file and the environment.
func TestClientFindsTheServerFromTheConfiguration(t *testing.T) {
	clearEnv(t)
	url, _ := startOpsServer(t)
	addr := strings.TrimPrefix(url, "http://")
	cfg := filepath.Join(t.TempDir(), "etaxd.json")
	if err := os.WriteFile(cfg, []byte(`{"listen":"`+addr+`","operator_token":"`+testOperatorToken+`"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cli(t, 0, "tenant", "list", "--config", cfg)
	t.Setenv("ETAXD_CONFIG", cfg)
	cli(t, 0, "status")

	t.Setenv("ETAXD_CONFIG", "")
	t.Setenv("ETAXD_LISTEN", addr)
	t.Setenv("ETAXD_OPERATOR_TOKEN", testOperatorToken)
	cli(t, 0, "tenant", "list")
	// A flag beats the environment.
	if _, stderr := cli(t, 1, "tenant", "list", "--token", "another-token-0123456789"); !strings.Contains(stderr, "unauthorized") {
		t.Errorf("--token did not win over ETAXD_OPERATOR_TOKEN: %s", stderr)
	}
}

func TestSubcommandHelp(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		args   []string
		stdout string // noun usage goes to stdout,
		stderr string // a command's flags to stderr, as the flag package does
	}{
		{[]string{"tenant", "-h"}, "create --name NAME", ""},
		{[]string{"apikey", "help"}, "revoke KEY", ""},
		{[]string{"audit", "--help"}, "audit export --tenant", ""},
		{[]string{"keys", "-h"}, "keys COMMAND", ""},
		{[]string{"status", "-h"}, "", "-server URL"},
		{[]string{"tenant", "create", "-h"}, "", "-activation-code CODE"},
		{[]string{"tenant", "list", "-h"}, "", "-json"},
		{[]string{"tenant", "rotate-code", "-h"}, "", "-tenant ID"},
		{[]string{"apikey", "create", "-h"}, "", "-tenant ID"},
		{[]string{"apikey", "list", "-h"}, "", "-tenant ID"},
		{[]string{"apikey", "revoke", "-h"}, "", "apikey revoke [flags] KEY"},
		{[]string{"audit", "export", "-h"}, "", "-o FILE"},
		{[]string{"keys", "rotate", "-h"}, "", "OFFLINE: stop etaxd first"},
		{[]string{"call", "-h"}, "", "-demo"},
		{[]string{"sign", "-h"}, "", "-curl"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != 0 || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
		})
	}
}
