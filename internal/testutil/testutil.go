package testutil

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// SyncBuffer is a bytes.Buffer safe for concurrent writers (slog handlers
// on many goroutines) and readers. The zero value is ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Bytes returns a copy of everything written so far.
func (s *SyncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Eventually calls f until it returns nil, failing t with f's last error
// when d passes first: f names what it waits for in that error. It is the
// one poller of etaxd's tests: a test waits for a condition, never for a
// fixed time. The pause between calls starts at a millisecond and doubles
// up to maxPollInterval, so a condition met at once costs nothing and one
// polled over HTTP is not hammered. f runs in the caller's goroutine and
// may fail t itself when waiting longer cannot help.
func Eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	pause := time.Millisecond
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met in %v: %v", d, err)
		}
		time.Sleep(pause)
		pause = min(2*pause, maxPollInterval)
	}
}

// maxPollInterval bounds Eventually's pause between calls.
const maxPollInterval = 50 * time.Millisecond

// LibraryGoroutines are the goroutines our libraries leave running after
// everything of ours has stopped, for goleak to ignore, each by its exact
// function:
//   - protoactor-go's dead-letter throttle: one per throttled burst, it
//     outlives ActorSystem.Shutdown by up to its interval and ends alone;
//   - fasthttp's process-wide date ticker, which never stops;
//   - fasthttp's idle-worker cleaner of a server that was shut down, which
//     notices only at its next 10-second tick.
func LibraryGoroutines() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	}
}
