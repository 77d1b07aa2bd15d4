// Package natsbustest holds the test helpers of the packages built on
// natsbus (prompts, events): an embedded bus per test, closed at cleanup,
// a test context and a silent logger. It is imported by tests only.
// natsbus's own tests cannot import it (it imports natsbus) and keep
// their copies.
package natsbustest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/etaxd/etaxd/natsbus"
)

// QuietLogger discards everything.
func QuietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// StartBus starts an embedded bus (natsbus.StartEmbedded) on dir, closed
// at cleanup unless the test closed it (Bus.Close runs once).
func StartBus(t testing.TB, dir string) *natsbus.Bus {
	t.Helper()
	b, err := natsbus.StartEmbedded(natsbus.EmbeddedOptions{StoreDir: dir, Logger: QuietLogger()})
	if err != nil {
		t.Fatalf("start embedded NATS: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Context returns a context that ends with the test (or after a minute).
func Context(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
