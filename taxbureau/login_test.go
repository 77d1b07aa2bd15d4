package taxbureau_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/taxbureau"
)

func TestLoginWithCode(t *testing.T) {
	sim, clk := newSim(t)
	ctx := context.Background()

	res, err := sim.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
	wantErr(t, "Login", err, nil)
	if res.Session != nil || res.Challenge == nil {
		t.Fatalf("Login in 北京 = %+v, want a challenge", res)
	}
	if res.Role != domain.RoleLegalRep {
		t.Errorf("Role = %q, want 01", res.Role)
	}
	if res.PersonID == "" {
		t.Error("PersonID is empty")
	}
	if got := res.Challenge.PhoneMasked; got != "151****1832" {
		t.Errorf("PhoneMasked = %q", got)
	}
	if got, want := res.Challenge.ExpiresAt, t0.Add(5*time.Minute); !got.Equal(want) {
		t.Errorf("challenge ExpiresAt = %v, want %v", got, want)
	}
	sent := sim.SentCodes(alicePhone)
	if len(sent) != 1 {
		t.Fatalf("SentCodes = %d, want 1", len(sent))
	}
	m := sent[0]
	if len(m.Code) != 6 || m.Purpose != taxbureau.PurposeLogin || m.Region != "11" || m.ChallengeID != res.Challenge.ID || !m.SentAt.Equal(t0) {
		t.Errorf("SMS = %+v", m)
	}
	if sim.LastCode(alicePhone) != m.Code {
		t.Error("LastCode differs from SentCodes[0]")
	}

	clk.Advance(time.Minute)
	sess, err := sim.SubmitCode(ctx, res.Challenge.ID, m.Code)
	wantErr(t, "SubmitCode", err, nil)
	now := t0.Add(time.Minute)
	if sess.Token == "" || sess.Channel != domain.ChannelIssue || !sess.ObtainedAt.Equal(now) || !sess.ExpiresAt.Equal(now.Add(3*time.Hour)) {
		t.Errorf("Session = %+v", sess)
	}
	st, err := sim.CheckSession(ctx, sess.Token)
	wantErr(t, "CheckSession", err, nil)
	if !st.Alive || !st.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Errorf("CheckSession = %+v", st)
	}
	_, err = sim.SubmitCode(ctx, res.Challenge.ID, m.Code)
	wantErr(t, "SubmitCode twice", err, domain.ErrNoChallenge)

	clk.Advance(3*time.Hour - time.Second)
	if !alive(t, sim, sess.Token) {
		t.Error("session died a second early")
	}
	clk.Advance(time.Second)
	st, _ = sim.CheckSession(ctx, sess.Token)
	if st.Alive || !st.ExpiresAt.Equal(sess.ExpiresAt) {
		t.Errorf("expired session: CheckSession = %+v", st)
	}
	if got := len(sim.Sessions()); got != 0 {
		t.Errorf("Sessions() = %d live, want 0", got)
	}
}

func TestLoginNoSMSRegion(t *testing.T) {
	tests := []struct {
		name    string
		regions []string // nil keeps the default
		taxNo   string
		region  string
		ch      domain.Channel
		wantSMS bool
	}{
		{name: "广东 default", taxNo: taxGD, region: "44", ch: domain.ChannelReceive},
		{name: "浙江 default", taxNo: taxZJ, region: "33", ch: domain.ChannelIssue},
		{name: "北京 sends a code", taxNo: taxBJ, region: "11", ch: domain.ChannelIssue, wantSMS: true},
		{name: "configured 北京", regions: []string{"11"}, taxNo: taxBJ, region: "11", ch: domain.ChannelIssue},
		{name: "configured list drops 广东", regions: []string{"11"}, taxNo: taxGD, region: "44", ch: domain.ChannelReceive, wantSMS: true},
		{name: "empty request region takes the relation's", taxNo: taxGD, region: "", ch: domain.ChannelReceive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, _ := newSim(t, func(c *taxbureau.SimConfig) {
				if tt.regions != nil {
					c.NoSMSRegions = tt.regions
				}
			})
			res, err := sim.Login(context.Background(), loginReq(tt.taxNo, tt.region, tt.ch))
			wantErr(t, "Login", err, nil)
			if tt.wantSMS {
				if res.Challenge == nil || res.Session != nil || sim.LastCode(alicePhone) == "" {
					t.Fatalf("Login = %+v, want a challenge and a code", res)
				}
				return
			}
			if res.Session == nil || res.Challenge != nil {
				t.Fatalf("Login = %+v, want a session", res)
			}
			if len(sim.SentCodes(alicePhone)) != 0 {
				t.Error("a code was sent in a region without the SMS step")
			}
			if !res.Session.ExpiresAt.Equal(t0.Add(3*time.Hour)) || !alive(t, sim, res.Session.Token) {
				t.Errorf("session = %+v", res.Session)
			}
		})
	}
}

func TestLoginRefusals(t *testing.T) {
	tests := []struct {
		name string
		edit func(*taxbureau.LoginRequest)
		cfg  func(*taxbureau.SimConfig)
		want error
		role domain.Role // on success
	}{
		{name: "unknown user", edit: func(r *taxbureau.LoginRequest) { r.Username = "nobody" }, want: domain.ErrWrongPassword},
		{name: "empty user", edit: func(r *taxbureau.LoginRequest) { r.Username = "" }, want: domain.ErrWrongPassword},
		{name: "wrong password", edit: func(r *taxbureau.LoginRequest) { r.Password = "nope" }, want: domain.ErrWrongPassword},
		{name: "password is case sensitive", edit: func(r *taxbureau.LoginRequest) { r.Password = "PASSW0RD!" }, want: domain.ErrWrongPassword},
		{name: "no relation", edit: func(r *taxbureau.LoginRequest) { r.TaxNo = "91110000000000009Z" }, want: domain.ErrNoRelation},
		{name: "relation in another region", edit: func(r *taxbureau.LoginRequest) { r.Region = "31" }, want: domain.ErrNoRelation},
		{name: "bob has no relation to 浙江", edit: func(r *taxbureau.LoginRequest) {
			r.Username, r.Password, r.TaxNo, r.Region = "bob", "B0b-secret", taxZJ, "33"
		}, want: domain.ErrNoRelation},
		{name: "办税员 may not issue", edit: func(r *taxbureau.LoginRequest) { r.TaxNo, r.Region = taxGD, "44" }, want: domain.ErrRoleBusiness},
		{name: "办税员 may issue when roles do not decide", edit: func(r *taxbureau.LoginRequest) { r.TaxNo, r.Region = taxGD, "44" },
			cfg: func(c *taxbureau.SimConfig) { c.RolesDecideChannel = false }, role: domain.RoleTaxClerk},
		{name: "bad channel", edit: func(r *taxbureau.LoginRequest) { r.Channel = "both" }, want: domain.ErrInvalidBusiness},
		{name: "login by phone", edit: func(r *taxbureau.LoginRequest) { r.Username = alicePhone }, role: domain.RoleLegalRep},
		{name: "login by ID number, lower-case x", edit: func(r *taxbureau.LoginRequest) { r.Username = " 11010519491231002x " }, role: domain.RoleLegalRep},
		{name: "username without case", edit: func(r *taxbureau.LoginRequest) { r.Username = "ALICE" }, role: domain.RoleLegalRep},
		{name: "second enterprise", edit: func(r *taxbureau.LoginRequest) { r.TaxNo = taxBJ2 }, role: domain.RoleFinanceManager},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfgs []func(*taxbureau.SimConfig)
			if tt.cfg != nil {
				cfgs = append(cfgs, tt.cfg)
			}
			sim, _ := newSim(t, cfgs...)
			req := loginReq(taxBJ, "11", domain.ChannelIssue)
			tt.edit(&req)
			res, err := sim.Login(context.Background(), req)
			wantErr(t, "Login", err, tt.want)
			if tt.want != nil {
				if len(sim.SentCodes(alicePhone))+len(sim.SentCodes(bobPhone)) != 0 {
					t.Error("a refused login sent a code")
				}
				return
			}
			if res.Role != tt.role {
				t.Errorf("Role = %q, want %q", res.Role, tt.role)
			}
			p, _ := sim.FindPerson("alice")
			if res.PersonID != p.ID {
				t.Errorf("PersonID = %q, want %q", res.PersonID, p.ID)
			}
		})
	}
}

func TestPasswordLock(t *testing.T) {
	ctx := context.Background()
	bad := loginReq(taxBJ, "11", domain.ChannelIssue)
	bad.Password = "wrong"
	good := loginReq(taxBJ, "11", domain.ChannelIssue)

	t.Run("five wrong lock until the next day", func(t *testing.T) {
		sim, clk := newSim(t)
		for i := 1; i <= 4; i++ {
			_, err := sim.Login(ctx, bad)
			wantErr(t, "wrong password", err, domain.ErrWrongPassword)
			if errors.Is(err, domain.ErrBureauPwdLocked) {
				t.Fatalf("try %d locked already", i)
			}
		}
		_, err := sim.Login(ctx, bad)
		wantErr(t, "fifth wrong password", err, domain.ErrBureauPwdLocked)
		wantErr(t, "fifth wrong password", err, domain.ErrWrongPassword)
		if !sim.PasswordLocked("alice") {
			t.Error("PasswordLocked = false")
		}
		_, err = sim.Login(ctx, good)
		wantErr(t, "right password while locked", err, domain.ErrBureauPwdLocked)
		if errors.Is(err, domain.ErrWrongPassword) {
			t.Error("a locked right password reads as wrong")
		}
		wantErr(t, "VerifyPassword while locked", sim.VerifyPassword(ctx, "11", "alice", alicePwd), domain.ErrBureauPwdLocked)
		_, err = sim.Login(ctx, loginReq(taxZJ, "33", domain.ChannelIssue))
		wantErr(t, "other region while locked", err, domain.ErrBureauPwdLocked)

		// 23:59:59 the same day: still locked; midnight in Asia/Shanghai: free.
		midnight := time.Date(2025, 6, 3, 0, 0, 0, 0, domain.ChinaTime)
		clk.Set(midnight.Add(-time.Second))
		_, err = sim.Login(ctx, good)
		wantErr(t, "last second of the day", err, domain.ErrBureauPwdLocked)
		clk.Set(midnight)
		_, err = sim.Login(ctx, good)
		wantErr(t, "next day", err, nil)
		if sim.PasswordLocked("alice") {
			t.Error("still locked the next day")
		}
		// The count started afresh: four wrong do not lock.
		for range 4 {
			_, err = sim.Login(ctx, bad)
			wantErr(t, "wrong next day", err, domain.ErrWrongPassword)
		}
		if sim.PasswordLocked("alice") {
			t.Error("locked after four wrong passwords")
		}
	})

	t.Run("a right password resets the count", func(t *testing.T) {
		sim, _ := newSim(t)
		for range 4 {
			sim.Login(ctx, bad)
		}
		_, err := sim.Login(ctx, good)
		wantErr(t, "right password", err, nil)
		for range 4 {
			_, err = sim.Login(ctx, bad)
			wantErr(t, "wrong again", err, domain.ErrWrongPassword)
		}
		if sim.PasswordLocked("alice") {
			t.Error("locked although the count was reset")
		}
	})

	t.Run("count is per day", func(t *testing.T) {
		sim, clk := newSim(t)
		for range 4 {
			sim.Login(ctx, bad)
		}
		clk.Advance(24 * time.Hour)
		_, err := sim.Login(ctx, bad)
		wantErr(t, "first wrong of the day", err, domain.ErrWrongPassword)
		if sim.PasswordLocked("alice") {
			t.Error("yesterday's wrong passwords counted")
		}
	})

	t.Run("Relations and VerifyPassword count", func(t *testing.T) {
		sim, _ := newSim(t)
		for range 2 {
			_, err := sim.Relations(ctx, "11", "alice", "wrong")
			wantErr(t, "Relations", err, domain.ErrWrongPassword)
		}
		for range 2 {
			wantErr(t, "VerifyPassword", sim.VerifyPassword(ctx, "11", alicePhone, "wrong"), domain.ErrWrongPassword)
		}
		_, err := sim.Login(ctx, bad)
		wantErr(t, "fifth via Login", err, domain.ErrBureauPwdLocked)
	})

	t.Run("unknown usernames count toward nothing", func(t *testing.T) {
		sim, _ := newSim(t)
		for range 10 {
			wantErr(t, "unknown", sim.VerifyPassword(ctx, "11", "ghost", "x"), domain.ErrWrongPassword)
		}
		wantErr(t, "alice", sim.VerifyPassword(ctx, "11", "alice", alicePwd), nil)
	})

	t.Run("configured limit", func(t *testing.T) {
		sim, _ := newSim(t, func(c *taxbureau.SimConfig) { c.MaxWrongPasswords = 1 })
		_, err := sim.Login(ctx, bad)
		wantErr(t, "first wrong", err, domain.ErrBureauPwdLocked)
	})

	t.Run("bob is not locked by alice", func(t *testing.T) {
		sim, _ := newSim(t)
		for range 5 {
			sim.Login(ctx, bad)
		}
		wantErr(t, "bob", sim.VerifyPassword(ctx, "11", "bob", "B0b-secret"), nil)
	})
}

func TestSMSBudget(t *testing.T) {
	ctx := context.Background()
	sim, clk := newSim(t)
	req := loginReq(taxBJ, "11", domain.ChannelIssue)
	for i := 1; i <= 20; i++ {
		if _, err := sim.Login(ctx, req); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	if got := sim.SMSRemaining(alicePhone, "11"); got != 0 {
		t.Errorf("SMSRemaining = %d, want 0", got)
	}
	_, err := sim.Login(ctx, req)
	wantErr(t, "21st code", err, domain.ErrSMSBudget)
	if got := len(sim.SentCodes(alicePhone)); got != 20 {
		t.Errorf("sent %d codes, want 20", got)
	}
	_, err = sim.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: aliceID})
	wantErr(t, "reset code over budget", err, domain.ErrSMSBudget)

	// Another region has its own budget.
	_, err = sim.StartReset(ctx, taxbureau.ResetRequest{Region: "31", Username: "alice", IDNumber: aliceID})
	wantErr(t, "reset in 上海", err, nil)
	// So does another phone.
	_, err = sim.Login(ctx, taxbureau.LoginRequest{Region: "11", TaxNo: taxBJ, Username: "bob", Password: "B0b-secret", Channel: domain.ChannelIssue})
	wantErr(t, "bob", err, nil)

	// The bureau's day ends at midnight in Asia/Shanghai.
	clk.Set(time.Date(2025, 6, 3, 0, 0, 0, 0, domain.ChinaTime))
	if got := sim.SMSRemaining(alicePhone, "11"); got != 20 {
		t.Errorf("SMSRemaining next day = %d, want 20", got)
	}
	_, err = sim.Login(ctx, req)
	wantErr(t, "next day", err, nil)
}

func TestSMSBudgetConfigured(t *testing.T) {
	sim, _ := newSim(t, func(c *taxbureau.SimConfig) { c.SMSPerPhonePerDay = 2 })
	ctx := context.Background()
	req := loginReq(taxBJ, "11", domain.ChannelIssue)
	for _, want := range []error{nil, nil, domain.ErrSMSBudget} {
		_, err := sim.Login(ctx, req)
		wantErr(t, "Login", err, want)
	}
}

func TestSubmitCode(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// run submits codes for a fresh login challenge and returns the last
		// error.
		run  func(sim *taxbureau.Simulator, clk *clock.Fake, id, code string) error
		want error
	}{
		{name: "right code", run: func(sim *taxbureau.Simulator, _ *clock.Fake, id, code string) error {
			_, err := sim.SubmitCode(ctx, id, code)
			return err
		}},
		{name: "code with spaces", run: func(sim *taxbureau.Simulator, _ *clock.Fake, id, code string) error {
			_, err := sim.SubmitCode(ctx, id, " "+code+" ")
			return err
		}},
		{name: "just before expiry", run: func(sim *taxbureau.Simulator, clk *clock.Fake, id, code string) error {
			clk.Advance(5*time.Minute - time.Second)
			_, err := sim.SubmitCode(ctx, id, code)
			return err
		}},
		{name: "expired", want: domain.ErrCodeExpired, run: func(sim *taxbureau.Simulator, clk *clock.Fake, id, code string) error {
			clk.Advance(5 * time.Minute)
			_, err := sim.SubmitCode(ctx, id, code)
			return err
		}},
		{name: "expired stays expired", want: domain.ErrCodeExpired, run: func(sim *taxbureau.Simulator, clk *clock.Fake, id, code string) error {
			clk.Advance(6 * time.Minute)
			sim.SubmitCode(ctx, id, code)
			_, err := sim.SubmitCode(ctx, id, code)
			return err
		}},
		{name: "forgotten long after expiry", want: domain.ErrNoChallenge, run: func(sim *taxbureau.Simulator, clk *clock.Fake, id, code string) error {
			clk.Advance(time.Hour)
			sim.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue)) // a send sweeps
			_, err := sim.SubmitCode(ctx, id, code)
			return err
		}},
		{name: "wrong code", want: domain.ErrWrongCode, run: func(sim *taxbureau.Simulator, _ *clock.Fake, id, code string) error {
			_, err := sim.SubmitCode(ctx, id, wrong(code))
			return err
		}},
		{name: "two wrong then right", run: func(sim *taxbureau.Simulator, _ *clock.Fake, id, code string) error {
			for range 2 {
				if _, err := sim.SubmitCode(ctx, id, wrong(code)); !errors.Is(err, domain.ErrWrongCode) {
					return err
				}
			}
			_, err := sim.SubmitCode(ctx, id, code)
			return err
		}},
		{name: "three wrong kill the challenge", want: domain.ErrNoChallenge, run: func(sim *taxbureau.Simulator, _ *clock.Fake, id, code string) error {
			for range 3 {
				if _, err := sim.SubmitCode(ctx, id, wrong(code)); !errors.Is(err, domain.ErrWrongCode) {
					return err
				}
			}
			_, err := sim.SubmitCode(ctx, id, code)
			return err
		}},
		{name: "unknown challenge", want: domain.ErrNoChallenge, run: func(sim *taxbureau.Simulator, _ *clock.Fake, _, code string) error {
			_, err := sim.SubmitCode(ctx, "ch_nope", code)
			return err
		}},
		{name: "a reset challenge is not a login", want: domain.ErrNoChallenge, run: func(sim *taxbureau.Simulator, _ *clock.Fake, _, _ string) error {
			c, err := sim.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: aliceID})
			if err != nil {
				return err
			}
			_, err = sim.SubmitCode(ctx, c.ID, sim.LastCode(alicePhone))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, clk := newSim(t)
			res, err := sim.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
			wantErr(t, "Login", err, nil)
			err = tt.run(sim, clk, res.Challenge.ID, sim.LastCode(alicePhone))
			wantErr(t, "SubmitCode", err, tt.want)
		})
	}
}

func TestSubmitCodeConfiguredTries(t *testing.T) {
	ctx := context.Background()
	sim, _ := newSim(t, func(c *taxbureau.SimConfig) { c.MaxWrongCodes = 1; c.CodeLength = 4 })
	res, _ := sim.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
	code := sim.LastCode(alicePhone)
	if len(code) != 4 {
		t.Errorf("code %q, want 4 digits", code)
	}
	bad := "0000"
	if code == bad {
		bad = "1111"
	}
	_, err := sim.SubmitCode(ctx, res.Challenge.ID, bad)
	wantErr(t, "wrong", err, domain.ErrWrongCode)
	_, err = sim.SubmitCode(ctx, res.Challenge.ID, code)
	wantErr(t, "after the one try", err, domain.ErrNoChallenge)
}

func TestOneSessionPerPersonRegionChannel(t *testing.T) {
	bobReq := taxbureau.LoginRequest{Region: "11", TaxNo: taxBJ, Username: "bob", Password: "B0b-secret", Channel: domain.ChannelIssue}
	tests := []struct {
		name      string
		first     taxbureau.LoginRequest
		second    taxbureau.LoginRequest
		firstDies bool
	}{
		{name: "same enterprise and channel", first: loginReq(taxBJ, "11", domain.ChannelIssue), second: loginReq(taxBJ, "11", domain.ChannelIssue), firstDies: true},
		{name: "other enterprise, same region", first: loginReq(taxBJ, "11", domain.ChannelIssue), second: loginReq(taxBJ2, "11", domain.ChannelIssue), firstDies: true},
		{name: "no-SMS region too", first: loginReq(taxZJ, "33", domain.ChannelReceive), second: loginReq(taxZJ, "33", domain.ChannelReceive), firstDies: true},
		{name: "other channel", first: loginReq(taxBJ, "11", domain.ChannelIssue), second: loginReq(taxBJ, "11", domain.ChannelReceive)},
		{name: "other region", first: loginReq(taxBJ, "11", domain.ChannelIssue), second: loginReq(taxZJ, "33", domain.ChannelIssue)},
		{name: "other person", first: loginReq(taxBJ, "11", domain.ChannelIssue), second: bobReq},
		{name: "same person by another login name", first: loginReq(taxBJ, "11", domain.ChannelIssue), second: func() taxbureau.LoginRequest {
			r := loginReq(taxBJ, "11", domain.ChannelIssue)
			r.Username = alicePhone
			return r
		}(), firstDies: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, clk := newSim(t)
			_, s1 := mustLogin(t, sim, tt.first)
			clk.Advance(time.Minute)
			_, s2 := mustLogin(t, sim, tt.second)
			if s1.Token == s2.Token {
				t.Fatal("two logins share a token")
			}
			if got := alive(t, sim, s1.Token); got == tt.firstDies {
				t.Errorf("first session alive = %v, want %v", got, !tt.firstDies)
			}
			if !alive(t, sim, s2.Token) {
				t.Error("second session is not alive")
			}
			st, _ := sim.CheckSession(context.Background(), s1.Token)
			if tt.firstDies && !st.ExpiresAt.IsZero() {
				t.Errorf("a replaced session reports ExpiresAt %v", st.ExpiresAt)
			}
		})
	}
}

func TestCheckSessionUnknownAndKilled(t *testing.T) {
	sim, _ := newSim(t)
	if alive(t, sim, "no-such-token") {
		t.Error("unknown token alive")
	}
	_, s := mustLogin(t, sim, loginReq(taxZJ, "33", domain.ChannelIssue))
	infos := sim.Sessions()
	if len(infos) != 1 || infos[0].Token != s.Token || infos[0].TaxNo != taxZJ || infos[0].Region != "33" || infos[0].Role != domain.RoleInvoicer {
		t.Errorf("Sessions() = %+v", infos)
	}
	if !sim.KillSession(s.Token) {
		t.Error("KillSession of a live token = false")
	}
	if alive(t, sim, s.Token) {
		t.Error("killed session alive")
	}
	if sim.KillSession(s.Token) {
		t.Error("KillSession twice = true")
	}
	// The person may log in again at once.
	_, s2 := mustLogin(t, sim, loginReq(taxZJ, "33", domain.ChannelIssue))
	if !alive(t, sim, s2.Token) {
		t.Error("new session after kill not alive")
	}
}

// TestDropSessionsKillsEveryToken: after DropSessions no token is alive,
// StartCertification refuses them, and the persons log in again at once.
func TestDropSessionsKillsEveryToken(t *testing.T) {
	sim, _ := newSim(t)
	_, s := mustLogin(t, sim, loginReq(taxZJ, "33", domain.ChannelIssue))
	if n := sim.DropSessions(); n != 1 {
		t.Errorf("DropSessions() = %d, want 1", n)
	}
	if alive(t, sim, s.Token) || len(sim.Sessions()) != 0 {
		t.Error("a session survived DropSessions")
	}
	if _, err := sim.StartCertification(context.Background(), s.Token); !errors.Is(err, domain.ErrNotLoggedIn) {
		t.Errorf("StartCertification with a dropped token = %v, want not_logged_in", err)
	}
	_, s2 := mustLogin(t, sim, loginReq(taxZJ, "33", domain.ChannelIssue))
	if !alive(t, sim, s2.Token) {
		t.Error("new session after DropSessions not alive")
	}
}

func TestSessionLengthConfigured(t *testing.T) {
	sim, clk := newSim(t, func(c *taxbureau.SimConfig) { c.SessionLength = 30 * time.Minute })
	_, s := mustLogin(t, sim, loginReq(taxZJ, "33", domain.ChannelIssue))
	if !s.ExpiresAt.Equal(t0.Add(30 * time.Minute)) {
		t.Errorf("ExpiresAt = %v", s.ExpiresAt)
	}
	clk.Advance(30 * time.Minute)
	if alive(t, sim, s.Token) {
		t.Error("alive after its length")
	}
}
