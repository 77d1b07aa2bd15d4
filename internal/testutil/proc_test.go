package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cleanupRecorder is a testing.TB that keeps its cleanups for the test to
// run, and records Errorf and Logf.
type cleanupRecorder struct {
	testing.TB
	cleanups []func()
	errors   []string
	failed   bool
}

func (r *cleanupRecorder) Helper()             {}
func (r *cleanupRecorder) Cleanup(f func())    { r.cleanups = append(r.cleanups, f) }
func (r *cleanupRecorder) Failed() bool        { return r.failed }
func (r *cleanupRecorder) Logf(string, ...any) {}
func (r *cleanupRecorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
	r.failed = true
}

// end runs the cleanups, last first, as testing does.
func (r *cleanupRecorder) end() {
	for i := len(r.cleanups) - 1; i >= 0; i-- {
		r.cleanups[i]()
	}
}

// TestStartProcessFailsOnARace: a race-built binary that races goes on
// running; the race detector's report in its output fails the test that
// started it, and a binary that does not race fails nothing.
func TestStartProcessFailsOnARace(t *testing.T) {
	dir := t.TempDir()
	for _, race := range []bool{true, false} {
		bin := BuildBinary(t, dir, "internal/testutil/testdata/racer", race)
		r := &cleanupRecorder{TB: t}
		StartProcess(r, dir, bin, nil)
		Eventually(t, time.Minute, func() error {
			b, err := os.ReadFile(filepath.Join(dir, filepath.Base(bin)+".log"))
			if err != nil || !strings.Contains(string(b), "racer: wrote") {
				return fmt.Errorf("racer has not run yet (%v): %q", err, b)
			}
			return nil
		})
		r.end()
		switch {
		case race && (len(r.errors) != 1 || !strings.Contains(r.errors[0], "the race detector found a data race") || !strings.Contains(r.errors[0], "main.main")):
			t.Errorf("race-built racer: errors %q, want one with the report", r.errors)
		case !race && len(r.errors) != 0:
			t.Errorf("racer without -race: errors %q, want none", r.errors)
		}
	}
}

// TestRaceReports: each report runs from its banner to the line that ends
// it; text around and between reports is not part of any.
func TestRaceReports(t *testing.T) {
	out := "start\n" +
		"==================\nWARNING: DATA RACE\nWrite at 0x1 by goroutine 7:\n  main.a()\n==================\n" +
		"between\n" +
		"==================\nWARNING: DATA RACE\nRead at 0x2 by goroutine 8:\n  main.b()\n"
	got := RaceReports(out)
	want := []string{
		"WARNING: DATA RACE\nWrite at 0x1 by goroutine 7:\n  main.a()\n",
		"WARNING: DATA RACE\nRead at 0x2 by goroutine 8:\n  main.b()\n",
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("RaceReports = %q, want %q", got, want)
	}
	if got := RaceReports("no race here\n"); got != nil {
		t.Fatalf("RaceReports of clean output = %q", got)
	}
}
