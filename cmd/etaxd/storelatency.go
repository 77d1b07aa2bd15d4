package main

import (
	httpapi "github.com/etaxd/etaxd/http"
	"github.com/etaxd/etaxd/persistence"
)

// The store's latency on /metrics (etaxd_store_commit_seconds,
// etaxd_store_read_seconds): the cluster's KV store measures itself; the
// bbolt store is wrapped in persistence.Timed, which measures it the same
// way (the whole call, the same kinds), so a single node and a cluster
// node show comparable figures.

// probedStore is the store /readyz probes and /ops/status counts: bbolt
// itself (its write counters are bbolt's), or the cluster's KV store.
func (s *stack) probedStore() persistence.Store {
	if s.bolt != nil {
		return s.bolt
	}
	return s.store
}

// storeLatency reports the store's latency histograms, or none when the
// store does not measure them.
func (s *stack) storeLatency() []httpapi.StoreLatency {
	r, ok := s.store.(persistence.LatencyReporter)
	if !ok {
		return nil
	}
	name := "kv"
	if s.bolt != nil {
		name = "bbolt"
	}
	return storeLatencyStats(name, r.Latency())
}

// storeLatencyStats turns a snapshot into /metrics' histograms.
func storeLatencyStats(store string, l persistence.LatencySnapshot) []httpapi.StoreLatency {
	one := func(op, kind string, h persistence.HistogramSnapshot) httpapi.StoreLatency {
		return httpapi.StoreLatency{Store: store, Op: op, Kind: kind, Count: h.Count, Seconds: h.Sum, Buckets: h.Buckets}
	}
	return []httpapi.StoreLatency{one("commit", "single", l.Single), one("commit", "batch", l.Batch), one("read", "", l.Read)}
}
