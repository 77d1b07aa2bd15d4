package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/etaxd/etaxd/internal/testutil"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/etaxd/etaxd/config"
	"github.com/etaxd/etaxd/persistence"
)

// binDir holds the etaxd binary the subprocess tests share; TestMain
// removes it.
var binDir string

func TestMain(m *testing.M) {
	if os.Getenv(tortureEnv) == "1" {
		os.Exit(tortureMain()) // a durability test's subprocess, not a test run
	}
	dir, err := os.MkdirTemp("", "etaxd-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	if code == 0 {
		// Every in-process stack the tests opened was closed: nothing of
		// it (actors, committer, prompt drain, HTTP) may be left running.
		if err := goleak.Find(fasthttpGoroutines...); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// fasthttpGoroutines are fasthttp's own: a process-wide date ticker that
// never stops, and a worker-pool cleaner that notices the shutdown only
// after its 10 s sleep.
var fasthttpGoroutines = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// etaxdBinary builds ./cmd/etaxd once per test run (with -race when the
// tests have it) and returns its path.
func etaxdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		}
		binPath = filepath.Join(binDir, "etaxd")
		args := []string{"build", "-buildvcs=false", "-o", binPath}
		if raceBuild {
			args = append(args, "-race")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, goTool, append(args, ".")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader on different
// syncBuffer collects log output written from many goroutines.
type syncBuffer = testutil.SyncBuffer

// testOptions are serve's defaults on dir in dev mode (a key file is
// created, the simulator serves), with a random port.
func testOptions(dir string) config.Options {
	o := config.Default()
	o.Dev = true
	o.DataDir = dir
	o.Listen = "127.0.0.1:0"
	o.LogLevel = "debug"
	o.NodeName = "test"
	return o
}

// openTestStack opens the stack serve runs on dir, logging as JSON at debug
// level into logs (nil: discarded), and closes it at the end of the test.
func openTestStack(t *testing.T, dir string, logs *syncBuffer) *stack {
	t.Helper()
	o := testOptions(dir)
	log := slog.New(slog.DiscardHandler)
	if logs != nil {
		o.LogFormat = "json"
		log = newLogger(o, logs)
	}
	st, err := openStack(o, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// closeStack closes st and checks the bbolt file's consistency first.
func closeStack(t *testing.T, st *stack) {
	t.Helper()
	if err := st.bolt.Check(); err != nil {
		t.Errorf("store check: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// storeSnapshot maps every key of the store to its revision, plus the
// number of audit events of tenant.
func storeSnapshot(t *testing.T, s persistence.Store, tenant string) (map[string]uint64, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	revs := map[string]uint64{}
	if err := s.Scan(ctx, "", func(r persistence.Record) error {
		revs[r.Key] = r.Revision
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := s.Audit(ctx, tenant, time.Time{}, time.Time{}, func(persistence.AuditEvent) error {
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return revs, n
}

// exitCode returns a finished command's exit code, -1 when a signal ended
// it.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -2
}
