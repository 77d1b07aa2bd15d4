package taxbureau_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/taxbureau"
)

// The conformance checks run the main paths of the Gateway and the
// SMSProvider twice: against the in-process Simulator, and through Client
// against NewServer over real HTTP. Both must behave the same, errors.Is
// included.

// bureau is a Gateway with its SMSProvider and the person's side of it: the
// phone that receives the codes and the app that scans QR codes.
type bureau struct {
	gw       taxbureau.Gateway
	sms      taxbureau.SMSProvider
	sim      *taxbureau.Simulator      // behind gw, to steer it
	provider *taxbureau.SimSMSProvider // behind sms
	clk      *clock.Fake
	// codes returns the codes sent to phone, newest first.
	codes func(t *testing.T, phone string) []taxbureau.SMS
	// scan is the person scanning a QR code, and confirming unless told.
	scan func(qrID, username string, confirm bool) error
	// pass is the person passing a face certification.
	pass func(certID string) error
}

// lastCode returns the newest code sent to phone.
func (b *bureau) lastCode(t *testing.T, phone string) string {
	t.Helper()
	c := b.codes(t, phone)
	if len(c) == 0 {
		t.Fatalf("no code was sent to %s", phone)
	}
	return c[0].Code
}

const testToken = "s3cret-gateway-token"

// forEachBureau runs check against a fresh in-process simulator and a fresh
// client-server pair, each seeded with alice and bob on a fake clock at t0.
func forEachBureau(t *testing.T, check func(t *testing.T, b *bureau), configure ...func(*taxbureau.SimConfig)) {
	t.Run("in-process", func(t *testing.T) {
		sim, clk := newSim(t, configure...)
		provider := taxbureau.NewSimSMSProvider(sim)
		check(t, &bureau{
			gw: sim, sms: provider, sim: sim, provider: provider, clk: clk,
			codes: func(_ *testing.T, phone string) []taxbureau.SMS { return sim.SentCodes(phone) },
			scan: func(id, user string, confirm bool) error {
				if confirm {
					return sim.ScanQR(id, user)
				}
				return sim.ScanQRUnconfirmed(id, user)
			},
			pass: sim.PassFace,
		})
	})
	t.Run("http", func(t *testing.T) {
		sim, clk := newSim(t, configure...)
		provider := taxbureau.NewSimSMSProvider(sim)
		srv := httptest.NewServer(taxbureau.NewServer(sim, taxbureau.ServerOptions{
			Token: testToken, TestEndpoints: true, SMS: provider,
		}))
		t.Cleanup(srv.Close)
		c := newClient(t, srv.URL, taxbureau.ClientOptions{Token: testToken})
		app := &simHTTP{base: srv.URL}
		check(t, &bureau{
			gw: c, sms: c, sim: sim, provider: provider, clk: clk,
			codes: app.codes, scan: app.scan, pass: app.pass,
		})
	})
}

func newClient(t *testing.T, base string, opts taxbureau.ClientOptions) *taxbureau.Client {
	t.Helper()
	c, err := taxbureau.NewClient(base, opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// simHTTP plays the person's phone and app through the /sim/v1 endpoints.
type simHTTP struct{ base string }

// do sends a request and decodes a 2xx answer into out; a contract error
// comes back as its catalogue error (ErrUnknownPerson for unknown_person).
func (s *simHTTP) do(method, path string, body, out any) (int, error) {
	var rd *bytes.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var er struct {
			Error struct{ Code, Message, MessageEN string } `json:"error"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&er); err != nil {
			return resp.StatusCode, fmt.Errorf("HTTP %d without an error body: %v", resp.StatusCode, err)
		}
		if er.Error.Code == "unknown_person" {
			return resp.StatusCode, taxbureau.ErrUnknownPerson
		}
		return resp.StatusCode, &domain.Error{Code: er.Error.Code, Message: er.Error.Message}
	}
	if out != nil {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode, nil
}

func (s *simHTTP) codes(t *testing.T, phone string) []taxbureau.SMS {
	t.Helper()
	var out []taxbureau.SMS
	if _, err := s.do(http.MethodGet, "/sim/v1/sms?phone="+url.QueryEscape(phone), nil, &out); err != nil {
		t.Fatalf("GET /sim/v1/sms: %v", err)
	}
	return out
}

func (s *simHTTP) scan(id, user string, confirm bool) error {
	_, err := s.do(http.MethodPost, "/sim/v1/qr/"+url.PathEscape(id)+"/scan", map[string]any{"username": user, "confirm": confirm}, nil)
	return err
}

func (s *simHTTP) pass(id string) error {
	_, err := s.do(http.MethodPost, "/sim/v1/face/"+url.PathEscape(id)+"/pass", nil, nil)
	return err
}

func TestConformanceLoginWithCode(t *testing.T) {
	forEachBureau(t, func(t *testing.T, b *bureau) {
		ctx := context.Background()
		res, err := b.gw.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
		wantErr(t, "Login", err, nil)
		if res.Session != nil || res.Challenge == nil || res.Role != domain.RoleLegalRep || res.PersonID == "" {
			t.Fatalf("Login = %+v, want a challenge for 法定代表人", res)
		}
		if res.Challenge.PhoneMasked != "151****1832" || !res.Challenge.ExpiresAt.Equal(t0.Add(5*time.Minute)) {
			t.Errorf("Challenge = %+v", res.Challenge)
		}
		sent := b.codes(t, alicePhone)
		if len(sent) != 1 || sent[0].ChallengeID != res.Challenge.ID || sent[0].Purpose != taxbureau.PurposeLogin ||
			sent[0].Region != "11" || !sent[0].SentAt.Equal(t0) {
			t.Fatalf("codes = %+v", sent)
		}
		_, err = b.gw.SubmitCode(ctx, res.Challenge.ID, wrong(sent[0].Code))
		wantErr(t, "wrong code", err, domain.ErrWrongCode)

		b.clk.Advance(time.Minute)
		sess, err := b.gw.SubmitCode(ctx, res.Challenge.ID, sent[0].Code)
		wantErr(t, "SubmitCode", err, nil)
		now := t0.Add(time.Minute)
		if sess.Token == "" || sess.Channel != domain.ChannelIssue || !sess.ObtainedAt.Equal(now) || !sess.ExpiresAt.Equal(now.Add(3*time.Hour)) {
			t.Errorf("Session = %+v", sess)
		}
		_, err = b.gw.SubmitCode(ctx, res.Challenge.ID, sent[0].Code)
		wantErr(t, "SubmitCode twice", err, domain.ErrNoChallenge)

		st, err := b.gw.CheckSession(ctx, sess.Token)
		wantErr(t, "CheckSession", err, nil)
		if !st.Alive || !st.ExpiresAt.Equal(sess.ExpiresAt) {
			t.Errorf("CheckSession = %+v", st)
		}
	})
}

func TestConformanceCodeRefusals(t *testing.T) {
	forEachBureau(t, func(t *testing.T, b *bureau) {
		ctx := context.Background()
		res, err := b.gw.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
		wantErr(t, "Login", err, nil)
		code := b.lastCode(t, alicePhone)
		for i := range 3 {
			_, err = b.gw.SubmitCode(ctx, res.Challenge.ID, wrong(code))
			wantErr(t, fmt.Sprintf("wrong code %d", i+1), err, domain.ErrWrongCode)
		}
		_, err = b.gw.SubmitCode(ctx, res.Challenge.ID, code)
		wantErr(t, "right code after three wrong", err, domain.ErrNoChallenge)

		res, err = b.gw.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
		wantErr(t, "Login again", err, nil)
		b.clk.Advance(5 * time.Minute)
		_, err = b.gw.SubmitCode(ctx, res.Challenge.ID, b.lastCode(t, alicePhone))
		wantErr(t, "expired code", err, domain.ErrCodeExpired)
		_, err = b.gw.SubmitCode(ctx, "ch_unknown", "123456")
		wantErr(t, "unknown challenge", err, domain.ErrNoChallenge)
	})
}

func TestConformanceNoSMSRegion(t *testing.T) {
	forEachBureau(t, func(t *testing.T, b *bureau) {
		res, err := b.gw.Login(context.Background(), loginReq(taxZJ, "33", domain.ChannelIssue))
		wantErr(t, "Login in 浙江", err, nil)
		if res.Session == nil || res.Challenge != nil || res.Role != domain.RoleInvoicer {
			t.Fatalf("Login = %+v, want a session at once", res)
		}
		if !res.Session.ExpiresAt.Equal(t0.Add(3 * time.Hour)) {
			t.Errorf("Session = %+v", res.Session)
		}
		if n := len(b.codes(t, alicePhone)); n != 0 {
			t.Errorf("%d codes sent in a region without the SMS step", n)
		}
	})
}

func TestConformanceLoginRefusals(t *testing.T) {
	tests := []struct {
		name string
		edit func(*taxbureau.LoginRequest)
		want error
	}{
		{"unknown user", func(r *taxbureau.LoginRequest) { r.Username = "nobody" }, domain.ErrWrongPassword},
		{"wrong password", func(r *taxbureau.LoginRequest) { r.Password = "nope" }, domain.ErrWrongPassword},
		{"no relation", func(r *taxbureau.LoginRequest) { r.TaxNo = "91110000000000009Z" }, domain.ErrNoRelation},
		{"relation in another region", func(r *taxbureau.LoginRequest) { r.Region = "31" }, domain.ErrNoRelation},
		{"办税员 may not issue", func(r *taxbureau.LoginRequest) { r.TaxNo, r.Region = taxGD, "44" }, domain.ErrRoleBusiness},
		{"bad channel", func(r *taxbureau.LoginRequest) { r.Channel = "both" }, domain.ErrInvalidBusiness},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachBureau(t, func(t *testing.T, b *bureau) {
				req := loginReq(taxBJ, "11", domain.ChannelIssue)
				tt.edit(&req)
				_, err := b.gw.Login(context.Background(), req)
				wantErr(t, "Login", err, tt.want)
				if errors.Is(err, domain.ErrBureauUnavailable) {
					t.Errorf("a refusal reads as an unavailable bureau: %v", err)
				}
				if n := len(b.codes(t, alicePhone)); n != 0 {
					t.Errorf("a refused login sent %d codes", n)
				}
			})
		})
	}
}

func TestConformancePasswordLock(t *testing.T) {
	forEachBureau(t, func(t *testing.T, b *bureau) {
		ctx := context.Background()
		bad := loginReq(taxBJ, "11", domain.ChannelIssue)
		bad.Password = "wrong"
		for range 2 {
			_, err := b.gw.Login(ctx, bad)
			wantErr(t, "wrong password", err, domain.ErrWrongPassword)
		}
		wantErr(t, "VerifyPassword wrong", b.gw.VerifyPassword(ctx, "11", "alice", "wrong"), domain.ErrWrongPassword)
		_, err := b.gw.Relations(ctx, "11", "alice", "wrong")
		wantErr(t, "Relations wrong", err, domain.ErrWrongPassword)
		_, err = b.gw.Login(ctx, bad)
		wantErr(t, "fifth wrong password", err, domain.ErrBureauPwdLocked)
		wantErr(t, "fifth wrong password", err, domain.ErrWrongPassword)
		_, err = b.gw.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
		wantErr(t, "right password while locked", err, domain.ErrBureauPwdLocked)
		if errors.Is(err, domain.ErrWrongPassword) {
			t.Error("a locked right password reads as wrong")
		}
	})
}

func TestConformanceSMSBudget(t *testing.T) {
	forEachBureau(t, func(t *testing.T, b *bureau) {
		ctx := context.Background()
		for i := range 2 {
			_, err := b.gw.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
			wantErr(t, fmt.Sprintf("login %d", i+1), err, nil)
		}
		_, err := b.gw.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
		wantErr(t, "login past the budget", err, domain.ErrSMSBudget)
		_, err = b.gw.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: aliceID})
		wantErr(t, "reset past the budget", err, domain.ErrSMSBudget)
		if n := len(b.codes(t, alicePhone)); n != 2 {
			t.Errorf("%d codes sent, want 2", n)
		}
		b.clk.Advance(24 * time.Hour)
		_, err = b.gw.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
		wantErr(t, "login the next day", err, nil)
	}, func(c *taxbureau.SimConfig) { c.SMSPerPhonePerDay = 2 })
}

func TestConformanceQR(t *testing.T) {
	forEachBureau(t, func(t *testing.T, b *bureau) {
		ctx := context.Background()
		qr, err := b.gw.StartQR(ctx, taxbureau.QRRequest{Region: "11", TaxNo: taxBJ, Channel: domain.ChannelIssue, App: taxbureau.AppIIT})
		wantErr(t, "StartQR", err, nil)
		if qr.ID == "" || !strings.Contains(qr.Content, "app=iit") || !qr.ExpiresAt.Equal(t0.Add(120*time.Second)) {
			t.Errorf("QRChallenge = %+v", qr)
		}
		st, err := b.gw.PollQR(ctx, qr.ID)
		wantErr(t, "PollQR", err, nil)
		if st.State != taxbureau.QRWaiting || st.Session != nil || st.PersonID != "" {
			t.Errorf("fresh QR = %+v", st)
		}
		wantErr(t, "scan by nobody", b.scan(qr.ID, "ghost", true), taxbureau.ErrUnknownPerson)
		wantErr(t, "scan unconfirmed", b.scan(qr.ID, "alice", false), nil)
		st, _ = b.gw.PollQR(ctx, qr.ID)
		if st.State != taxbureau.QRScanned || st.PersonID == "" || st.Session != nil {
			t.Errorf("scanned QR = %+v", st)
		}
		wantErr(t, "bob confirms alice's scan", b.scan(qr.ID, "bob", true), domain.ErrIdentityMismatch)
		b.clk.Advance(time.Minute)
		wantErr(t, "confirm", b.scan(qr.ID, "alice", true), nil)
		st, err = b.gw.PollQR(ctx, qr.ID)
		wantErr(t, "PollQR confirmed", err, nil)
		now := t0.Add(time.Minute)
		if st.State != taxbureau.QRConfirmed || st.Session == nil || st.Role != domain.RoleLegalRep ||
			!st.Session.ObtainedAt.Equal(now) || !st.Session.ExpiresAt.Equal(now.Add(3*time.Hour)) {
			t.Fatalf("confirmed QR = %+v", st)
		}

		// Expiry is a state for PollQR and an error for the app.
		qr2, err := b.gw.StartQR(ctx, taxbureau.QRRequest{Region: "11", TaxNo: taxBJ, Channel: domain.ChannelReceive})
		wantErr(t, "StartQR", err, nil)
		b.clk.Advance(120 * time.Second)
		st, err = b.gw.PollQR(ctx, qr2.ID)
		wantErr(t, "PollQR expired", err, nil)
		if st.State != taxbureau.QRExpired {
			t.Errorf("expired QR = %+v", st)
		}
		wantErr(t, "scan expired", b.scan(qr2.ID, "alice", true), domain.ErrQRExpired)
		_, err = b.gw.PollQR(ctx, "qr_unknown")
		wantErr(t, "PollQR unknown", err, domain.ErrNoChallenge)
		_, err = b.gw.StartQR(ctx, taxbureau.QRRequest{Region: "11", TaxNo: taxBJ, Channel: domain.ChannelIssue, App: "wechat"})
		wantErr(t, "StartQR bad app", err, domain.ErrInvalidInput)
	})
}

func TestConformanceCertification(t *testing.T) {
	forEachBureau(t, func(t *testing.T, b *bureau) {
		ctx := context.Background()
		_, err := b.gw.StartCertification(ctx, "no-such-token")
		wantErr(t, "StartCertification without a session", err, domain.ErrNotLoggedIn)

		res, err := b.gw.Login(ctx, loginReq(taxZJ, "33", domain.ChannelIssue))
		wantErr(t, "Login", err, nil)
		fc, err := b.gw.StartCertification(ctx, res.Session.Token)
		wantErr(t, "StartCertification", err, nil)
		if fc.ID == "" || fc.Content == "" || !fc.ExpiresAt.Equal(t0.Add(120*time.Second)) {
			t.Errorf("FaceChallenge = %+v", fc)
		}
		st, err := b.gw.PollCertification(ctx, fc.ID)
		wantErr(t, "PollCertification", err, nil)
		if st.State != taxbureau.QRWaiting || !st.ValidUntil.IsZero() {
			t.Errorf("fresh certification = %+v", st)
		}
		b.clk.Advance(30 * time.Second)
		wantErr(t, "pass", b.pass(fc.ID), nil)
		st, err = b.gw.PollCertification(ctx, fc.ID)
		wantErr(t, "PollCertification passed", err, nil)
		if st.State != taxbureau.QRConfirmed || !st.ValidUntil.Equal(t0.Add(30*time.Second+24*time.Hour)) {
			t.Errorf("passed certification = %+v", st)
		}

		fc2, err := b.gw.StartCertification(ctx, res.Session.Token)
		wantErr(t, "StartCertification again", err, nil)
		b.clk.Advance(2 * time.Minute)
		st, err = b.gw.PollCertification(ctx, fc2.ID)
		wantErr(t, "PollCertification expired", err, nil)
		if st.State != taxbureau.QRExpired {
			t.Errorf("expired certification = %+v", st)
		}
		wantErr(t, "pass expired", b.pass(fc2.ID), domain.ErrQRExpired)
		_, err = b.gw.PollCertification(ctx, "fc_unknown")
		wantErr(t, "PollCertification unknown", err, domain.ErrNoChallenge)
	})
}

func TestConformanceRelationsAndVerify(t *testing.T) {
	forEachBureau(t, func(t *testing.T, b *bureau) {
		ctx := context.Background()
		rels, err := b.gw.Relations(ctx, "11", "alice", alicePwd)
		wantErr(t, "Relations", err, nil)
		if len(rels) != 2 || rels[0].TaxNo != taxBJ || rels[0].Role != domain.RoleLegalRep || rels[0].Region != "11" {
			t.Errorf("Relations(11) = %+v", rels)
		}
		rels, err = b.gw.Relations(ctx, "", "alice", alicePwd)
		wantErr(t, "Relations all", err, nil)
		if len(rels) != 4 {
			t.Errorf("Relations(\"\") = %d, want 4", len(rels))
		}
		rels, err = b.gw.Relations(ctx, "31", "alice", alicePwd)
		wantErr(t, "Relations none", err, nil)
		if rels == nil || len(rels) != 0 {
			t.Errorf("Relations(31) = %#v, want empty and not nil", rels)
		}
		wantErr(t, "VerifyPassword", b.gw.VerifyPassword(ctx, "11", "alice", alicePwd), nil)
		wantErr(t, "VerifyPassword unknown", b.gw.VerifyPassword(ctx, "11", "ghost", alicePwd), domain.ErrWrongPassword)
	})
}

func TestConformanceReset(t *testing.T) {
	forEachBureau(t, func(t *testing.T, b *bureau) {
		ctx := context.Background()
		_, err := b.gw.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: "110105194912310000"})
		wantErr(t, "wrong ID number", err, domain.ErrIdentityMismatch)
		_, err = b.gw.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "ghost", IDNumber: aliceID})
		wantErr(t, "unknown user", err, domain.ErrIdentityMismatch)

		ch, err := b.gw.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "alice", IDType: "201", IDNumber: aliceID})
		wantErr(t, "StartReset", err, nil)
		if ch.ID == "" || ch.PhoneMasked != "151****1832" {
			t.Errorf("reset Challenge = %+v", ch)
		}
		sent := b.codes(t, alicePhone)
		if len(sent) != 1 || sent[0].Purpose != taxbureau.PurposeReset {
			t.Fatalf("codes = %+v", sent)
		}
		wantErr(t, "wrong code", b.gw.CompleteReset(ctx, ch.ID, wrong(sent[0].Code), "N3w-Passw0rd"), domain.ErrWrongCode)
		wantErr(t, "weak password", b.gw.CompleteReset(ctx, ch.ID, sent[0].Code, "weak"), domain.ErrPasswordPolicy)
		wantErr(t, "CompleteReset", b.gw.CompleteReset(ctx, ch.ID, sent[0].Code, "N3w-Passw0rd"), nil)
		wantErr(t, "CompleteReset twice", b.gw.CompleteReset(ctx, ch.ID, sent[0].Code, "N3w-Passw0rd"), domain.ErrNoChallenge)
		wantErr(t, "old password", b.gw.VerifyPassword(ctx, "11", "alice", alicePwd), domain.ErrWrongPassword)
		wantErr(t, "new password", b.gw.VerifyPassword(ctx, "11", "alice", "N3w-Passw0rd"), nil)
	})
}

func TestConformanceSessionCheck(t *testing.T) {
	forEachBureau(t, func(t *testing.T, b *bureau) {
		ctx := context.Background()
		st, err := b.gw.CheckSession(ctx, "never-issued")
		wantErr(t, "CheckSession unknown", err, nil)
		if st.Alive || !st.ExpiresAt.IsZero() {
			t.Errorf("unknown token = %+v", st)
		}
		first, err := b.gw.Login(ctx, loginReq(taxZJ, "33", domain.ChannelIssue))
		wantErr(t, "Login", err, nil)
		b.clk.Advance(time.Minute)
		second, err := b.gw.Login(ctx, loginReq(taxZJ, "33", domain.ChannelIssue))
		wantErr(t, "Login again", err, nil)
		st, _ = b.gw.CheckSession(ctx, first.Session.Token)
		if st.Alive {
			t.Error("the older session on the same region and channel is still alive")
		}
		b.clk.Advance(3 * time.Hour)
		st, err = b.gw.CheckSession(ctx, second.Session.Token)
		wantErr(t, "CheckSession expired", err, nil)
		if st.Alive || !st.ExpiresAt.Equal(second.Session.ExpiresAt) {
			t.Errorf("expired session = %+v", st)
		}
	})
}

func TestConformanceHostedFetch(t *testing.T) {
	forEachBureau(t, func(t *testing.T, b *bureau) {
		ctx := context.Background()
		since := b.clk.Now()

		type result struct {
			code string
			err  error
		}
		done := make(chan result, 1)
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		go func() {
			code, err := b.sms.FetchCode(fctx, domain.LoginHuameng, "alice", since)
			done <- result{code, err}
		}()
		testutil.Eventually(t, 5*time.Second, func() error {
			if n := b.provider.Waiting(); n != 1 {
				return fmt.Errorf("%d FetchCode calls wait for a code, want 1", n)
			}
			return nil
		})
		_, err := b.gw.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
		wantErr(t, "Login", err, nil)
		r := <-done
		wantErr(t, "FetchCode", r.err, nil)
		if want := b.lastCode(t, alicePhone); r.code != want {
			t.Errorf("FetchCode = %q, want %q", r.code, want)
		}

		// A code sent already comes back at once.
		code, err := b.sms.FetchCode(ctx, domain.LoginQixiangyun, "alice", since)
		wantErr(t, "FetchCode again", err, nil)
		if code != r.code {
			t.Errorf("FetchCode again = %q, want %q", code, r.code)
		}

		// No code after since: a timeout within ctx.
		b.clk.Advance(time.Minute)
		sctx, scancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer scancel()
		start := time.Now()
		_, err = b.sms.FetchCode(sctx, domain.LoginHuameng, "alice", b.clk.Now())
		wantErr(t, "FetchCode without a code", err, domain.ErrHostedCodeTimeout)
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("FetchCode took %v past its deadline", took)
		}

		b.provider.SetFault("alice", taxbureau.SMSFaultTimeout)
		_, err = b.sms.FetchCode(ctx, domain.LoginHuameng, "alice", since)
		wantErr(t, "FetchCode with a timeout fault", err, domain.ErrHostedCodeTimeout)
		b.provider.SetFault("alice", taxbureau.SMSFaultNone)

		_, err = b.sms.FetchCode(ctx, domain.LoginManual, "alice", since)
		wantErr(t, "FetchCode for a manual account", err, domain.ErrInvalidLoginType)
	})
}

func TestConformanceInjectedUnavailable(t *testing.T) {
	forEachBureau(t, func(t *testing.T, b *bureau) {
		b.sim.FailNext(taxbureau.MethodLogin, domain.ErrBureauUnavailable)
		_, err := b.gw.Login(context.Background(), loginReq(taxBJ, "11", domain.ChannelIssue))
		wantErr(t, "Login", err, domain.ErrBureauUnavailable)
		if n := len(b.codes(t, alicePhone)); n != 0 {
			t.Errorf("a faulted login sent %d codes", n)
		}
	})
}
