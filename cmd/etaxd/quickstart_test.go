package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// quickStart returns the two shell blocks of docs/API.md's quick start:
// the command that starts etaxd and the script pasted next to it.
func quickStart(t *testing.T) (start, script string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n## Quick start")
	if i < 0 {
		t.Fatal("docs/API.md has no quick start")
	}
	sec := doc[i+1:]
	if j := strings.Index(sec[3:], "\n## "); j >= 0 {
		sec = sec[:j+3]
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(sec, -1)
	if len(blocks) != 2 {
		t.Fatalf("the quick start has %d shell blocks, want 2", len(blocks))
	}
	return strings.TrimSpace(blocks[0][1]), blocks[1][1]
}

// TestQuickStart pastes the quick start of docs/API.md into bash against a
// real "etaxd serve --dev --demo", started as its first block says (what
// make run runs, with the environment it sets): the demo key signs, the
// session is ready, reported dead, asked again (awaiting the SMS code), the
// code comes from the simulator with the phone from demo.json, and the
// answer gives a new session. etaxd runs in China time, and every time it
// answers is UTC all the same.
func TestQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a subprocess")
	}
	for _, tool := range []string{"bash", "curl", "openssl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the quick start needs %s, which this machine lacks: apt-get install curl jq openssl (.ci/run does)", tool)
		}
	}
	start, script := quickStart(t)
	if start != "ETAXD_SMS_PER_ACCOUNT_INTERVAL=0 make run" {
		t.Fatalf("the quick start starts etaxd with %q: update this test to run it the same way", start)
	}
	mk, err := os.ReadFile(filepath.Join("..", "..", "Makefile"))
	if err != nil || !strings.Contains(string(mk), "bin/etaxd serve --dev --demo\n") {
		t.Fatalf("make run no longer runs bin/etaxd serve --dev --demo (%v)", err)
	}
	base := regexp.MustCompile(`(?m)^BASE=http://127\.0\.0\.1:8080$`)
	if !base.MatchString(script) || !strings.Contains(script, "DEMO=data/demo.json\n") {
		t.Fatalf("the quick start no longer sets BASE and DEMO as this test expects:\n%s", script)
	}

	dir := t.TempDir()
	t.Setenv("ETAXD_SMS_PER_ACCOUNT_INTERVAL", "0")
	t.Setenv("TZ", "Asia/Shanghai")
	p := startServe(t, "--dev", "--demo", "--data", filepath.Join(dir, "data"), "--listen", "127.0.0.1:0")
	defer func() {
		if code := p.stop(t, syscall.SIGINT); code != 0 {
			t.Errorf("etaxd exit code %d after SIGINT:\n%s", code, p.stderr)
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", base.ReplaceAllLiteralString(script, "BASE="+p.url))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the quick start failed (%v):\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 5 {
		t.Fatalf("the quick start printed %d lines, want 5:\n%s", len(lines), out)
	}
	type answer struct {
		State    string `json:"state"`
		Reported bool   `json:"reported"`
		Session  struct {
			Token     string `json:"token"`
			ExpiresAt string `json:"expires_at"`
		} `json:"session"`
		Prompt struct {
			Kind      string `json:"kind"`
			Message   string `json:"message"`
			ExpiresAt string `json:"expires_at"`
		} `json:"prompt"`
	}
	var a [5]answer
	for _, i := range []int{0, 1, 2, 4} {
		if err := json.Unmarshal([]byte(lines[i]), &a[i]); err != nil {
			t.Fatalf("line %d %q: %v", i+1, lines[i], err)
		}
	}
	if a[0].State != "ready" || a[0].Session.Token == "" {
		t.Errorf("step 1 answered %s, want a ready session", lines[0])
	}
	if !a[1].Reported {
		t.Errorf("step 2 answered %s, want the report taken", lines[1])
	}
	if a[2].State != "awaiting_user" || a[2].Prompt.Kind != "sms_code" || !strings.Contains(a[2].Prompt.Message, "绑定的微信用户") {
		t.Errorf("step 2's new request answered %s, want awaiting the SMS code", lines[2])
	}
	if !regexp.MustCompile(`^SMS code \d{6} sent to 1\d{10}$`).MatchString(lines[3]) {
		t.Errorf("step 3 printed %q, want the code and the full phone", lines[3])
	}
	if a[4].State != "ready" || a[4].Session.Token == "" || a[4].Session.Token == a[0].Session.Token {
		t.Errorf("step 4 answered %s, want a new ready session", lines[4])
	}
	for _, ts := range []string{a[0].Session.ExpiresAt, a[2].Prompt.ExpiresAt, a[4].Session.ExpiresAt} {
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") {
			t.Errorf("time %q is not RFC 3339 in UTC", ts)
		}
	}
}
