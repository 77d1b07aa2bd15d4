package httpapi

import (
	"github.com/etaxd/etaxd/internal/testutil"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind, except those
// our libraries leave (testutil.LibraryGoroutines).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LibraryGoroutines()...)
}
