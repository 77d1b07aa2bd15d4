package testutil

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as testing.T's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(r)
}

// run calls Eventually on r and reports whether it failed.
func (r *fatalRecorder) run(d time.Duration, f func() error) (failed bool) {
	defer func() {
		if p := recover(); p != nil {
			if p != r {
				panic(p)
			}
			failed = true
		}
	}()
	Eventually(r, d, f)
	return false
}

// TestEventuallyWaitsForTheCondition: f is called until it returns nil.
func TestEventuallyWaitsForTheCondition(t *testing.T) {
	calls := 0
	r := &fatalRecorder{TB: t}
	if r.run(10*time.Second, func() error {
		if calls++; calls < 5 {
			return fmt.Errorf("call %d", calls)
		}
		return nil
	}) {
		t.Fatalf("failed: %s", r.msg)
	}
	if calls != 5 {
		t.Fatalf("f called %d times, want 5", calls)
	}
}

// TestEventuallyNamesTheLastError: when the time runs out the failure
// carries f's last error.
func TestEventuallyNamesTheLastError(t *testing.T) {
	calls := 0
	r := &fatalRecorder{TB: t}
	if !r.run(20*time.Millisecond, func() error {
		calls++
		if calls == 1 {
			return errors.New("first")
		}
		return fmt.Errorf("inbox holds %d prompts, want 1", 0)
	}) {
		t.Fatal("Eventually returned although f never succeeded")
	}
	if !strings.Contains(r.msg, "inbox holds 0 prompts, want 1") || strings.Contains(r.msg, "first") || calls < 2 {
		t.Fatalf("failure %q after %d calls", r.msg, calls)
	}
}
