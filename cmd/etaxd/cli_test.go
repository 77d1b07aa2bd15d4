package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clearEnv blanks etaxd's environment variables for the test (an empty
// value counts as unset).
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "ETAXD_") {
			t.Setenv(k, "")
		}
	}
}

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut strings.Builder
	code = run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCommandLine(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name       string
		args       []string
		code       int
		stdout     []string
		stderr     []string
		noDataDirs bool
	}{
		{name: "version", args: []string{"version"}, stdout: []string{"etaxd dev go1."}},
		{name: "help", args: []string{"help"}, stdout: []string{"etaxd [serve] [flags]", "etaxd version"}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 2, stderr: []string{`unknown command "frobnicate"`, "Usage:"}},
		{name: "serve -h", args: []string{"serve", "-h"}, stderr: []string{"--data DIR", "ETAXD_DATA", "--listen ADDR", "ETAXD_LISTEN", "--demo", "--config FILE", "docs/FEATURES.md"}},
		{name: "flags without serve -h", args: []string{"-h"}, stderr: []string{"Usage: etaxd serve"}},
		{name: "unknown flag", args: []string{"serve", "--frob"}, code: 2, stderr: []string{"-frob"}},
		{name: "stray argument", args: []string{"serve", "extra"}, code: 2, stderr: []string{`unexpected argument "extra"`}},
		{
			name: "every config problem at once",
			args: []string{"--listen", "nowhere", "--log-level", "loud", "--code-ttl", "soon", "--lock-max-wrong-code", "0"},
			code: 1,
			stderr: []string{
				"invalid configuration (4 problems)",
				"listen: must be host:port", "log_level:", "flag --code-ttl (code_ttl)", "lock.max_wrong_code:",
			},
		},
		{name: "torture is test code, not a command", args: []string{"torture", "--n", "x"}, code: 2, stderr: []string{`unknown command "torture"`, "Usage:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(stderr, s) {
					t.Errorf("stderr lacks %q:\n%s", s, stderr)
				}
			}
		})
	}
}

// TestServeStartErrors: a failure while starting prints a message and
// exits 1, leaving nothing running.
func TestServeStartErrors(t *testing.T) {
	clearEnv(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"port in use", []string{"--dev", "--data", t.TempDir(), "--listen", busy.Addr().String()}, "listen on"},
		{"data dir is a file", []string{"--dev", "--data", notADir, "--listen", "127.0.0.1:0"}, "etaxd: "},
		{"no master key outside dev mode", []string{"--data", t.TempDir(), "--dev=false", "--taxbureau-url", "sim:", "--listen", "127.0.0.1:0"}, "no master key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"serve"}, tt.args...)...)
			if code != 1 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and %q", code, stderr, tt.want)
			}
		})
	}
}

// lockedWriter lets the test read what serve wrote from another goroutine.
type lockedWriter struct {
	mu sync.Mutex
	sb strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sb.Write(p)
}

func (w *lockedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.sb.String()
}

// TestServeInProcess runs serve in this process, with the keys given only
// through the environment (production mode), and stops it by ending its
// context as a signal would.
func TestServeInProcess(t *testing.T) {
	clearEnv(t)
	t.Setenv("ETAXD_MASTER_KEYS", testMasterKeys)
	dir := t.TempDir()
	var stderr *lockedWriter
	t.Run("serve", func(t *testing.T) {
		var url string
		url, stderr = serveInProcess(t, "--data", dir, "--listen", "127.0.0.1:0", "--dev=false", "--taxbureau-url", "sim:")
		if code, err := getJSON(url+"/readyz", nil); err != nil || code != 200 {
			t.Errorf("GET /readyz = %d, %v", code, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "master.keys")); !os.IsNotExist(err) {
			t.Errorf("a key file was created outside dev mode (%v)", err)
		}
	}) // serveInProcess's cleanup stops it as a signal would and checks the exit code
	if !strings.Contains(stderr.String(), "etaxd stopped") {
		t.Errorf("log lacks the stop:\n%s", stderr.String())
	}
}
