package httpapi

import (
	"testing"

	"github.com/etaxd/etaxd/internal/testutil"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind, except those
// our libraries leave (testutil.LibraryGoroutines).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LibraryGoroutines()...)
}
