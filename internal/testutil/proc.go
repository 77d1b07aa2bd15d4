package testutil

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The helpers below run etaxd's binaries as processes on 127.0.0.1, for the
// tests that drive them from outside (tests/blackbox, tests/browser).

// BuildBinary builds the package pkg of the module (e.g. "cmd/etaxd") into
// dir, with the race detector when race is set, and returns its path.
func BuildBinary(t testing.TB, dir, pkg string, race bool) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/etaxd/etaxd/"+pkg)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./%s: %v\n%s", pkg, err, out)
	}
	return bin
}

// raceBanner starts each report of the race detector, raceEnd ends it.
const (
	raceBanner = "WARNING: DATA RACE"
	raceEnd    = "=================="
)

// RaceReports returns the race detector's reports in a race-built
// program's output, each from its banner to the line that ends it.
func RaceReports(output string) []string {
	var reports []string
	for {
		at := strings.Index(output, raceBanner)
		if at < 0 {
			return reports
		}
		output = output[at:]
		r := output
		if end := strings.Index(output, raceEnd); end > 0 {
			r = output[:end]
		}
		reports = append(reports, r)
		output = output[len(raceBanner):]
	}
}

// FreeAddr returns a 127.0.0.1 address with a port free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// StartProcess runs bin until the test ends (SIGTERM, then SIGKILL after
// 20 s; on Linux also when the test binary dies first). Its output goes to a
// file in dir whose end is logged when the test failed.
func StartProcess(t testing.TB, dir, bin string, env []string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, filepath.Base(bin)+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		f.Close()
		b, _ := os.ReadFile(logPath)
		// A binary built with -race reports a race on its stderr and goes
		// on: that fails the test here, with the reports.
		if races := strings.Join(RaceReports(string(b)), "\n"); races != "" {
			t.Errorf("%s: the race detector found a data race:\n%s", filepath.Base(bin), races[:min(len(races), 12000)])
		}
		if t.Failed() {
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("%s output (last 6000 bytes):\n%s", filepath.Base(bin), b)
		}
	})
}

// WaitReady polls url with Eventually until it answers 200, failing the
// test after timeout.
func WaitReady(t testing.TB, url string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() error {
		r, err := http.Get(url)
		if err != nil {
			return fmt.Errorf("%s not ready: %w", url, err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK {
			return fmt.Errorf("%s not ready: status %d", url, r.StatusCode)
		}
		return nil
	})
}
