package scale

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/internal/sign"
)

// The etaxd process a run measures: started, asked for its memory, sent
// requests, stopped.

// proc is a running etaxd.
type proc struct {
	cmd    *exec.Cmd
	base   string
	ready  time.Duration
	client *http.Client
	freed  chan string // the memory hook's lines
	done   chan error  // Wait's outcome
	log    *os.File
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startEtaxd starts `etaxd serve --dev` on dir and returns once /readyz
// answers 200, with the time since the process was started; args are added
// to its command line.
func startEtaxd(ctx context.Context, bin, dir, logPath string, args []string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &proc{base: "http://127.0.0.1:" + strconv.Itoa(port), freed: make(chan string, 4), done: make(chan error, 1), log: lf,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	// Idle accounts would passivate after 10 min; the run must see every
	// activated account still active. Request log lines at info level
	// would be written for every request: warn keeps stderr quiet.
	p.cmd = exec.Command(bin, append([]string{"serve", "--dev", "--data", dir, "--listen", "127.0.0.1:" + strconv.Itoa(port),
		"--idle-timeout", "2h", "--log-level", "warn"}, args...)...)
	p.cmd.Stdout = lf
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(lf, line)
			if strings.HasPrefix(line, "etaxd-scale: memory freed") {
				p.freed <- line
			}
		}
		p.done <- p.cmd.Wait()
	}()
	for {
		if r, err := p.client.Get(p.base + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				p.ready = time.Since(start)
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("etaxd exited before it was ready (%v); see %s", err, logPath)
		case <-ctx.Done():
			p.kill()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Since(start) > 5*time.Minute {
			p.kill()
			return nil, fmt.Errorf("etaxd not ready after 5 min; see %s", logPath)
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-p.done:
		p.log.Close()
		p.done <- err // for kill
		if err != nil {
			return fmt.Errorf("etaxd: %w", err)
		}
		return nil
	case <-time.After(2 * time.Minute):
		p.kill()
		return errors.New("etaxd did not stop within 2 min of SIGTERM")
	}
}

// kill ends the process if it still runs.
func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
	}
}

// memory asks the process to collect its garbage and return it to the OS
// (SIGUSR1, the etaxdscale hook), waits for its line, then reads VmRSS.
func (p *proc) memory(ctx context.Context, stage string) (Memory, error) {
	m := Memory{Stage: stage}
	var err error
	var before procStatus
	if before, err = procMem(p.cmd.Process.Pid); err != nil {
		return m, err
	}
	m.RSSBefore = before.rss
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return m, err
	}
	var line string
	select {
	case line = <-p.freed:
	case <-time.After(2 * time.Minute):
		return m, errors.New("etaxd did not answer SIGUSR1 within 2 min: was it built with -tags etaxdscale?")
	case <-ctx.Done():
		return m, ctx.Err()
	}
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "heap_inuse":
			m.HeapInuse = n
		case "stacks":
			m.Stacks = n
		case "goroutines":
			m.Goroutines = int(n)
		}
	}
	after, err := procMem(p.cmd.Process.Pid)
	if err != nil {
		return m, err
	}
	m.RSS, m.HWM, m.RSSAnon, m.RSSFile = after.rss, after.hwm, after.anon, after.file
	var st struct {
		Engine struct {
			ActiveAccounts int64 `json:"active_accounts"`
		} `json:"engine"`
		Caches map[string]int `json:"caches"`
	}
	if err := p.ops(ctx, "/ops/status", &st); err != nil {
		return m, err
	}
	m.ActiveAccounts, m.Nonces = st.Engine.ActiveAccounts, st.Caches["nonces"]
	return m, nil
}

type procStatus struct{ rss, hwm, anon, file int64 }

// procMem reads VmRSS, VmHWM, RssAnon and RssFile of pid, in bytes.
func procMem(pid int) (procStatus, error) {
	var s procStatus
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			s.rss = kb << 10
		case "VmHWM:":
			s.hwm = kb << 10
		case "RssAnon:":
			s.anon = kb << 10
		case "RssFile:":
			s.file = kb << 10
		}
	}
	if s.rss == 0 {
		return s, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return s, nil
}

// ops GETs an operator endpoint (dev mode: no token, from this machine)
// into v.
func (p *proc) ops(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	if err != nil {
		return err
	}
	r, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, r.Status, b)
	}
	return json.Unmarshal(b, v)
}

// session is POST /api/v1/sessions for the account, signed with its
// tenant's key; it checks the answer is ready with the account's own
// session, and returns the round trip's time.
func (p *proc) session(ctx context.Context, t *Tenant, id string) (time.Duration, error) {
	body := []byte(`{"account_id":"` + id + `","business":"issue"}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/api/v1/sessions", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range sign.Headers(t.KeyID, []byte(t.KeySecret), http.MethodPost, "/api/v1/sessions", body, time.Now()) {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	r, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(r.Body)
	d := time.Since(start)
	r.Body.Close()
	if err != nil {
		return 0, err
	}
	var sr actors.SessionReply
	if r.StatusCode != http.StatusOK || json.Unmarshal(b, &sr) != nil || sr.State != actors.RequestReady ||
		sr.Session == nil || sr.Session.Token != Token(id) {
		return 0, fmt.Errorf("session of %s/%s: %s %s", t.ID, id, r.Status, b)
	}
	return d, nil
}

// dropFromCache syncs the file at path and asks the kernel to drop its
// pages from the page cache.
func dropFromCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return err
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("scale: drop %s from the page cache: %w", path, err)
	}
	return nil
}
