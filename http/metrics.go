package httpapi

import (
	"errors"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the app's Prometheus metrics, on a registry of our own.
type metrics struct {
	reg        *prometheus.Registry
	series     sync.Map // httpSeriesKey → *httpSeries
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	authFails  *prometheus.CounterVec
	natsByCode *prometheus.CounterVec
}

// latencyBuckets cover a hot-path answer (sub-millisecond) up to a full
// long poll (60 s).
var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// newMetrics registers the app's collectors on d.Registry, or on a new
// registry with the Go and process collectors. Registering twice on a
// shared registry (New and ServeNATS, or New called again) reuses what is
// there.
func newMetrics(d Deps) *metrics {
	reg := d.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &metrics{reg: reg}
	m.requests = register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "etaxd_http_requests_total", Help: "HTTP requests by method, route template and status.",
	}, []string{"method", "route", "status"}))
	m.latency = register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "etaxd_http_request_duration_seconds", Help: "HTTP request latency by method and route template.", Buckets: latencyBuckets,
	}, []string{"method", "route"}))
	m.authFails = refusedCounter(reg)
	m.natsByCode = natsCounter(reg)
	register(reg, &pulled{d: d})
	return m
}

// refusedCounter registers (or finds) the count of refused requests.
func refusedCounter(reg *prometheus.Registry) *prometheus.CounterVec {
	return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "etaxd_api_refused_total", Help: "Client API requests refused by authentication, by error code.",
	}, []string{"code"}))
}

// natsCounter registers (or finds) the NATS API's request counter.
func natsCounter(reg *prometheus.Registry) *prometheus.CounterVec {
	return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "etaxd_nats_api_requests_total", Help: "NATS request/reply API requests by subject and status.",
	}, []string{"subject", "status"}))
}

// register registers c, or returns the equal collector already registered.
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic("httpapi: register metrics: " + err.Error())
	}
	return c
}

// httpSeriesKey names the series of one method, route and status. Their
// number is bounded: routes are templates (or "unmatched") and methods a
// fixed set (methodLabel).
type httpSeriesKey struct {
	method, route string
	status        int
}

type httpSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// observeHTTP counts a request. The series are resolved once and kept, so
// the hot path skips hashing the label values.
func (m *metrics) observeHTTP(method, route string, status int, d time.Duration) {
	k := httpSeriesKey{method, route, status}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, &httpSeries{
			count:   m.requests.WithLabelValues(method, route, strconv.Itoa(status)),
			latency: m.latency.WithLabelValues(method, route),
		})
	}
	s := v.(*httpSeries)
	s.count.Inc()
	s.latency.Observe(d.Seconds())
}

func (m *metrics) authFailed(code string) { m.authFails.WithLabelValues(code).Inc() }

func (m *metrics) handler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}

// pulled reads the engine's, the store's and the optional Deps funcs'
// figures at scrape time.
type pulled struct{ d Deps }

var (
	descActivations  = prometheus.NewDesc("etaxd_actor_activations_total", "Account actor activations.", nil, nil)
	descActors       = prometheus.NewDesc("etaxd_actors_active", "Live actors by kind.", []string{"kind"}, nil)
	descPassivations = prometheus.NewDesc("etaxd_actor_passivations_total", "Account actors passivated when idle.", nil, nil)
	descSessionReqs  = prometheus.NewDesc("etaxd_session_requests_total", "Session requests the accounts answered.", nil, nil)
	descBureauLogins = prometheus.NewDesc("etaxd_bureau_logins_total", "Logins started at the tax bureau.", nil, nil)
	descPromptsPub   = prometheus.NewDesc("etaxd_prompts_published_total", "Prompts raised for a person.", nil, nil)
	descEngCommits   = prometheus.NewDesc("etaxd_engine_commits_total", "State changes the actors committed.", nil, nil)

	descStoreWrites = prometheus.NewDesc("etaxd_store_writes_total", "Store writes by outcome (committed, refused, failed, cancelled).", []string{"outcome"}, nil)
	descStoreTxns   = prometheus.NewDesc("etaxd_store_transactions_total", "Committed store transactions (fsyncs).", nil, nil)
	descStoreOps    = prometheus.NewDesc("etaxd_store_ops_total", "Records written.", nil, nil)
	descStoreAvg    = prometheus.NewDesc("etaxd_store_batch_size_avg", "Mean writes per committed transaction.", nil, nil)
	descStoreLast   = prometheus.NewDesc("etaxd_store_batch_size_last", "Writes in the last committed transaction.", nil, nil)
	descStoreLat    = prometheus.NewDesc("etaxd_store_commit_latency_seconds", "Commit latency, fsync included: the last and the maximum.", []string{"which"}, nil)
	descStoreCommit = prometheus.NewDesc("etaxd_store_commit_seconds", "Store commit latency as the caller waits for it, by store (kv, bbolt) and kind (single: one record; batch: several, one transaction or atomic batch).", []string{"store", "kind"}, nil)
	descStoreRead   = prometheus.NewDesc("etaxd_store_read_seconds", "Store read (Get) latency as the caller waits for it, by store (kv, bbolt).", []string{"store"}, nil)

	descQueue      = prometheus.NewDesc("etaxd_queue_depth", "Depth of a named queue.", []string{"queue"}, nil)
	descNATS       = prometheus.NewDesc("etaxd_nats_pending", "Messages pending for a JetStream consumer.", []string{"consumer"}, nil)
	descPrompts    = prometheus.NewDesc("etaxd_prompts", "Prompts by state.", []string{"state"}, nil)
	descBureau     = prometheus.NewDesc("etaxd_bureau_calls_total", "Tax-bureau calls by operation and outcome.", []string{"op", "outcome"}, nil)
	descBureauTime = prometheus.NewDesc("etaxd_bureau_call_seconds", "Tax-bureau call latency by operation and outcome.", []string{"op", "outcome"}, nil)

	descCluster        = prometheus.NewDesc("etaxd_cluster_events_total", "Cluster mode: membership changes, joins, leaves, drops, evictions, failed heartbeats, grain activations on this node, double activations, requests sent through the cluster.", []string{"event"}, nil)
	descClusterMembers = prometheus.NewDesc("etaxd_cluster_members", "Cluster mode: the members this node counts alive.", nil, nil)
)

// pulledDescs are every metric pulled may collect; it collects a subset
// when parts are missing.
var pulledDescs = []*prometheus.Desc{descActivations, descActors, descPassivations, descSessionReqs, descBureauLogins,
	descPromptsPub, descEngCommits, descStoreWrites, descStoreTxns, descStoreOps, descStoreAvg, descStoreLast, descStoreLat,
	descStoreCommit, descStoreRead,
	descQueue, descNATS, descPrompts, descBureau, descBureauTime, descCluster, descClusterMembers}

// Describe implements prometheus.Collector.
func (p *pulled) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range pulledDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (p *pulled) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if e := p.d.Engine; e != nil {
		s := e.Stats()
		counter(descActivations, float64(s.Activations))
		gauge(descActors, float64(s.ActiveAccounts), "account")
		gauge(descActors, float64(s.ActiveTenants), "tenant")
		counter(descPassivations, float64(s.Passivations))
		counter(descSessionReqs, float64(s.SessionRequests))
		counter(descBureauLogins, float64(s.BureauLogins))
		counter(descPromptsPub, float64(s.Prompts))
		counter(descEngCommits, float64(s.Commits))
	}
	if st := p.d.Store; st != nil {
		s := st.Stats()
		counter(descStoreWrites, float64(s.Commits), "committed")
		counter(descStoreWrites, float64(s.Refused), "refused")
		counter(descStoreWrites, float64(s.Failed), "failed")
		counter(descStoreWrites, float64(s.Cancelled), "cancelled")
		counter(descStoreTxns, float64(s.Transactions))
		counter(descStoreOps, float64(s.Ops))
		gauge(descStoreAvg, s.AvgBatch)
		gauge(descStoreLast, float64(s.LastBatch))
		gauge(descStoreLat, s.LastCommitLatency.Seconds(), "last")
		gauge(descStoreLat, s.MaxCommitLatency.Seconds(), "max")
	}
	if p.d.StoreLatency != nil {
		for _, l := range p.d.StoreLatency() {
			switch l.Op {
			case "commit":
				ch <- prometheus.MustNewConstHistogram(descStoreCommit, l.Count, l.Seconds, l.Buckets, l.Store, l.Kind)
			case "read":
				ch <- prometheus.MustNewConstHistogram(descStoreRead, l.Count, l.Seconds, l.Buckets, l.Store)
			}
		}
	}
	gauges := func(f func() map[string]int64, d *prometheus.Desc) {
		if f == nil {
			return
		}
		m := f()
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			gauge(d, float64(m[k]), k)
		}
	}
	if p.d.ClusterCounters != nil {
		m := p.d.ClusterCounters()
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if k == "members_alive" {
				gauge(descClusterMembers, float64(m[k]))
				continue
			}
			counter(descCluster, float64(m[k]), k)
		}
	}
	gauges(p.d.QueueDepths, descQueue)
	gauges(p.d.NATSPending, descNATS)
	gauges(p.d.PromptStates, descPrompts)
	if p.d.BureauStats != nil {
		for _, b := range p.d.BureauStats() {
			counter(descBureau, float64(b.Count), b.Op, b.Outcome)
			// Without buckets the histogram has only +Inf: count and sum.
			ch <- prometheus.MustNewConstHistogram(descBureauTime, b.Count, b.Seconds, b.Buckets, b.Op, b.Outcome)
		}
	}
}
