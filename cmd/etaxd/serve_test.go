package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/testutil"
)

// etaxdProcess is a running "etaxd serve" subprocess.
type etaxdProcess struct {
	cmd    *exec.Cmd
	url    string
	line   string
	stderr *syncBuffer
	done   chan error
}

var servingLine = regexp.MustCompile(`^etaxd serving on (http://\S+) \(`)

// startServe starts etaxd serve with args and waits for the line that says
// where it listens. The process is killed at the end of the test if it is
// still running.
func startServe(t *testing.T, args ...string) *etaxdProcess {
	t.Helper()
	bin := etaxdBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve"}, args...)...)
	p := &etaxdProcess{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, out)
		p.done <- cmd.Wait()
	}()
	select {
	case p.line = <-lines:
	case err := <-p.done:
		t.Fatalf("etaxd serve exited early (%v):\n%s", err, p.stderr)
	case <-ctx.Done():
		t.Fatalf("etaxd serve printed nothing:\n%s", p.stderr)
	}
	m := servingLine.FindStringSubmatch(p.line)
	if m == nil {
		t.Fatalf("first line %q does not say where etaxd serves", p.line)
	}
	p.url = m[1]
	return p
}

// stop sends sig and returns the exit code.
func (p *etaxdProcess) stop(t *testing.T, sig os.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		return exitCode(err)
	case <-time.After(time.Minute):
		t.Fatalf("etaxd did not stop on %v:\n%s", sig, p.stderr)
	}
	return -3
}

func getJSON(url string, v any) (int, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: %w", b, err)
		}
	}
	return resp.StatusCode, nil
}

// TestServeDemo runs "etaxd serve --demo" as a user would: it says where
// it is, answers the ops endpoints, keeps the data dir to itself, stops
// cleanly on SIGTERM and on SIGINT, reseeds nothing on a second start,
// and leaves no demo secret in the bbolt file or its log.
func TestServeDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a subprocess")
	}
	dir := t.TempDir()
	demoPath := filepath.Join(dir, "demo.json")
	args := []string{"--dev", "--demo", "--data", dir, "--listen", "127.0.0.1:0", "--log-level", "debug", "--node-name", "n-test"}

	p := startServe(t, args...)
	if !strings.Contains(p.line, "data "+dir) || !strings.Contains(p.line, demoPath) {
		t.Errorf("the serving line %q does not name the data dir and demo.json", p.line)
	}
	var health map[string]string
	if code, err := getJSON(p.url+"/healthz", &health); err != nil || code != 200 || health["status"] != "ok" {
		t.Fatalf("GET /healthz = %d %v %v", code, health, err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if code, err := getJSON(p.url+"/readyz", nil); err != nil || code != 200 {
			return fmt.Errorf("GET /readyz = %d, %v", code, err)
		}
		return nil
	})
	var status struct {
		Node   string         `json:"node"`
		Ready  bool           `json:"ready"`
		Engine map[string]any `json:"engine"`
		Store  map[string]any `json:"store"`
	}
	if code, err := getJSON(p.url+"/ops/status", &status); err != nil || code != 200 || status.Node != "n-test" || !status.Ready ||
		status.Engine == nil || status.Store == nil || status.Store["commits"].(float64) < 1 {
		t.Errorf("GET /ops/status = %d %+v %v", code, status, err)
	}

	// A second etaxd on the same data dir is refused, with exit code 1.
	second := exec.Command(etaxdBinary(t), "serve", "--dev", "--data", dir, "--listen", "127.0.0.1:0")
	var secondErr bytes.Buffer
	second.Stderr = &secondErr
	if err := second.Run(); exitCode(err) != 1 || !strings.Contains(secondErr.String(), "another etaxd") {
		t.Errorf("second etaxd on the data dir: %v\n%s", err, secondErr.String())
	}

	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, p.stderr)
	}
	log1 := p.stderr.String()
	for _, want := range []string{"demo seeded", "etaxd shutting down", "etaxd stopped", "created a development master key file",
		"level=WARN msg=\"DEV MODE: for this machine only", "/h5/dev/signin signs anyone in as any openid", "/sim/v1 reveals live SMS codes",
		"level=WARN msg=\"no WeChat official account"} {
		if !strings.Contains(log1, want) {
			t.Errorf("log lacks %q:\n%s", want, log1)
		}
	}
	demo1, err := os.ReadFile(demoPath)
	if err != nil {
		t.Fatal(err)
	}

	// Second start: nothing to seed, same demo.json; SIGINT stops it too.
	p2 := startServe(t, args...)
	if code := p2.stop(t, os.Interrupt); code != 0 {
		t.Fatalf("exit code %d after SIGINT:\n%s", code, p2.stderr)
	}
	if !strings.Contains(p2.stderr.String(), "demo already seeded") {
		t.Errorf("second start did not reuse the demo:\n%s", p2.stderr)
	}
	demo2, err := os.ReadFile(demoPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(demo1, demo2) {
		t.Error("demo.json changed on the second start")
	}

	var df demoFile
	if err := json.Unmarshal(demo1, &df); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(dir, "etaxd.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := log1 + p2.stderr.String()
	secrets := []string{df.ActivationCode, df.APIKeySecret}
	for _, person := range df.Persons {
		secrets = append(secrets, person.Password)
	}
	for _, s := range secrets {
		if bytes.Contains(db, []byte(s)) {
			t.Errorf("the bbolt file holds %q in clear", s)
		}
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q", s)
		}
	}
	if strings.Contains(logs, "DATA RACE") {
		t.Errorf("the race detector fired:\n%s", logs)
	}
}
