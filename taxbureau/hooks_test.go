package taxbureau_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/taxbureau"
)

type fetchResult struct {
	code string
	err  error
}

func TestSMSProviderWaitsForCode(t *testing.T) {
	sim, _ := newSim(t)
	prov := taxbureau.NewSimSMSProvider(sim)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	done := make(chan fetchResult, 1)
	go func() {
		code, err := prov.FetchCode(ctx, domain.LoginHuameng, "alice", t0)
		done <- fetchResult{code, err}
	}()
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := prov.Waiting(); n != 1 {
			return fmt.Errorf("%d FetchCode calls wait for a code, want 1", n)
		}
		return nil
	})
	// A code to someone else does not wake it for good.
	_, err := sim.Login(context.Background(), taxbureau.LoginRequest{Region: "11", TaxNo: taxBJ, Username: "bob", Password: "B0b-secret", Channel: domain.ChannelIssue})
	wantErr(t, "bob's login", err, nil)
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := prov.Waiting(); n != 1 {
			return fmt.Errorf("%d FetchCode calls wait for a code, want 1", n)
		}
		return nil
	})

	res, err := sim.Login(context.Background(), loginReq(taxBJ, "11", domain.ChannelIssue))
	wantErr(t, "Login", err, nil)
	got := <-done
	wantErr(t, "FetchCode", got.err, nil)
	if got.code != sim.LastCode(alicePhone) {
		t.Errorf("FetchCode = %q, want %q", got.code, sim.LastCode(alicePhone))
	}
	if _, err := sim.SubmitCode(context.Background(), res.Challenge.ID, got.code); err != nil {
		t.Errorf("SubmitCode with the fetched code: %v", err)
	}
	if prov.Waiting() != 0 || prov.Calls() != 1 {
		t.Errorf("Waiting = %d, Calls = %d", prov.Waiting(), prov.Calls())
	}
}

func TestSMSProviderNewestSince(t *testing.T) {
	ctx := context.Background()
	sim, clk := newSim(t)
	prov := taxbureau.NewSimSMSProvider(sim)
	req := loginReq(taxBJ, "11", domain.ChannelIssue)

	sim.Login(ctx, req)
	clk.Advance(time.Minute)
	since := clk.Now()
	sim.Login(ctx, req)
	second := sim.LastCode(alicePhone)

	tests := []struct {
		name     string
		username string
		since    time.Time
		want     string
		wantErr  error
	}{
		{name: "newest of two since before both", username: "alice", since: t0, want: second},
		{name: "sent exactly at since", username: "alice", since: since, want: second},
		{name: "by phone", username: alicePhone, since: since, want: second},
		{name: "none after since", username: "alice", since: since.Add(time.Second), wantErr: domain.ErrHostedCodeTimeout},
		{name: "unknown username", username: "ghost", since: t0, wantErr: domain.ErrHostedCodeTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A done ctx makes "nothing yet" time out without waiting.
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if tt.wantErr == nil {
				cctx = ctx
			}
			code, err := prov.FetchCode(cctx, domain.LoginQixiangyun, tt.username, tt.since)
			wantErr(t, "FetchCode", err, tt.wantErr)
			if code != tt.want {
				t.Errorf("code = %q, want %q", code, tt.want)
			}
		})
	}
}

func TestSMSProviderTimeoutAndFaults(t *testing.T) {
	ctx := context.Background()

	t.Run("deadline", func(t *testing.T) {
		sim, _ := newSim(t)
		prov := taxbureau.NewSimSMSProvider(sim)
		tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		_, err := prov.FetchCode(tctx, domain.LoginHuameng, "alice", t0)
		wantErr(t, "FetchCode", err, domain.ErrHostedCodeTimeout)
		wantErr(t, "FetchCode cause", err, context.DeadlineExceeded)
		if prov.Waiting() != 0 {
			t.Error("a timed-out FetchCode still counts as waiting")
		}
	})

	t.Run("manual login type", func(t *testing.T) {
		sim, _ := newSim(t)
		prov := taxbureau.NewSimSMSProvider(sim)
		_, err := prov.FetchCode(ctx, domain.LoginManual, "alice", t0)
		wantErr(t, "FetchCode", err, domain.ErrInvalidLoginType)
	})

	tests := []struct {
		name      string
		faultUser string
		fault     taxbureau.SMSFault
		username  string
		wantErr   error
		wantWrong bool
	}{
		{name: "timeout for all", fault: taxbureau.SMSFaultTimeout, username: "alice", wantErr: domain.ErrHostedCodeTimeout},
		{name: "timeout for alice", faultUser: "alice", fault: taxbureau.SMSFaultTimeout, username: "ALICE", wantErr: domain.ErrHostedCodeTimeout},
		{name: "timeout for bob spares alice", faultUser: "bob", fault: taxbureau.SMSFaultTimeout, username: "alice"},
		{name: "wrong code", fault: taxbureau.SMSFaultWrongCode, username: "alice", wantWrong: true},
		{name: "cleared", fault: taxbureau.SMSFaultNone, username: "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, _ := newSim(t)
			prov := taxbureau.NewSimSMSProvider(sim)
			prov.SetFault(tt.faultUser, taxbureau.SMSFaultWrongCode)
			prov.SetFault(tt.faultUser, tt.fault)
			res, err := sim.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
			wantErr(t, "Login", err, nil)
			code, err := prov.FetchCode(ctx, domain.LoginHuameng, tt.username, t0)
			wantErr(t, "FetchCode", err, tt.wantErr)
			if tt.wantErr != nil {
				return
			}
			real := sim.LastCode(alicePhone)
			if (code != real) != tt.wantWrong || len(code) != len(real) {
				t.Fatalf("code %q, real %q, want wrong %v", code, real, tt.wantWrong)
			}
			_, err = sim.SubmitCode(ctx, res.Challenge.ID, code)
			if tt.wantWrong {
				wantErr(t, "SubmitCode", err, domain.ErrWrongCode)
			} else {
				wantErr(t, "SubmitCode", err, nil)
			}
		})
	}
}

func TestFaultHooks(t *testing.T) {
	ctx := context.Background()
	transport := errors.New("connection reset")

	t.Run("SetFault until cleared, no effect at the bureau", func(t *testing.T) {
		sim, _ := newSim(t)
		sim.SetFault(taxbureau.MethodLogin, domain.ErrBureauUnavailable)
		for range 3 {
			_, err := sim.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
			wantErr(t, "Login", err, domain.ErrBureauUnavailable)
		}
		if len(sim.SentCodes(alicePhone)) != 0 || sim.SMSRemaining(alicePhone, "11") != 20 {
			t.Error("a faulted login sent a code")
		}
		for range 5 {
			sim.SetFault(taxbureau.MethodVerifyPassword, transport)
			wantErr(t, "VerifyPassword", sim.VerifyPassword(ctx, "11", "alice", "wrong"), transport)
		}
		if sim.PasswordLocked("alice") {
			t.Error("faulted calls counted wrong passwords")
		}
		sim.SetFault(taxbureau.MethodLogin, nil)
		_, err := sim.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
		wantErr(t, "Login after clearing", err, nil)
		if got := sim.Calls(taxbureau.MethodLogin); got != 4 {
			t.Errorf("Calls(Login) = %d, want 4 (faulted calls count)", got)
		}
	})

	t.Run("FailNext once each, before SetFault", func(t *testing.T) {
		sim, _ := newSim(t)
		sim.FailNext(taxbureau.MethodCheckSession, transport)
		sim.FailNext(taxbureau.MethodCheckSession, domain.ErrBureauUnavailable)
		_, err := sim.CheckSession(ctx, "t")
		wantErr(t, "first", err, transport)
		_, err = sim.CheckSession(ctx, "t")
		wantErr(t, "second", err, domain.ErrBureauUnavailable)
		_, err = sim.CheckSession(ctx, "t")
		wantErr(t, "third", err, nil)

		sim.SetFault(taxbureau.MethodPollQR, domain.ErrBureauUnavailable)
		sim.FailNext(taxbureau.MethodPollQR, transport)
		_, err = sim.PollQR(ctx, "q")
		wantErr(t, "one-shot first", err, transport)
		_, err = sim.PollQR(ctx, "q")
		wantErr(t, "then sticky", err, domain.ErrBureauUnavailable)
	})

	t.Run("latency honours ctx", func(t *testing.T) {
		sim, _ := newSim(t)
		sim.SetLatency(time.Hour)
		tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := sim.Login(tctx, loginReq(taxBJ, "11", domain.ChannelIssue))
		wantErr(t, "Login", err, context.DeadlineExceeded)
		if time.Since(start) > 10*time.Second {
			t.Error("latency ignored ctx")
		}
		if len(sim.SentCodes(alicePhone)) != 0 {
			t.Error("a timed-out login sent a code")
		}
		sim.SetLatency(time.Millisecond)
		_, err = sim.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
		wantErr(t, "Login with small latency", err, nil)
	})

	t.Run("done ctx", func(t *testing.T) {
		sim, _ := newSim(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := sim.Login(cctx, loginReq(taxBJ, "11", domain.ChannelIssue))
		wantErr(t, "Login", err, context.Canceled)
		if sim.Calls(taxbureau.MethodLogin) != 1 {
			t.Error("a call with a done ctx was not counted")
		}
	})

	t.Run("unknown method panics", func(t *testing.T) {
		sim, _ := newSim(t)
		for _, f := range []func(){
			func() { sim.Calls("Logn") },
			func() { sim.SetFault("Logn", nil) },
			func() { sim.FailNext("Logn", nil) },
		} {
			func() {
				defer func() {
					if recover() == nil {
						t.Error("no panic for an unknown method")
					}
				}()
				f()
			}()
		}
	})
}

func TestCallCounters(t *testing.T) {
	ctx := context.Background()
	sim, _ := newSim(t)
	calls := map[string]func(){
		taxbureau.MethodLogin:      func() { sim.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue)) },
		taxbureau.MethodSubmitCode: func() { sim.SubmitCode(ctx, "c", "1") },
		taxbureau.MethodStartQR: func() {
			sim.StartQR(ctx, taxbureau.QRRequest{Region: "11", TaxNo: taxBJ, Channel: domain.ChannelIssue})
		},
		taxbureau.MethodPollQR:             func() { sim.PollQR(ctx, "q") },
		taxbureau.MethodStartCertification: func() { sim.StartCertification(ctx, "t") },
		taxbureau.MethodPollCertification:  func() { sim.PollCertification(ctx, "c") },
		taxbureau.MethodRelations:          func() { sim.Relations(ctx, "11", "alice", alicePwd) },
		taxbureau.MethodVerifyPassword:     func() { sim.VerifyPassword(ctx, "11", "alice", alicePwd) },
		taxbureau.MethodStartReset: func() {
			sim.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: aliceID})
		},
		taxbureau.MethodCompleteReset: func() { sim.CompleteReset(ctx, "c", "1", "x") },
		taxbureau.MethodCheckSession:  func() { sim.CheckSession(ctx, "t") },
	}
	if len(calls) != len(taxbureau.Methods()) {
		t.Fatalf("test covers %d methods, Methods() lists %d", len(calls), len(taxbureau.Methods()))
	}
	for i, m := range taxbureau.Methods() {
		for range i + 1 {
			calls[m]()
		}
	}
	for i, m := range taxbureau.Methods() {
		if got := sim.Calls(m); got != i+1 {
			t.Errorf("Calls(%s) = %d, want %d", m, got, i+1)
		}
	}
	// Helpers are not Gateway calls.
	sim.ScanQR("q", "alice")
	sim.PassFace("c")
	sim.LastCode(alicePhone)
	sim.ResetCalls()
	for _, m := range taxbureau.Methods() {
		if got := sim.Calls(m); got != 0 {
			t.Errorf("after ResetCalls, Calls(%s) = %d", m, got)
		}
	}
}

func TestConcurrentLogins(t *testing.T) {
	ctx := context.Background()
	const n = 100

	t.Run("many persons with codes", func(t *testing.T) {
		sim, _ := newSim(t)
		for i := range n {
			p := taxbureau.Person{
				Username:  fmt.Sprintf("user%03d", i),
				Phone:     fmt.Sprintf("139%08d", i),
				IDNumber:  fmt.Sprintf("ID%03d", i),
				Password:  "pw",
				Relations: []taxbureau.Relation{{TaxNo: taxBJ, Region: "11", Role: domain.RoleInvoicer}},
			}
			wantErr(t, "AddPerson", sim.AddPerson(p), nil)
		}
		prov := taxbureau.NewSimSMSProvider(sim)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				user := fmt.Sprintf("user%03d", i)
				res, err := sim.Login(ctx, taxbureau.LoginRequest{Region: "11", TaxNo: taxBJ, Username: user, Password: "pw", Channel: domain.ChannelIssue})
				if err != nil {
					errs <- err
					return
				}
				code, err := prov.FetchCode(ctx, domain.LoginHuameng, user, t0)
				if err != nil {
					errs <- err
					return
				}
				sess, err := sim.SubmitCode(ctx, res.Challenge.ID, code)
				if err != nil {
					errs <- err
					return
				}
				if st, err := sim.CheckSession(ctx, sess.Token); err != nil || !st.Alive {
					errs <- fmt.Errorf("%s: session not alive (%v)", user, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := len(sim.Sessions()); got != n {
			t.Errorf("live sessions = %d, want %d", got, n)
		}
		if got := sim.Calls(taxbureau.MethodLogin); got != n {
			t.Errorf("Calls(Login) = %d, want %d", got, n)
		}
	})

	t.Run("one person races itself", func(t *testing.T) {
		sim, _ := newSim(t)
		tokens := make(chan string, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				res, err := sim.Login(ctx, loginReq(taxZJ, "33", domain.ChannelIssue))
				if err != nil {
					t.Error(err)
					return
				}
				tokens <- res.Session.Token
				sim.CheckSession(ctx, res.Session.Token)
				sim.Persons()
			})
		}
		wg.Wait()
		close(tokens)
		live := 0
		for tok := range tokens {
			if alive(t, sim, tok) {
				live++
			}
		}
		if live != 1 {
			t.Errorf("%d live sessions for one person, region and channel, want 1", live)
		}
	})
}
