package persistence

import (
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

// runWriters runs b.N writes split over writers goroutines, each
// calling write(w, i) for its share, and reports ops/s.
func runWriters(b *testing.B, writers int, write func(w, i int) error) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		n := b.N / writers
		if w < b.N%writers {
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
// its own key with the revision it got last, through group commit. The
// no-yield variant shows what the committer's yields (see gather) are worth.
func BenchmarkBoltCommit64(b *testing.B) {
	b.Run("default", func(b *testing.B) { benchCommit(b, benchWriters, BoltOptions{}, groupYields) })
	b.Run("no-yield", func(b *testing.B) { benchCommit(b, benchWriters, BoltOptions{}, 0) })
}

// BenchmarkBoltCommitSerial measures one writer: its ns/op is the latency
// of a commit (two fsyncs) when nothing else is written.
func BenchmarkBoltCommitSerial(b *testing.B) {
	benchCommit(b, 1, BoltOptions{}, groupYields)
}

// benchCommit runs b.N CAS puts from writers goroutines.
func benchCommit(b *testing.B, writers int, opts BoltOptions, yields int) {
	s, err := OpenBolt(filepath.Join(b.TempDir(), "bench.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	s.yieldBudget = yields
	ctx := context.Background()
	value := make([]byte, benchValue)
	keys := make([]string, writers)
	revs := make([]uint64, writers)
	for w := range keys {
		keys[w] = fmt.Sprintf("account/T%d/A%d", w%8, w)
	}
	b.ReportAllocs()
	runWriters(b, writers, func(w, _ int) error {
		rev, err := Put(ctx, s, keys[w], value, revs[w])
		revs[w] = rev
		return err
	})
	b.ReportMetric(s.Stats().AvgBatch, "writes/txn")
}

// BenchmarkBoltCommitAudited64 measures the store as the account actors
// use it: 64 writers, each a CAS put of its own 450-byte record with an
// audit event in the same transaction, so the file keeps growing.
func BenchmarkBoltCommitAudited64(b *testing.B) {
	s, err := OpenBolt(filepath.Join(b.TempDir(), "bench.db"), BoltOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	value := make([]byte, 450)
	keys := make([]string, benchWriters)
	revs := make([]uint64, benchWriters)
	for w := range keys {
		keys[w] = fmt.Sprintf("account/T%d/A%d", w%8, w)
	}
	b.ReportAllocs()
	st0, tx0 := s.db.Stats(), s.Stats().Transactions
	runWriters(b, benchWriters, func(w, _ int) error {
		ev := AuditEvent{Tenant: fmt.Sprintf("T%d", w%8), Actor: "system", Action: "account.unlock", Target: keys[w], Outcome: "ok"}
		r, err := s.CommitAudited(ctx, ev, Op{Key: keys[w], Value: value, Expected: revs[w]})
		if err == nil {
			revs[w] = r[0]
		}
		return err
	})
	b.ReportMetric(s.Stats().AvgBatch, "writes/txn")
	// Pages written per transaction (bbolt counts one write per page).
	st := s.db.Stats()
	if n := s.Stats().Transactions - tx0; n > 0 {
		b.ReportMetric(float64(st.TxStats.GetWrite()-st0.TxStats.GetWrite())/float64(n), "pages/txn")
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
	runWriters(b, benchWriters, func(w, _ int) error {
		return db.Batch(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucket).Put(keys[w], value)
		})
	})
}
