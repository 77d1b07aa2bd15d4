package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/teststack/base"
	"github.com/etaxd/etaxd/persistence"
)

// fakeEngine answers Stats; any other method panics (the embedded
// interface is nil), which the tests that use it never call.
type fakeEngine struct {
	Engine
	stats actors.StatsSnapshot
}

func (f *fakeEngine) Stats() actors.StatsSnapshot { return f.stats }

// openBolt returns a real store in a temporary directory, checked and
// closed at the end of the test.
func openBolt(t *testing.T) *persistence.Bolt {
	t.Helper()
	return base.New(t, base.Options{}).Store
}

// get runs one request through the app, with the operator token, and
// decodes the JSON body.
func get(t *testing.T, app *fiber.App, path string, body any) (int, string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header.Set("Authorization", "Bearer "+opToken)
	resp, err := app.Test(r, 5000)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET %s: Content-Type %q, want JSON", path, ct)
	}
	if body != nil {
		if err := json.Unmarshal(raw, body); err != nil {
			t.Fatalf("GET %s: body %q: %v", path, raw, err)
		}
	}
	return resp.StatusCode, string(raw)
}

func TestHealthz(t *testing.T) {
	app := New(Deps{})
	var body map[string]string
	if code, raw := get(t, app, "/healthz", &body); code != 200 || body["status"] != "ok" {
		t.Fatalf("GET /healthz = %d %s", code, raw)
	}
	if !app.Config().DisableStartupMessage {
		t.Error("the startup banner is on")
	}
}

func TestReadyz(t *testing.T) {
	closed := openBolt(t)
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		deps    Deps
		code    int
		reasons []string
	}{
		{"ready", Deps{Engine: &fakeEngine{}, Store: actors.NewStoreProbe(openBolt(t))}, 200, nil},
		{"ready hook says yes", Deps{Engine: &fakeEngine{}, Store: actors.NewStoreProbe(openBolt(t)), Ready: func() bool { return true }}, 200, nil},
		{"starting", Deps{Engine: &fakeEngine{}, Store: actors.NewStoreProbe(openBolt(t)), Ready: func() bool { return false }}, 503, []string{"starting"}},
		{"no engine", Deps{Store: actors.NewStoreProbe(openBolt(t))}, 503, []string{"engine"}},
		{"store closed", Deps{Engine: &fakeEngine{}, Store: actors.NewStoreProbe(closed)}, 503, []string{"store"}},
		{"nothing", Deps{Ready: func() bool { return false }}, 503, []string{"engine", "store", "starting"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.deps.Logger = slog.New(slog.DiscardHandler)
			var body struct {
				Status  string   `json:"status"`
				Reasons []string `json:"reasons"`
			}
			code, raw := get(t, New(tt.deps), "/readyz", &body)
			if code != tt.code || !slices.Equal(body.Reasons, tt.reasons) {
				t.Fatalf("GET /readyz = %d %s, want %d with reasons %v", code, raw, tt.code, tt.reasons)
			}
			want := "ready"
			if tt.code != 200 {
				want = "not_ready"
			}
			if body.Status != want {
				t.Errorf("status %q, want %q", body.Status, want)
			}
		})
	}
}

func TestOpsStatus(t *testing.T) {
	store := openBolt(t)
	if _, err := persistence.Put(context.Background(), store, "test/k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	now := start.Add(90 * time.Second)
	eng := &fakeEngine{stats: actors.StatsSnapshot{Activations: 3, ActiveAccounts: 2, ActiveTenants: 1, Commits: 5}}
	app := New(Deps{Engine: eng, Store: actors.NewStoreProbe(store), Node: "node-1", Version: "v0.test", Started: start, Clock: clock.NewFake(now),
		OperatorToken: opToken})

	var s Status
	if code, raw := get(t, app, "/ops/status", &s); code != 200 {
		t.Fatalf("GET /ops/status = %d %s", code, raw)
	}
	if s.Node != "node-1" || s.Version != "v0.test" || !s.StartedAt.Equal(start) || s.UptimeSeconds != 90 || !s.Ready {
		t.Errorf("status = %+v", s)
	}
	if s.Engine == nil || *s.Engine != eng.stats {
		t.Errorf("engine = %+v, want %+v", s.Engine, eng.stats)
	}
	if s.Store == nil || s.Store.Commits != 1 || s.Store.Transactions < 1 || s.Store.Ops != 1 {
		t.Errorf("store = %+v, want the one commit", s.Store)
	}
	if s.GoVersion == "" || s.Goroutines < 1 {
		t.Errorf("runtime fields empty: %+v", s)
	}
}

func TestOpsStatusWithoutParts(t *testing.T) {
	var s map[string]any
	if code, raw := get(t, New(Deps{Node: "n", OperatorToken: opToken}), "/ops/status", &s); code != 200 || s["engine"] != nil || s["store"] != nil || s["ready"] != false {
		t.Fatalf("GET /ops/status = %d %s", code, raw)
	}
}

func TestUnknownRouteIsJSON(t *testing.T) {
	var body ErrorBody
	code, raw := get(t, New(Deps{}), "/nope", &body)
	if code != 404 || body.Error.Code != "not_found" || body.Error.Message == "" || body.Error.MessageEN == "" {
		t.Fatalf("GET /nope = %d %s", code, raw)
	}
}

// TestServerErrorsHideTheirCause checks that a failing handler's text goes
// to the log, with the request id, and never into the response.
func TestServerErrorsHideTheirCause(t *testing.T) {
	var logs bytes.Buffer
	app := New(Deps{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	app.Get("/boom", func(*fiber.Ctx) error { return errors.New("db at /secret/path exploded") })
	app.Get("/panic", func(*fiber.Ctx) error { panic("secret panic detail") })
	for path, cause := range map[string]string{"/boom": "/secret/path", "/panic": "secret panic detail"} {
		var body ErrorBody
		code, raw := get(t, app, path, &body)
		if code != 500 || body.Error.Code != "internal" {
			t.Errorf("GET %s = %d %s", path, code, raw)
		}
		if strings.Contains(raw, cause) || strings.Contains(raw, "secret") {
			t.Errorf("GET %s leaked its cause: %s", path, raw)
		}
		if !strings.Contains(logs.String(), cause) {
			t.Errorf("GET %s: the cause is not in the log:\n%s", path, logs.String())
		}
	}
	if !strings.Contains(logs.String(), "request_id=") {
		t.Errorf("log lacks the request id:\n%s", logs.String())
	}
}
