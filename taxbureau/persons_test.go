package taxbureau_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/taxbureau"
)

func TestAddPerson(t *testing.T) {
	tests := []struct {
		name string
		edit func(*taxbureau.Person)
		want error
	}{
		{name: "ok", edit: func(*taxbureau.Person) {}},
		{name: "no ID number", edit: func(p *taxbureau.Person) { p.IDNumber = "" }},
		{name: "username taken", edit: func(p *taxbureau.Person) { p.Username = "Alice" }, want: taxbureau.ErrPersonExists},
		{name: "username is another's phone", edit: func(p *taxbureau.Person) { p.Username = alicePhone }, want: taxbureau.ErrPersonExists},
		{name: "phone taken", edit: func(p *taxbureau.Person) { p.Phone = alicePhone }, want: taxbureau.ErrPersonExists},
		{name: "ID number taken", edit: func(p *taxbureau.Person) { p.IDNumber = strings.ToLower(aliceID) }, want: taxbureau.ErrPersonExists},
		{name: "id taken", edit: func(p *taxbureau.Person) { p.ID = derivedAliceID(t) }, want: taxbureau.ErrPersonExists},
		{name: "no username", edit: func(p *taxbureau.Person) { p.Username = " " }, want: domain.ErrInvalidInput},
		{name: "no password", edit: func(p *taxbureau.Person) { p.Password = "" }, want: domain.ErrInvalidInput},
		{name: "bad phone", edit: func(p *taxbureau.Person) { p.Phone = "12345" }, want: domain.ErrInvalidPhone},
		{name: "bad role", edit: func(p *taxbureau.Person) {
			p.Relations = []taxbureau.Relation{{TaxNo: taxBJ, Region: "11", Role: "42"}}
		}, want: domain.ErrInvalidRole},
		{name: "relation without tax number", edit: func(p *taxbureau.Person) {
			p.Relations = []taxbureau.Relation{{Region: "11", Role: domain.RoleLegalRep}}
		}, want: domain.ErrInvalidInput},
		{name: "two roles on one enterprise", edit: func(p *taxbureau.Person) {
			p.Relations = []taxbureau.Relation{{TaxNo: taxBJ, Role: domain.RoleLegalRep}, {TaxNo: taxBJ, Role: domain.RoleTaxClerk}}
		}, want: domain.ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, _ := newSim(t)
			p := taxbureau.Person{Name: "王五", IDNumber: "110105199001010033", Phone: "13700000005", Username: "wang", Password: "pw",
				Relations: []taxbureau.Relation{{TaxNo: taxBJ, Region: "11", Role: domain.RoleOther}}}
			tt.edit(&p)
			err := sim.AddPerson(p)
			wantErr(t, "AddPerson", err, tt.want)
			want := 3
			if tt.want != nil {
				want = 2
			}
			if got := len(sim.Persons()); got != want {
				t.Errorf("Persons() = %d, want %d", got, want)
			}
			if _, found := sim.FindPerson("13700000005"); found != (tt.want == nil) && p.Phone == "13700000005" {
				t.Errorf("FindPerson by phone found = %v", found)
			}
		})
	}
}

// derivedAliceID is alice's id in a simulator of its own.
func derivedAliceID(t *testing.T) string {
	t.Helper()
	sim, _ := newSim(t)
	p, _ := sim.FindPerson("alice")
	return p.ID
}

func TestPersonIDStable(t *testing.T) {
	a, _ := newSim(t)
	b := taxbureau.NewSimulator(taxbureau.DefaultSimConfig(), clock.NewFake(t0))
	// Added in the other order, with other login names: the id follows the ID
	// number.
	wantErr(t, "bob", b.AddPerson(bob()), nil)
	p := alice()
	p.Username, p.IDNumber = "alice2", strings.ToLower(aliceID)
	wantErr(t, "alice", b.AddPerson(p), nil)
	pa, _ := a.FindPerson("alice")
	pb, _ := b.FindPerson("alice2")
	if pa.ID == "" || pa.ID != pb.ID || !strings.HasPrefix(pa.ID, "P") {
		t.Errorf("ids %q and %q", pa.ID, pb.ID)
	}
	// A preset id is kept.
	wantErr(t, "preset", b.AddPerson(taxbureau.Person{ID: "P-custom", Username: "c", Phone: "13900000009", Password: "x"}), nil)
	if pc, ok := b.FindPerson("P-custom"); !ok || pc.Username != "c" {
		t.Errorf("FindPerson by id = %+v, %v", pc, ok)
	}
	// Login reports it.
	res, _ := a.Login(context.Background(), loginReq(taxZJ, "33", domain.ChannelIssue))
	if res.PersonID != pa.ID {
		t.Errorf("Login PersonID = %q, want %q", res.PersonID, pa.ID)
	}
}

func TestPersonsSnapshotIsACopy(t *testing.T) {
	sim, _ := newSim(t)
	ps := sim.Persons()
	if len(ps) != 2 || ps[0].ID > ps[1].ID {
		t.Fatalf("Persons() = %+v", ps)
	}
	for i := range ps {
		ps[i].Password = "changed"
		ps[i].Relations[0].Role = domain.RoleOther
	}
	p, _ := sim.FindPerson("alice")
	if p.Password != alicePwd || p.Relations[0].Role != domain.RoleLegalRep {
		t.Error("Persons() shares state with the simulator")
	}
}

func TestUpdatePersonAndRelations(t *testing.T) {
	ctx := context.Background()
	sim, _ := newSim(t)
	a, _ := sim.FindPerson("alice")

	// New phone: the old one is free again, the new one logs in.
	wantErr(t, "UpdatePerson", sim.UpdatePerson(a.ID, func(p *taxbureau.Person) { p.Phone = "15100000000" }), nil)
	wantErr(t, "old phone", sim.VerifyPassword(ctx, "11", alicePhone, alicePwd), domain.ErrWrongPassword)
	wantErr(t, "new phone", sim.VerifyPassword(ctx, "11", "15100000000", alicePwd), nil)
	wantErr(t, "take bob's phone", sim.UpdatePerson(a.ID, func(p *taxbureau.Person) { p.Phone = bobPhone }), taxbureau.ErrPersonExists)
	wantErr(t, "unknown id", sim.UpdatePerson("P-nope", func(*taxbureau.Person) {}), taxbureau.ErrUnknownPerson)
	wantErr(t, "id is kept", sim.UpdatePerson(a.ID, func(p *taxbureau.Person) { p.ID = "other" }), nil)
	if _, ok := sim.FindPerson(a.ID); !ok {
		t.Error("UpdatePerson changed the id")
	}

	// SetPassword models a change on the bureau's own site and clears the lock.
	for range 5 {
		sim.VerifyPassword(ctx, "11", "alice", "wrong")
	}
	wantErr(t, "SetPassword", sim.SetPassword("alice", "simple"), nil)
	if sim.PasswordLocked("alice") {
		t.Error("SetPassword kept the lock")
	}
	wantErr(t, "new password", sim.VerifyPassword(ctx, "11", "alice", "simple"), nil)
	wantErr(t, "SetPassword unknown", sim.SetPassword("ghost", "x"), taxbureau.ErrUnknownPerson)

	// Relations come and go.
	req := taxbureau.LoginRequest{Region: "33", TaxNo: taxZJ, Username: "alice", Password: "simple", Channel: domain.ChannelIssue}
	_, s := mustLogin(t, sim, req)
	wantErr(t, "RemoveRelation", sim.RemoveRelation("alice", taxZJ), nil)
	wantErr(t, "RemoveRelation twice", sim.RemoveRelation("alice", taxZJ), domain.ErrNoRelation)
	_, err := sim.Login(ctx, req)
	wantErr(t, "Login after removal", err, domain.ErrNoRelation)
	if !alive(t, sim, s.Token) {
		t.Error("removing a relation ended a session")
	}
	wantErr(t, "AddRelation", sim.AddRelation("alice", taxbureau.Relation{TaxNo: taxZJ, Region: "33", Role: domain.RoleTaxClerk}), nil)
	_, err = sim.Login(ctx, req)
	wantErr(t, "办税员 on issue", err, domain.ErrRoleBusiness)
	wantErr(t, "AddRelation replaces", sim.AddRelation("alice", taxbureau.Relation{TaxNo: taxZJ, Region: "33", Role: domain.RoleAdmin}), nil)
	res, err := sim.Login(ctx, req)
	wantErr(t, "管理员 on issue", err, nil)
	if res.Role != domain.RoleAdmin {
		t.Errorf("Role = %q", res.Role)
	}
	wantErr(t, "AddRelation bad role", sim.AddRelation("alice", taxbureau.Relation{TaxNo: "x", Role: "bad"}), domain.ErrInvalidRole)
}

func TestRelationWithoutRegion(t *testing.T) {
	ctx := context.Background()
	sim, _ := newSim(t)
	wantErr(t, "AddRelation", sim.AddRelation("bob", taxbureau.Relation{TaxNo: taxZJ, Role: domain.RoleLegalRep}), nil)
	res, err := sim.Login(ctx, taxbureau.LoginRequest{Region: "33", TaxNo: taxZJ, Username: "bob", Password: "B0b-secret", Channel: domain.ChannelIssue})
	wantErr(t, "Login", err, nil)
	if res.Session == nil {
		t.Error("a relation without region did not take 浙江's no-SMS rule from the request")
	}
}

func TestSimConfig(t *testing.T) {
	d := taxbureau.DefaultSimConfig()
	if err := d.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"code length 6", d.CodeLength == 6},
		{"code validity 5 min", d.CodeValidity == 5*time.Minute},
		{"3 wrong codes", d.MaxWrongCodes == 3},
		{"20 SMS", d.SMSPerPhonePerDay == 20},
		{"QR 120 s", d.QRValidity == 120*time.Second},
		{"session 3 h", d.SessionLength == 3*time.Hour},
		{"cert 24 h", d.CertValidity == 24*time.Hour},
		{"password 8-15", d.PasswordMinLen == 8 && d.PasswordMaxLen == 15},
		{"5 wrong passwords", d.MaxWrongPasswords == 5},
		{"no SMS in 44 33 12 42", strings.Join(d.NoSMSRegions, " ") == "44 33 12 42"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("default: %s does not hold", c.name)
		}
	}
	bad := taxbureau.SimConfig{CertValidity: -1}
	err := bad.Validate()
	if err == nil {
		t.Fatal("zero config validated")
	}
	for _, field := range []string{"code_length", "code_validity", "max_wrong_codes", "sms_per_phone_per_day", "qr_validity",
		"face_validity", "session_length", "cert_validity", "password_len", "max_wrong_passwords"} {
		if !strings.Contains(err.Error(), "sim."+field) {
			t.Errorf("Validate does not report %s: %v", field, err)
		}
	}
	wantErr(t, "Validate", err, domain.ErrInvalidInput)
	defer func() {
		if recover() == nil {
			t.Error("NewSimulator accepted an invalid config")
		}
	}()
	taxbureau.NewSimulator(bad, clock.NewFake(t0))
}

func TestConfigIsCopied(t *testing.T) {
	cfg := taxbureau.DefaultSimConfig()
	sim := taxbureau.NewSimulator(cfg, clock.NewFake(t0))
	cfg.NoSMSRegions[0] = "11"
	got := sim.Config()
	got.NoSMSRegions[1] = "11"
	if !sim.SkipsSMS("44") || !sim.SkipsSMS("33") || sim.SkipsSMS("11") || sim.SkipsSMS("4403") {
		t.Error("the simulator shares its config slice")
	}
	if sim.Config().NoSMSRegions[0] != "44" {
		t.Error("Config() returns the simulator's own slice")
	}
}

// personsKeeper is a save function for Simulator.KeepPersons that records
// what it was given and fails while fail is set.
type personsKeeper struct {
	saved [][]taxbureau.Person
	fail  bool
}

var errDiskFull = errors.New("disk full")

func (k *personsKeeper) save(ps []taxbureau.Person) error {
	if k.fail {
		return errDiskFull
	}
	k.saved = append(k.saved, ps)
	return nil
}

func (k *personsKeeper) last(t *testing.T, username string) taxbureau.Person {
	t.Helper()
	if len(k.saved) == 0 {
		t.Fatal("nothing saved")
	}
	for _, p := range k.saved[len(k.saved)-1] {
		if p.Username == username {
			return p
		}
	}
	t.Fatalf("%s not in the last save", username)
	return taxbureau.Person{}
}

// TestKeepPersons: every change of a person is saved before it is
// acknowledged, and a change whose save fails is undone; what was saved
// reads back (DecodePersons) as the persons it was made from.
func TestKeepPersons(t *testing.T) {
	ctx := context.Background()
	sim, _ := newSim(t)
	k := &personsKeeper{}
	sim.KeepPersons(k.save)

	carol := taxbureau.Person{Name: "陈可", IDNumber: "110105199001010033", Phone: "13700000005", Username: "carol", Password: "C4rol-pw",
		Relations: []taxbureau.Relation{{TaxNo: taxBJ, Region: "11", Role: domain.RoleInvoicer}}}
	if err := sim.AddPerson(carol); err != nil {
		t.Fatal(err)
	}
	if got := len(k.saved[len(k.saved)-1]); got != 3 {
		t.Fatalf("saved %d persons, want 3", got)
	}
	if err := sim.SetPassword("carol", "C4rol-new"); err != nil || k.last(t, "carol").Password != "C4rol-new" {
		t.Fatalf("SetPassword: %v, saved %+v", err, k.last(t, "carol"))
	}
	c, err := sim.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: aliceID})
	if err != nil {
		t.Fatal(err)
	}
	code := sim.LastCode(alicePhone)

	// The store fails: nothing changes, and each call says so.
	k.fail = true
	n := len(k.saved)
	dave := carol
	dave.Username, dave.Phone, dave.IDNumber = "dave", "13700000006", "110105199001010041"
	if err := sim.AddPerson(dave); !errors.Is(err, errDiskFull) {
		t.Errorf("AddPerson with a failing save = %v", err)
	}
	if _, found := sim.FindPerson("dave"); found {
		t.Error("a person whose save failed was added")
	}
	if err := sim.SetPassword("carol", "C4rol-lost"); !errors.Is(err, errDiskFull) {
		t.Errorf("SetPassword with a failing save = %v", err)
	}
	if p, _ := sim.FindPerson("carol"); p.Password != "C4rol-new" {
		t.Errorf("a password whose save failed was kept: %q", p.Password)
	}
	if err := sim.RemoveRelation("carol", taxBJ); !errors.Is(err, errDiskFull) {
		t.Errorf("RemoveRelation with a failing save = %v", err)
	}
	if _, found := sim.FindPerson("13700000005"); !found {
		t.Error("carol's phone no longer finds her after a failed update")
	}
	err = sim.CompleteReset(ctx, c.ID, code, "N3w-password")
	if !errors.Is(err, domain.ErrBureauUnavailable) || !errors.Is(err, errDiskFull) {
		t.Errorf("CompleteReset with a failing save = %v, want bureau_unavailable", err)
	}
	wantErr(t, "old password after the failed reset", sim.VerifyPassword(ctx, "11", "alice", alicePwd), nil)
	if len(k.saved) != n {
		t.Fatal("a failing save was recorded")
	}

	// The store is back: the same code completes the reset.
	k.fail = false
	if err := sim.CompleteReset(ctx, c.ID, code, "N3w-password"); err != nil {
		t.Fatalf("CompleteReset after the store came back: %v", err)
	}
	if k.last(t, "alice").Password != "N3w-password" {
		t.Error("the reset password was not saved")
	}

	var buf bytes.Buffer
	if err := taxbureau.EncodePersons(&buf, k.saved[len(k.saved)-1]); err != nil {
		t.Fatal(err)
	}
	back, err := taxbureau.DecodePersons(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, sim.Persons()) {
		t.Errorf("read back:\n%+v\nwant\n%+v", back, sim.Persons())
	}
}
