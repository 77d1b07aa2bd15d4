package persistence

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/etaxd/etaxd/internal/clock"
)

// BoltOptions tunes a Bolt store. The zero value is usable: every field has a
// default.
type BoltOptions struct {
	// MaxBatch bounds how many writes (Commit and AppendAudit calls) one
	// transaction applies. Zero means 128.
	MaxBatch int
	// MaxDelay is how long the committer may wait for more writes once the
	// queue is empty, before it commits a group that is not full. Zero means
	// it takes what is queued and commits at once: writes that arrive during
	// a commit form the next group, so batching costs no timer. (It still
	// yields the processor a few times when writes come concurrently; see
	// groupYields.) A delay helps only writers that are not yet waiting,
	// and adds to every commit's latency: measure before setting one.
	MaxDelay time.Duration
	// LockTimeout bounds the wait for the file lock, which another process
	// (or another Bolt on the same file) holds. Zero means 1 s.
	LockTimeout time.Duration
	// Clock dates audit events appended without a time. Nil means the real
	// clock (clock.Real).
	Clock clock.Clock
	// KeepReadPages leaves the pages of the file that reads touched mapped
	// into the process, as bbolt does. By default (false) reads give them
	// back (mapped.go): they stay in the page cache but leave the process's
	// resident set, and at most about 32 MiB of the file stays mapped.
	KeepReadPages bool
}

// groupYields bounds how many times the committer yields the processor to
// let released writers queue again before it commits a group. Measured with
// 64 writers (bench_test.go): no yield gives about 32 writes per transaction
// (a small group, then a large one, in turn); 4 give about 58 of 64, and more
// add nothing.
const groupYields = 4

// kvFill and auditFill are how full bbolt packs a page it splits (its
// default is half). Records are rewritten far more often than added, and
// audit events are appended in time order within a tenant, so fuller pages
// mean fewer pages for a transaction to write and sync: with 64 writers
// each committing a 450-byte record and its event, 28.2 pages per
// transaction at the default, 20.9 with these. They are not stored: a file
// written with other values reads the same.
const (
	kvFill    = 0.9
	auditFill = 0.95
)

// Defaults of BoltOptions.
const (
	DefaultMaxBatch    = 128
	DefaultLockTimeout = time.Second
)

// Bolt is the Store on a single bbolt file, with group commit. Create it with
// OpenBolt; the zero value is not usable. It is safe for concurrent use.
type Bolt struct {
	db   *bbolt.DB
	path string
	opts BoltOptions
	now  func() time.Time

	// mu orders senders against Close: submit holds it shared while it
	// queues, Close holds it exclusively while it closes the queue.
	mu      sync.RWMutex
	closed  atomic.Bool
	queue   chan *request
	stopped chan struct{} // closed when the committer has returned

	closeOnce sync.Once
	closeErr  error

	// Owned by the committer.
	scratch     []opState
	lastGroup   int // size of the previous group
	lastQueued  int // requests queued when the previous group was released
	lastLatency time.Duration
	yieldBudget int // see gather; groupYields but in benchmarks
	logged      int // events in the audit log, not yet in the index

	// loggedAny mirrors logged > 0 for readers: Audit asks the committer
	// to index the log only when it holds something.
	loggedAny atomic.Bool

	// testHook, when set before the first write, is called by the committer
	// at each hookPoint; tests block in it to shape groups.
	testHook func(hookPoint)

	// countedWins counts the windows of the map that reads touched since
	// the last sweep of the whole map (mapped.go).
	countedWins atomic.Int64
	sweepEvery  int64 // sweepEvery; tests set less

	cancelled atomic.Uint64
	statsMu   sync.Mutex
	stats     boltCounters
}

// BoltStats are counters of a Bolt store since it was opened, for metrics.
type BoltStats struct {
	// Commits counts writes (Commit and AppendAudit calls) applied and durable.
	Commits uint64
	// Refused counts Commit calls refused by the check (revision mismatch,
	// or a corrupt record): nothing of them was written.
	Refused uint64
	// Failed counts writes lost to a failed transaction (a disk error).
	Failed uint64
	// Cancelled counts writes whose context ended before the committer took
	// them: nothing of them was written.
	Cancelled uint64
	// Transactions counts committed bbolt transactions, hence fsyncs.
	Transactions uint64
	// Ops counts records written: puts, deletes of present keys, audit events.
	Ops uint64
	// AvgBatch is the mean number of writes per committed transaction.
	AvgBatch float64
	// LastBatch is the number of writes in the last committed transaction.
	LastBatch int
	// LastCommitLatency is how long the last transaction took, fsync included.
	LastCommitLatency time.Duration
	// MaxCommitLatency is the longest transaction so far.
	MaxCommitLatency time.Duration
	// CommitTime is the time spent in committed transactions, fsyncs
	// included: over a span, its share of the span is how busy the
	// committer was.
	CommitTime time.Duration
}

// boltCounters is what the committer counts; Stats derives BoltStats.
type boltCounters struct {
	BoltStats
	batched uint64 // writes in committed transactions
}

// OpenBolt opens (or creates, with mode 0600, its directory with 0700) the
// bbolt file at path and starts its committer. If another process holds the
// file, it fails after opts.LockTimeout with an error wrapping ErrLocked.
func OpenBolt(path string, opts BoltOptions) (*Bolt, error) {
	if opts.MaxBatch < 0 || opts.MaxDelay < 0 || opts.LockTimeout < 0 {
		return nil, fmt.Errorf("persistence: open %s: negative BoltOptions (MaxBatch %d, MaxDelay %s, LockTimeout %s)",
			path, opts.MaxBatch, opts.MaxDelay, opts.LockTimeout)
	}
	if opts.MaxBatch == 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.LockTimeout == 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	var clk clock.Clock = clock.Real{}
	if opts.Clock != nil {
		clk = opts.Clock
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("persistence: open %s: %w", path, err)
	}
	// NoSync stays false: a commit returns after fsync, always.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout})
	if err != nil {
		if errors.Is(err, bberrors.ErrTimeout) {
			return nil, fmt.Errorf("persistence: open %s: %w (waited %s; is another etaxd using this data directory?)",
				path, ErrLocked, opts.LockTimeout)
		}
		return nil, fmt.Errorf("persistence: open %s: %w", path, err)
	}
	if err := initLayout(db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("persistence: open %s: %w", path, err)
	}
	var logged int
	if err := db.View(func(tx *bbolt.Tx) error {
		logged = tx.Bucket(bucketAuditLog).Stats().KeyN
		return nil
	}); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("persistence: open %s: %w", path, err)
	}
	b := &Bolt{
		logged:  logged,
		db:      db,
		path:    path,
		opts:    opts,
		now:     clk.Now,
		queue:   make(chan *request, opts.MaxBatch),
		stopped: make(chan struct{}),

		yieldBudget: groupYields,
		sweepEvery:  sweepEvery,
	}
	// Events logged and not yet indexed when the file was closed: the
	// first Audit must index them, as it does those logged since.
	b.loggedAny.Store(logged > 0)
	go b.run()
	return b, nil
}

// initLayout creates the buckets of a new file, and refuses a file written in
// another format or by another program.
func initLayout(db *bbolt.DB) error {
	return db.Update(func(tx *bbolt.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			switch f := meta.Get(keyFormat); string(f) {
			case formatVersion:
			case formatV1:
				// The same layout without the audit log (created below).
				if err := meta.Put(keyFormat, []byte(formatVersion)); err != nil {
					return err
				}
			default:
				return fmt.Errorf("unsupported file format %q (this build reads %q and %q)", f, formatVersion, formatV1)
			}
		} else {
			foreign := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
				return fmt.Errorf("not an etaxd store: it holds bucket %q and no format marker", name)
			})
			if foreign != nil {
				return foreign
			}
			m, err := tx.CreateBucket(bucketMeta)
			if err != nil {
				return err
			}
			if err := m.Put(keyFormat, []byte(formatVersion)); err != nil {
				return err
			}
		}
		for _, name := range [][]byte{bucketKV, bucketTomb, bucketAudit, bucketAuditLog} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		return nil
	})
}

// Path returns the file the store lives in.
func (b *Bolt) Path() string { return b.path }

// Close stops accepting writes, waits until every write already queued is
// committed (and its caller released), then closes the file. Every call
// after Close, Close included, returns ErrClosed.
func (b *Bolt) Close() error {
	first := false
	b.closeOnce.Do(func() {
		first = true
		b.mu.Lock()
		b.closed.Store(true)
		close(b.queue)
		b.mu.Unlock()
		<-b.stopped
		if err := b.db.Close(); err != nil {
			b.closeErr = fmt.Errorf("persistence: close %s: %w", b.path, err)
		}
	})
	if !first {
		return ErrClosed
	}
	return b.closeErr
}

// view runs fn in a read-only transaction, mapping a closed database to
// ErrClosed. fn counts in t what it read of the file's map, which is given
// back when a sweep is due (mapped.go).
func (b *Bolt) view(fn func(tx *bbolt.Tx, t *touched) error) error {
	if b.closed.Load() {
		return ErrClosed
	}
	err := b.db.View(func(tx *bbolt.Tx) error {
		t := touchedIn(b.db, tx, b.opts.KeepReadPages, &b.countedWins, b.sweepEvery)
		defer t.release()
		return fn(tx, &t)
	})
	if errors.Is(err, bberrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// Get returns the record at key; see Store.Get.
func (b *Bolt) Get(ctx context.Context, key string) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, err
	}
	if err := checkKey(key); err != nil {
		return Record{}, fmt.Errorf("get: %w", err)
	}
	rec := Record{Key: key}
	err := b.view(func(tx *bbolt.Tx, t *touched) error {
		k := []byte(key)
		v := tx.Bucket(bucketKV).Get(k)
		t.count(v)
		if v == nil {
			return fmt.Errorf("%w: %s", ErrNotFound, shortKey(key))
		}
		rev, val, err := decodeRecord(k, v)
		if err != nil {
			return err
		}
		rec.Revision = rev
		rec.Value = bytes.Clone(val)
		if rec.Value == nil {
			rec.Value = []byte{}
		}
		return nil
	})
	if err != nil {
		return Record{}, err
	}
	return rec, nil
}

// readPage bounds how many records Scan and Audit copy out of one read
// transaction. They never call fn inside a transaction: fn may then write to
// the store without deadlocking against a remap of the file.
const readPage = 256

// Scan calls fn for every record under prefix, in key order; see Store.Scan.
func (b *Bolt) Scan(ctx context.Context, prefix string, fn func(Record) error) error {
	p := []byte(prefix)
	return walk(ctx, b, bucketKV, p, p, func(k, v []byte) (Record, bool, bool, error) {
		rev, val, err := decodeRecord(k, v)
		if err != nil {
			return Record{}, false, false, err
		}
		return Record{Key: string(k), Value: append([]byte{}, val...), Revision: rev}, true, false, nil
	}, fn)
}

// Audit calls fn for the tenant's events with from <= Time < to, oldest
// first; see Store.Audit. Keys are ordered by time within a tenant, so the
// cost is that of the events in range. When the audit log holds events
// (see layout.go), Audit first has the committer move them into the index,
// which costs one transaction of the group commit; it then reads the index.
func (b *Bolt) Audit(ctx context.Context, tenant string, from, to time.Time, fn func(AuditEvent) error) error {
	if err := checkTenant(tenant); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if b.loggedAny.Load() {
		if err := b.indexAudit(ctx); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	prefix := auditPrefix(tenant)
	var end []byte // first key past the range
	if !to.IsZero() {
		end = auditSeek(tenant, to)
	}
	return walk(ctx, b, bucketAudit, auditSeek(tenant, from), prefix, func(k, v []byte) (AuditEvent, bool, bool, error) {
		var ev AuditEvent
		seq, ok := auditKeySeq(prefix, k)
		if !ok {
			return ev, false, false, fmt.Errorf("persistence: corrupt audit key %x", k)
		}
		// Past the end: the key's time is after to. An equal time (to
		// itself, or clamped) is left to the exact check below.
		if end != nil && bytes.Compare(k[:len(end)], end) > 0 {
			return ev, false, true, nil
		}
		if err := json.Unmarshal(v, &ev); err != nil {
			return ev, false, false, fmt.Errorf("persistence: corrupt audit event %d: %w", seq, err)
		}
		ev.Seq, ev.Tenant = seq, tenant // the key is authoritative
		keep := (from.IsZero() || !ev.Time.Before(from)) && (to.IsZero() || ev.Time.Before(to))
		return ev, keep, false, nil
	}, fn)
}

// walk visits the keys of bucket from seek on while they start with prefix,
// a page of at most readPage kept items per read transaction. take turns a
// key into an item, says whether to keep it and whether the walk is past its
// end; fn gets the kept items outside any transaction.
func walk[T any](ctx context.Context, b *Bolt, bucket, seek, prefix []byte,
	take func(k, v []byte) (item T, keep, stop bool, err error), fn func(T) error) error {
	var after []byte // last key visited; the next page starts past it
	page := make([]T, 0, readPage)
	var windows int64 // of the map, counted (mapped.go)
	defer func() {
		if windows >= scanSweep {
			_ = b.view(func(_ *bbolt.Tx, t *touched) error { t.sweep = true; return nil })
		} else if windows > 0 {
			b.countedWins.Add(windows)
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		page = page[:0]
		more := false
		err := b.view(func(tx *bbolt.Tx, t *touched) error {
			t.scan = true
			defer func() { windows += t.windows }()
			c := tx.Bucket(bucket).Cursor()
			var k, v []byte
			if after == nil {
				k, v = c.Seek(seek)
			} else if k, v = c.Seek(after); bytes.Equal(k, after) {
				k, v = c.Next()
			}
			for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				if len(page) == readPage {
					more = true
					return nil
				}
				t.count(k)
				t.count(v)
				item, keep, stop, err := take(k, v)
				if err != nil || stop {
					return err
				}
				after = append(after[:0], k...)
				if keep {
					page = append(page, item)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, it := range page {
			if err := fn(it); err != nil {
				return err
			}
		}
		if !more {
			return nil
		}
	}
}

// Stats returns the store's counters. It is cheap and safe to call at any
// time, after Close included.
func (b *Bolt) Stats() BoltStats {
	b.statsMu.Lock()
	c := b.stats
	b.statsMu.Unlock()
	s := c.BoltStats
	s.Cancelled = b.cancelled.Load()
	if s.Transactions > 0 {
		s.AvgBatch = float64(c.batched) / float64(s.Transactions)
	}
	return s
}

// Check verifies the file: bbolt's own consistency check (pages, freelist,
// ordering), then etaxd's layout (every record carries a revision, tombstones
// and records never share a key, audit keys are well formed). It takes the
// writer lock while it runs, so commits wait: it is meant for tests and
// offline tools. It returns every problem found, joined.
func (b *Bolt) Check() error {
	if b.closed.Load() {
		return ErrClosed
	}
	// A writable transaction makes tx.Check safe against the committer; it
	// is rolled back, so nothing is written.
	tx, err := b.db.Begin(true)
	if err != nil {
		if errors.Is(err, bberrors.ErrDatabaseNotOpen) {
			return ErrClosed
		}
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var errs []error
	for err := range tx.Check() {
		errs = append(errs, err)
	}
	kv, tomb, audit, auditLog := tx.Bucket(bucketKV), tx.Bucket(bucketTomb), tx.Bucket(bucketAudit), tx.Bucket(bucketAuditLog)
	if kv == nil || tomb == nil || audit == nil || auditLog == nil {
		return errors.Join(append(errs, errors.New("persistence: check: a bucket is missing"))...)
	}
	_ = kv.ForEach(func(k, v []byte) error {
		if _, _, err := decodeRecord(k, v); err != nil {
			errs = append(errs, err)
		}
		if len(k) == 0 || len(k) > MaxKeyLen {
			errs = append(errs, fmt.Errorf("persistence: check: invalid key %s", shortKey(string(k))))
		}
		return nil
	})
	_ = tomb.ForEach(func(k, v []byte) error {
		if _, err := decodeTomb(k, v); err != nil {
			errs = append(errs, err)
		}
		if kv.Get(k) != nil {
			errs = append(errs, fmt.Errorf("persistence: check: key %s is both live and deleted", shortKey(string(k))))
		}
		return nil
	})
	maxSeq := audit.Sequence()
	_ = audit.ForEach(func(k, v []byte) error {
		i := bytes.IndexByte(k, 0)
		seq, ok := uint64(0), false
		if i >= 0 {
			seq, ok = auditKeySeq(k[:i+1], k)
		}
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("persistence: check: malformed audit key %x", k))
		case seq == 0 || seq > maxSeq:
			errs = append(errs, fmt.Errorf("persistence: check: audit seq %d outside 1..%d", seq, maxSeq))
		case !json.Valid(v):
			errs = append(errs, fmt.Errorf("persistence: check: audit event %d is not JSON", seq))
		}
		return nil
	})
	_ = auditLog.ForEach(func(k, v []byte) error {
		key, val, ok := splitLogged(v)
		var seq uint64
		if ok && len(k) == 8 {
			seq = binary.BigEndian.Uint64(k)
			i := bytes.IndexByte(key, 0)
			s, good := auditKeySeq(key[:i+1], key)
			ok = good && s == seq
		}
		switch {
		case !ok || len(k) != 8:
			errs = append(errs, fmt.Errorf("persistence: check: malformed audit log entry %x", k))
		case seq == 0 || seq > maxSeq:
			errs = append(errs, fmt.Errorf("persistence: check: logged audit seq %d outside 1..%d", seq, maxSeq))
		case !json.Valid(val):
			errs = append(errs, fmt.Errorf("persistence: check: logged audit event %d is not JSON", seq))
		case audit.Get(key) != nil:
			errs = append(errs, fmt.Errorf("persistence: check: audit event %d is both logged and indexed", seq))
		}
		return nil
	})
	return errors.Join(errs...)
}
