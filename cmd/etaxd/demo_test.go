package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

func seedCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// seededDemo seeds the demo on a stack over a fresh data directory and
// returns them, the path of demo.json and what seeding returned.
func seededDemo(t *testing.T) (dir, path string, st *stack, df *demoFile) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "demo.json")
	st = openTestStack(t, dir, nil)
	df, err := seedDemo(seedCtx(t), st, path)
	if err != nil {
		t.Fatal(err)
	}
	return dir, path, st, df
}

// TestSeedDemoIsIdempotent seeds twice in one process and once more after
// a restart (a new simulator, which reads its persons file, on the same
// data directory): the second and third runs write nothing, reuse every id
// and code, and leave demo.json as it was.
func TestSeedDemoIsIdempotent(t *testing.T) {
	dir, path, st, first := seededDemo(t)
	ctx := seedCtx(t)
	checkDemo(t, st, first, path)
	file1, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	revs1, audit1 := storeSnapshot(t, st.store, demoTenantID)
	commits1 := st.bolt.Stats().Commits

	again, err := seedDemo(ctx, st, path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, again) {
		t.Errorf("second seeding in the same process changed the demo:\n%+v\n%+v", first, again)
	}
	if c := st.bolt.Stats().Commits; c != commits1 {
		t.Errorf("second seeding committed %d writes, want none", c-commits1)
	}
	closeStack(t, st)

	st2 := openTestStack(t, dir, nil)
	third, err := seedDemo(ctx, st2, path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, third) {
		t.Errorf("seeding after a restart changed the demo:\n%+v\n%+v", first, third)
	}
	file3, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(file1, file3) {
		t.Errorf("demo.json changed:\n%s\n---\n%s", file1, file3)
	}
	revs3, audit3 := storeSnapshot(t, st2.store, demoTenantID)
	if !maps.Equal(revs1, revs3) || audit1 != audit3 {
		t.Errorf("seeding after a restart wrote to the store: %d keys/%d audit events before, %d/%d after",
			len(revs1), audit1, len(revs3), audit3)
	}
	if c := st2.bolt.Stats().Commits; c != 0 {
		t.Errorf("seeding after a restart committed %d writes, want none", c)
	}
	// The fresh simulator knows the persons again, with their passwords.
	checkDemo(t, st2, third, path)
	for _, p := range third.Persons {
		if err := st2.sim.VerifyPassword(ctx, p.Relations[0].Region, p.Username, p.Password); err != nil {
			t.Errorf("simulator after restart: %s: %v", p.Username, err)
		}
	}
	closeStack(t, st2)
}

// TestSeedDemoCompletesAnInterruptedRun removes some of what a first run
// created and checks that the next run restores it, as the first run set
// it up, keeping what is left, an unbinding and a binding made since.
func TestSeedDemoCompletesAnInterruptedRun(t *testing.T) {
	_, path, st, first := seededDemo(t)
	ctx := seedCtx(t)
	gone := []int{2, 4} // unbound without a default; bound without a default
	for _, i := range gone {
		if err := st.engine.DeleteAccount(ctx, demoTenantID, first.Accounts[i].ID, first.OpenID); err != nil {
			t.Fatal(err)
		}
	}
	unbound := first.Accounts[0]
	if err := st.engine.Unbind(ctx, demoTenantID, unbound.ID, first.OpenID); err != nil {
		t.Fatal(err)
	}
	// Someone else binds an account the demo leaves unbound: that stays.
	other := first.Accounts[3]
	if _, err := st.engine.LinkTenant(ctx, "o_colleague", first.ActivationCode); err != nil {
		t.Fatal(err)
	}
	if err := st.engine.Bind(ctx, demoTenantID, other.ID, "o_colleague"); err != nil {
		t.Fatal(err)
	}
	second, err := seedDemo(ctx, st, path)
	if err != nil {
		t.Fatal(err)
	}
	checkDemo(t, st, second, path)
	if second.Accounts[0].BoundOpenID != "" {
		t.Error("the account its user unbound was bound again")
	}
	if second.Accounts[3].BoundOpenID != "o_colleague" {
		t.Errorf("demo.json says account %s is bound to %q, want the colleague", other.ID, second.Accounts[3].BoundOpenID)
	}
	if second.Accounts[4].BoundOpenID != demoOpenID {
		t.Error("the account added again was not bound as the first run bound it")
	}
	for i, a := range second.Accounts {
		switch {
		case slices.Contains(gone, i) && a.ID == first.Accounts[i].ID:
			t.Errorf("the deleted account kept its id %s", a.ID)
		case !slices.Contains(gone, i) && a.ID != first.Accounts[i].ID:
			t.Errorf("account %s got a new id %s", first.Accounts[i].ID, a.ID)
		}
	}
	if second.ActivationCode != first.ActivationCode || second.APIKeySecret != first.APIKeySecret {
		t.Error("the activation code or API key changed")
	}
	closeStack(t, st)
}

// TestSeedDemoFinishesARunCutShort: a first run stopped after adding the
// accounts (demo.json, written before anything was created, has no account
// ids): the next run binds them and sets the defaults it did not get to.
func TestSeedDemoFinishesARunCutShort(t *testing.T) {
	_, path, st, first := seededDemo(t)
	ctx := seedCtx(t)
	cut := *first
	cut.Accounts = slices.Clone(first.Accounts)
	for i := range cut.Accounts {
		cut.Accounts[i].ID = ""
	}
	if err := writeDemoFile(path, &cut); err != nil {
		t.Fatal(err)
	}
	// Not yet bound when the run stopped.
	if err := st.engine.Unbind(ctx, demoTenantID, first.Accounts[1].ID, first.OpenID); err != nil {
		t.Fatal(err)
	}
	second, err := seedDemo(ctx, st, path)
	if err != nil {
		t.Fatal(err)
	}
	checkDemo(t, st, second, path)
	if !reflect.DeepEqual(first, second) {
		t.Errorf("the finished run differs from an uninterrupted one:\n%+v\n%+v", first, second)
	}
	closeStack(t, st)
}

// TestSeedDemoWithoutItsFile loses demo.json while the tenant stays: the
// next run cannot know the hashed activation code, so it rotates it, and
// finds the accounts again.
func TestSeedDemoWithoutItsFile(t *testing.T) {
	_, path, st, first := seededDemo(t)
	ctx := seedCtx(t)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	second, err := seedDemo(ctx, st, path)
	if err != nil {
		t.Fatal(err)
	}
	checkDemo(t, st, second, path)
	if second.ActivationCode == first.ActivationCode {
		t.Error("the activation code was not rotated")
	}
	for i := range first.Accounts {
		if first.Accounts[i].ID != second.Accounts[i].ID {
			t.Errorf("account %d: id %s became %s", i, first.Accounts[i].ID, second.Accounts[i].ID)
		}
	}
	if _, err := st.engine.LinkTenant(ctx, "o_someone_else", second.ActivationCode); err != nil {
		t.Errorf("the new activation code does not link: %v", err)
	}
	closeStack(t, st)
}

// TestSeedDemoKeepsUsersChanges changes what the demo set up — a default,
// a binding, a person's password reset through etaxd (F11) — and restarts
// with the demo again: every change holds, demo.json records it, and the
// new password logs in (the simulator keeps its persons in the data
// directory).
func TestSeedDemoKeepsUsersChanges(t *testing.T) {
	dir, path, st, first := seededDemo(t)
	ctx := seedCtx(t)
	faren, caiwu, clerk, gdFaren := first.Accounts[0], first.Accounts[1], first.Accounts[2], first.Accounts[5]
	if caiwu.DefaultFor != "receive" || clerk.DefaultFor != "" || faren.BoundOpenID != demoOpenID {
		t.Fatalf("the demo changed its accounts: %+v", first.Accounts)
	}
	// 王办税 becomes 北京's receive default in 李财务's place.
	if err := st.engine.SetDefault(ctx, demoTenantID, clerk.ID, first.OpenID, domain.BusinessReceive); err != nil {
		t.Fatal(err)
	}
	if err := st.engine.Unbind(ctx, demoTenantID, faren.ID, first.OpenID); err != nil {
		t.Fatal(err)
	}
	// 张法人 resets the password through the 广东 account (F11).
	zf := first.Persons[0]
	const newPassword = "Reset@2027zf"
	fr, err := st.engine.StartPasswordReset(ctx, demoTenantID, gdFaren.ID, first.OpenID, zf.IDType, zf.IDNumber)
	if err != nil || fr.State != actors.FlowAwaitingCode {
		t.Fatalf("start reset = %+v %v", fr, err)
	}
	if fr, err = st.engine.SubmitFlowCode(ctx, demoTenantID, fr.FlowID, first.OpenID, st.sim.LastCode(zf.Phone)); err != nil {
		t.Fatal(err)
	}
	if fr, err = st.engine.CompleteReset(ctx, demoTenantID, fr.FlowID, first.OpenID, domain.NewSecret(newPassword), domain.NewSecret(newPassword)); err != nil || fr.State != actors.FlowDone {
		t.Fatalf("complete reset = %+v %v", fr, err)
	}
	closeStack(t, st)

	st2 := openTestStack(t, dir, nil)
	second, err := seedDemo(ctx, st2, path)
	if err != nil {
		t.Fatal(err)
	}
	checkDemo(t, st2, second, path)
	byKey, err := demoAccounts(ctx, st2.engine, demoTenantID)
	if err != nil {
		t.Fatal(err)
	}
	key := func(a demoAccount) string { return a.TaxNo + "/" + a.Username }
	if v := byKey[key(clerk)]; v.DefaultFor != domain.BusinessReceive {
		t.Errorf("王办税's default is %s after the restart, want receive", v.DefaultFor)
	}
	if v := byKey[key(caiwu)]; v.DefaultFor != 0 {
		t.Errorf("李财务 is the %s default again after the restart", v.DefaultFor)
	}
	if v := byKey[key(faren)]; v.Bound {
		t.Errorf("the unbound account is bound to %q again after the restart", v.BoundOpenID)
	}
	if err := st2.sim.VerifyPassword(ctx, "44", zf.Username, newPassword); err != nil {
		t.Errorf("the reset password after the restart: %v", err)
	}
	if err := st2.sim.VerifyPassword(ctx, "44", zf.Username, zf.Password); !errors.Is(err, domain.ErrWrongPassword) {
		t.Errorf("the old password after the restart: %v, want wrong_password", err)
	}
	if second.Persons[0].Password != newPassword {
		t.Error("demo.json still holds the password from before the reset")
	}
	// etaxd logs in with the password it stored at the reset.
	req := actors.SessionRequest{AccountID: gdFaren.ID, Business: domain.ChannelIssue}
	r, err := st2.engine.RequestSession(ctx, demoTenantID, req)
	if err == nil && r.Session != nil {
		err = st2.engine.ReportInvalid(ctx, demoTenantID, gdFaren.ID, domain.ChannelIssue, r.Session.Token)
		if err == nil {
			r, err = st2.engine.RequestSession(ctx, demoTenantID, req)
		}
	}
	if err != nil || r.State != actors.RequestReady || r.Session == nil {
		t.Errorf("login after the restart = %+v %v", r, err)
	}

	// A third start changes nothing either.
	closeStack(t, st2)
	st3 := openTestStack(t, dir, nil)
	third, err := seedDemo(ctx, st3, path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(second, third) {
		t.Errorf("the third start changed the demo:\n%+v\n%+v", second, third)
	}
	if c := st3.bolt.Stats().Commits; c != 0 {
		t.Errorf("the third start committed %d writes, want none", c)
	}
	closeStack(t, st3)
}

func TestSeedDemoRefusesACorruptFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "demo.json")
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := openTestStack(t, dir, nil)
	if _, err := seedDemo(seedCtx(t), st, path); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Fatalf("seedDemo = %v, want a refusal that says what to do", err)
	}
	closeStack(t, st)
}

// checkDemo checks demo.json against the demo's promises and against what
// the engine and the simulator hold.
func checkDemo(t *testing.T, st *stack, df *demoFile, path string) {
	t.Helper()
	ctx := seedCtx(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("demo.json mode %v, want 0600", fi.Mode().Perm())
	}
	var onDisk demoFile
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &onDisk); err != nil || !reflect.DeepEqual(&onDisk, df) {
		t.Errorf("demo.json does not hold the returned description (%v)", err)
	}
	var keys map[string]any
	_ = json.Unmarshal(b, &keys)
	for _, k := range []string{"tenant_id", "activation_code", "openid", "api_key_id", "api_key_secret", "enterprises", "accounts", "persons"} {
		if _, has := keys[k]; !has {
			t.Errorf("demo.json lacks %q", k)
		}
	}

	if df.TenantID != "demo" || df.OpenID != "o_demo_openid" || len(df.ActivationCode) < 6 ||
		!strings.HasPrefix(df.APIKeyID, "demo-") || len(df.APIKeySecret) < 40 {
		t.Errorf("demo header = %+v", df)
	}
	info, err := st.engine.Tenant(ctx, df.TenantID)
	if err != nil || info.Name != "演示租户" {
		t.Errorf("tenant = %+v, %v", info, err)
	}
	tenants, err := st.engine.TenantsOf(ctx, df.OpenID)
	if err != nil || !slices.ContainsFunc(tenants, func(x actors.TenantInfo) bool { return x.ID == df.TenantID }) {
		t.Errorf("the demo openid is not linked to the tenant: %+v, %v", tenants, err)
	}

	// Two enterprises with valid tax numbers: 北京 with the SMS step, 广东
	// without.
	ents, err := st.engine.Enterprises(ctx, df.TenantID, df.OpenID)
	if err != nil {
		t.Fatal(err)
	}
	if len(df.Enterprises) != 2 || len(ents) != 2 {
		t.Fatalf("enterprises: file %d, engine %d, want 2", len(df.Enterprises), len(ents))
	}
	regions := map[string]string{}
	for _, e := range df.Enterprises {
		tn, err := domain.ParseTaxNo(e.TaxNo)
		if err != nil || tn.Legacy {
			t.Errorf("tax number %s: %v legacy=%v", e.TaxNo, err, tn.Legacy)
		}
		regions[e.Region] = e.TaxNo
		if !slices.ContainsFunc(ents, func(v actors.EnterpriseView) bool {
			return v.TaxNo == e.TaxNo && v.Name == e.Name && v.Region == e.Region
		}) {
			t.Errorf("enterprise %+v is not in the engine: %+v", e, ents)
		}
	}
	if regions["11"] == "" || regions["44"] == "" || st.sim.SkipsSMS("11") || !st.sim.SkipsSMS("44") {
		t.Errorf("want one enterprise in 北京 (SMS) and one in 广东 (no SMS): %v", regions)
	}

	// Persons: policy-compliant passwords, the roles the demo promises.
	roles := map[domain.Role]bool{}
	for _, p := range df.Persons {
		if err := st.sim.Config().CheckPassword(p.Password); err != nil {
			t.Errorf("%s: password breaks the policy: %v", p.Username, err)
		}
		if _, known := st.sim.FindPerson(p.Username); !known {
			t.Errorf("%s is not in the simulator", p.Username)
		}
		if p.Name == "" || p.IDType == "" || len(p.IDNumber) != 18 || !domain.ValidPhone(p.Phone) {
			t.Errorf("person %+v is incomplete", p)
		}
		for _, r := range p.Relations {
			roles[r.Role] = true
		}
		if len(p.Relations) == 2 && (p.Relations[0].Role != domain.RoleLegalRep || p.Relations[1].Role != domain.RoleLegalRep) {
			t.Errorf("%s relates to both enterprises but is not their 法定代表人", p.Username)
		}
	}
	for _, r := range []domain.Role{domain.RoleLegalRep, domain.RoleFinanceManager, domain.RoleTaxClerk} {
		if !roles[r] {
			t.Errorf("no person has role %s (%s)", r, r.Name())
		}
	}
	if !slices.ContainsFunc(df.Persons, func(p demoPerson) bool { return len(p.Relations) == 2 }) {
		t.Error("no person relates to both enterprises")
	}

	// Accounts: every login type, some bound, defaults set, all as the
	// engine holds them.
	views, err := st.engine.Accounts(ctx, df.TenantID, "", "")
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]actors.AccountView{}
	for _, v := range views {
		byID[v.ID] = v
	}
	if len(views) != len(df.Accounts) {
		t.Errorf("engine has %d accounts, demo.json %d", len(views), len(df.Accounts))
	}
	types := map[string]bool{}
	bound, unbound := 0, 0
	for _, a := range df.Accounts {
		types[a.LoginType] = true
		v, has := byID[a.ID]
		if !has {
			t.Errorf("account %s (%s) is not in the engine", a.ID, a.Username)
			continue
		}
		if v.TaxNo != a.TaxNo || v.Username != a.Username || string(v.LoginType) != a.LoginType ||
			v.Business.String() != a.Business || string(v.Role) != a.Role {
			t.Errorf("account %s: engine %+v, file %+v", a.ID, v, a)
		}
		if v.BoundOpenID != a.BoundOpenID {
			t.Errorf("account %s bound to %q, file says %q", a.ID, v.BoundOpenID, a.BoundOpenID)
		}
		if a.BoundOpenID != "" {
			bound++
		} else {
			unbound++
		}
		want := a.DefaultFor
		if want == "" {
			want = "none"
		}
		if v.DefaultFor.String() != want {
			t.Errorf("account %s default %s, want %s", a.ID, v.DefaultFor, want)
		}
		if !slices.ContainsFunc(df.Persons, func(p demoPerson) bool { return p.Username == a.Username }) {
			t.Errorf("account %s has no person", a.Username)
		}
	}
	for _, lt := range []domain.LoginType{domain.LoginManual, domain.LoginHuameng, domain.LoginQixiangyun} {
		if !types[string(lt)] {
			t.Errorf("no account of login type %s", lt)
		}
	}
	if bound == 0 || unbound == 0 {
		t.Errorf("%d bound and %d unbound accounts, want some of each", bound, unbound)
	}
	for _, e := range ents {
		if e.Defaults.Issue == "" || e.Defaults.Receive == "" {
			t.Errorf("enterprise %s lacks a default: %+v", e.TaxNo, e.Defaults)
		}
	}
}

// TestSimPersonsFile: the simulator's persons file holds passwords, so it
// is private; one that cannot be read stops the start with what to do.
func TestSimPersonsFile(t *testing.T) {
	dir, _, st, _ := seededDemo(t)
	closeStack(t, st)
	path := testOptions(dir).SimPersonsPath()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", path, fi.Mode().Perm())
	}
	if err := os.WriteFile(path, []byte(`[{"username":`), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err = openStack(testOptions(dir), slog.New(slog.DiscardHandler))
	if err == nil {
		_ = st.Close()
		t.Fatal("a stack started on a corrupt persons file")
	}
	if !strings.Contains(err.Error(), "delete it") {
		t.Errorf("openStack = %v, want a refusal that says what to do", err)
	}
}
