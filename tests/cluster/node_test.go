package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/sign"
	"github.com/etaxd/etaxd/internal/testutil"
)

// node is one etaxd process of the cluster: its addresses stay the same
// across restarts, as a node's would.
type node struct {
	t         testing.TB
	name, dir string
	http      string // 127.0.0.1:port of its HTTP API
	route     string // its NATS route address
	natsAddr  string // its NATS client port for ERPs (nats.listen), when it has one
	bin       string
	args, env []string
	cmd       *exec.Cmd
	exited    chan struct{}
	exitCode  int
	logf      *os.File
	starts    int
}

func (n *node) start() {
	n.t.Helper()
	n.starts++
	f, err := os.Create(filepath.Join(n.dir, fmt.Sprintf("%s.%d.log", n.name, n.starts)))
	if err != nil {
		n.t.Fatal(err)
	}
	cmd := exec.Command(n.bin, n.args...)
	cmd.Env = append(os.Environ(), n.env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.cmd, n.logf, n.exited = cmd, f, make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) {
		err := c.Wait()
		n.exitCode = 0
		if ee, ok := err.(*exec.ExitError); ok {
			n.exitCode = ee.ExitCode()
		}
		close(done)
	}(cmd, n.exited)
}

// stop ends the process (SIGTERM, then SIGKILL) if it runs.
func (n *node) stop() {
	if n.cmd == nil {
		return
	}
	select {
	case <-n.exited:
	default:
		_ = n.cmd.Process.Signal(syscall.SIGCONT)
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(20 * time.Second):
			_ = n.cmd.Process.Kill()
			<-n.exited
		}
	}
	n.logf.Close()
}

func (n *node) kill() {
	_ = n.cmd.Process.Kill()
	<-n.exited
	n.logf.Close()
}

// logTail returns the end of the node's logs, for a failure message.
func (n *node) logTail() string {
	var out strings.Builder
	for i := 1; i <= n.starts; i++ {
		b, _ := os.ReadFile(filepath.Join(n.dir, fmt.Sprintf("%s.%d.log", n.name, i)))
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		fmt.Fprintf(&out, "--- %s start %d:\n%s\n", n.name, i, b)
	}
	return out.String()
}

// caller sends HTTP requests to a node: signed with the demo's key for the
// client API, plain for the ops endpoints (dev mode: this machine only).
type caller struct {
	key    string
	secret []byte
}

type answer struct {
	status int
	body   map[string]any
	raw    []byte
}

func (c caller) send(base, method, path string, body any, signed bool, timeout time.Duration) (answer, error) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, "http://"+base+path, bytes.NewReader(raw))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if signed {
		for k, v := range sign.Headers(c.key, c.secret, method, path, raw, time.Now()) {
			req.Header.Set(k, v)
		}
	}
	return do(req, timeout)
}

func do(req *http.Request, timeout time.Duration) (answer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: b}
	_ = json.Unmarshal(b, &a.body)
	return a, nil
}

// raceReports returns the race detector's reports in the node's logs,
// split into those with a frame of etaxd's own code (third_party included)
// in an access stack, and those entirely inside libraries (NOTES of the
// project: protoactor-go's remote.BlockList reads its set without its lock,
// racing the member list's writes; etaxd cannot fix that without a fork).
func (n *node) raceReports() (ours, library []string) {
	for i := 1; i <= n.starts; i++ {
		b, _ := os.ReadFile(filepath.Join(n.dir, fmt.Sprintf("%s.%d.log", n.name, i)))
		for _, r := range testutil.RaceReports(string(b)) {
			if raceInOurCode(r) {
				ours = append(ours, r)
			} else {
				library = append(library, r)
			}
		}
	}
	return ours, library
}

// raceInOurCode reports whether one race report has a frame of etaxd's
// module in a stack of the racing accesses ("Read at", "Previous write
// at", …). The "Goroutine … created at" stacks do not count: every
// goroutine a library runs was started from etaxd's main somewhere.
func raceInOurCode(report string) bool {
	access := false
	for _, line := range strings.Split(report, "\n") {
		switch {
		case strings.HasPrefix(line, "Goroutine "):
			access = false
		case strings.Contains(line, " at 0x") && !strings.HasPrefix(line, " "):
			access = true
		case access && strings.HasPrefix(line, "  github.com/etaxd/etaxd/"):
			return true
		}
	}
	return false
}
