package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/etaxd/etaxd/internal/testutil"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

// binDir holds the etax-sim binary the subprocess test builds; TestMain
// removes it.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "etax-sim-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// A person the tests register: 北京 asks for an SMS code.
const (
	taxNo    = "91110000000000001A"
	phone    = "15112341832"
	username = "alice"
	password = "Passw0rd!"
)

var personJSON = `{"name":"张丽","id_type":"201","id_number":"11010519491231002X","phone":"` + phone +
	`","username":"` + username + `","password":"` + password +
	`","relations":[{"tax_no":"` + taxNo + `","region":"11","role":"法定代表人"}]}`

// syncBuffer is a bytes.Buffer safe for a writer and a reader on different
// syncBuffer collects log output written from many goroutines.
type syncBuffer = testutil.SyncBuffer

func TestRunRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	badSeed := filepath.Join(dir, "bad.json")
	os.WriteFile(badSeed, []byte(`[{"username":"x","nick":"y"}]`), 0o600)
	dupSeed := filepath.Join(dir, "dup.json")
	os.WriteFile(dupSeed, []byte("["+personJSON+","+personJSON+"]"), 0o600)
	tests := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"unknown flag", []string{"--nope"}, 2, "nope"},
		{"argument", []string{"serve"}, 2, "unexpected arguments"},
		{"zero session", []string{"--session-length=0"}, 2, "sim.session_length"},
		{"every problem at once", []string{"--qr-validity=0", "--sms-per-day=0"}, 2, "sim.qr_validity"},
		{"every problem at once, the second", []string{"--qr-validity=0", "--sms-per-day=0"}, 2, "sim.sms_per_phone_per_day"},
		{"missing seed", []string{"--seed", filepath.Join(dir, "none.json")}, 2, "none.json"},
		{"bad seed", []string{"--seed", badSeed}, 2, "nick"},
		{"duplicate seed", []string{"--seed", dupSeed}, 2, "alice"},
		{"bad listen", []string{"--listen", "256.0.0.1:x"}, 1, "256.0.0.1"},
		{"help", []string{"--help"}, 0, "-listen"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			code := run(context.Background(), tt.args, func(string) string { return "" }, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("run = %d, stderr %q; want %d mentioning %q", code, stderr.String(), tt.code, tt.want)
			}
		})
	}
}

// startRun runs etax-sim in process on a free port until the test ends
// and returns its URL.
func startRun(t *testing.T, args []string, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), func(k string) string { return env[k] }, pw, &stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("run = %d; stderr:\n%s", code, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("run did not stop")
		}
	})
	url, err := readURL(pr)
	if err != nil {
		t.Fatalf("%v; stderr:\n%s", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	return url
}

// readURL reads the line etax-sim prints and returns its URL.
func readURL(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read the URL line: %v (got %q)", err, line)
	}
	for _, f := range strings.Fields(line) {
		if strings.HasPrefix(f, "http://") {
			return f, nil
		}
	}
	return "", fmt.Errorf("no URL in %q", line)
}

// httpClient sends the tests' own requests; its connections are closed at
// the end of each test so no goroutine outlives it.
func httpClient(t *testing.T) *http.Client {
	c := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestRunServesAndStops(t *testing.T) {
	dir := t.TempDir()
	seed := filepath.Join(dir, "persons.json")
	if err := os.WriteFile(seed, []byte("["+personJSON+"]"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := startRun(t, []string{"--seed", seed, "--no-sms-regions=11", "--session-length=1h"},
		map[string]string{"ETAX_SIM_TOKEN": "env-token"})
	hc := httpClient(t)

	resp, err := hc.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	c, err := taxbureau.NewClient(base, taxbureau.ClientOptions{Token: "env-token", HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	// The seeded person logs in at once: --no-sms-regions made 北京 skip the code.
	res, err := c.Login(context.Background(), taxbureau.LoginRequest{Region: "11", TaxNo: taxNo, Username: username,
		Password: password, Channel: domain.ChannelIssue})
	if err != nil || res.Session == nil {
		t.Fatalf("Login = %+v, %v", res, err)
	}
	if d := res.Session.ExpiresAt.Sub(res.Session.ObtainedAt); d != time.Hour {
		t.Errorf("session length = %v, want --session-length 1h", d)
	}
}

// traced calls wrote once a request is written.
type traced struct {
	next  http.RoundTripper
	wrote func()
}

func (tr *traced) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { tr.wrote() },
	})
	return tr.next.RoundTrip(r.WithContext(ctx))
}

// etaxSimBinary builds ./cmd/etax-sim (with -race when the tests have it).
func etaxSimBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(binDir, "etax-sim")
	args := []string{"build", "-buildvcs=false", "-o", bin}
	if raceBuild {
		args = append(args, "-race")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, goTool, append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBlackBox starts the etax-sim binary on a free loopback port, registers
// a person through /sim/v1/persons, logs in through the gateway Client with
// the code read from /sim/v1/sms, and stops the process with SIGTERM.
func TestBlackBox(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a binary")
	}
	bin := etaxSimBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--listen", "127.0.0.1:0", "--token", "bb-token")
	cmd.Env = append(os.Environ(), "ETAX_SIM_LISTEN=")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Kill()
			<-exited
		}
	})
	base, err := readURL(stdout)
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("%v; stderr:\n%s", err, stderr.String())
	}
	go func() {
		io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	hc := httpClient(t)

	// A person, as a black-box test creates one.
	resp, err := hc.Post(base+"/sim/v1/persons", "application/json", strings.NewReader(personJSON))
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || created.ID == "" {
		t.Fatalf("POST /sim/v1/persons = %d %+v", resp.StatusCode, created)
	}

	c, err := taxbureau.NewClient(base, taxbureau.ClientOptions{Token: "bb-token", HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Login(ctx, taxbureau.LoginRequest{Region: "11", TaxNo: taxNo, Username: username,
		Password: password, Channel: domain.ChannelIssue})
	if err != nil || res.Challenge == nil || res.PersonID != created.ID {
		t.Fatalf("Login = %+v, %v", res, err)
	}

	resp, err = hc.Get(base + "/sim/v1/sms?phone=" + url.QueryEscape(phone))
	if err != nil {
		t.Fatal(err)
	}
	var codes []taxbureau.SMS
	json.NewDecoder(resp.Body).Decode(&codes)
	resp.Body.Close()
	if len(codes) != 1 || codes[0].ChallengeID != res.Challenge.ID {
		t.Fatalf("GET /sim/v1/sms = %+v", codes)
	}
	sess, err := c.SubmitCode(ctx, res.Challenge.ID, codes[0].Code)
	if err != nil || sess.Token == "" {
		t.Fatalf("SubmitCode = %+v, %v", sess, err)
	}
	st, err := c.CheckSession(ctx, sess.Token)
	if err != nil || !st.Alive {
		t.Fatalf("CheckSession = %+v, %v", st, err)
	}

	// SIGTERM ends it cleanly, and a long poll in flight does not hold it up.
	written := make(chan struct{})
	var once sync.Once
	pc, err := taxbureau.NewClient(base, taxbureau.ClientOptions{Token: "bb-token", HTTPClient: &http.Client{
		Transport: &traced{next: hc.Transport, wrote: func() { once.Do(func() { close(written) }) }},
	}})
	if err != nil {
		t.Fatal(err)
	}
	polling := make(chan error, 1)
	go func() {
		_, err := pc.FetchCode(ctx, domain.LoginHuameng, username, time.Now().Add(time.Hour))
		polling <- err
	}()
	<-written
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Fatalf("etax-sim exited with %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("etax-sim did not stop on SIGTERM; stderr:\n%s", stderr.String())
	}
	if err := <-polling; err == nil {
		t.Error("the long poll returned a code")
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("stderr lacks the stop line:\n%s", stderr.String())
	}
}
