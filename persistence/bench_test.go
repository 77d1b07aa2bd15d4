package persistence

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// benchWriters is the number of concurrent writers: about the account
// actors of a busy node committing at once.
const benchWriters = 64

// benchValue is the size of a sealed account record.
const benchValue = 256

// runWriters runs b.N writes split over benchWriters goroutines, each
// calling write(w, i) for its share, and reports ops/s.
func runWriters(b *testing.B, write func(w, i int) error) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, benchWriters)
	b.ResetTimer()
	start := time.Now()
	for w := range benchWriters {
		n := b.N / benchWriters
		if w < b.N%benchWriters {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				if err := write(w, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "ops/s")
}

// BenchmarkBoltCommit64 measures the store: 64 writers, each a CAS put of
// its own key with the revision it got last, through group commit.
func BenchmarkBoltCommit64(b *testing.B) {
	type variant struct {
		opts  BoltOptions
		yield int
	}
	for _, v := range []variant{{yield: 0}, {yield: 2}, {yield: 4}, {yield: 8}, {yield: 16}, {yield: 64}} {
		opts := v.opts
		name := fmt.Sprintf("batch=%d/delay=%s/yield=%d", cmp.Or(opts.MaxBatch, DefaultMaxBatch), opts.MaxDelay, v.yield)
		b.Run(name, func(b *testing.B) {
			s, err := OpenBolt(filepath.Join(b.TempDir(), "bench.db"), opts)
			if err != nil {
				b.Fatal(err)
			}
			s.yieldBudget = v.yield
			defer s.Close()
			ctx := context.Background()
			value := make([]byte, benchValue)
			keys := make([]string, benchWriters)
			revs := make([]uint64, benchWriters)
			for w := range keys {
				keys[w] = fmt.Sprintf("account/T%d/A%d", w%8, w)
			}
			b.ReportAllocs()
			runWriters(b, func(w, _ int) error {
				rev, err := Put(ctx, s, keys[w], value, revs[w])
				revs[w] = rev
				return err
			})
			st := s.Stats()
			b.ReportMetric(st.AvgBatch, "writes/txn")
		})
	}
}

// BenchmarkRawBoltBatch64 is the yardstick: bbolt's own db.Batch from 64
// writers, blind puts of the same size, fsync on.
func BenchmarkRawBoltBatch64(b *testing.B) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.MaxBatchSize = benchWriters
	bucket := []byte("kv")
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		b.Fatal(err)
	}
	value := make([]byte, benchValue)
	keys := make([][]byte, benchWriters)
	for w := range keys {
		keys[w] = fmt.Appendf(nil, "account/T%d/A%d", w%8, w)
	}
	b.ReportAllocs()
	runWriters(b, func(w, _ int) error {
		return db.Batch(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucket).Put(keys[w], value)
		})
	})
}
