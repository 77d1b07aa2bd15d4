package actors

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/testutil"
)

// TestWorkers: every scheduled run runs once, also when runs come faster
// than workers free up and from inside a run (a mailbox scheduling
// another); at most maxIdle workers stay idle; stop ends them, and a run
// scheduled after stop still runs.
func TestWorkers(t *testing.T) {
	w := newWorkers(300, 4)
	var ran atomic.Int64
	var wg sync.WaitGroup
	const n = 2000
	wg.Add(n + n/10)
	for i := range n {
		w.Schedule(func() {
			defer wg.Done()
			ran.Add(1)
			if i%10 == 0 {
				w.Schedule(func() { ran.Add(1); wg.Done() })
			}
		})
	}
	wg.Wait()
	if got := ran.Load(); got != n+n/10 {
		t.Fatalf("%d runs ran, want %d", got, n+n/10)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if idle := w.idle.Load(); idle > 4 {
			return fmt.Errorf("%d idle workers, at most 4 wanted", idle)
		}
		return nil
	})
	before := runtime.NumGoroutine()
	w.stop()
	testutil.Eventually(t, 5*time.Second, func() error {
		if w.idle.Load() != 0 {
			return fmt.Errorf("%d workers still idle after stop", w.idle.Load())
		}
		return nil
	})
	done := make(chan struct{})
	w.Schedule(func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a run scheduled after stop did not run")
	}
	t.Logf("goroutines before stop %d, after %d", before, runtime.NumGoroutine())
}
