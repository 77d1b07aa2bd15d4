package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// scrapeFamilies reads /metrics with the operator token and parses it as
// Prometheus text.
func scrapeFamilies(t *testing.T, e *env) map[string]*dto.MetricFamily {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	r.Header.Set("Authorization", "Bearer "+opToken)
	res, err := e.app.Test(r, 10000)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("/metrics = %d %s", res.StatusCode, b)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(b)))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v\n%s", err, b)
	}
	return fams
}

// labels returns m's labels as a map.
func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func TestStoreLatencyMetrics(t *testing.T) {
	e := newEnv(t, func(d *Deps) {
		d.StoreLatency = func() []StoreLatency {
			return []StoreLatency{
				{Store: "kv", Op: "commit", Kind: "single", Count: 5, Seconds: 0.01, Buckets: map[float64]uint64{.001: 2, .005: 4, .01: 5}},
				{Store: "kv", Op: "commit", Kind: "batch", Count: 2, Seconds: 0.03, Buckets: map[float64]uint64{.001: 0, .005: 0, .01: 1}},
				{Store: "kv", Op: "read", Count: 9, Seconds: 0.002, Buckets: map[float64]uint64{.001: 9}},
			}
		}
	})
	fams := scrapeFamilies(t, e)
	commit := fams["etaxd_store_commit_seconds"]
	if commit == nil || commit.GetType() != dto.MetricType_HISTOGRAM || len(commit.GetMetric()) != 2 {
		t.Fatalf("etaxd_store_commit_seconds: %v", commit)
	}
	got := map[string]*dto.Histogram{}
	for _, m := range commit.GetMetric() {
		l := labels(m)
		if l["store"] != "kv" {
			t.Errorf("store label %q", l["store"])
		}
		got[l["kind"]] = m.GetHistogram()
	}
	if h := got["single"]; h.GetSampleCount() != 5 || h.GetSampleSum() != 0.01 || len(h.GetBucket()) != 4 || // with +Inf
		h.GetBucket()[1].GetUpperBound() != .005 || h.GetBucket()[1].GetCumulativeCount() != 4 {
		t.Errorf("single: %v", h)
	}
	if h := got["batch"]; h.GetSampleCount() != 2 || h.GetSampleSum() != 0.03 {
		t.Errorf("batch: %v", h)
	}
	read := fams["etaxd_store_read_seconds"]
	if read == nil || read.GetType() != dto.MetricType_HISTOGRAM || len(read.GetMetric()) != 1 ||
		read.GetMetric()[0].GetHistogram().GetSampleCount() != 9 || labels(read.GetMetric()[0])["store"] != "kv" {
		t.Fatalf("etaxd_store_read_seconds: %v", read)
	}
	// The bbolt gauges of the last and longest commit are still there.
	if fams["etaxd_store_commit_latency_seconds"] == nil {
		t.Error("etaxd_store_commit_latency_seconds is gone")
	}
}

func TestStoreLatencyMetricsAbsentWithoutReporter(t *testing.T) {
	e := newEnv(t)
	fams := scrapeFamilies(t, e)
	if fams["etaxd_store_commit_seconds"] != nil || fams["etaxd_store_read_seconds"] != nil {
		t.Fatal("store latency families without a reporter")
	}
}
