package taxbureau_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

func TestQRLogin(t *testing.T) {
	ctx := context.Background()
	sim, clk := newSim(t)
	_, older := mustLogin(t, sim, loginReq(taxBJ2, "11", domain.ChannelIssue))

	qr, err := sim.StartQR(ctx, taxbureau.QRRequest{Region: "11", TaxNo: taxBJ, Channel: domain.ChannelIssue})
	wantErr(t, "StartQR", err, nil)
	if qr.ID == "" || !strings.Contains(qr.Content, qr.ID) || !strings.Contains(qr.Content, "app=tax") {
		t.Errorf("QRChallenge = %+v", qr)
	}
	if !qr.ExpiresAt.Equal(t0.Add(120 * time.Second)) {
		t.Errorf("ExpiresAt = %v", qr.ExpiresAt)
	}
	st, err := sim.PollQR(ctx, qr.ID)
	wantErr(t, "PollQR", err, nil)
	if st.State != taxbureau.QRWaiting || st.Session != nil {
		t.Errorf("fresh QR = %+v", st)
	}

	// A person without a relation cannot complete it; the QR keeps waiting.
	carol := taxbureau.Person{Username: "carol", Phone: "13900000003", Password: "x", IDNumber: "3"}
	wantErr(t, "AddPerson", sim.AddPerson(carol), nil)
	wantErr(t, "scan without relation", sim.ScanQR(qr.ID, "carol"), domain.ErrNoRelation)
	wantErr(t, "scan by nobody", sim.ScanQR(qr.ID, "ghost"), taxbureau.ErrUnknownPerson)

	clk.Advance(time.Minute)
	wantErr(t, "scan", sim.ScanQRUnconfirmed(qr.ID, "alice"), nil)
	st, _ = sim.PollQR(ctx, qr.ID)
	alicePerson, _ := sim.FindPerson("alice")
	if st.State != taxbureau.QRScanned || st.PersonID != alicePerson.ID || st.Session != nil {
		t.Errorf("scanned QR = %+v", st)
	}
	wantErr(t, "bob confirms alice's scan", sim.ScanQR(qr.ID, "bob"), domain.ErrIdentityMismatch)
	wantErr(t, "confirm", sim.ScanQR(qr.ID, "alice"), nil)
	st, _ = sim.PollQR(ctx, qr.ID)
	if st.State != taxbureau.QRConfirmed || st.Session == nil || st.Role != domain.RoleLegalRep || st.PersonID != alicePerson.ID {
		t.Fatalf("confirmed QR = %+v", st)
	}
	now := t0.Add(time.Minute)
	if !st.Session.ObtainedAt.Equal(now) || !st.Session.ExpiresAt.Equal(now.Add(3*time.Hour)) || st.Session.Channel != domain.ChannelIssue {
		t.Errorf("QR session = %+v", st.Session)
	}
	if !alive(t, sim, st.Session.Token) {
		t.Error("QR session not alive")
	}
	if alive(t, sim, older.Token) {
		t.Error("QR login did not end the older session on the same region and channel")
	}
	wantErr(t, "scan a confirmed QR", sim.ScanQR(qr.ID, "alice"), domain.ErrNoChallenge)

	// Confirmed stays confirmed past the QR's own expiry.
	clk.Advance(5 * time.Minute)
	st, _ = sim.PollQR(ctx, qr.ID)
	if st.State != taxbureau.QRConfirmed || st.Session == nil {
		t.Errorf("confirmed QR later = %+v", st)
	}
}

func TestQRExpiry(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		cfg     func(*taxbureau.SimConfig)
		advance time.Duration
		want    taxbureau.QRState
	}{
		{name: "one second before 120 s", advance: 119 * time.Second, want: taxbureau.QRWaiting},
		{name: "at 120 s", advance: 120 * time.Second, want: taxbureau.QRExpired},
		{name: "configured 30 s", cfg: func(c *taxbureau.SimConfig) { c.QRValidity = 30 * time.Second }, advance: 30 * time.Second, want: taxbureau.QRExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfgs []func(*taxbureau.SimConfig)
			if tt.cfg != nil {
				cfgs = append(cfgs, tt.cfg)
			}
			sim, clk := newSim(t, cfgs...)
			qr, err := sim.StartQR(ctx, taxbureau.QRRequest{Region: "11", TaxNo: taxBJ, Channel: domain.ChannelReceive, App: taxbureau.AppIIT})
			wantErr(t, "StartQR", err, nil)
			clk.Advance(tt.advance)
			st, err := sim.PollQR(ctx, qr.ID)
			wantErr(t, "PollQR", err, nil)
			if st.State != tt.want {
				t.Fatalf("State = %q, want %q", st.State, tt.want)
			}
			scan := sim.ScanQR(qr.ID, "alice")
			if tt.want == taxbureau.QRExpired {
				wantErr(t, "scan expired", scan, domain.ErrQRExpired)
				return
			}
			wantErr(t, "scan", scan, nil)
		})
	}
}

func TestQRRefusals(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		req  taxbureau.QRRequest
		want error
	}{
		{name: "bad app", req: taxbureau.QRRequest{Region: "11", TaxNo: taxBJ, Channel: domain.ChannelIssue, App: "wechat"}, want: domain.ErrInvalidInput},
		{name: "bad channel", req: taxbureau.QRRequest{Region: "11", TaxNo: taxBJ, Channel: "x"}, want: domain.ErrInvalidBusiness},
		{name: "no tax number", req: taxbureau.QRRequest{Region: "11", Channel: domain.ChannelIssue}, want: domain.ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, _ := newSim(t)
			_, err := sim.StartQR(ctx, tt.req)
			wantErr(t, "StartQR", err, tt.want)
		})
	}
	sim, _ := newSim(t)
	_, err := sim.PollQR(ctx, "qr_nope")
	wantErr(t, "PollQR unknown", err, domain.ErrNoChallenge)
	wantErr(t, "ScanQR unknown", sim.ScanQR("qr_nope", "alice"), domain.ErrNoChallenge)

	// 办税员 may not take the issue platform by QR either.
	qr, _ := sim.StartQR(ctx, taxbureau.QRRequest{Region: "44", TaxNo: taxGD, Channel: domain.ChannelIssue})
	wantErr(t, "办税员 scans for issue", sim.ScanQR(qr.ID, "alice"), domain.ErrRoleBusiness)
	wantErr(t, "bob (管理员) scans for issue", sim.ScanQR(qr.ID, "bob"), nil)
}

func TestCertification(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		cfg      func(*taxbureau.SimConfig)
		override *time.Duration
		want     time.Duration // ValidUntil - passed time
	}{
		{name: "default 24 h", want: 24 * time.Hour},
		{name: "configured 2 h", cfg: func(c *taxbureau.SimConfig) { c.CertValidity = 2 * time.Hour }, want: 2 * time.Hour},
		{name: "configured 0: one invoice", cfg: func(c *taxbureau.SimConfig) { c.CertValidity = 0 }, want: 0},
		{name: "enterprise override 0", override: new(time.Duration(0)), want: 0},
		{name: "enterprise override 8 h", override: new(8 * time.Hour), want: 8 * time.Hour},
		{name: "negative override removed", override: new(-time.Second), want: 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfgs []func(*taxbureau.SimConfig)
			if tt.cfg != nil {
				cfgs = append(cfgs, tt.cfg)
			}
			sim, clk := newSim(t, cfgs...)
			if tt.override != nil {
				sim.SetCertValidity(taxBJ, 5*time.Hour)
				sim.SetCertValidity(taxBJ, *tt.override)
			}
			_, s := mustLogin(t, sim, loginReq(taxBJ, "11", domain.ChannelIssue))
			fc, err := sim.StartCertification(ctx, s.Token)
			wantErr(t, "StartCertification", err, nil)
			if fc.ID == "" || !strings.Contains(fc.Content, fc.ID) || !fc.ExpiresAt.Equal(t0.Add(120*time.Second)) {
				t.Errorf("FaceChallenge = %+v", fc)
			}
			st, err := sim.PollCertification(ctx, fc.ID)
			wantErr(t, "PollCertification", err, nil)
			if st.State != taxbureau.QRWaiting || !st.ValidUntil.IsZero() {
				t.Errorf("before passing = %+v", st)
			}
			clk.Advance(30 * time.Second)
			passed := clk.Now()
			wantErr(t, "PassFace", sim.PassFace(fc.ID), nil)
			wantErr(t, "PassFace twice", sim.PassFace(fc.ID), nil)
			clk.Advance(time.Minute)
			st, _ = sim.PollCertification(ctx, fc.ID)
			if st.State != taxbureau.QRConfirmed || !st.ValidUntil.Equal(passed.Add(tt.want)) {
				t.Errorf("after passing = %+v, want ValidUntil %v", st, passed.Add(tt.want))
			}
		})
	}
}

func TestCertificationRefusals(t *testing.T) {
	ctx := context.Background()
	sim, clk := newSim(t)

	_, err := sim.StartCertification(ctx, "no-such-token")
	wantErr(t, "no session", err, domain.ErrNotLoggedIn)

	_, s := mustLogin(t, sim, loginReq(taxBJ, "11", domain.ChannelIssue))
	fc, err := sim.StartCertification(ctx, s.Token)
	wantErr(t, "StartCertification", err, nil)
	clk.Advance(120 * time.Second)
	st, err := sim.PollCertification(ctx, fc.ID)
	wantErr(t, "PollCertification", err, nil)
	if st.State != taxbureau.QRExpired {
		t.Errorf("State = %q, want expired", st.State)
	}
	wantErr(t, "PassFace expired", sim.PassFace(fc.ID), domain.ErrQRExpired)
	wantErr(t, "PassFace unknown", sim.PassFace("fc_nope"), domain.ErrNoChallenge)
	_, err = sim.PollCertification(ctx, "fc_nope")
	wantErr(t, "PollCertification unknown", err, domain.ErrNoChallenge)

	// A replaced session cannot certify.
	mustLogin(t, sim, loginReq(taxBJ, "11", domain.ChannelIssue))
	_, err = sim.StartCertification(ctx, s.Token)
	wantErr(t, "replaced session", err, domain.ErrNotLoggedIn)

	// Neither can an expired one.
	_, s3 := mustLogin(t, sim, loginReq(taxZJ, "33", domain.ChannelIssue))
	clk.Advance(3 * time.Hour)
	_, err = sim.StartCertification(ctx, s3.Token)
	wantErr(t, "expired session", err, domain.ErrNotLoggedIn)
}

func TestEndedThingsAreForgotten(t *testing.T) {
	ctx := context.Background()
	sim, clk := newSim(t)
	_, s := mustLogin(t, sim, loginReq(taxZJ, "33", domain.ChannelIssue))
	qr, _ := sim.StartQR(ctx, taxbureau.QRRequest{Region: "11", TaxNo: taxBJ, Channel: domain.ChannelIssue})
	fc, _ := sim.StartCertification(ctx, s.Token)

	// Shortly after they end, callers still learn that they ended.
	clk.Advance(3*time.Hour + time.Minute)
	mustLogin(t, sim, loginReq(taxZJ, "33", domain.ChannelReceive)) // sweeps
	if st, _ := sim.CheckSession(ctx, s.Token); st.Alive || st.ExpiresAt.IsZero() {
		t.Errorf("just expired session = %+v", st)
	}

	// Long after, they are gone.
	clk.Advance(time.Hour)
	mustLogin(t, sim, loginReq(taxZJ, "33", domain.ChannelReceive))
	if st, _ := sim.CheckSession(ctx, s.Token); st.Alive || !st.ExpiresAt.IsZero() {
		t.Errorf("long expired session = %+v", st)
	}
	_, err := sim.PollQR(ctx, qr.ID)
	wantErr(t, "PollQR", err, domain.ErrNoChallenge)
	_, err = sim.PollCertification(ctx, fc.ID)
	wantErr(t, "PollCertification", err, domain.ErrNoChallenge)
}

func TestOutboxIsBounded(t *testing.T) {
	sim, _ := newSim(t, func(c *taxbureau.SimConfig) { c.SMSPerPhonePerDay = 1000 })
	for range 250 {
		if _, err := sim.Login(context.Background(), loginReq(taxBJ, "11", domain.ChannelIssue)); err != nil {
			t.Fatal(err)
		}
	}
	sent := sim.SentCodes(alicePhone)
	if len(sent) != 200 {
		t.Fatalf("outbox keeps %d codes, want 200", len(sent))
	}
	if sent[0].Code != sim.LastCode(alicePhone) {
		t.Error("SentCodes is not newest first")
	}
	if sim.LastCode("13000000000") != "" || len(sim.SentCodes("13000000000")) != 0 {
		t.Error("a phone that got nothing has codes")
	}
}
