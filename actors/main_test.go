package actors

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: every
// engine a test starts must stop completely. protoactor-go's dead-letter
// throttle starts a goroutine per throttled burst that outlives Shutdown by
// up to its interval; it is the library's, and it ends by itself.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}
