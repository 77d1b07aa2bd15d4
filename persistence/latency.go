package persistence

import (
	"context"
	"sync/atomic"
	"time"
)

// LatencyBuckets are the upper bounds (seconds) of the store's latency
// histograms: from a bbolt read (microseconds) through a replicated
// JetStream commit (milliseconds) to a write waiting out a stream leader's
// election (seconds).
var LatencyBuckets = [...]float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Histogram counts durations in LatencyBuckets, and their sum. The zero
// value is empty and ready; it is safe for concurrent use and never
// blocks.
type Histogram struct {
	counts [len(LatencyBuckets) + 1]atomic.Uint64 // the last: above every bound
	nanos  atomic.Uint64
}

// Observe counts d.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(LatencyBuckets) && s > LatencyBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	if d > 0 {
		h.nanos.Add(uint64(d))
	}
}

// HistogramSnapshot is a Histogram's figures as Prometheus has them.
type HistogramSnapshot struct {
	// Count is the number of durations observed.
	Count uint64
	// Sum is their sum in seconds.
	Sum float64
	// Buckets maps each bound of LatencyBuckets to the number of durations
	// at most that long (cumulative).
	Buckets map[float64]uint64
}

// Snapshot returns h's figures. Count is the sum of the buckets' counts, so
// a snapshot is consistent in itself even while Observe runs.
func (h *Histogram) Snapshot() HistogramSnapshot {
	s := HistogramSnapshot{Buckets: make(map[float64]uint64, len(LatencyBuckets))}
	for i := range h.counts {
		s.Count += h.counts[i].Load()
		if i < len(LatencyBuckets) {
			s.Buckets[LatencyBuckets[i]] = s.Count
		}
	}
	s.Sum = float64(h.nanos.Load()) / float64(time.Second)
	return s
}

// Latencies are a store's latency histograms: commits writing one record
// (a put, a delete, an audit event alone), commits writing several (ops and
// their audit event: one bbolt transaction, one JetStream atomic batch),
// and reads (Get). Each is the whole call as its caller waits for it,
// whatever its outcome (stored, refused, failed). The zero value is ready;
// safe for concurrent use.
type Latencies struct {
	Single, Batch, Read Histogram
}

// ObserveCommit counts a commit of records records (its ops, and its audit
// event) that started at start. A commit of no record is not counted.
func (l *Latencies) ObserveCommit(records int, start time.Time) {
	switch {
	case records == 1:
		l.Single.Observe(time.Since(start))
	case records > 1:
		l.Batch.Observe(time.Since(start))
	}
}

// ObserveRead counts a read that started at start.
func (l *Latencies) ObserveRead(start time.Time) { l.Read.Observe(time.Since(start)) }

// LatencySnapshot is the figures of Latencies.
type LatencySnapshot struct {
	Single, Batch, Read HistogramSnapshot
}

// Snapshot returns l's figures.
func (l *Latencies) Snapshot() LatencySnapshot {
	return LatencySnapshot{Single: l.Single.Snapshot(), Batch: l.Batch.Snapshot(), Read: l.Read.Snapshot()}
}

// LatencyReporter is a store that measures its calls' latency:
// persistence/kvstore's Store, and a store wrapped by Timed.
type LatencyReporter interface {
	Latency() LatencySnapshot
}

// TimedStore is a Store whose commits and reads are measured (Latencies)
// around the calls of the store it wraps. Create it with Timed.
type TimedStore struct {
	Store
	lat Latencies
}

var (
	_ Store           = (*TimedStore)(nil)
	_ LatencyReporter = (*TimedStore)(nil)
)

// Timed wraps s, a store that does not measure itself (Bolt), so that its
// latency is measured as persistence/kvstore measures its own: the same
// classification, the whole call. Everything else passes through.
func Timed(s Store) *TimedStore { return &TimedStore{Store: s} }

// Unwrap returns the wrapped store.
func (t *TimedStore) Unwrap() Store { return t.Store }

// Latency returns the figures measured so far.
func (t *TimedStore) Latency() LatencySnapshot { return t.lat.Snapshot() }

// Get reads through the wrapped store, measured.
func (t *TimedStore) Get(ctx context.Context, key string) (Record, error) {
	defer t.lat.ObserveRead(time.Now())
	return t.Store.Get(ctx, key)
}

// Commit commits through the wrapped store, measured.
func (t *TimedStore) Commit(ctx context.Context, ops ...Op) ([]uint64, error) {
	defer t.lat.ObserveCommit(len(ops), time.Now())
	return t.Store.Commit(ctx, ops...)
}

// CommitAudited commits through the wrapped store, measured.
func (t *TimedStore) CommitAudited(ctx context.Context, ev AuditEvent, ops ...Op) ([]uint64, error) {
	defer t.lat.ObserveCommit(len(ops)+1, time.Now())
	return t.Store.CommitAudited(ctx, ev, ops...)
}

// AppendAudit appends through the wrapped store, measured as a commit of
// one record.
func (t *TimedStore) AppendAudit(ctx context.Context, ev AuditEvent) error {
	defer t.lat.ObserveCommit(1, time.Now())
	return t.Store.AppendAudit(ctx, ev)
}
