package events

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/etaxd/etaxd/natsbus/natsbustest"
)

// TestMain fails the package if a test leaves a goroutine behind: an event
// stream, webhook dispatcher or bus that Close did not stop. nats-server
// v2.15.3 and nats.go v1.55.0 leave none once Bus.Close returned (Shutdown
// plus WaitForShutdown), so nothing is ignored; if an upgrade adds some,
// list them here by their exact top function with goleak.IgnoreTopFunction.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The bus helpers shared with the other packages on natsbus.
var (
	quietLogger = natsbustest.QuietLogger
	startBus    = natsbustest.StartBus
	testCtx     = natsbustest.Context
)
