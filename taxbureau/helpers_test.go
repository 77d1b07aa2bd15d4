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

// t0 is a Monday morning at the bureau.
var t0 = time.Date(2025, 6, 2, 10, 0, 0, 0, domain.ChinaTime)

const (
	taxBJ  = "91110000000000001A" // a 北京 enterprise
	taxGD  = "91440000000000002B" // a 广东 enterprise (no SMS step)
	taxZJ  = "91330000000000003C" // a 浙江 enterprise (no SMS step)
	taxBJ2 = "91110000000000004D" // another 北京 enterprise

	alicePhone = "15112341832"
	aliceID    = "11010519491231002X"
	alicePwd   = "Passw0rd!"
	bobPhone   = "13800000002"
)

func alice() taxbureau.Person {
	return taxbureau.Person{
		Name:     "张丽",
		IDType:   "201",
		IDNumber: aliceID,
		Phone:    alicePhone,
		Username: "alice",
		Password: alicePwd,
		Relations: []taxbureau.Relation{
			{TaxNo: taxBJ, Region: "11", Role: domain.RoleLegalRep},
			{TaxNo: taxBJ2, Region: "11", Role: domain.RoleFinanceManager},
			{TaxNo: taxGD, Region: "44", Role: domain.RoleTaxClerk},
			{TaxNo: taxZJ, Region: "33", Role: domain.RoleInvoicer},
		},
	}
}

func bob() taxbureau.Person {
	return taxbureau.Person{
		Name:     "李波",
		IDNumber: "110105198001010011",
		Phone:    bobPhone,
		Username: "bob",
		Password: "B0b-secret",
		Relations: []taxbureau.Relation{
			{TaxNo: taxBJ, Region: "11", Role: domain.RoleInvoicer},
			{TaxNo: taxGD, Region: "44", Role: domain.RoleAdmin},
		},
	}
}

// newSim returns a simulator with alice and bob on a fake clock at t0;
// configure edits the default rules first.
func newSim(t *testing.T, configure ...func(*taxbureau.SimConfig)) (*taxbureau.Simulator, *clock.Fake) {
	t.Helper()
	cfg := taxbureau.DefaultSimConfig()
	for _, f := range configure {
		f(&cfg)
	}
	clk := clock.NewFake(t0)
	sim := taxbureau.NewSimulator(cfg, clk)
	for _, p := range []taxbureau.Person{alice(), bob()} {
		if err := sim.AddPerson(p); err != nil {
			t.Fatalf("AddPerson(%s): %v", p.Username, err)
		}
	}
	return sim, clk
}

func loginReq(taxNo, region string, ch domain.Channel) taxbureau.LoginRequest {
	return taxbureau.LoginRequest{Region: region, TaxNo: taxNo, Username: "alice", Password: alicePwd, Channel: ch}
}

// mustLogin logs in and completes the SMS step when there is one.
func mustLogin(t *testing.T, sim *taxbureau.Simulator, req taxbureau.LoginRequest) (taxbureau.LoginResult, taxbureau.Session) {
	t.Helper()
	ctx := context.Background()
	res, err := sim.Login(ctx, req)
	if err != nil {
		t.Fatalf("Login(%s, %s): %v", req.Username, req.TaxNo, err)
	}
	if res.Session != nil {
		return res, *res.Session
	}
	p, _ := sim.FindPerson(req.Username)
	sess, err := sim.SubmitCode(ctx, res.Challenge.ID, sim.LastCode(p.Phone))
	if err != nil {
		t.Fatalf("SubmitCode: %v", err)
	}
	return res, sess
}

func alive(t *testing.T, sim *taxbureau.Simulator, token string) bool {
	t.Helper()
	st, err := sim.CheckSession(context.Background(), token)
	if err != nil {
		t.Fatalf("CheckSession: %v", err)
	}
	return st.Alive
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// wrong returns a code that is not code.
func wrong(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}
