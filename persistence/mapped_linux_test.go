//go:build linux

package persistence

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// mappedKiB is how much of the file at path is mapped into this process
// and resident (the Rss of its mappings in /proc/self/smaps).
func mappedKiB(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kib int
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) >= 6 && fields[len(fields)-1] == path
			continue
		}
		if in && len(fields) == 3 && fields[0] == "Rss:" {
			n, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatalf("smaps: %q: %v", line, err)
			}
			kib += n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kib
}

// TestReadsGiveBackMappedPages: a scan of every record leaves nothing of a
// 16 MiB file mapped, and reads of each record in random order leave no
// more than the windows since the last sweep (every 16 windows here) and
// the branch pages, while with KeepReadPages (bbolt's own behaviour) the
// same reads leave most of it mapped. What was read is intact either way.
func TestReadsGiveBackMappedPages(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "etaxd.db")
	b := openAt(t, path, BoltOptions{})
	const n, size = 4096, 2000
	value := func(i int) string { return fmt.Sprintf("%06d:%s", i, strings.Repeat("x", size)) }
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("account/%08x", rand.Uint32())
	}
	for i := 0; i < n; i += 256 {
		ops := make([]Op, 0, 256)
		for j := i; j < i+256; j++ {
			ops = append(ops, Op{Key: keys[j], Value: []byte(value(j))})
		}
		if _, err := b.Commit(ctx, ops...); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	read := func(b *Bolt) (afterScan int) {
		t.Helper()
		seen := 0
		if err := b.Scan(ctx, "account/", func(r Record) error {
			if len(r.Value) != size+7 {
				return fmt.Errorf("%s: %d bytes", r.Key, len(r.Value))
			}
			seen++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if seen != n {
			t.Fatalf("scanned %d records, want %d", seen, n)
		}
		afterScan = mappedKiB(t, path)
		for _, i := range rand.Perm(n) {
			if r := mustGet(t, b, keys[i]); string(r.Value) != value(i) {
				t.Fatalf("%s: read %.10q…, want %.10q…", keys[i], r.Value, value(i))
			}
		}
		return afterScan
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	fileKiB := int(fi.Size() >> 10)

	b = openAt(t, path, BoltOptions{})
	const every = 16
	b.sweepEvery = every
	before := mappedKiB(t, path)
	scanned := read(b)
	released := mappedKiB(t, path)
	// (Stats reads every page: after the measure.)
	var branches int
	if err := b.db.View(func(tx *bbolt.Tx) error {
		branches = tx.Bucket(bucketKV).Stats().BranchPageN
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b = openAt(t, path, BoltOptions{KeepReadPages: true})
	keptScan := read(b)
	kept := mappedKiB(t, path)
	// What may stay mapped: the windows counted since the last sweep, and
	// the fault-around windows of the branch pages and of the buckets'
	// roots that the reads since then passed.
	bound := before + (every+branches+4)*faultWindow>>10
	t.Logf("file %d KiB, %d branch pages; mapped after the scan: %d KiB given back, %d kept; after the scan and the reads: %d KiB given back (%d before them, bound %d), %d KiB kept",
		fileKiB, branches, scanned, keptScan, released, before, bound, kept)
	// A scan that long sweeps the map when it ends.
	if scanned > before+256 {
		t.Errorf("%d KiB of the %d KiB file are still mapped after the scan (%d before it)", scanned, fileKiB, before)
	}
	if kept < fileKiB/2 || keptScan < fileKiB/2 {
		t.Fatalf("with KeepReadPages %d KiB of the %d KiB file are mapped after reading all of it: the measure does not see the map", kept, fileKiB)
	}
	if released > bound || released > fileKiB/4 {
		t.Fatalf("%d KiB of the %d KiB file are still mapped after the reads (%d before them; bound %d)", released, fileKiB, before, bound)
	}
}

// TestReleaseWhileTheMapMoves: readers that release what they read while
// writers grow the file (bbolt then maps it again, elsewhere) read every
// value whole, and the file checks clean.
func TestReleaseWhileTheMapMoves(t *testing.T) {
	ctx := context.Background()
	b, _ := openTest(t, BoltOptions{})
	const writers, perWriter, size = 4, 200, 3000
	value := func(w, i int) []byte { return []byte(fmt.Sprintf("%d/%d:%s", w, i, strings.Repeat("v", size))) }
	var written [writers]atomic.Int64
	done := make(chan struct{})
	errs := make(chan error, writers+2)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if _, err := b.Commit(ctx, Op{Key: fmt.Sprintf("k/%d/%04d", w, i), Value: value(w, i)}); err != nil {
					errs <- err
					return
				}
				written[w].Store(int64(i + 1))
			}
		}()
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				w := rand.IntN(writers)
				if n := written[w].Load(); n > 0 {
					i := rand.IntN(int(n))
					r, err := b.Get(ctx, fmt.Sprintf("k/%d/%04d", w, i))
					if err != nil || string(r.Value) != string(value(w, i)) {
						errs <- fmt.Errorf("get %d/%d: %.12q, %v", w, i, r.Value, err)
						return
					}
				}
				if err := b.Scan(ctx, "k/", func(r Record) error {
					var w, i int
					if _, err := fmt.Sscanf(r.Key, "k/%d/%d", &w, &i); err != nil || string(r.Value) != string(value(w, i)) {
						return fmt.Errorf("scan %s: %.12q", r.Key, r.Value)
					}
					return nil
				}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if fi, err := os.Stat(b.Path()); err != nil || fi.Size() < 2<<20 {
		t.Fatalf("the file did not grow past 2 MiB (%v, %v): the map was not moved", fi.Size(), err)
	}
}

// BenchmarkScanMappedPages measures what giving the map back costs a scan:
// 200,000 records of 300 bytes under random keys (a tenant's index, as
// large), each round one Scan of all of them with the pages given back and
// one as bbolt maps them, in turn, each starting with nothing of the file
// mapped (as a tenant's first request in a fresh process). It reports the
// time of each and released/kept; and the GET variant the same for reads
// of single records in random order.
func BenchmarkScanMappedPages(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "etaxd.db")
	st, err := OpenBolt(path, BoltOptions{MaxBatch: 1024})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const n = 200_000
	keys := make([]string, n)
	val := []byte(strings.Repeat("v", 300))
	for i := 0; i < n; i += 1000 {
		ops := make([]Op, 0, 1000)
		for j := i; j < i+1000; j++ {
			keys[j] = fmt.Sprintf("accref/t/%016x", rand.Uint64())
			ops = append(ops, Op{Key: keys[j], Value: val})
		}
		if _, err := st.Commit(ctx, ops...); err != nil {
			b.Fatal(err)
		}
	}
	unmapAll := func() {
		_ = st.view(func(_ *bbolt.Tx, t *touched) error { t.sweep = true; return nil })
	}
	run := func(keep bool, read func()) time.Duration {
		st.opts.KeepReadPages = false
		unmapAll()
		st.opts.KeepReadPages = keep
		start := time.Now()
		read()
		return time.Since(start)
	}
	scan := func() {
		seen := 0
		if err := st.Scan(ctx, "accref/", func(Record) error { seen++; return nil }); err != nil || seen != n {
			b.Fatalf("scan: %d records, %v", seen, err)
		}
	}
	gets := func() {
		for _, i := range rand.Perm(n)[:20_000] {
			if _, err := st.Get(ctx, keys[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, c := range []struct {
		name string
		read func()
	}{{"scan", scan}, {"get-20000", gets}} {
		b.Run(c.name, func(b *testing.B) {
			var released, kept time.Duration
			for i := 0; i < b.N; i++ {
				if i%2 == 0 {
					released += run(false, c.read)
					kept += run(true, c.read)
				} else {
					kept += run(true, c.read)
					released += run(false, c.read)
				}
			}
			b.ReportMetric(float64(released.Milliseconds())/float64(b.N), "released-ms")
			b.ReportMetric(float64(kept.Milliseconds())/float64(b.N), "kept-ms")
			b.ReportMetric(float64(released)/float64(kept), "released/kept")
		})
	}
	st.opts.KeepReadPages = false
}
