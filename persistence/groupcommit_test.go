package persistence

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// TestGroupIsolation shapes one group of commits that conflict with each
// other and checks that each is applied or refused on its own, against the
// writes of the commits before it in the group.
func TestGroupIsolation(t *testing.T) {
	ctx := context.Background()
	b, _ := openTest(t, BoltOptions{})
	mustPut(t, b, "x", "x1", 0) // x at revision 1, before the group

	g := holdCommitter(b, hookReceived)
	// The blocker is the committer's first request; it holds the committer
	// while the group queues behind it.
	blocker := make(chan error, 1)
	go func() { _, err := Put(ctx, b, "blocker", []byte("b"), 0); blocker <- err }()
	<-g.arrived

	type result struct {
		revs []uint64
		err  error
	}
	group := []struct {
		name     string
		ops      []Op
		wantRevs []uint64
		wantErr  error
	}{
		{"create a", []Op{{Key: "a", Value: []byte("a1")}}, []uint64{1}, nil},
		{"create a again: sees the first", []Op{{Key: "a", Value: []byte("lost")}}, nil, ErrRevisionMismatch},
		{"update a: sees the first", []Op{{Key: "a", Value: []byte("a2"), Expected: 1}}, []uint64{2}, nil},
		{"multi-op with one stale op", []Op{
			{Key: "c", Value: []byte("lost")},
			{Key: "x", Value: []byte("lost"), Expected: 1},
			{Key: "a", Value: []byte("lost"), Expected: 1}, // stale: a is at 2
		}, nil, ErrRevisionMismatch},
		{"update x: unaffected by the refused multi-op", []Op{{Key: "x", Value: []byte("x2"), Expected: 1}}, []uint64{2}, nil},
		{"delete a", []Op{{Key: "a", Delete: true, Expected: 2}}, []uint64{0}, nil},
		{"re-create a", []Op{{Key: "a", Value: []byte("a3")}}, []uint64{3}, nil},
		{"create c: the refused multi-op left no c", []Op{{Key: "c", Value: []byte("c1")}}, []uint64{1}, nil},
	}
	results := make([]chan result, len(group))
	for i, c := range group {
		results[i] = make(chan result, 1)
		go func() {
			revs, err := b.Commit(ctx, c.ops...)
			results[i] <- result{revs, err}
		}()
		queued(t, b, i+1) // queue in this order
	}
	close(g.release)
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	for i, c := range group {
		r := <-results[i]
		if c.wantErr != nil {
			if !errors.Is(r.err, c.wantErr) {
				t.Errorf("%s: err = %v, want %v", c.name, r.err, c.wantErr)
			}
			continue
		}
		if r.err != nil || fmt.Sprint(r.revs) != fmt.Sprint(c.wantRevs) {
			t.Errorf("%s: %v, %v; want %v", c.name, r.revs, r.err, c.wantRevs)
		}
	}
	s := b.Stats()
	// One transaction before the group; then the blocker and the group.
	if s.LastBatch != 1+len(group) || s.Transactions != 2 {
		t.Errorf("the group was not one transaction: %+v", s)
	}
	if s.Refused != 2 || s.Commits != 1+1+uint64(len(group))-2 {
		t.Errorf("stats: %+v", s)
	}
	for k, want := range map[string]string{"a": "a3@3", "x": "x2@2", "c": "c1@1"} {
		rec := mustGet(t, b, k)
		if got := fmt.Sprintf("%s@%d", rec.Value, rec.Revision); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
}

// TestConcurrentWriters runs 64 writers: each updates its own key, all
// contend on one shared counter, and all append audit events. Every
// acknowledged write must be readable, with consecutive revisions.
func TestConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	b, path := openTest(t, BoltOptions{MaxBatch: 16})
	const writers, rounds = 64, 40

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	acked := make([][]uint64, writers) // revisions returned to writer w
	var incMu sync.Mutex
	increments := 0
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("w/%02d", w)
			var rev uint64
			for i := range rounds {
				r, err := Put(ctx, b, key, []byte(strconv.Itoa(i)), rev)
				if err != nil {
					errs <- fmt.Errorf("%s round %d: %w", key, i, err)
					return
				}
				acked[w] = append(acked[w], r)
				rev = r
				if i%4 == 0 {
					if err := increment(ctx, b, "shared"); err != nil {
						errs <- err
						return
					}
					incMu.Lock()
					increments++
					incMu.Unlock()
				}
				if i%10 == 0 {
					if err := b.AppendAudit(ctx, AuditEvent{Tenant: "T", Actor: key, Action: strconv.Itoa(i)}); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	verify := func(b *Bolt) {
		t.Helper()
		for w := range writers {
			for i, r := range acked[w] {
				if r != uint64(i+1) {
					t.Fatalf("writer %d: revision %d at round %d", w, r, i)
				}
			}
			rec := mustGet(t, b, fmt.Sprintf("w/%02d", w))
			if rec.Revision != rounds || string(rec.Value) != strconv.Itoa(rounds-1) {
				t.Fatalf("writer %d: %+v", w, rec)
			}
		}
		rec := mustGet(t, b, "shared")
		if string(rec.Value) != strconv.Itoa(increments) || rec.Revision != uint64(increments) {
			t.Fatalf("shared counter = %s@%d, want %d acknowledged increments", rec.Value, rec.Revision, increments)
		}
		n := 0
		_ = b.Audit(ctx, "T", zeroTime, zeroTime, func(AuditEvent) error { n++; return nil })
		if want := writers * ((rounds + 9) / 10); n != want {
			t.Fatalf("%d audit events, want %d", n, want)
		}
	}
	verify(b)
	s := b.Stats()
	t.Logf("stats: %+v", s)
	if s.AvgBatch <= 1 || s.LastBatch > 16 {
		t.Errorf("no group commit under 64 writers, or MaxBatch exceeded: %+v", s)
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	verify(openAt(t, path, BoltOptions{}))
}

// increment adds one to the counter at key, retrying on conflict.
func increment(ctx context.Context, s Store, key string) error {
	for {
		var n int
		var rev uint64
		rec, err := s.Get(ctx, key)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return err
		default:
			if n, err = strconv.Atoi(string(rec.Value)); err != nil {
				return err
			}
			rev = rec.Revision
		}
		_, err = Put(ctx, s, key, []byte(strconv.Itoa(n+1)), rev)
		if !errors.Is(err, ErrRevisionMismatch) {
			return err
		}
	}
}

func TestCancelBeforeTakenWritesNothing(t *testing.T) {
	b, _ := openTest(t, BoltOptions{})
	g := holdCommitter(b, hookReceived)
	blocker := make(chan error, 1)
	go func() { _, err := Put(context.Background(), b, "blocker", []byte("b"), 0); blocker <- err }()
	<-g.arrived

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := Put(ctx, b, "k", []byte("v"), 0); done <- err }()
	queued(t, b, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit = %v, want context.Canceled", err)
	}
	close(g.release)
	if err := <-blocker; err != nil {
		t.Fatal(err)
	}
	// The next write shows the cancelled one was dropped, not applied.
	mustPut(t, b, "after", "v", 0)
	wantAbsent(t, b, "k")
	if s := b.Stats(); s.Cancelled != 1 || s.Commits != 2 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestCancelAfterTakenWaitsForOutcome(t *testing.T) {
	b, _ := openTest(t, BoltOptions{})
	g := holdCommitter(b, hookClaimed)
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		rev uint64
		err error
	}
	done := make(chan result, 1)
	go func() { rev, err := Put(ctx, b, "k", []byte("v"), 0); done <- result{rev, err} }()
	<-g.arrived // claimed: the write will be applied
	cancel()
	select {
	case r := <-done:
		t.Fatalf("Commit returned %+v before its transaction", r)
	default:
	}
	close(g.release)
	if r := <-done; r.err != nil || r.rev != 1 {
		t.Fatalf("Commit = %+v, want revision 1", r)
	}
	mustGet(t, b, "k")
}

func TestContextAlreadyDone(t *testing.T) {
	b, _ := openTest(t, BoltOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Commit(ctx, Op{Key: "k"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Commit = %v", err)
	}
	if err := b.AppendAudit(ctx, AuditEvent{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("AppendAudit = %v", err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get = %v", err)
	}
	wantAbsent(t, b, "k")
}

func TestMaxBatchAndDelay(t *testing.T) {
	ctx := context.Background()
	for _, opts := range []BoltOptions{{MaxBatch: 1}, {MaxBatch: 4, MaxDelay: 200_000}} {
		t.Run(fmt.Sprintf("%+v", opts), func(t *testing.T) {
			b, _ := openTest(t, opts)
			var wg sync.WaitGroup
			for w := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var rev uint64
					for range 10 {
						r, err := Put(ctx, b, fmt.Sprint(w), []byte("v"), rev)
						if err != nil {
							t.Error(err)
							return
						}
						rev = r
					}
				}()
			}
			wg.Wait()
			s := b.Stats()
			if s.Commits != 160 || s.AvgBatch > float64(opts.MaxBatch) {
				t.Fatalf("stats: %+v", s)
			}
		})
	}
}
