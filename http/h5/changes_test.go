package h5

// Fixture helpers of the account-change tests (rebind_test.go, admin_test.go, password_test.go).

import (
	"context"
	"net/url"
	"regexp"
	"testing"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

// addPerson registers a person at the simulator with relations to taxNos.
func (f *fixture) addPerson(name, user, phone, id string, role domain.Role, taxNos ...string) {
	f.t.Helper()
	var rels []taxbureau.Relation
	for _, n := range taxNos {
		rels = append(rels, taxbureau.Relation{TaxNo: n, Region: n[2:4], Role: role})
	}
	if err := f.sim.AddPerson(taxbureau.Person{Name: name, Username: user, Phone: phone, IDNumber: id,
		Password: "Pw@2026abc", Relations: rels}); err != nil {
		f.t.Fatal(err)
	}
}

// addAccount adds username's account to taxNo through the engine, passing the
// SMS code when the region asks for one.
func (f *fixture) addAccount(openid, taxNo, username, phone string) string {
	f.t.Helper()
	ctx := context.Background()
	fr, err := f.eng.AddAccount(ctx, "acme", actors.AddAccount{OpenID: openid, TaxNo: taxNo, Business: "both",
		Username: username, Password: domain.NewSecret("Pw@2026abc"), LoginType: "manual"})
	if err == nil && fr.State == actors.FlowAwaitingCode {
		fr, err = f.eng.SubmitFlowCode(ctx, "acme", fr.FlowID, openid, f.sim.LastCode(phone))
	}
	if err != nil || fr.State != actors.FlowDone {
		f.t.Fatalf("add %s = %+v %v", username, fr, err)
	}
	return fr.AccountID
}

// finishCode passes the SMS code when r is the code page; it returns the
// response after that (or r itself).
func (f *fixture) finishCode(cookie string, r resp, phone string) resp {
	f.t.Helper()
	m := flowRE.FindStringSubmatch(r.body)
	if r.status != 200 || m == nil {
		return r
	}
	mustContain(t2(f), r, "验证码")
	form := url.Values{"_csrf": {csrfRE.FindStringSubmatch(r.body)[1]}, "code": {f.sim.LastCode(phone)}}
	if n := regexp.MustCompile(`name="next" value="([^"]*)"`).FindStringSubmatch(r.body); n != nil {
		form.Set("next", n[1])
	}
	return f.do("POST", m[1], cookie, form)
}

func t2(f *fixture) *testing.T { return f.t }

func (f *fixture) linked(openid string) string {
	f.t.Helper()
	c := f.signin(openid)
	if r := f.post(c, "/h5/tenants", "/h5/tenants", url.Values{"code": {f.code}}); r.status != 303 {
		f.t.Fatalf("link %s = %d", openid, r.status)
	}
	return c
}
