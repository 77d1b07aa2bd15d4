package events

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/etaxd/etaxd/natsbus"
)

// TestMain fails the package if a test leaves a goroutine behind: an event
// stream, webhook dispatcher or bus that Close did not stop. nats-server
// v2.15.3 and nats.go v1.55.0 leave none once Bus.Close returned (Shutdown
// plus WaitForShutdown), so nothing is ignored; if an upgrade adds some,
// list them here by their exact top function with goleak.IgnoreTopFunction.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// quietLogger discards everything.
func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// startBus starts an embedded bus on dir, closed at cleanup unless the
// test closed it.
func startBus(t testing.TB, dir string) *natsbus.Bus {
	t.Helper()
	b, err := natsbus.StartEmbedded(natsbus.EmbeddedOptions{StoreDir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatalf("start embedded NATS: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// testCtx returns a context that ends with the test (or after a minute).
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
