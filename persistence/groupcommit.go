package persistence

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"go.etcd.io/bbolt"
)

// Group commit: every write (Commit, AppendAudit) becomes a request on
// b.queue. One committer goroutine takes the first request, gathers what else
// is queued (up to MaxBatch, waiting at most MaxDelay), and applies the group
// in one bbolt transaction, hence one fsync. Each request is validated and
// applied on its own against the transaction, which already holds the writes
// of the requests before it in the group: a revision mismatch fails that
// request alone, and writes nothing of it. Callers are released when the
// transaction is durable.

// Request states. A request moves from pending to taken (by the committer) or
// to cancelled (by its caller whose context ended), never both.
const (
	reqPending uint32 = iota
	reqTaken
	reqCancelled
)

// hookPoint names where the committer calls Bolt.testHook.
type hookPoint int

const (
	hookReceived hookPoint = iota // holds a first request, before gathering
	hookClaimed                   // claimed a group, before its transaction
)

// request is one queued write.
type request struct {
	state atomic.Uint32
	done  chan struct{} // closed by the committer once revs and err are set

	// A Commit: ops, with keys and encoded values prepared by the caller.
	ops  []Op
	prep []prepared

	// Storage for the common single-op Commit, saving two allocations.
	prep1 [1]prepared
	revs1 [1]uint64

	// An audit event (AppendAudit, CommitAudited): the seq (8 bytes, set
	// by the committer), then the audit key (whose last 8 bytes get the
	// seq too) and the JSON, contiguous: auditLogged is key ‖ JSON, the
	// audit log's value.
	auditSeq    []byte
	auditLogged []byte

	// indexAudit asks the committer to move the audit log into the index.
	indexAudit bool

	revs []uint64
	err  error
}

// maxCommitBytes bounds the keys and values of one Commit, so that one call
// cannot make the committer hold an unbounded transaction.
const maxCommitBytes = 64 << 20

// prepared is the encoded form of one op: the key, and for a put the stored
// value (revision placeholder ‖ payload). bbolt keeps value slices until the
// transaction commits, so every prepared value has its own bytes.
type prepared struct {
	key []byte
	val []byte
}

// keyState is what the committer knows of a key after an op of the request:
// the revision it holds (0: absent) and the highest revision it ever had.
type keyState struct {
	stored uint64
	last   uint64
}

// Commit applies ops atomically and durably; see Store.Commit.
//
// The context bounds the wait for the committer: if it ends before the
// committer has taken the write, Commit returns ctx.Err() and nothing is
// written. Once taken, the write is applied or refused as a whole and Commit
// waits for that outcome (at most one transaction) whatever the context.
func (b *Bolt) Commit(ctx context.Context, ops ...Op) ([]uint64, error) {
	return b.commit(ctx, nil, ops)
}

func (b *Bolt) commit(ctx context.Context, ev *AuditEvent, ops []Op) ([]uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if b.closed.Load() {
		return nil, ErrClosed
	}
	size := 0
	for i := range ops {
		op := &ops[i]
		if err := checkKey(op.Key); err != nil {
			return nil, fmt.Errorf("commit op %d: %w", i, err)
		}
		size += len(op.Key)
		if !op.Delete {
			if len(op.Value) > MaxValueLen {
				return nil, fmt.Errorf("commit op %d: %w: key %s, %d bytes (limit %d)", i, ErrValueTooLarge, shortKey(op.Key), len(op.Value), MaxValueLen)
			}
			size += revLen + len(op.Value)
		}
	}
	if len(ops) == 0 && ev == nil {
		return []uint64{}, nil
	}
	if size > maxCommitBytes {
		return nil, fmt.Errorf("commit: %w: %d ops of %d bytes in all (limit %d)", ErrValueTooLarge, len(ops), size, maxCommitBytes)
	}

	// Encode in the caller's goroutine, so the committer only copies
	// pointers. The keys and values, the event's included, share one
	// allocation (arena).
	r := &request{done: make(chan struct{}), ops: ops}
	var arena []byte
	if ev != nil {
		arena = make([]byte, 0, size+auditRoom(ev))
		var err error
		if arena, err = b.prepareAudit(r, ev, arena); err != nil {
			return nil, fmt.Errorf("commit audit: %w", err)
		}
	} else {
		arena = make([]byte, 0, size)
	}
	if len(ops) == 1 {
		r.prep, r.revs = r.prep1[:], r.revs1[:]
	} else {
		r.prep, r.revs = make([]prepared, len(ops)), make([]uint64, len(ops))
	}
	prep := r.prep
	for i := range ops {
		op := &ops[i]
		start := len(arena)
		arena = append(arena, op.Key...)
		prep[i].key = arena[start:len(arena):len(arena)]
		if !op.Delete {
			start = len(arena)
			arena = append(arena, make([]byte, revLen)...)
			arena = append(arena, op.Value...)
			prep[i].val = arena[start:len(arena):len(arena)]
		}
	}
	if err := b.submit(ctx, r); err != nil {
		return nil, err
	}
	if r.err != nil {
		return nil, r.err
	}
	return r.revs, nil
}

// submit queues r and waits for its outcome. It returns ErrClosed or
// ctx.Err() when r was not taken (nothing written); otherwise nil, and r.err
// holds the outcome.
func (b *Bolt) submit(ctx context.Context, r *request) error {
	if err := b.enqueue(ctx, r); err != nil {
		return err
	}
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqPending, reqCancelled) {
			b.cancelled.Add(1)
			return ctx.Err()
		}
		// Taken: the outcome is decided by the transaction under way.
		<-r.done
		return nil
	}
}

// enqueue queues r for the committer, unless the store is closed or ctx
// ends first. The read lock keeps Close from closing the queue under a
// sender; Close takes the write lock, so every sender already past the
// check has queued its request before the committer drains the queue and
// stops.
func (b *Bolt) enqueue(ctx context.Context, r *request) error {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed.Load() {
		return ErrClosed
	}
	select {
	case b.queue <- r:
		return nil
	case <-ctx.Done():
		b.cancelled.Add(1)
		return ctx.Err()
	}
}

// run is the committer: it applies groups of queued requests until Close
// closes the queue, and then returns once every queued request is done.
func (b *Bolt) run() {
	defer close(b.stopped)
	group := make([]*request, 0, b.opts.MaxBatch)
	var timer *time.Timer
	for {
		r, ok := <-b.queue
		if !ok {
			return
		}
		if b.testHook != nil {
			b.testHook(hookReceived)
		}
		group = append(group[:0], r)
		open := b.gather(&group, &timer)
		start := time.Now()
		b.lastQueued = 0
		b.apply(group)
		b.lastLatency = time.Since(start)
		b.lastGroup = len(group)
		clear(group) // drop references for the GC
		if !open {
			return
		}
	}
}

// gather appends queued requests to group, up to MaxBatch, waiting at most
// MaxDelay for more. It reports whether the queue is still open.
func (b *Bolt) gather(group *[]*request, timer **time.Timer) bool {
	max := b.opts.MaxBatch
	waiting := false
	yields := 0
	for len(*group) < max {
		select {
		case r, ok := <-b.queue:
			if !ok {
				return false
			}
			*group = append(*group, r)
			continue
		default:
		}
		// Writers released by the previous group come back within
		// microseconds; committing without them would split the load into
		// a small group and a large one. When writes come concurrently
		// (either group has more than one), yield the processor a few
		// times to let them queue, as long as each yield brings some.
		if yields < b.yieldBudget && (b.lastGroup > 1 || len(*group) > 1) {
			yields++
			runtime.Gosched()
			if len(b.queue) > 0 {
				continue
			}
			yields = b.yieldBudget // no one came: stop yielding
		}
		if b.opts.MaxDelay <= 0 {
			if b.awaitCohort(group, timer) {
				continue
			}
			return true
		}
		if !waiting {
			waiting = true
			if *timer == nil {
				*timer = time.NewTimer(b.opts.MaxDelay)
			} else {
				(*timer).Reset(b.opts.MaxDelay)
			}
		}
		select {
		case r, ok := <-b.queue:
			if !ok {
				(*timer).Stop()
				return false
			}
			*group = append(*group, r)
		case <-(*timer).C:
			return true
		}
	}
	if waiting {
		(*timer).Stop()
	}
	return true
}

// awaitCohort handles what yielding cannot: writers that come back only
// after a round trip through their callers (an actor's mailbox, say), which
// takes longer than a few yields. The writers due are those the last commit
// released (lastGroup), each of which is likely to write again, plus those
// that queued while it ran (lastQueued): when the group has fewer, it waits
// for them, at most the last commit's latency (capped at maxCohortWait).
// That wait is what makes concurrent writers share one fsync instead of
// splitting into two cohorts, each queuing while the other's transaction
// syncs, or into one group per round trip: waiting one commit's latency at
// worst, it is repaid as soon as the group doubles. A wait that times out
// commits what came, and the next target follows from that smaller group,
// so a load that shrank pays it once. A lone writer (lastGroup 1, nothing
// queued) never waits. It reports whether it took a request (call again) or
// not (commit now).
func (b *Bolt) awaitCohort(group *[]*request, timer **time.Timer) bool {
	if b.lastGroup < 2 {
		return false
	}
	target := min(b.opts.MaxBatch, b.lastGroup+b.lastQueued)
	if len(*group) >= target {
		return false
	}
	wait := min(max(b.lastLatency, 50*time.Microsecond), maxCohortWait)
	if *timer == nil {
		*timer = time.NewTimer(wait)
	} else {
		(*timer).Reset(wait)
	}
	defer (*timer).Stop()
	for len(*group) < target {
		select {
		case r, ok := <-b.queue:
			if !ok {
				return false
			}
			*group = append(*group, r)
		case <-(*timer).C:
			return false
		}
	}
	return false
}

// maxCohortWait bounds awaitCohort's wait, as bbolt's own Batch bounds its
// own (MaxBatchDelay, 10 ms).
const maxCohortWait = 5 * time.Millisecond

// apply writes one group in one transaction and releases its callers.
func (b *Bolt) apply(group []*request) {
	// Claim: a request cancelled by its caller is dropped unwritten.
	live := group[:0]
	for _, r := range group {
		if r.state.CompareAndSwap(reqPending, reqTaken) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	if b.testHook != nil {
		b.testHook(hookClaimed)
	}

	start := time.Now()
	var ops uint64
	logged := b.logged // after the transaction
	err := b.update(func(tx *bbolt.Tx) error {
		ops, logged = 0, b.logged
		kv, tomb, audit := tx.Bucket(bucketKV), tx.Bucket(bucketTomb), tx.Bucket(bucketAudit)
		auditLog := tx.Bucket(bucketAuditLog)
		kv.FillPercent, audit.FillPercent, auditLog.FillPercent = kvFill, auditFill, 1
		index := false
		for _, r := range live {
			r.err = nil
			index = index || r.indexAudit
			var n int
			var err error
			if len(r.ops) > 0 {
				n, err = b.applyCommit(kv, tomb, r)
			}
			if err == nil && r.err == nil && r.auditLogged != nil {
				var m int
				m, err = applyAudit(audit, auditLog, r)
				n += m
				logged += m
			}
			if err != nil {
				return err
			}
			ops += uint64(n)
		}
		if (index && logged > 0) || logged >= auditIndexBatch {
			if err := indexAuditLog(tx); err != nil {
				return err
			}
			logged = 0
		}
		return nil
	})
	latency := time.Since(start)
	if err == nil {
		b.logged = logged
		b.loggedAny.Store(logged > 0)
	}

	var ok, conflicts, writes uint64
	for _, r := range live {
		if !r.indexAudit {
			writes++ // not a write of its own
		}
		switch {
		case r.indexAudit:
			if err != nil {
				r.err = fmt.Errorf("persistence: commit: %w", err)
			}
		case err != nil:
			// Nothing of the group was written.
			r.revs, r.err = nil, fmt.Errorf("persistence: commit: %w", err)
		case r.err != nil:
			r.revs = nil
			conflicts++
		default:
			ok++
		}
	}
	b.statsMu.Lock()
	s := &b.stats
	if err != nil {
		s.Failed += writes
		ops = 0
	} else {
		s.Transactions++
		s.Commits += ok
		s.Refused += conflicts
		s.Ops += ops
		s.batched += writes
		s.LastBatch = int(writes)
		s.LastCommitLatency = latency
		s.CommitTime += latency
		if latency > s.MaxCommitLatency {
			s.MaxCommitLatency = latency
		}
	}
	b.statsMu.Unlock()

	// Requests queued now come from writers outside this group: with the
	// group's own, they are the next group awaitCohort waits for.
	b.lastQueued = len(b.queue)
	for _, r := range live {
		close(r.done)
	}
}

// update runs fn in one read-write transaction, turning a panic into an
// error so that one bad request cannot strand every waiting caller.
func (b *Bolt) update(fn func(*bbolt.Tx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in commit: %v", p)
		}
	}()
	return b.db.Update(fn)
}

// applyCommit validates every op of r against tx, and writes them all when
// every revision matches. A refusal is r's own outcome (r.err); the returned
// error is a failure of the transaction itself, which aborts the group. It
// returns the number of records written.
func (b *Bolt) applyCommit(kv, tomb *bbolt.Bucket, r *request) (int, error) {
	n := len(r.ops)
	if cap(b.scratch) < n {
		b.scratch = make([]opState, n)
	}
	st := b.scratch[:n]

	// Phase 1: check every op, computing the key's state before and after
	// it; nothing is written. An op on a key that an earlier op of r wrote
	// starts from that op's outcome.
	var index map[string]int // last op per key, for large requests
	if n > 8 {
		index = make(map[string]int, n)
	}
	for i := range r.ops {
		op := &r.ops[i]
		prev := -1
		if index != nil {
			if j, ok := index[op.Key]; ok {
				prev = j
			}
			index[op.Key] = i
		} else {
			for j := i - 1; j >= 0; j-- {
				if r.ops[j].Key == op.Key {
					prev = j
					break
				}
			}
		}
		var cur keyState
		if prev >= 0 {
			cur = st[prev].after
		} else {
			var err error
			if cur, err = readKeyState(kv, tomb, r.prep[i].key); err != nil {
				r.err = err
				return 0, nil
			}
		}
		if !op.AnyRevision && op.Expected != cur.stored {
			r.err = fmt.Errorf("%w: key %s holds revision %d, expected %d", ErrRevisionMismatch, shortKey(op.Key), cur.stored, op.Expected)
			return 0, nil
		}
		st[i].before = cur
		if op.Delete {
			r.revs[i] = 0
			st[i].after = keyState{stored: 0, last: cur.last}
		} else {
			r.revs[i] = cur.last + 1
			st[i].after = keyState{stored: cur.last + 1, last: cur.last + 1}
		}
	}

	// Phase 2: write. Invariant: tomb holds a key exactly when kv does not
	// and the key has had a revision (stored == 0 && last > 0).
	written := 0
	for i := range r.ops {
		op, p, s := &r.ops[i], &r.prep[i], &st[i]
		if op.Delete {
			if s.before.stored == 0 {
				continue // absent already: nothing to write
			}
			if err := kv.Delete(p.key); err != nil {
				return 0, fmt.Errorf("delete %s: %w", shortKey(op.Key), err)
			}
			if err := tomb.Put(p.key, binary.BigEndian.AppendUint64(nil, s.before.stored)); err != nil {
				return 0, fmt.Errorf("tombstone %s: %w", shortKey(op.Key), err)
			}
			written++
			continue
		}
		binary.BigEndian.PutUint64(p.val, s.after.stored)
		if err := kv.Put(p.key, p.val); err != nil {
			return 0, fmt.Errorf("put %s: %w", shortKey(op.Key), err)
		}
		if s.before.stored == 0 && s.before.last > 0 {
			if err := tomb.Delete(p.key); err != nil {
				return 0, fmt.Errorf("untombstone %s: %w", shortKey(op.Key), err)
			}
		}
		written++
	}
	return written, nil
}

// opState is a key's state before and after one op of a request.
type opState struct {
	before, after keyState
}

// readKeyState returns the state of key in the transaction.
func readKeyState(kv, tomb *bbolt.Bucket, key []byte) (keyState, error) {
	if v := kv.Get(key); v != nil {
		rev, _, err := decodeRecord(key, v)
		if err != nil {
			return keyState{}, err
		}
		return keyState{stored: rev, last: rev}, nil
	}
	if v := tomb.Get(key); v != nil {
		rev, err := decodeTomb(key, v)
		if err != nil {
			return keyState{}, err
		}
		return keyState{last: rev}, nil
	}
	return keyState{}, nil
}
