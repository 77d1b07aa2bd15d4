package taxbureau

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// The Gateway's method names, as SetFault, FailNext and Calls take them.
const (
	MethodLogin              = "Login"
	MethodSubmitCode         = "SubmitCode"
	MethodStartQR            = "StartQR"
	MethodPollQR             = "PollQR"
	MethodStartCertification = "StartCertification"
	MethodPollCertification  = "PollCertification"
	MethodRelations          = "Relations"
	MethodVerifyPassword     = "VerifyPassword"
	MethodStartReset         = "StartReset"
	MethodCompleteReset      = "CompleteReset"
	MethodCheckSession       = "CheckSession"
)

type method int

const (
	mLogin method = iota
	mSubmitCode
	mStartQR
	mPollQR
	mStartCertification
	mPollCertification
	mRelations
	mVerifyPassword
	mStartReset
	mCompleteReset
	mCheckSession
	numMethods
)

var methodNames = [numMethods]string{
	MethodLogin, MethodSubmitCode, MethodStartQR, MethodPollQR,
	MethodStartCertification, MethodPollCertification, MethodRelations,
	MethodVerifyPassword, MethodStartReset, MethodCompleteReset, MethodCheckSession,
}

// Methods lists the Gateway's method names.
func Methods() []string { return append([]string(nil), methodNames[:]...) }

// methodOf maps a method name to its index. An unknown name is a bug in the
// test that passed it, so it panics rather than let an assertion pass
// vacuously.
func methodOf(name string) method {
	for i, n := range methodNames {
		if n == name {
			return method(i)
		}
	}
	panic(fmt.Sprintf("taxbureau: unknown Gateway method %q", name))
}

// faults are the test hooks of a Simulator. They have their own lock so a
// slow call never holds the simulator's state.
type faults struct {
	calls [numMethods]atomic.Int64

	mu      sync.Mutex
	latency time.Duration
	sticky  [numMethods]error
	next    [numMethods][]error
}

// SetFault makes every later call of method fail with err (after counting and
// latency) until SetFault(method, nil). Use a domain catalogue error such as
// domain.ErrBureauUnavailable, or any error for a transport failure. It
// panics on an unknown method name.
func (s *Simulator) SetFault(method string, err error) {
	m := methodOf(method)
	s.faults.mu.Lock()
	s.faults.sticky[m] = err
	s.faults.mu.Unlock()
}

// FailNext makes the next call of method fail with err, once. Calls queue:
// FailNext twice fails the next two calls. One-shot faults go before a
// SetFault one. It panics on an unknown method name.
func (s *Simulator) FailNext(method string, err error) {
	m := methodOf(method)
	s.faults.mu.Lock()
	s.faults.next[m] = append(s.faults.next[m], err)
	s.faults.mu.Unlock()
}

// SetLatency delays every Gateway call by d before it does anything, as a
// slow bureau would. The delay runs on a real timer (ctx deadlines are real
// time) and ends early, with ctx.Err(), when ctx does. Zero removes it.
func (s *Simulator) SetLatency(d time.Duration) {
	s.faults.mu.Lock()
	s.faults.latency = d
	s.faults.mu.Unlock()
}

// Calls is how many times method was called, faulted calls and calls with a
// done ctx included. It panics on an unknown method name.
func (s *Simulator) Calls(method string) int {
	return int(s.faults.calls[methodOf(method)].Load())
}

// ResetCalls sets every call counter to zero.
func (s *Simulator) ResetCalls() {
	for i := range s.faults.calls {
		s.faults.calls[i].Store(0)
	}
}

// begin is the start of every Gateway method: count the call, honour a done
// ctx, wait out the latency, then return the injected fault, if any. A
// non-nil result ends the call before any rule runs, so a faulted call has no
// effect at the bureau.
func (s *Simulator) begin(ctx context.Context, m method) error {
	f := &s.faults
	f.calls[m].Add(1)
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	latency := f.latency
	f.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if q := f.next[m]; len(q) > 0 {
		err := q[0]
		f.next[m] = q[1:]
		return err
	}
	return f.sticky[m]
}
