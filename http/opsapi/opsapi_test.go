package opsapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"go.uber.org/goleak"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/errbody"
	"github.com/etaxd/etaxd/internal/teststack"
	"github.com/etaxd/etaxd/internal/teststack/base"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/persistence"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LibraryGoroutines()...)
}

// startEngine starts a real engine (teststack, on the wall clock), stopped
// at the end of the test.
func startEngine(t testing.TB) *actors.Engine {
	t.Helper()
	return startStack(t).Engine
}

// startStack is startEngine that also returns the simulator behind the
// engine and the engine's logs (debug level, in Logs).
func startStack(t testing.TB) *teststack.Stack {
	t.Helper()
	return teststack.New(t, teststack.Options{Options: base.Options{Clock: clock.Real{}}})
}

// syncBuffer collects log output written from many goroutines.
type syncBuffer = testutil.SyncBuffer

// newApp mounts the ops API under /ops as etaxd does, with request ids.
func newApp(e Engine, logs io.Writer) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(requestid.New())
	Register(app.Group("/ops"), e, WithLogger(slog.New(slog.NewTextHandler(logs, nil))),
		WithClock(func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, domain.ChinaTime) }))
	return app
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
}

// errorCode returns the code of an error body, or fails the test.
func (r response) errorCode(t *testing.T) string {
	t.Helper()
	var b ErrorBody
	r.json(t, &b)
	if b.Error.Code == "" || b.Error.Message == "" || b.Error.MessageEN == "" {
		t.Fatalf("error body %s lacks code or messages", r.body)
	}
	return b.Error.Code
}

func do(t testing.TB, app *fiber.App, method, path, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return send(t, app, req)
}

// send runs req through app and reads the whole answer.
func send(t testing.TB, app *fiber.App, req *http.Request) response {
	t.Helper()
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func TestTenants(t *testing.T) {
	app := newApp(startEngine(t), io.Discard)

	r := do(t, app, "GET", "/ops/v1/tenants", "")
	if r.status != 200 || string(r.body) != `{"tenants":[]}` {
		t.Fatalf("empty list: %d %s", r.status, r.body)
	}

	var made Tenant
	r = do(t, app, "POST", "/ops/v1/tenants", `{"name":"某某集团"}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	r.json(t, &made)
	if made.ID == "" || made.Name != "某某集团" || len(made.ActivationCode) < 6 {
		t.Fatalf("created %+v", made)
	}
	var acme Tenant
	r = do(t, app, "POST", "/ops/v1/tenants", `{"id":"acme","name":"Acme","activation_code":"ACME-2026"}`)
	if r.status != 201 {
		t.Fatalf("create acme: %d %s", r.status, r.body)
	}
	if r.json(t, &acme); acme != (Tenant{ID: "acme", Name: "Acme", ActivationCode: "ACME-2026"}) {
		t.Fatalf("created %+v", acme)
	}

	errs := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"id in use", "POST", "/ops/v1/tenants", `{"id":"acme","name":"Again"}`, 409, "tenant_exists"},
		{"activation code of another tenant", "POST", "/ops/v1/tenants", `{"id":"other","name":"Other","activation_code":"ACME-2026"}`, 409, "activation_code_taken"},
		{"no name", "POST", "/ops/v1/tenants", `{"id":"x1"}`, 400, "invalid_input"},
		{"bad id", "POST", "/ops/v1/tenants", `{"id":"Not Valid","name":"x"}`, 400, "invalid_input"},
		{"short code", "POST", "/ops/v1/tenants", `{"name":"x","activation_code":"12"}`, 400, "invalid_input"},
		{"no body", "POST", "/ops/v1/tenants", ``, 400, "invalid_input"},
		{"not json", "POST", "/ops/v1/tenants", `name=x`, 400, "invalid_input"},
		{"unknown field", "POST", "/ops/v1/tenants", `{"name":"x","nmae":"y"}`, 400, "invalid_input"},
		{"two objects", "POST", "/ops/v1/tenants", `{"name":"x"}{"name":"y"}`, 400, "invalid_input"},
		{"wrong type", "POST", "/ops/v1/tenants", `{"name":7}`, 400, "invalid_input"},
		{"rotate unknown", "POST", "/ops/v1/tenants/nobody/rotate-code", ``, 404, "tenant_not_found"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, app, tt.method, tt.path, tt.body)
			if r.status != tt.status || r.errorCode(t) != tt.code {
				t.Errorf("%d %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
		})
	}

	var list struct{ Tenants []Tenant }
	r = do(t, app, "GET", "/ops/v1/tenants", "")
	r.json(t, &list)
	if r.status != 200 || len(list.Tenants) != 2 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	for _, tn := range list.Tenants {
		if tn.ActivationCode != "" || bytes.Contains(r.body, []byte("activation_code")) {
			t.Errorf("the listing shows an activation code: %s", r.body)
		}
	}

	var rotated Tenant
	r = do(t, app, "POST", "/ops/v1/tenants/acme/rotate-code", "")
	if r.status != 200 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	if r.json(t, &rotated); rotated.ID != "acme" || rotated.ActivationCode == "" || rotated.ActivationCode == acme.ActivationCode {
		t.Errorf("rotated %+v (was %q)", rotated, acme.ActivationCode)
	}
}

func TestAPIKeys(t *testing.T) {
	eng := startEngine(t)
	app := newApp(eng, io.Discard)
	if r := do(t, app, "POST", "/ops/v1/tenants", `{"id":"acme","name":"Acme"}`); r.status != 201 {
		t.Fatalf("create tenant: %d %s", r.status, r.body)
	}

	var k1, k2 APIKey
	r := do(t, app, "POST", "/ops/v1/tenants/acme/apikeys", "")
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r.json(t, &k1); k1.ID == "" || k1.Tenant != "acme" || len(k1.Secret) < 32 || k1.CreatedAt.IsZero() {
		t.Fatalf("created %+v", k1)
	}
	r = do(t, app, "POST", "/ops/v1/tenants/acme/apikeys", `{"id":"erp-1"}`)
	if r.status != 201 {
		t.Fatalf("create erp-1: %d %s", r.status, r.body)
	}
	if r.json(t, &k2); k2.ID != "erp-1" || k2.Secret == "" || k2.Secret == k1.Secret {
		t.Fatalf("created %+v", k2)
	}
	tenant, secret, err := eng.LookupAPIKey(context.Background(), k2.ID)
	if err != nil || tenant != "acme" || string(secret) != k2.Secret {
		t.Fatalf("the engine does not know the key: %q %v", tenant, err)
	}

	errs := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"id in use", "POST", "/ops/v1/tenants/acme/apikeys", `{"id":"erp-1"}`, 400, "invalid_input"},
		{"secret not accepted", "POST", "/ops/v1/tenants/acme/apikeys", `{"secret":"0123456789abcdef0123456789abcdef"}`, 400, "invalid_input"},
		{"unknown tenant", "POST", "/ops/v1/tenants/nobody/apikeys", ``, 404, "tenant_not_found"},
		{"list unknown tenant", "GET", "/ops/v1/tenants/nobody/apikeys", ``, 404, "tenant_not_found"},
		{"revoke unknown", "DELETE", "/ops/v1/apikeys/k-none", ``, 404, "api_key_not_found"},
		{"revoke bad id", "DELETE", "/ops/v1/apikeys/NOT%20OK", ``, 404, "api_key_not_found"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, app, tt.method, tt.path, tt.body)
			if r.status != tt.status || r.errorCode(t) != tt.code {
				t.Errorf("%d %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
		})
	}

	for i := 0; i < 2; i++ { // revoking twice is fine
		if r := do(t, app, "DELETE", "/ops/v1/apikeys/erp-1", ""); r.status != 204 || len(r.body) != 0 {
			t.Fatalf("revoke #%d: %d %s", i+1, r.status, r.body)
		}
	}
	if _, _, err := eng.LookupAPIKey(context.Background(), "erp-1"); !errors.Is(err, domain.ErrAPIKeyNotFound) {
		t.Errorf("revoked key still works: %v", err)
	}

	var list struct {
		APIKeys []APIKey `json:"api_keys"`
	}
	r = do(t, app, "GET", "/ops/v1/tenants/acme/apikeys", "")
	r.json(t, &list)
	if r.status != 200 || len(list.APIKeys) != 2 {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	for _, k := range list.APIKeys {
		if k.Secret != "" || bytes.Contains(r.body, []byte(k1.Secret)) || bytes.Contains(r.body, []byte(k2.Secret)) {
			t.Errorf("the listing shows a secret: %s", r.body)
		}
		if revoked := k.RevokedAt != nil; revoked != (k.ID == "erp-1") {
			t.Errorf("key %s: revoked_at %v", k.ID, k.RevokedAt)
		}
	}
}

func TestAuditExport(t *testing.T) {
	eng := startEngine(t)
	app := newApp(eng, io.Discard)
	start := time.Now().Add(-time.Second)
	do(t, app, "POST", "/ops/v1/tenants", `{"id":"acme","name":"Acme"}`)
	do(t, app, "POST", "/ops/v1/tenants", `{"id":"other","name":"Other"}`)
	do(t, app, "POST", "/ops/v1/tenants/acme/apikeys", `{"id":"erp-1"}`)
	do(t, app, "DELETE", "/ops/v1/apikeys/erp-1", "")
	do(t, app, "POST", "/ops/v1/tenants/other/apikeys", `{"id":"erp-2"}`)

	var got struct{ Events []persistence.AuditEvent }
	r := do(t, app, "GET", "/ops/v1/tenants/acme/audit", "")
	if r.status != 200 {
		t.Fatalf("json: %d %s", r.status, r.body)
	}
	r.json(t, &got)
	assertUTCTimes(t, r.body)
	var actions []string
	for _, ev := range got.Events {
		if ev.Tenant != "acme" {
			t.Errorf("another tenant's event: %+v", ev)
		}
		actions = append(actions, ev.Action)
	}
	if joined := strings.Join(actions, ","); !strings.Contains(joined, "apikey.create,apikey.revoke") {
		t.Errorf("actions %v lack the key's creation and revocation", actions)
	}

	r = do(t, app, "GET", "/ops/v1/tenants/acme/audit?format=csv&from="+start.Format(time.RFC3339), "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") ||
		r.header.Get("Content-Disposition") != `attachment; filename="audit-acme-20261127-090000.csv"` {
		t.Fatalf("csv: %d %v %s", r.status, r.header, r.body)
	}
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(got.Events)+1 || strings.Join(rows[0], ",") != strings.Join(auditColumns, ",") {
		t.Fatalf("csv rows %v, want a header and %d events", rows, len(got.Events))
	}
	for i, row := range rows[1:] {
		if row[4] != got.Events[i].Action || row[2] != "acme" {
			t.Errorf("csv row %v, want event %+v", row, got.Events[i])
		}
		if _, err := time.Parse(time.RFC3339Nano, row[1]); err != nil || !strings.HasSuffix(row[1], "Z") {
			t.Errorf("csv time %q is not RFC 3339 in UTC", row[1])
		}
	}

	ranges := []struct {
		name, query string
		want        int
	}{
		{"all before", "to=2000-01-01", 0},
		{"all after", "from=2999-01-01T00:00:00Z", 0},
		{"a day", "from=" + time.Now().In(domain.ChinaTime).Format(time.DateOnly) + "&to=2999-01-01", len(got.Events)},
	}
	for _, tt := range ranges {
		t.Run(tt.name, func(t *testing.T) {
			var res struct{ Events []persistence.AuditEvent }
			r := do(t, app, "GET", "/ops/v1/tenants/acme/audit?"+tt.query, "")
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if r.json(t, &res); len(res.Events) != tt.want || res.Events == nil {
				t.Errorf("%d events (%s), want %d", len(res.Events), r.body, tt.want)
			}
		})
	}

	errs := []struct {
		name, query string
		status      int
		code        string
	}{
		{"bad from", "from=yesterday", 400, "invalid_input"},
		{"bad to", "to=2026-13-01", 400, "invalid_input"},
		{"empty range", "from=2026-11-27&to=2026-11-27", 400, "invalid_input"},
		{"bad format", "format=xml", 400, "invalid_input"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, app, "GET", "/ops/v1/tenants/acme/audit?"+tt.query, "")
			if r.status != tt.status || r.errorCode(t) != tt.code {
				t.Errorf("%d %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
		})
	}
	r = do(t, app, "GET", "/ops/v1/tenants/nobody/audit", "")
	if r.status != 404 || r.errorCode(t) != "tenant_not_found" {
		t.Errorf("unknown tenant: %d %s", r.status, r.body)
	}
}

// failingEngine answers every call with err.
type failingEngine struct {
	Engine
	err error
}

func (f failingEngine) Tenants(context.Context) ([]actors.TenantInfo, error) { return nil, f.err }

// TestServerErrorsHideTheirCause: a 5xx body is the catalogue's text; the
// cause goes to the log with the request id.
func TestServerErrorsHideTheirCause(t *testing.T) {
	const cause = "open /var/lib/etaxd/etaxd.db: input/output error"
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"not ours", errors.New(cause), 500, "internal"},
		{"internal with detail", domain.ErrInternal.With("磁盘", "disk").Wrap(errors.New(cause)), 500, "internal"},
		{"busy", domain.ErrBusy.With("存储", "store").Wrap(errors.New(cause)), 503, "busy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			app := newApp(failingEngine{err: tt.err}, &logs)
			r := do(t, app, "GET", "/ops/v1/tenants", "")
			if r.status != tt.status || r.errorCode(t) != tt.code {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
			var b ErrorBody
			r.json(t, &b)
			want := domain.ErrInternal
			if tt.code == domain.ErrBusy.Code {
				want = domain.ErrBusy
			}
			if b.Error.Message != want.Message || b.Error.MessageEN != want.MessageEN || strings.Contains(string(r.body), "disk") ||
				strings.Contains(string(r.body), "input/output") {
				t.Errorf("body %s is not the bare catalogue entry", r.body)
			}
			id := r.header.Get(fiber.HeaderXRequestID)
			if id == "" || !strings.Contains(logs.String(), id) || !strings.Contains(logs.String(), "input/output error") {
				t.Errorf("log %q lacks the request id %q or the cause", logs.String(), id)
			}
		})
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err  *domain.Error
		want int
	}{
		{domain.ErrInvalidInput, 400},
		{domain.ErrTenantNotFound, 404},
		{domain.ErrAPIKeyNotFound, 404},
		{domain.ErrTenantExists, 409},
		{domain.ErrBusy, 503},
		{domain.ErrBureauUnavailable, 503},
		{domain.ErrInternal, 500},
	}
	for _, tt := range tests {
		if got := errbody.Status(errbody.Ops, tt.err); got != tt.want {
			t.Errorf("Status(Ops, %s) = %d, want %d", tt.err.Code, got, tt.want)
		}
	}
}

// assertUTCTimes checks that every "time" of a JSON audit export is
// RFC 3339 in UTC, as every machine-readable time etaxd writes.
func assertUTCTimes(t *testing.T, body []byte) {
	t.Helper()
	var raw struct {
		Events []struct {
			Time string `json:"time"`
		} `json:"events"`
	}
	if err := json.Unmarshal(body, &raw); err != nil || len(raw.Events) == 0 {
		t.Fatalf("json export %s (%v)", body, err)
	}
	for _, ev := range raw.Events {
		if _, err := time.Parse(time.RFC3339Nano, ev.Time); err != nil || !strings.HasSuffix(ev.Time, "Z") {
			t.Errorf("json time %q is not RFC 3339 in UTC", ev.Time)
		}
	}
}
