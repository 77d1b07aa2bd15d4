package actors

import (
	"testing"

	"github.com/etaxd/etaxd/internal/testutil"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves goroutines behind: every
// engine a test starts must stop completely (library goroutines aside:
// testutil.LibraryGoroutines).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LibraryGoroutines()...)
}
