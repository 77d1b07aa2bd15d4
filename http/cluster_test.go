package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/etaxd/etaxd/domain"
)

// opsGet sends GET path to e's app with the operator token (token "" for
// none) and returns the status and body.
func (e *env) opsGet(path, token string) (int, []byte) {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.app.Test(r, 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var b json.RawMessage
	_ = json.NewDecoder(res.Body).Decode(&b)
	return res.StatusCode, b
}

func TestOpsClusterOnASingleNode(t *testing.T) {
	e := newEnv(t)
	code, body := e.opsGet("/ops/cluster?tenant=t1", opToken)
	var doc SingleNode
	if code != 200 || json.Unmarshal(body, &doc) != nil {
		t.Fatalf("GET /ops/cluster = %d %s", code, body)
	}
	if doc.Node != "n-test" || doc.Mode != "single" || len(doc.Members) != 1 || doc.Members[0] != (SingleMember{Name: "n-test", Alive: true}) ||
		doc.Tenant == nil || *doc.Tenant != (TenantNode{ID: "t1", Node: "n-test"}) {
		t.Fatalf("single node: %s", body)
	}
	if code, body := e.opsGet("/ops/cluster?tenant=nobody", opToken); code != 404 {
		t.Fatalf("unknown tenant: %d %s", code, body)
	}
	// The wrong callers: no token, another token, an API client's key.
	for _, tok := range []string{"", "not-the-operator-token", "key1"} {
		if code, body := e.opsGet("/ops/cluster", tok); code != 401 && code != 403 {
			t.Fatalf("token %q: %d %s", tok, code, body)
		}
	}
}

func TestOpsClusterAsksTheCluster(t *testing.T) {
	var asked []string
	e := newEnv(t, func(d *Deps) {
		d.Cluster = func(_ context.Context, tenant string) (any, error) {
			asked = append(asked, tenant)
			if tenant == "gone" {
				return nil, domain.ErrTenantNotFound
			}
			if tenant == "broken" {
				return nil, errors.New("internal detail")
			}
			return map[string]any{"node": "n2", "members": []any{}}, nil
		}
	})
	if code, body := e.opsGet("/ops/cluster", opToken); code != 200 || string(body) != `{"members":[],"node":"n2"}` {
		t.Fatalf("cluster: %d %s", code, body)
	}
	if code, _ := e.opsGet("/ops/cluster?tenant=gone", opToken); code != 404 {
		t.Fatalf("unknown tenant: %d", code)
	}
	code, body := e.opsGet("/ops/cluster?tenant=broken", opToken)
	if code < 500 || strings.Contains(string(body), "internal detail") {
		t.Fatalf("failure: %d %s", code, body)
	}
	if len(asked) != 3 || asked[0] != "" || asked[1] != "gone" {
		t.Fatalf("asked %q", asked)
	}
}

func TestClusterMetrics(t *testing.T) {
	e := newEnv(t, func(d *Deps) {
		d.ClusterCounters = func() map[string]int64 {
			return map[string]int64{"drops": 2, "double_activations": 0, "remote_requests": 17, "members_alive": 3}
		}
	})
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	r.Header.Set("Authorization", "Bearer "+opToken)
	res, err := e.app.Test(r, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	text := string(b)
	for _, want := range []string{
		`etaxd_cluster_events_total{event="drops"} 2`,
		`etaxd_cluster_events_total{event="double_activations"} 0`,
		`etaxd_cluster_events_total{event="remote_requests"} 17`,
		"etaxd_cluster_members 3",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, `event="members_alive"`) {
		t.Error("members_alive is a gauge, not an event")
	}
}
