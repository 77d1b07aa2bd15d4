package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

// The demo: a tenant with two enterprises, one in 北京 (SMS step) and one
// in 广东 (no SMS step), the natural persons behind their accounts in the
// simulator, accounts of every login type, and one WeChat user linked to the
// tenant and bound to some of the accounts.
//
// Seeding is idempotent and creates only what is missing. demo.json records
// what was generated (the activation code, the API key, the account ids)
// and describes the persons, so a later start reuses it: each step first
// looks whether its state exists already, so a second run writes nothing,
// and a run cut short is completed by the next one. What a finished run set
// up (the link, bindings, defaults) is the users' from then on: later runs
// record it in demo.json as they find it and never set it again. The
// simulator keeps its persons in <data>/sim-persons.json (keepSimPersons),
// so a password reset through etaxd still holds after a restart; a person
// it lacks is added from demo.json.

const (
	demoTenantID   = "demo"
	demoTenantName = "演示租户"
	demoOpenID     = "o_demo_openid"
	// demoTimeout bounds a whole seeding run.
	demoTimeout = 2 * time.Minute
)

// demoFile is <data>/demo.json: machine-readable, for the next issue's API
// examples and for people trying etaxd. It holds the demo persons'
// passwords and the API key secret, so it is written with mode 0600.
type demoFile struct {
	TenantID       string           `json:"tenant_id"`
	TenantName     string           `json:"tenant_name"`
	ActivationCode string           `json:"activation_code"`
	OpenID         string           `json:"openid"`
	APIKeyID       string           `json:"api_key_id"`
	APIKeySecret   string           `json:"api_key_secret"`
	Enterprises    []demoEnterprise `json:"enterprises"`
	Accounts       []demoAccount    `json:"accounts"`
	Persons        []demoPerson     `json:"persons"`
}

type demoEnterprise struct {
	TaxNo  string `json:"tax_no"`
	Name   string `json:"name"`
	Region string `json:"region"`
}

// demoAccount is one account; BoundOpenID and DefaultFor are what the demo
// sets up (and, after seeding, what the engine holds).
type demoAccount struct {
	ID          string `json:"id"`
	TaxNo       string `json:"tax_no"`
	Username    string `json:"username"`
	LoginType   string `json:"login_type"`
	Business    string `json:"business"`
	Role        string `json:"role"`
	BoundOpenID string `json:"bound_openid"`
	DefaultFor  string `json:"default_for,omitempty"`
}

type demoPerson struct {
	Username  string               `json:"username"`
	Password  string               `json:"password"`
	Phone     string               `json:"phone"`
	Name      string               `json:"name"`
	IDType    string               `json:"id_type"`
	IDNumber  string               `json:"id_number"`
	Relations []taxbureau.Relation `json:"relations"`
}

// newDemoFile returns the demo as first seeded: fixed persons, enterprises
// and accounts, a fresh activation code and API key.
func newDemoFile() (*demoFile, error) {
	keyID, secret, err := newDemoKey()
	if err != nil {
		return nil, err
	}
	bj, gd := domain.MakeTaxNo("11", 1), domain.MakeTaxNo("44", 2)
	rel := func(taxNo, region string, role domain.Role) taxbureau.Relation {
		return taxbureau.Relation{TaxNo: taxNo, Region: region, Role: role}
	}
	person := func(seq int, name, user, pw string, rels ...taxbureau.Relation) demoPerson {
		return demoPerson{Username: user, Password: pw, Phone: fmt.Sprintf("139000000%02d", seq), Name: name,
			IDType: taxbureau.IDTypeResidentCard, IDNumber: residentID(fmt.Sprintf("11010519800101%03d", seq)), Relations: rels}
	}
	account := func(taxNo, user string, lt domain.LoginType, b domain.Business, role domain.Role, bound bool, def domain.Business) demoAccount {
		a := demoAccount{TaxNo: taxNo, Username: user, LoginType: string(lt), Business: b.String(), Role: string(role)}
		if bound {
			a.BoundOpenID = demoOpenID
		}
		if def != 0 {
			a.DefaultFor = def.String()
		}
		return a
	}
	return &demoFile{
		TenantID: demoTenantID, TenantName: demoTenantName, ActivationCode: actors.NewActivationCode(),
		OpenID: demoOpenID, APIKeyID: keyID, APIKeySecret: secret,
		Enterprises: []demoEnterprise{
			{TaxNo: bj, Name: "北京演示科技有限公司", Region: "11"},
			{TaxNo: gd, Name: "广东演示贸易有限公司", Region: "44"},
		},
		Persons: []demoPerson{
			person(1, "张法人", "zhangfaren", "Demo@2026zf", rel(bj, "11", domain.RoleLegalRep), rel(gd, "44", domain.RoleLegalRep)),
			person(2, "李财务", "licaiwu", "Demo@2026lc", rel(bj, "11", domain.RoleFinanceManager)),
			person(3, "王办税", "wangbanshui", "Demo@2026wb", rel(bj, "11", domain.RoleTaxClerk)),
			person(4, "赵华盟", "zhaohuameng", "Demo@2026zh", rel(bj, "11", domain.RoleInvoicer)),
			person(5, "钱企享", "qianqixiang", "Demo@2026qq", rel(bj, "11", domain.RoleInvoicer)),
		},
		Accounts: []demoAccount{
			account(bj, "zhangfaren", domain.LoginManual, domain.BusinessBoth, domain.RoleLegalRep, true, domain.BusinessIssue),
			account(bj, "licaiwu", domain.LoginManual, domain.BusinessReceive, domain.RoleFinanceManager, true, domain.BusinessReceive),
			account(bj, "wangbanshui", domain.LoginManual, domain.BusinessReceive, domain.RoleTaxClerk, false, 0),
			account(bj, "zhaohuameng", domain.LoginHuameng, domain.BusinessIssue, domain.RoleInvoicer, false, 0),
			account(bj, "qianqixiang", domain.LoginQixiangyun, domain.BusinessBoth, domain.RoleInvoicer, true, 0),
			account(gd, "zhangfaren", domain.LoginManual, domain.BusinessBoth, domain.RoleLegalRep, true, domain.BusinessBoth),
		},
	}, nil
}

// newDemoKey returns a fresh id and secret for the demo's API key.
func newDemoKey() (id, secret string, err error) {
	if id, err = randomText(6, hex.EncodeToString); err != nil {
		return "", "", err
	}
	if secret, err = randomText(32, base64.RawURLEncoding.EncodeToString); err != nil {
		return "", "", err
	}
	return "demo-" + id, secret, nil
}

// seedDemo makes the demo exist in st and returns its description, which
// it keeps in path. See the comment at the top of this file.
func seedDemo(ctx context.Context, st *stack, path string) (*demoFile, error) {
	if st.sim == nil && !st.opts.Cluster.Enabled() {
		// The demo's persons live in the simulator it seeds; a cluster's
		// shared etax-sim is seeded through its test endpoints
		// (seedClusterDemo), a single node uses its own.
		return nil, errors.New("--demo needs the in-process simulator: unset taxbureau.url")
	}
	eng, log := st.engine, st.log.With("component", "demo")
	df, err := readDemoFile(path)
	existed := err == nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if df, err = newDemoFile(); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	if st.sim != nil {
		if err := addDemoPersons(st.sim, df.Persons); err != nil {
			return nil, err
		}
	}
	if !existed {
		// Written before anything is created, so that a run cut short
		// leaves the activation code behind for the next one.
		if err := writeDemoFile(path, df); err != nil {
			return nil, err
		}
	}
	created := 0

	// A run finished before when demo.json records account ids. What the
	// demo set up then (the link, bindings, defaults) belongs to the users
	// since: a later run records it and never asserts it again, so an
	// unbinding, an unlinking or another default survives a restart.
	finished := existed && slices.ContainsFunc(df.Accounts, func(a demoAccount) bool { return a.ID != "" })

	// The tenant.
	if _, err := eng.Tenant(ctx, df.TenantID); errors.Is(err, domain.ErrTenantNotFound) {
		if _, err := eng.CreateTenant(ctx, df.TenantID, df.TenantName, df.ActivationCode); err != nil {
			return nil, fmt.Errorf("create tenant: %w", err)
		}
		created++
		finished = false // an operator deleted it: the demo starts over
		for i := range df.Accounts {
			df.Accounts[i].ID = ""
		}
	} else if err != nil {
		return nil, fmt.Errorf("read tenant: %w", err)
	} else if !existed {
		// The tenant outlived its demo.json: its code is stored hashed
		// only, so a new one is the only way to know it. demo.json is
		// written before anything is created, so this is no run cut
		// short: what the demo set up is found and recorded only.
		if err := rotateDemoCode(ctx, eng, df); err != nil {
			return nil, err
		}
		created++
		finished = true
	}

	// The API key of the demo's client (etaxd call --demo signs with it).
	n, err := ensureDemoAPIKey(ctx, eng, df, log)
	if err != nil {
		return nil, err
	}
	created += n

	// The enterprises.
	ents, err := eng.Enterprises(ctx, df.TenantID, "")
	if err != nil {
		return nil, fmt.Errorf("list enterprises: %w", err)
	}
	for _, e := range df.Enterprises {
		if slices.ContainsFunc(ents, func(v actors.EnterpriseView) bool { return v.TaxNo == e.TaxNo }) {
			continue
		}
		if _, err := eng.AddEnterprise(ctx, df.TenantID, e.TaxNo, e.Name, e.Region); err != nil {
			return nil, fmt.Errorf("add enterprise %s: %w", e.TaxNo, err)
		}
		created++
	}

	// The WeChat user, linked with the activation code (F1) once.
	linked := true
	if !finished {
		if n, err = linkDemoUser(ctx, eng, df); err != nil {
			return nil, err
		}
		created += n
	} else if linked, err = demoUserLinked(ctx, eng, df); err != nil {
		return nil, err
	} else if !linked {
		log.Info("the demo WeChat user was unlinked from the tenant; leaving it", "tenant", df.TenantID, "openid", df.OpenID)
	}

	// The accounts (F3): those missing are added and set up as the first
	// run did; one a run cut short added (no id in demo.json yet) is set
	// up; the others are left as they are.
	byKey, err := demoAccounts(ctx, eng, df.TenantID)
	if err != nil {
		return nil, err
	}
	setUp := map[int]bool{}
	for i := range df.Accounts {
		a := &df.Accounts[i]
		if v, has := byKey[a.TaxNo+"/"+a.Username]; has {
			setUp[i] = !finished && a.ID == ""
			a.ID = v.ID
			continue
		}
		if !linked {
			// Only a user of the tenant adds accounts (F3).
			a.ID = ""
			continue
		}
		if a.ID, err = addDemoAccount(ctx, st, df, *a); err != nil {
			return nil, fmt.Errorf("add account %s on %s: %w", a.Username, a.TaxNo, err)
		}
		setUp[i] = true
		created++
	}

	// Bindings (F4) and defaults (F5) of the accounts set up now. A binding
	// someone made meanwhile stays, and the demo binds its own user only;
	// a default goes only where the enterprise has none for that business.
	if byKey, err = demoAccounts(ctx, eng, df.TenantID); err != nil {
		return nil, err
	}
	for i := range df.Accounts {
		a := &df.Accounts[i]
		if v := byKey[a.TaxNo+"/"+a.Username]; setUp[i] && !v.Bound && a.BoundOpenID == df.OpenID {
			if err := eng.Bind(ctx, df.TenantID, a.ID, a.BoundOpenID); err != nil {
				return nil, fmt.Errorf("bind account %s: %w", a.ID, err)
			}
			created++
		}
	}
	for i := range df.Accounts {
		a := &df.Accounts[i]
		if !setUp[i] || a.DefaultFor == "" {
			continue
		}
		var want domain.Business
		if err := want.UnmarshalText([]byte(a.DefaultFor)); err != nil {
			return nil, fmt.Errorf("account %s: default_for: %w", a.ID, err)
		}
		n, err := setDemoDefault(ctx, eng, df, *a, want, log)
		if err != nil {
			return nil, err
		}
		created += n
	}

	// demo.json says what the engine and the simulator hold now.
	if byKey, err = demoAccounts(ctx, eng, df.TenantID); err != nil {
		return nil, err
	}
	for i := range df.Accounts {
		a := &df.Accounts[i]
		if v, has := byKey[a.TaxNo+"/"+a.Username]; has {
			a.BoundOpenID, a.DefaultFor = v.BoundOpenID, ""
			if v.DefaultFor != 0 {
				a.DefaultFor = v.DefaultFor.String()
			}
		}
	}
	if st.sim != nil {
		recordDemoPersons(st.sim, df.Persons)
	}

	if err := writeDemoFile(path, df); err != nil {
		return nil, err
	}
	if created == 0 {
		log.Info("demo already seeded; reusing it", "tenant", df.TenantID, "file", path)
	} else {
		log.Info("demo seeded", "tenant", df.TenantID, "changes", created, "enterprises", len(df.Enterprises),
			"accounts", len(df.Accounts), "file", path)
	}
	return df, nil
}

// addDemoPersons registers the persons with the simulator, skipping those
// it knows already (kept in sim-persons.json, or a second seeding in one
// process): a password changed since is never replaced by demo.json's.
func addDemoPersons(sim *taxbureau.Simulator, persons []demoPerson) error {
	for _, p := range persons {
		if _, known := sim.FindPerson(p.Username); known {
			continue
		}
		err := sim.AddPerson(taxbureau.Person{Name: p.Name, IDType: p.IDType, IDNumber: p.IDNumber, Phone: p.Phone,
			Username: p.Username, Password: p.Password, Relations: slices.Clone(p.Relations)})
		if err != nil {
			return fmt.Errorf("add demo person %s to the simulator: %w", p.Username, err)
		}
	}
	return nil
}

// recordDemoPersons copies into persons what the simulator holds of them:
// a password reset through etaxd (F11) is what logs in now.
func recordDemoPersons(sim *taxbureau.Simulator, persons []demoPerson) {
	for i := range persons {
		p := &persons[i]
		if sp, known := sim.FindPerson(p.Username); known {
			p.Password, p.Phone, p.Name, p.IDType, p.IDNumber = sp.Password, sp.Phone, sp.Name, sp.IDType, sp.IDNumber
			p.Relations = slices.Clone(sp.Relations)
		}
	}
}

// setDemoDefault makes a the default for want (F5) unless the enterprise
// has another default for one of those businesses: someone chose it.
func setDemoDefault(ctx context.Context, eng *actors.Engine, df *demoFile, a demoAccount, want domain.Business, log *slog.Logger) (int, error) {
	ents, err := eng.Enterprises(ctx, df.TenantID, "")
	if err != nil {
		return 0, fmt.Errorf("list enterprises: %w", err)
	}
	i := slices.IndexFunc(ents, func(v actors.EnterpriseView) bool { return v.TaxNo == a.TaxNo })
	if i < 0 {
		return 0, fmt.Errorf("enterprise %s of account %s is gone", a.TaxNo, a.ID)
	}
	d := ents[i].Defaults
	if d.Flags(a.ID) == want {
		return 0, nil
	}
	free := func(b domain.Business, holder string) bool { return !want.Has(b) || holder == "" || holder == a.ID }
	if !free(domain.BusinessIssue, d.Issue) || !free(domain.BusinessReceive, d.Receive) {
		log.Info("the enterprise has another default; leaving it", "tenant", df.TenantID, "tax_no", a.TaxNo, "account", a.ID, "business", want.String())
		return 0, nil
	}
	if err := eng.SetDefault(ctx, df.TenantID, a.ID, df.OpenID, want); err != nil {
		return 0, fmt.Errorf("set default %s for account %s: %w", want, a.ID, err)
	}
	return 1, nil
}

// demoUserLinked reports whether the demo's WeChat user is linked to the
// tenant.
func demoUserLinked(ctx context.Context, eng *actors.Engine, df *demoFile) (bool, error) {
	tenants, err := eng.TenantsOf(ctx, df.OpenID)
	if err != nil {
		return false, fmt.Errorf("tenants of the demo user: %w", err)
	}
	return slices.ContainsFunc(tenants, func(t actors.TenantInfo) bool { return t.ID == df.TenantID }), nil
}

func rotateDemoCode(ctx context.Context, eng *actors.Engine, df *demoFile) error {
	info, err := eng.RotateActivationCode(ctx, df.TenantID)
	if err != nil {
		return fmt.Errorf("rotate activation code: %w", err)
	}
	df.ActivationCode = info.ActivationCode
	return nil
}

// ensureDemoAPIKey registers the demo's API key unless the engine has it.
// A key an operator revoked is replaced by a new one, which demo.json then
// records.
func ensureDemoAPIKey(ctx context.Context, eng *actors.Engine, df *demoFile, log *slog.Logger) (int, error) {
	keys, err := eng.APIKeys(ctx, df.TenantID)
	if err != nil {
		return 0, fmt.Errorf("list API keys: %w", err)
	}
	if i := slices.IndexFunc(keys, func(k actors.APIKey) bool { return k.ID == df.APIKeyID }); i >= 0 {
		if keys[i].RevokedAt == nil {
			return 0, nil
		}
		log.Info("the demo API key was revoked; making a new one", "tenant", df.TenantID, "revoked", df.APIKeyID)
		if df.APIKeyID, df.APIKeySecret, err = newDemoKey(); err != nil {
			return 0, err
		}
	}
	if _, err := eng.CreateAPIKey(ctx, df.TenantID, df.APIKeyID, df.APIKeySecret); err != nil {
		return 0, fmt.Errorf("create the demo API key: %w", err)
	}
	return 1, nil
}

// linkDemoUser links the demo openid to the tenant unless it is linked. A
// code that no longer works (rotated by an operator) is replaced once.
func linkDemoUser(ctx context.Context, eng *actors.Engine, df *demoFile) (int, error) {
	if linked, err := demoUserLinked(ctx, eng, df); err != nil || linked {
		return 0, err
	}
	_, err := eng.LinkTenant(ctx, df.OpenID, df.ActivationCode)
	if errors.Is(err, domain.ErrActivationCode) {
		if err := rotateDemoCode(ctx, eng, df); err != nil {
			return 0, err
		}
		_, err = eng.LinkTenant(ctx, df.OpenID, df.ActivationCode)
	}
	if err != nil && !errors.Is(err, domain.ErrAlreadyLinked) {
		return 0, fmt.Errorf("link the demo user: %w", err)
	}
	return 1, nil
}

// demoAccounts returns the tenant's accounts by "tax_no/username".
func demoAccounts(ctx context.Context, eng *actors.Engine, tenant string) (map[string]actors.AccountView, error) {
	views, err := eng.Accounts(ctx, tenant, "", "")
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	out := make(map[string]actors.AccountView, len(views))
	for _, v := range views {
		out[v.TaxNo+"/"+v.Username] = v
	}
	return out, nil
}

// addDemoAccount adds one account as the demo user would (F3). A manual
// account in a region with the SMS step needs the code the bureau sent:
// the simulator's outbox stands in for the person's phone. Hosted accounts
// get theirs from the hosting provider.
func addDemoAccount(ctx context.Context, st *stack, df *demoFile, a demoAccount) (string, error) {
	i := slices.IndexFunc(df.Persons, func(p demoPerson) bool { return p.Username == a.Username })
	if i < 0 {
		return "", fmt.Errorf("no demo person %q", a.Username)
	}
	p := df.Persons[i]
	r, err := st.engine.AddAccount(ctx, df.TenantID, actors.AddAccount{
		OpenID: df.OpenID, TaxNo: a.TaxNo, Business: a.Business, Username: a.Username,
		Password: domain.NewSecret(p.Password), LoginType: a.LoginType, Role: a.Role,
	})
	if err != nil {
		return "", err
	}
	if r.State == actors.FlowAwaitingCode {
		code, err := demoLastCode(ctx, st, p.Phone)
		if err != nil {
			return "", err
		}
		if code == "" {
			return "", errors.New("the simulator sent no code")
		}
		if r, err = st.engine.SubmitFlowCode(ctx, df.TenantID, r.FlowID, df.OpenID, code); err != nil {
			return "", err
		}
	}
	if r.State != actors.FlowDone || r.AccountID == "" {
		return "", fmt.Errorf("the flow ended in state %q", r.State)
	}
	return r.AccountID, nil
}

// readDemoFile reads demo.json; fs.ErrNotExist when there is none.
func readDemoFile(path string) (*demoFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var df demoFile
	if err := json.Unmarshal(b, &df); err != nil {
		return nil, fmt.Errorf("%s is not a demo description (delete it to seed again): %w", path, err)
	}
	if df.TenantID == "" || df.OpenID == "" || df.ActivationCode == "" || len(df.Persons) == 0 {
		return nil, fmt.Errorf("%s lacks the tenant, openid, activation code or persons (delete it to seed again)", path)
	}
	return &df, nil
}

// writeDemoFile replaces path with df atomically, mode 0600, unless it holds
// df already: a second seeding leaves even the file alone.
func writeDemoFile(path string, df *demoFile) error {
	b, err := json.MarshalIndent(df, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return os.Chmod(path, 0o600) // it holds passwords
		}
		return nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".demo-*.json")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if _, err := f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

func randomText(n int, enc func([]byte) string) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return enc(b), nil
}

// residentID completes 17 digits into an 18-digit resident ID number with
// its GB 11643 check character.
func residentID(first17 string) string {
	c, _ := domain.IDCheckDigit(first17)
	return first17 + string(c)
}
