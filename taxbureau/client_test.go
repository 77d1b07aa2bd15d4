package taxbureau_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/taxbureau"
)

// flaky wraps a handler: the first fails requests to path fail, by a 503
// or by dropping the connection after the request was read; later ones
// pass through. hits counts the requests to path.
type flaky struct {
	next  http.Handler
	path  string
	drop  bool
	fails atomic.Int64
	hits  atomic.Int64
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != f.path {
		f.next.ServeHTTP(w, r)
		return
	}
	f.hits.Add(1)
	if f.fails.Add(-1) < 0 {
		f.next.ServeHTTP(w, r)
		return
	}
	io.Copy(io.Discard, r.Body) // the request reached the bureau
	if f.drop {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, `{"error":{"code":"bureau_unavailable","message":"电子税务局暂时无法访问，请稍后再试","message_en":"the tax bureau is unavailable"}}`)
}

// flakyBureau serves a fresh simulator behind a flaky wrapper for path.
func flakyBureau(t *testing.T, path string, fails int, drop bool) (*taxbureau.Simulator, *flaky, *httptest.Server) {
	t.Helper()
	sim, _ := newSim(t)
	f := &flaky{next: taxbureau.NewServer(sim, taxbureau.ServerOptions{}), path: path, drop: drop}
	f.fails.Store(int64(fails))
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return sim, f, srv
}

// fastRetries are client options that retry without noticeable waits.
func fastRetries() taxbureau.ClientOptions {
	return taxbureau.ClientOptions{MaxAttempts: 3, RetryBackoff: time.Millisecond, BreakerThreshold: 100}
}

func TestClientRetriesSafeCalls(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		path string
		call func(*taxbureau.Client, *taxbureau.Simulator) error
	}{
		{"CheckSession", "/gateway/v1/session/check", func(c *taxbureau.Client, _ *taxbureau.Simulator) error {
			_, err := c.CheckSession(ctx, "token")
			return err
		}},
		{"PollQR", "/gateway/v1/qr/poll", func(c *taxbureau.Client, sim *taxbureau.Simulator) error {
			qr, err := sim.StartQR(ctx, taxbureau.QRRequest{Region: "11", TaxNo: taxBJ, Channel: domain.ChannelIssue})
			if err != nil {
				return err
			}
			st, err := c.PollQR(ctx, qr.ID)
			if err == nil && st.State != taxbureau.QRWaiting {
				t.Errorf("PollQR = %+v", st)
			}
			return err
		}},
		{"PollCertification", "/gateway/v1/certification/poll", func(c *taxbureau.Client, _ *taxbureau.Simulator) error {
			_, err := c.PollCertification(ctx, "fc_unknown")
			if errors.Is(err, domain.ErrNoChallenge) {
				return nil // the bureau's answer, after the retries
			}
			return err
		}},
		{"FetchCode", "/gateway/v1/sms/fetch", func(c *taxbureau.Client, sim *taxbureau.Simulator) error {
			if _, err := sim.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue)); err != nil {
				return err
			}
			code, err := c.FetchCode(ctx, domain.LoginHuameng, "alice", t0)
			if err == nil && code != sim.LastCode(alicePhone) {
				t.Errorf("FetchCode = %q", code)
			}
			return err
		}},
	}
	for _, tt := range tests {
		for _, drop := range []bool{false, true} {
			name := tt.name + "/503"
			if drop {
				name = tt.name + "/dropped connection"
			}
			t.Run(name, func(t *testing.T) {
				sim, f, srv := flakyBureau(t, tt.path, 2, drop)
				c := newClient(t, srv.URL, fastRetries())
				if err := tt.call(c, sim); err != nil {
					t.Fatalf("call after two failures: %v", err)
				}
				if n := f.hits.Load(); n != 3 {
					t.Errorf("server saw %d requests, want 3", n)
				}
				st := c.Stats()
				if st.Attempts != 3 || st.Retries != 2 || st.Failures != 0 {
					t.Errorf("Stats = %+v, want 3 attempts, 2 retries, no failure", st)
				}
			})
		}
	}
}

func TestClientNeverRetriesUnsafeCalls(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		method string
		path   string
		call   func(*taxbureau.Client) error
	}{
		{taxbureau.MethodLogin, "/gateway/v1/login", func(c *taxbureau.Client) error {
			_, err := c.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
			return err
		}},
		{taxbureau.MethodSubmitCode, "/gateway/v1/submit_code", func(c *taxbureau.Client) error {
			_, err := c.SubmitCode(ctx, "ch_x", "123456")
			return err
		}},
		{taxbureau.MethodStartReset, "/gateway/v1/reset/start", func(c *taxbureau.Client) error {
			_, err := c.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: aliceID})
			return err
		}},
		{taxbureau.MethodCompleteReset, "/gateway/v1/reset/complete", func(c *taxbureau.Client) error {
			return c.CompleteReset(ctx, "ch_x", "123456", "N3w-Passw0rd")
		}},
		{taxbureau.MethodRelations, "/gateway/v1/relations", func(c *taxbureau.Client) error {
			_, err := c.Relations(ctx, "11", "alice", alicePwd)
			return err
		}},
		{taxbureau.MethodVerifyPassword, "/gateway/v1/verify_password", func(c *taxbureau.Client) error {
			return c.VerifyPassword(ctx, "11", "alice", alicePwd)
		}},
		{taxbureau.MethodStartQR, "/gateway/v1/qr/start", func(c *taxbureau.Client) error {
			_, err := c.StartQR(ctx, taxbureau.QRRequest{Region: "11", TaxNo: taxBJ, Channel: domain.ChannelIssue})
			return err
		}},
		{taxbureau.MethodStartCertification, "/gateway/v1/certification/start", func(c *taxbureau.Client) error {
			_, err := c.StartCertification(ctx, "token")
			return err
		}},
	}
	for _, tt := range tests {
		for _, drop := range []bool{false, true} {
			name := tt.method + "/503"
			if drop {
				name = tt.method + "/dropped connection"
			}
			t.Run(name, func(t *testing.T) {
				sim, f, srv := flakyBureau(t, tt.path, 1, drop)
				c := newClient(t, srv.URL, fastRetries())
				err := tt.call(c)
				wantErr(t, tt.method, err, domain.ErrBureauUnavailable)
				if n := f.hits.Load(); n != 1 {
					t.Errorf("server saw %d requests, want 1: an unsafe call was retried", n)
				}
				if n := sim.Calls(tt.method); n != 0 {
					t.Errorf("the simulator saw %d calls", n)
				}
				if st := c.Stats(); st.Attempts != 1 || st.Retries != 0 || st.Failures != 1 {
					t.Errorf("Stats = %+v", st)
				}
			})
		}
	}
}

// refuseFirst is a RoundTripper whose first n requests fail as a refused
// connection would, before anything is written.
type refuseFirst struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (r *refuseFirst) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.n.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	return r.next.RoundTrip(req)
}

func TestClientRetriesUnsentRequests(t *testing.T) {
	sim, _ := newSim(t)
	srv := httptest.NewServer(taxbureau.NewServer(sim, taxbureau.ServerOptions{}))
	t.Cleanup(srv.Close)
	rt := &refuseFirst{next: http.DefaultTransport}
	rt.n.Store(2)
	opts := fastRetries()
	opts.HTTPClient = &http.Client{Transport: rt}
	c := newClient(t, srv.URL, opts)

	res, err := c.Login(context.Background(), loginReq(taxBJ, "11", domain.ChannelIssue))
	wantErr(t, "Login after two refused connections", err, nil)
	if res.Challenge == nil {
		t.Errorf("Login = %+v", res)
	}
	if n := sim.Calls(taxbureau.MethodLogin); n != 1 {
		t.Errorf("the bureau saw %d logins, want 1", n)
	}
	if n := len(sim.SentCodes(alicePhone)); n != 1 {
		t.Errorf("%d codes sent, want 1", n)
	}
	if st := c.Stats(); st.Attempts != 3 || st.Retries != 2 {
		t.Errorf("Stats = %+v", st)
	}
}

// closedURL returns the URL of a loopback port nobody listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestClientConnectionRefused(t *testing.T) {
	c := newClient(t, closedURL(t), fastRetries())
	_, err := c.Login(context.Background(), loginReq(taxBJ, "11", domain.ChannelIssue))
	wantErr(t, "Login", err, domain.ErrBureauUnavailable)
	if st := c.Stats(); st.Attempts != 3 || st.Failures != 1 {
		t.Errorf("Stats = %+v: a refused connection never reached the bureau, so even Login is retried", st)
	}
}

// counting counts the requests that reach next.
type counting struct {
	next http.Handler
	n    atomic.Int64
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	c.next.ServeHTTP(w, r)
}

func TestClientBreaker(t *testing.T) {
	ctx := context.Background()
	sim, _ := newSim(t)
	h := &counting{next: taxbureau.NewServer(sim, taxbureau.ServerOptions{})}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	clk := clock.NewFake(t0)
	c := newClient(t, srv.URL, taxbureau.ClientOptions{
		MaxAttempts: 1, BreakerThreshold: 3, BreakerCoolDown: 30 * time.Second, Clock: clk,
	})
	check := func() error {
		_, err := c.CheckSession(ctx, "token")
		return err
	}

	// Catalogue refusals are answers: they never open the breaker.
	for range 5 {
		_, err := c.Login(ctx, taxbureau.LoginRequest{Username: "ghost", Channel: domain.ChannelIssue})
		wantErr(t, "refused login", err, domain.ErrWrongPassword)
	}
	if st := c.Stats(); st.Breaker != taxbureau.BreakerClosed || st.Failures != 0 {
		t.Fatalf("after refusals: Stats = %+v", st)
	}

	sim.SetFault(taxbureau.MethodCheckSession, errors.New("bureau down"))
	for i := range 3 {
		err := check()
		wantErr(t, "failing call", err, domain.ErrBureauUnavailable)
		if errors.Is(err, taxbureau.ErrBreakerOpen) {
			t.Fatalf("call %d refused by the breaker before the threshold", i+1)
		}
	}
	if st := c.Stats(); st.Breaker != taxbureau.BreakerOpen {
		t.Fatalf("after 3 failures: Stats = %+v, want open", st)
	}

	// Open: every call fails at once, and none reaches the server.
	before := h.n.Load()
	for range 10 {
		err := check()
		wantErr(t, "call while open", err, domain.ErrBureauUnavailable)
		wantErr(t, "call while open", err, taxbureau.ErrBreakerOpen)
	}
	_, err := c.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
	wantErr(t, "another method while open", err, taxbureau.ErrBreakerOpen)
	clk.Advance(29 * time.Second)
	wantErr(t, "a second before the cool-down ends", check(), taxbureau.ErrBreakerOpen)
	if n := h.n.Load() - before; n != 0 {
		t.Errorf("%d requests reached the server while the breaker was open", n)
	}
	if st := c.Stats(); st.Rejected != 12 {
		t.Errorf("Rejected = %d, want 12", st.Rejected)
	}

	// Half-open: one probe; it fails, so the breaker opens again.
	clk.Advance(time.Second)
	err = check()
	wantErr(t, "failed probe", err, domain.ErrBureauUnavailable)
	if errors.Is(err, taxbureau.ErrBreakerOpen) {
		t.Fatal("the probe was refused")
	}
	if n := h.n.Load() - before; n != 1 {
		t.Errorf("%d requests reached the server, want the probe only", n)
	}
	wantErr(t, "after a failed probe", check(), taxbureau.ErrBreakerOpen)

	// The bureau is back: the next probe closes the breaker.
	sim.SetFault(taxbureau.MethodCheckSession, nil)
	clk.Advance(30 * time.Second)
	wantErr(t, "successful probe", check(), nil)
	if st := c.Stats(); st.Breaker != taxbureau.BreakerClosed {
		t.Errorf("after a successful probe: Stats = %+v", st)
	}
	wantErr(t, "call after closing", check(), nil)
	_, err = c.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
	wantErr(t, "Login after closing", err, nil)
}

// gate holds every request until it is opened, and counts them.
type gate struct {
	next    http.Handler
	open    chan struct{}
	waiting atomic.Int64
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.waiting.Add(1)
	select {
	case <-g.open:
	case <-r.Context().Done():
	}
	g.next.ServeHTTP(w, r)
}

func TestClientBreakerOneProbe(t *testing.T) {
	ctx := context.Background()
	sim, _ := newSim(t)
	g := &gate{next: taxbureau.NewServer(sim, taxbureau.ServerOptions{}), open: make(chan struct{})}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	clk := clock.NewFake(t0)
	c := newClient(t, srv.URL, taxbureau.ClientOptions{MaxAttempts: 1, BreakerThreshold: 1, BreakerCoolDown: time.Minute, Clock: clk})

	// Open the breaker with one failure the gate lets through.
	sim.FailNext(taxbureau.MethodCheckSession, domain.ErrBureauUnavailable)
	close(g.open)
	_, err := c.CheckSession(ctx, "t")
	wantErr(t, "failure", err, domain.ErrBureauUnavailable)
	if c.Stats().Breaker != taxbureau.BreakerOpen {
		t.Fatal("breaker not open")
	}

	g.open = make(chan struct{})
	g.waiting.Store(0)
	clk.Advance(time.Minute)
	probe := make(chan error, 1)
	go func() {
		_, err := c.CheckSession(ctx, "t")
		probe <- err
	}()
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := g.waiting.Load(); n != 1 {
			return fmt.Errorf("%d requests wait at the gateway, want the probe alone", n)
		}
		return nil
	})
	if st := c.Stats(); st.Breaker != taxbureau.BreakerHalfOpen {
		t.Errorf("during the probe: Stats = %+v", st)
	}
	_, err = c.CheckSession(ctx, "t")
	wantErr(t, "call during the probe", err, taxbureau.ErrBreakerOpen)
	close(g.open)
	wantErr(t, "probe", <-probe, nil)
	if st := c.Stats(); st.Breaker != taxbureau.BreakerClosed || g.waiting.Load() != 1 {
		t.Errorf("after the probe: Stats = %+v, %d requests", st, g.waiting.Load())
	}
}

func TestClientFetchProbeDoesNotWait(t *testing.T) {
	ctx := context.Background()
	sim, _ := newSim(t)
	var (
		mu    sync.Mutex
		waits []int64
	)
	inner := taxbureau.NewServer(sim, taxbureau.ServerOptions{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/gateway/v1/sms/fetch" {
			b, _ := io.ReadAll(r.Body)
			var body struct {
				WaitMS int64 `json:"wait_ms"`
			}
			json.Unmarshal(b, &body)
			mu.Lock()
			waits = append(waits, body.WaitMS)
			mu.Unlock()
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	clk := clock.NewFake(t0)
	c := newClient(t, srv.URL, taxbureau.ClientOptions{MaxAttempts: 1, BreakerThreshold: 1, Clock: clk})

	sim.FailNext(taxbureau.MethodCheckSession, domain.ErrBureauUnavailable)
	c.CheckSession(ctx, "t")
	clk.Advance(time.Hour)

	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	var code string
	go func() {
		var err error
		code, err = c.FetchCode(fctx, domain.LoginHuameng, "alice", t0)
		done <- err
	}()
	testutil.Eventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(waits) != 2 {
			return fmt.Errorf("%d waits seen, want 2", len(waits))
		}
		return nil
	})
	if _, err := sim.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue)); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "FetchCode", <-done, nil)
	if code != sim.LastCode(alicePhone) {
		t.Errorf("FetchCode = %q", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if waits[0] != 0 || waits[1] < 5000 {
		t.Errorf("wait_ms of the polls = %v, want the probe at 0 and then a long poll", waits)
	}
	if st := c.Stats(); st.Breaker != taxbureau.BreakerClosed {
		t.Errorf("Stats = %+v", st)
	}
}

func TestClientTimeouts(t *testing.T) {
	sim, _ := newSim(t)
	sim.SetLatency(time.Minute) // ends early when the request's ctx does
	srv := httptest.NewServer(taxbureau.NewServer(sim, taxbureau.ServerOptions{}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name     string
		timeout  time.Duration // ClientOptions.Timeout
		deadline time.Duration // ctx's
		attempts int64
	}{
		{name: "client timeout", timeout: 50 * time.Millisecond, attempts: 2},
		{name: "ctx deadline", timeout: 10 * time.Second, deadline: 50 * time.Millisecond, attempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, srv.URL, taxbureau.ClientOptions{Timeout: tt.timeout, MaxAttempts: 2, RetryBackoff: time.Millisecond})
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			start := time.Now()
			_, err := c.CheckSession(ctx, "token")
			wantErr(t, "CheckSession", err, domain.ErrBureauUnavailable)
			wantErr(t, "CheckSession", err, context.DeadlineExceeded)
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %v", took)
			}
			if st := c.Stats(); st.Attempts != tt.attempts || st.Failures != 1 {
				t.Errorf("Stats = %+v, want %d attempts and a failure", st, tt.attempts)
			}
		})
	}

	t.Run("cancelled by the caller", func(t *testing.T) {
		c := newClient(t, srv.URL, taxbureau.ClientOptions{BreakerThreshold: 1})
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			testutil.Eventually(t, 5*time.Second, func() error {
				if sim.Calls(taxbureau.MethodPollQR) == 0 {
					return errors.New("the simulator saw no PollQR yet")
				}
				return nil
			})
			cancel()
		}()
		_, err := c.PollQR(ctx, "qr_x")
		wantErr(t, "PollQR", err, context.Canceled)
		if st := c.Stats(); st.Breaker != taxbureau.BreakerClosed || st.Failures != 0 || st.Attempts != 1 {
			t.Errorf("Stats = %+v: a cancelled call says nothing about the bureau", st)
		}
	})
}

func TestClientToken(t *testing.T) {
	sim, _ := newSim(t)
	srv := httptest.NewServer(taxbureau.NewServer(sim, taxbureau.ServerOptions{Token: testToken}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	for _, tok := range []string{"", "wrong"} {
		c := newClient(t, srv.URL, taxbureau.ClientOptions{Token: tok})
		_, err := c.CheckSession(ctx, "t")
		wantErr(t, "token "+tok, err, domain.ErrBureauUnavailable)
		wantErr(t, "token "+tok, err, taxbureau.ErrUnauthorized)
		if n := sim.Calls(taxbureau.MethodCheckSession); n != 0 {
			t.Errorf("an unauthorised call reached the bureau %d times", n)
		}
	}
	c := newClient(t, srv.URL, taxbureau.ClientOptions{Token: testToken})
	_, err := c.CheckSession(ctx, "t")
	wantErr(t, "right token", err, nil)
}

func TestClientBadResponses(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
	}{
		{"200 not JSON", 200, "<html>hello</html>"},
		{"200 too large", 200, `{"alive":true,"pad":"` + strings.Repeat("x", 1<<20) + `"}`},
		{"404 text", 404, "404 page not found"},
		{"400 without an error code", 400, `{"error":{}}`},
		{"302", 302, ""},
		{"500 text", 500, "oops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			c := newClient(t, srv.URL, taxbureau.ClientOptions{MaxAttempts: 1})
			_, err := c.Login(context.Background(), loginReq(taxBJ, "11", domain.ChannelIssue))
			wantErr(t, "Login", err, domain.ErrBureauUnavailable)
			wantErr(t, "Login", err, taxbureau.ErrBadResponse)
			if st := c.Stats(); st.Failures != 1 {
				t.Errorf("Stats = %+v", st)
			}
		})
	}

	t.Run("5xx with a catalogue error", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, `{"error":{"code":"internal","message":"系统内部错误","message_en":"internal error"}}`)
		}))
		t.Cleanup(srv.Close)
		c := newClient(t, srv.URL, taxbureau.ClientOptions{MaxAttempts: 1})
		_, err := c.Login(context.Background(), loginReq(taxBJ, "11", domain.ChannelIssue))
		wantErr(t, "Login", err, domain.ErrBureauUnavailable)
	})

	t.Run("unknown code", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnprocessableEntity)
			io.WriteString(w, `{"error":{"code":"captcha_required","message":"需要验证码","message_en":"captcha required"}}`)
		}))
		t.Cleanup(srv.Close)
		c := newClient(t, srv.URL, taxbureau.ClientOptions{MaxAttempts: 1})
		_, err := c.Login(context.Background(), loginReq(taxBJ, "11", domain.ChannelIssue))
		var e *domain.Error
		if !errors.As(err, &e) || e.Code != "captcha_required" || e.Message != "需要验证码" {
			t.Errorf("err = %v, want the server's error as it came", err)
		}
		if errors.Is(err, domain.ErrBureauUnavailable) {
			t.Error("a refusal reads as unavailable")
		}
	})
}

func TestNewClientChecksEverything(t *testing.T) {
	tests := []struct {
		name string
		url  string
		opts taxbureau.ClientOptions
		want []string // in the error, all of them
	}{
		{name: "no scheme", url: "127.0.0.1:8090", want: []string{"http://"}},
		{name: "ftp", url: "ftp://host", want: []string{"http://"}},
		{name: "no host", url: "http://", want: []string{"host"}},
		{name: "credentials", url: "http://u:p@host", want: []string{"credentials"}},
		{name: "query", url: "http://host/?a=1", want: []string{"query"}},
		{name: "negative options", url: "http://host", opts: taxbureau.ClientOptions{
			Timeout: -1, MaxAttempts: -1, RetryBackoff: -1, BreakerThreshold: -1, BreakerCoolDown: -1,
		}, want: []string{"Timeout", "MaxAttempts", "RetryBackoff", "BreakerThreshold", "BreakerCoolDown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := taxbureau.NewClient(tt.url, tt.opts)
			if err == nil {
				t.Fatal("NewClient accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	for _, ok := range []string{"http://127.0.0.1:8090", "https://bureau.example.com/connector/", " http://h:1/p "} {
		if _, err := taxbureau.NewClient(ok, taxbureau.ClientOptions{}); err != nil {
			t.Errorf("NewClient(%q): %v", ok, err)
		}
	}
}

func TestClientPathPrefixAndObserve(t *testing.T) {
	sim, _ := newSim(t)
	mux := http.NewServeMux()
	mux.Handle("/bureau/", http.StripPrefix("/bureau", taxbureau.NewServer(sim, taxbureau.ServerOptions{})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	var mu sync.Mutex
	var seen []string
	c := newClient(t, srv.URL+"/bureau/", taxbureau.ClientOptions{Observe: func(m string, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		if took < 0 {
			t.Errorf("Observe(%s) took %v", m, took)
		}
		seen = append(seen, m)
	}})
	ctx := context.Background()
	_, err := c.Login(ctx, loginReq(taxZJ, "33", domain.ChannelIssue))
	wantErr(t, "Login", err, nil)
	_, err = c.Relations(ctx, "33", "alice", "wrong")
	wantErr(t, "Relations", err, domain.ErrWrongPassword)
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(seen, ",") != "Login,Relations" {
		t.Errorf("Observe saw %v", seen)
	}
	if st := c.Stats(); st.Calls != 2 || st.Attempts != 2 || st.Failures != 0 {
		t.Errorf("Stats = %+v", st)
	}
}
