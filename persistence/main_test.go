package persistence

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/etaxd/etaxd/internal/testutil"
)

// zeroTime is the unbounded end of an audit range.
var zeroTime time.Time

// TestMain fails the package if a test leaves a goroutine behind (a
// committer that Close did not stop, for one).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// openTest opens a Bolt in a temp dir. At cleanup it runs Check, then
// closes the store (unless the test did).
func openTest(t testing.TB, opts BoltOptions) (*Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "etaxd.db")
	return openAt(t, path, opts), path
}

// openAt opens a Bolt at path, checked and closed at cleanup.
func openAt(t testing.TB, path string, opts BoltOptions) *Bolt {
	t.Helper()
	b, err := OpenBolt(path, opts)
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Check(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Check: %v", err)
		}
		if err := b.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return b
}

// mustPut puts value at key expecting revision expected, and returns the new
// revision.
func mustPut(t testing.TB, s Store, key, value string, expected uint64) uint64 {
	t.Helper()
	rev, err := Put(context.Background(), s, key, []byte(value), expected)
	if err != nil {
		t.Fatalf("Put(%q, expected %d): %v", key, expected, err)
	}
	return rev
}

// mustGet returns the record at key.
func mustGet(t testing.TB, s Store, key string) Record {
	t.Helper()
	rec, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return rec
}

// wantAbsent fails unless key holds nothing.
func wantAbsent(t testing.TB, s Store, key string) {
	t.Helper()
	if rec, err := s.Get(context.Background(), key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(%q) = %+v, %v; want ErrNotFound", key, rec, err)
	}
}

// gate lets a test hold the committer at a hookPoint. Install it before the
// first write.
type gate struct {
	at      hookPoint
	arrived chan struct{}
	release chan struct{}
	armed   chan struct{} // one token: the next arrival at `at` blocks
}

// holdCommitter makes the committer stop at point the next time it gets
// there, until the returned release function is called. arrived is closed
// when it stops.
func holdCommitter(b *Bolt, point hookPoint) *gate {
	g := &gate{at: point, arrived: make(chan struct{}), release: make(chan struct{}), armed: make(chan struct{}, 1)}
	g.armed <- struct{}{}
	b.testHook = func(p hookPoint) {
		if p != g.at {
			return
		}
		select {
		case <-g.armed:
			close(g.arrived)
			<-g.release
		default:
		}
	}
	return g
}

// queued waits until n requests wait in b's queue.
func queued(t testing.TB, b *Bolt, n int) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := len(b.queue); got != n {
			return fmt.Errorf("%d requests queued, want %d", got, n)
		}
		return nil
	})
}
