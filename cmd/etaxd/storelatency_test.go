package main

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/etaxd/etaxd/actors"
	httpapi "github.com/etaxd/etaxd/http"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/persistence/kvstore"
)

// commitCounts scrapes /metrics of app and returns the sample count of
// etaxd_store_commit_seconds by kind and of etaxd_store_read_seconds
// ("read"), for store; the text must parse.
func commitCounts(t *testing.T, d httpapi.Deps, store string) map[string]uint64 {
	t.Helper()
	d.OperatorToken = "op-token-for-the-test"
	r := httptest.NewRequest("GET", "/metrics", nil)
	r.Header.Set("Authorization", "Bearer "+d.OperatorToken)
	res, err := httpapi.New(d).Test(r, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, b)
	}
	out := map[string]uint64{}
	for _, name := range []string{"etaxd_store_commit_seconds", "etaxd_store_read_seconds"} {
		f := fams[name]
		if f == nil || f.GetType() != dto.MetricType_HISTOGRAM {
			t.Fatalf("/metrics lacks the histogram %s:\n%s", name, b)
		}
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["store"] != store {
				t.Fatalf("%s: store %q, want %q", name, l["store"], store)
			}
			kind := l["kind"]
			if name == "etaxd_store_read_seconds" {
				kind = "read"
			}
			out[kind] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

// TestStoreLatencyKVOnMetrics: commits against the JetStream KV store (an
// in-process server) show on /metrics as etaxd_store_commit_seconds
// {store="kv"}, each commit counted once in its kind.
func TestStoreLatencyKVOnMetrics(t *testing.T) {
	ns, err := server.NewServer(&server.Options{JetStream: true, StoreDir: t.TempDir(), DontListen: true,
		MaxPayload: 2 << 20, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := kvstore.New(ctx, js, kvstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	st := &stack{store: kv}
	d := httpapi.Deps{StoreLatency: st.storeLatency}

	before := commitCounts(t, d, "kv")
	var rev uint64
	for i := range 3 {
		if rev, err = persistence.Put(ctx, kv, "k/1", []byte{byte(i)}, rev); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		if _, err := kv.CommitAudited(ctx, persistence.AuditEvent{Tenant: "t1", Actor: "system", Action: "test", Target: "k"},
			persistence.Op{Key: "k/2", Value: []byte{byte(i)}, AnyRevision: true}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kv.Get(ctx, "k/1"); err != nil {
		t.Fatal(err)
	}
	after := commitCounts(t, d, "kv")
	for kind, want := range map[string]uint64{"single": 3, "batch": 2, "read": 1} {
		if n := after[kind] - before[kind]; n != want {
			t.Errorf("%s: /metrics counted %d, made %d", kind, n, want)
		}
	}
}

// TestStoreLatencyBoltOnMetrics: the single node's stack measures its
// bbolt store the same way (store="bbolt"), and /ops/status still reads
// bbolt's own write counters.
func TestStoreLatencyBoltOnMetrics(t *testing.T) {
	st := openTestStack(t, t.TempDir(), nil)
	ctx := context.Background()
	d := httpapi.Deps{StoreLatency: st.storeLatency}
	before := commitCounts(t, d, "bbolt")
	commits := st.bolt.Stats().Commits
	if _, err := persistence.Put(ctx, st.store, "test/latency", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	after := commitCounts(t, d, "bbolt")
	if n := after["single"] - before["single"]; n != 1 {
		t.Errorf("single: /metrics counted %d, made 1", n)
	}
	if c := actors.NewStoreProbe(st.probedStore()).Stats().Commits; c != commits+1 {
		t.Errorf("the store probe counts %d commits, bbolt %d", c, commits+1)
	}
}
