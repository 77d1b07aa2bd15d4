package taxbureau_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

func TestStartResetIdentity(t *testing.T) {
	tests := []struct {
		name string
		req  taxbureau.ResetRequest
		want error
	}{
		{name: "match", req: taxbureau.ResetRequest{Region: "11", Username: "alice", IDType: "201", IDNumber: aliceID}},
		{name: "empty type is 居民身份证", req: taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: aliceID}},
		{name: "lower-case x", req: taxbureau.ResetRequest{Region: "11", Username: alicePhone, IDNumber: "11010519491231002x"}},
		{name: "wrong number", req: taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: "110105194912310021"}, want: domain.ErrIdentityMismatch},
		{name: "wrong type", req: taxbureau.ResetRequest{Region: "11", Username: "alice", IDType: "227", IDNumber: aliceID}, want: domain.ErrIdentityMismatch},
		{name: "unknown user", req: taxbureau.ResetRequest{Region: "11", Username: "ghost", IDNumber: aliceID}, want: domain.ErrIdentityMismatch},
		{name: "empty number", req: taxbureau.ResetRequest{Region: "11", Username: "alice"}, want: domain.ErrIdentityMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, _ := newSim(t)
			c, err := sim.StartReset(context.Background(), tt.req)
			wantErr(t, "StartReset", err, tt.want)
			sent := sim.SentCodes(alicePhone)
			if tt.want != nil {
				if len(sent) != 0 {
					t.Error("a refused reset sent a code")
				}
				return
			}
			if len(sent) != 1 || sent[0].Purpose != taxbureau.PurposeReset || sent[0].ChallengeID != c.ID || sent[0].Region != "11" {
				t.Errorf("SentCodes = %+v", sent)
			}
			if c.PhoneMasked != "151****1832" || !c.ExpiresAt.Equal(t0.Add(5*time.Minute)) {
				t.Errorf("Challenge = %+v", c)
			}
		})
	}
}

func TestCompleteReset(t *testing.T) {
	ctx := context.Background()
	const newPwd = "N3w-password"
	tests := []struct {
		name     string
		password string
		wrong    int // wrong codes before the right one
		advance  time.Duration
		want     error
	}{
		{name: "ok", password: newPwd},
		{name: "ok: lower and digits", password: "abc123$%"},
		{name: "ok: 15 characters", password: "Abcdefghijklm1!"},
		{name: "too short", password: "Ab1!", want: domain.ErrPasswordPolicy},
		{name: "too long", password: "Abcdefghijklmn1!", want: domain.ErrPasswordPolicy},
		{name: "no special", password: "Abcdefgh1", want: domain.ErrPasswordPolicy},
		{name: "one kind only", password: "abcdefgh!", want: domain.ErrPasswordPolicy},
		{name: "digits and special only", password: "12345678!", want: domain.ErrPasswordPolicy},
		{name: "space", password: "Abc defg1!", want: domain.ErrPasswordPolicy},
		{name: "non-ASCII", password: "Abcdefg1！", want: domain.ErrPasswordPolicy},
		{name: "wrong code", password: newPwd, wrong: 1, want: domain.ErrWrongCode},
		{name: "expired code", password: newPwd, advance: 5 * time.Minute, want: domain.ErrCodeExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, clk := newSim(t)
			c, err := sim.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: aliceID})
			wantErr(t, "StartReset", err, nil)
			code := sim.LastCode(alicePhone)
			clk.Advance(tt.advance)
			if tt.wrong > 0 {
				code = wrong(code)
			}
			err = sim.CompleteReset(ctx, c.ID, code, tt.password)
			wantErr(t, "CompleteReset", err, tt.want)
			if tt.want != nil {
				wantErr(t, "old password still works", sim.VerifyPassword(ctx, "11", "alice", alicePwd), nil)
				return
			}
			wantErr(t, "new password", sim.VerifyPassword(ctx, "11", "alice", tt.password), nil)
			wantErr(t, "old password", sim.VerifyPassword(ctx, "11", "alice", alicePwd), domain.ErrWrongPassword)
			err = sim.CompleteReset(ctx, c.ID, sim.LastCode(alicePhone), tt.password)
			wantErr(t, "challenge used up", err, domain.ErrNoChallenge)
		})
	}
}

func TestCompleteResetPolicyKeepsChallenge(t *testing.T) {
	ctx := context.Background()
	sim, _ := newSim(t)
	c, _ := sim.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: aliceID})
	code := sim.LastCode(alicePhone)
	err := sim.CompleteReset(ctx, c.ID, code, "short")
	wantErr(t, "policy", err, domain.ErrPasswordPolicy)
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != "password_policy" {
		t.Errorf("error %v is not the catalogue's password_policy", err)
	}
	wantErr(t, "second try, same code", sim.CompleteReset(ctx, c.ID, code, "G00d-enough"), nil)
	// A reset challenge does not complete a login, and the reverse.
	res, _ := sim.Login(ctx, taxbureau.LoginRequest{Region: "11", TaxNo: taxBJ, Username: "alice", Password: "G00d-enough", Channel: domain.ChannelIssue})
	wantErr(t, "login challenge as reset", sim.CompleteReset(ctx, res.Challenge.ID, sim.LastCode(alicePhone), "G00d-enough"), domain.ErrNoChallenge)
}

func TestCompleteResetWrongCodesKillChallenge(t *testing.T) {
	ctx := context.Background()
	sim, _ := newSim(t)
	c, _ := sim.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: aliceID})
	code := sim.LastCode(alicePhone)
	for range 3 {
		wantErr(t, "wrong", sim.CompleteReset(ctx, c.ID, wrong(code), "G00d-enough"), domain.ErrWrongCode)
	}
	wantErr(t, "right after three wrong", sim.CompleteReset(ctx, c.ID, code, "G00d-enough"), domain.ErrNoChallenge)
}

func TestResetUnlocksAndKeepsSessions(t *testing.T) {
	ctx := context.Background()
	sim, _ := newSim(t)
	_, s := mustLogin(t, sim, loginReq(taxZJ, "33", domain.ChannelIssue))
	for range 5 {
		sim.VerifyPassword(ctx, "11", "alice", "wrong")
	}
	if !sim.PasswordLocked("alice") {
		t.Fatal("not locked")
	}
	c, err := sim.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: aliceID})
	wantErr(t, "StartReset while locked", err, nil)
	wantErr(t, "CompleteReset", sim.CompleteReset(ctx, c.ID, sim.LastCode(alicePhone), "N3w-password"), nil)
	if sim.PasswordLocked("alice") {
		t.Error("still locked after reset")
	}
	wantErr(t, "new password", sim.VerifyPassword(ctx, "11", "alice", "N3w-password"), nil)
	if !alive(t, sim, s.Token) {
		t.Error("reset ended a live session")
	}
	// The count starts afresh after a reset.
	for range 4 {
		sim.VerifyPassword(ctx, "11", "alice", "wrong")
	}
	if sim.PasswordLocked("alice") {
		t.Error("old wrong passwords still counted")
	}
}

func TestVerifyPasswordAndRelations(t *testing.T) {
	ctx := context.Background()
	sim, _ := newSim(t)
	tests := []struct {
		name     string
		username string
		password string
		want     error
	}{
		{name: "username", username: "alice", password: alicePwd},
		{name: "phone", username: alicePhone, password: alicePwd},
		{name: "ID number", username: aliceID, password: alicePwd},
		{name: "wrong", username: "alice", password: "x", want: domain.ErrWrongPassword},
		{name: "unknown", username: "ghost", password: alicePwd, want: domain.ErrWrongPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, "VerifyPassword", sim.VerifyPassword(ctx, "11", tt.username, tt.password), tt.want)
			_, err := sim.Relations(ctx, "", tt.username, tt.password)
			wantErr(t, "Relations", err, tt.want)
		})
	}

	regions := []struct {
		region string
		want   []string
	}{
		{region: "", want: []string{taxBJ, taxBJ2, taxGD, taxZJ}},
		{region: "11", want: []string{taxBJ, taxBJ2}},
		{region: "44", want: []string{taxGD}},
		{region: "31", want: nil},
	}
	for _, tt := range regions {
		t.Run("relations in "+tt.region, func(t *testing.T) {
			rels, err := sim.Relations(ctx, tt.region, "alice", alicePwd)
			wantErr(t, "Relations", err, nil)
			if len(rels) != len(tt.want) {
				t.Fatalf("Relations = %+v, want %v", rels, tt.want)
			}
			for i, r := range rels {
				if r.TaxNo != tt.want[i] || r.Region == "" || r.Role == "" {
					t.Errorf("relation %d = %+v, want tax %s", i, r, tt.want[i])
				}
			}
		})
	}
}
