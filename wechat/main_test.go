package wechat

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/etaxd/etaxd/internal/testutil"
)

// TestMain fails the package if a test leaves goroutines behind: every
// engine and app a test starts must stop completely (library goroutines
// aside: testutil.LibraryGoroutines).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testutil.LibraryGoroutines()...)
}
