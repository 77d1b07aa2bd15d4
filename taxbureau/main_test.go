package taxbureau_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: every server,
// client connection, long poll and latency wait must have ended. fasthttp
// (under TestServerUnderFiber) keeps a process-wide date ticker and a
// worker-pool cleaner that sleeps 10 s; they are its own.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"))
}
