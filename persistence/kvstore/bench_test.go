package kvstore

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etaxd/etaxd/persistence"
)

// benchWriters is the number of concurrent writers of the benchmarks.
const benchWriters = 16

// BenchmarkCommitVsBolt measures revision-checked commits from 16
// concurrent writers, each on its own keys, on the KV store (one embedded
// server, file storage, fsync on every write) and on Bolt's group commit,
// in the same run, and reports their ratio (kv/bolt: how many times slower
// the KV store is). "put" is a one-op Commit; "audited3" a CommitAudited of
// three keys and an audit event (an atomic batch of four messages on the KV
// store). The -R3 variants run the KV store on a bucket replicated 3 times
// on an in-process cluster of 3 servers (sharing the machine's cores),
// connected to one of them.
func BenchmarkCommitVsBolt(b *testing.B) {
	for _, shape := range []struct {
		name     string
		keys     int
		ev       bool
		replicas int
	}{{"put", 1, false, 1}, {"audited3", 3, true, 1}, {"put-R3", 1, false, 3}, {"audited3-R3", 3, true, 3}} {
		b.Run(shape.name, func(b *testing.B) {
			var url string
			if shape.replicas == 1 {
				url = startServer(b, nil).ClientURL()
			} else {
				url = startCluster(b, shape.replicas)[0]
			}
			kv := openStore(b, connect(b, url), Options{Replicas: shape.replicas})
			bolt, err := persistence.OpenBolt(filepath.Join(b.TempDir(), "bench.db"), persistence.BoltOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = bolt.Close() })
			b.ResetTimer()
			kvTime, kvLat := runWriters(b, kv, shape.keys, shape.ev)
			boltTime, boltLat := runWriters(b, bolt, shape.keys, shape.ev)
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64(kvTime.Nanoseconds())/n, "kv-ns/commit")
			b.ReportMetric(float64(boltTime.Nanoseconds())/n, "bolt-ns/commit")
			b.ReportMetric(n/kvTime.Seconds(), "kv-commits/s")
			b.ReportMetric(n/boltTime.Seconds(), "bolt-commits/s")
			b.ReportMetric(float64(kvTime)/float64(boltTime), "kv/bolt")
			b.ReportMetric(float64(pct(kvLat, 50).Microseconds()), "kv-p50-µs")
			b.ReportMetric(float64(pct(kvLat, 99).Microseconds()), "kv-p99-µs")
			b.ReportMetric(float64(pct(boltLat, 50).Microseconds()), "bolt-p50-µs")
			b.ReportMetric(float64(pct(boltLat, 99).Microseconds()), "bolt-p99-µs")
		})
	}
}

// runWriters makes b.N commits on s from benchWriters goroutines, each
// writing its own keys with the revisions its previous commit returned,
// and returns the elapsed time and every commit's latency.
func runWriters(b *testing.B, s persistence.Store, keys int, audited bool) (time.Duration, []time.Duration) {
	ctx := context.Background()
	var left atomic.Int64
	left.Store(int64(b.N))
	lat := make([][]time.Duration, benchWriters)
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for w := range benchWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			revs := make([]uint64, keys)
			ops := make([]persistence.Op, keys)
			value := make([]byte, 300) // about a sealed account record
			ev := persistence.AuditEvent{Tenant: fmt.Sprint("T", w), Actor: "system", Action: "bench", Outcome: "ok"}
			for left.Add(-1) >= 0 {
				for k := range ops {
					ops[k] = persistence.Op{Key: fmt.Sprintf("bench/%d/%d", w, k), Value: value, Expected: revs[k]}
				}
				t0 := time.Now()
				var got []uint64
				var err error
				if audited {
					got, err = s.CommitAudited(ctx, ev, ops...)
				} else {
					got, err = s.Commit(ctx, ops...)
				}
				lat[w] = append(lat[w], time.Since(t0))
				if err != nil {
					failed.Store(err)
					return
				}
				copy(revs, got)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	return elapsed, slices.Concat(lat...)
}

// pct returns the p-th percentile of lat.
func pct(lat []time.Duration, p int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[min(len(lat)-1, len(lat)*p/100)]
}
