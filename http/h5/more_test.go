package h5

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

var passwordFlowRE = regexp.MustCompile(`action="(/h5/tenants/acme/enterprises/[^"/]+/flows/[^"/]+/password)"`)

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

func TestChangeBinding(t *testing.T) {
	f := newFixture(t)
	me, bob := f.linked("o_demo_openid"), f.linked("o_bob")
	bj := domain.MakeTaxNo("11", 7)
	if _, err := f.eng.AddEnterprise(context.Background(), "acme", bj, "北京阿克米商贸有限公司", ""); err != nil {
		t.Fatal(err)
	}
	f.addPerson("赵六", "zhaoliu", "13800000021", "110101199001011237", domain.RoleInvoicer, bj)
	aid := f.addAccount("o_demo_openid", bj, "zhaoliu", "13800000021")
	page := "/h5/tenants/acme/enterprises/" + bj
	base := page + "/accounts/" + aid
	if r := f.post(me, base+"/edit", base+"/bind", nil); r.status != 303 {
		t.Fatalf("bind = %d", r.status)
	}
	if strings.Contains(f.do("GET", page, me, nil).body, base+"/rebind") {
		t.Fatal("更换微信 offered on my own binding")
	}
	r := f.do("GET", page, bob, nil)
	mustContain(t, r, "更换微信", base+"/rebind")

	r = f.do("GET", base+"/rebind", bob, nil)
	mustContain(t, r, "电子税局账号", "密码", "zhaoliu")
	if r = f.do("POST", base+"/rebind", bob, url.Values{"username": {"zhaoliu"}, "password": {"Pw@2026abc"}}); r.status != 403 {
		t.Fatalf("rebind without CSRF = %d", r.status)
	}
	// A wrong password: the Chinese message, the password not shown again.
	r = f.post(bob, base+"/rebind", base+"/rebind", url.Values{"username": {"zhaoliu"}, "password": {"Wrong@2026x"}})
	if r.status != 400 {
		t.Fatalf("wrong password = %d %s", r.status, r.body)
	}
	mustContain(t, r, domain.ErrWrongPassword.Message, `value="zhaoliu"`)
	if strings.Contains(r.body, "Wrong@2026x") {
		t.Fatal("password shown again")
	}
	r = f.post(bob, base+"/rebind", base+"/rebind", url.Values{"username": {"zhaoliu"}, "password": {"Pw@2026abc"}})
	mustContain(t, r, "验证码", `name="next" value="rebind"`)
	r = f.finishCode(bob, r, "13800000021")
	if r.status != 303 || r.loc != page+"#a-"+aid {
		t.Fatalf("rebind = %d %q %s", r.status, r.loc, r.body)
	}
	mustContain(t, f.shownOnce(bob, r, "已更换绑定微信"), "已绑定（绑定给我）")
	r = f.do("GET", page, me, nil)
	if strings.Contains(r.body, "绑定给我") {
		t.Fatal("binding still mine")
	}
	mustContain(t, r, base+"/rebind")
}

func TestApplyAdmin(t *testing.T) {
	f := newFixture(t)
	me := f.linked("o_demo_openid")
	f.addPerson("钱七", "qianqi", "13800000031", "110101199001011237", domain.RoleLegalRep, f.gd)
	f.addPerson("孙八", "sunba", "13800000032", "110101199003071234", domain.RoleTaxClerk, f.gd)
	ent := "/h5/tenants/acme/enterprises/" + f.gd

	r := f.do("GET", "/h5/", me, nil)
	mustContain(t, r, "申请绑定", ent+"/admin")
	r = f.do("GET", ent+"/admin", me, nil)
	mustContain(t, r, "只能企业对应的法人或财务负责人可使用此功能", "warnred", "下一步", ent+"/admin/apply")
	r = f.do("GET", ent+"/admin/apply", me, nil)
	mustContain(t, r, "法人或财务负责人的电子税局账号", "提交验证")

	// A 办税员 is refused.
	r = f.post(me, ent+"/admin/apply", ent+"/admin/apply", url.Values{"username": {"sunba"}, "password": {"Pw@2026abc"}})
	r = f.finishCode(me, r, "13800000032")
	if r.status != 400 {
		t.Fatalf("tax clerk = %d %s", r.status, r.body)
	}
	mustContain(t, r, domain.ErrNotAdminRole.Message)
	if strings.Contains(r.body, "Pw@2026abc") {
		t.Fatal("password shown again")
	}

	// The 法定代表人 makes me admin.
	r = f.post(me, ent+"/admin/apply", ent+"/admin/apply", url.Values{"username": {"qianqi"}, "password": {"Pw@2026abc"}})
	r = f.finishCode(me, r, "13800000031")
	card := "#e-acme-" + f.gd
	if r.status != 303 || r.loc != "/h5/"+card {
		t.Fatalf("legal rep = %d %q %s", r.status, r.loc, r.body)
	}
	r = f.shownOnce(me, r, "已成为数电配置管理员")
	mustContain(t, r, `id="e-acme-`+f.gd+`"`, `<span class="badge ok">是</span>`, "退出", ent+"/admin/stepdown")

	// 退出管理员.
	if r = f.do("POST", ent+"/admin/stepdown", me, url.Values{}); r.status != 403 {
		t.Fatalf("stepdown without CSRF = %d", r.status)
	}
	if r = f.post(me, "/h5/", ent+"/admin/stepdown", nil); r.status != 303 || r.loc != "/h5/"+card {
		t.Fatalf("stepdown = %d %q %s", r.status, r.loc, r.body)
	}
	mustContain(t, f.shownOnce(me, r, "已退出数电配置管理员"), "申请绑定")
}

func TestResetPassword(t *testing.T) {
	f := newFixture(t)
	me := f.linked("o_demo_openid")
	bj := domain.MakeTaxNo("11", 9)
	if _, err := f.eng.AddEnterprise(context.Background(), "acme", bj, "北京阿克米商贸有限公司", ""); err != nil {
		t.Fatal(err)
	}
	const phone = "13800000041"
	f.addPerson("周九", "zhoujiu", phone, "110101199001011237", domain.RoleInvoicer, f.gd, bj)
	aid := f.addAccount("o_demo_openid", f.gd, "zhoujiu", phone)
	f.addAccount("o_demo_openid", bj, "zhoujiu", phone)

	page := "/h5/tenants/acme/enterprises/" + f.gd
	base := page + "/accounts/" + aid
	mustContain(t, f.do("GET", base+"/edit", me, nil), base+"/password", "修改密码")
	r := f.do("GET", base+"/password", me, nil)
	mustContain(t, r, "重置税局密码", "已在税局修改，仅更新发票云", base+"/password/reset", base+"/password/update")
	r = f.do("GET", base+"/password/reset", me, nil)
	mustContain(t, r, "证件类型", `<option value="201" selected>居民身份证</option>`, "证件号码", "下一步")

	r = f.post(me, base+"/password/reset", base+"/password/reset", url.Values{"id_type": {"201"}, "id_number": {"110101199001011237"}})
	if r.status != 200 {
		t.Fatalf("identity = %d %s", r.status, r.body)
	}
	mustContain(t, r, "验证码", `name="next" value="reset"`, "下一步")
	r = f.finishCode(me, r, phone)
	if r.status != 200 {
		t.Fatalf("code = %d %s", r.status, r.body)
	}
	mustContain(t, r, "新密码", "确认密码", "确定")
	m := passwordFlowRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no new password form:\n%s", r.body)
	}
	csrf := csrfRE.FindStringSubmatch(r.body)[1]

	// The bureau's policy, inline; the password not shown again.
	r = f.do("POST", m[1], me, url.Values{"_csrf": {csrf}, "password": {"abc12345"}, "confirm": {"abc12345"}})
	if r.status != 400 {
		t.Fatalf("policy = %d %s", r.status, r.body)
	}
	mustContain(t, r, domain.ErrPasswordPolicy.Message, m[1])
	if strings.Contains(r.body, `value="abc12345"`) {
		t.Fatal("password shown again")
	}
	if r = f.do("POST", m[1], me, url.Values{"password": {"New@2026abc"}, "confirm": {"New@2026abc"}}); r.status != 403 {
		t.Fatalf("without CSRF = %d", r.status)
	}
	r = f.do("POST", m[1], me, url.Values{"_csrf": {csrf}, "password": {"New@2026abc"}, "confirm": {"New@2026abc"}})
	if r.status != 200 {
		t.Fatalf("reset = %d %s", r.status, r.body)
	}
	mustContain(t, r, "已更新2个关联账号", `href="`+page+`"`)
}

func TestUpdatePassword(t *testing.T) {
	f := newFixture(t)
	me := f.linked("o_demo_openid")
	f.addPerson("吴十", "wushi", "13800000051", "110101199001011237", domain.RoleInvoicer, f.gd)
	aid := f.addAccount("o_demo_openid", f.gd, "wushi", "13800000051")
	base := "/h5/tenants/acme/enterprises/" + f.gd + "/accounts/" + aid
	if err := f.sim.SetPassword("wushi", "Chg@2026xyz"); err != nil {
		t.Fatal(err)
	}
	r := f.do("GET", base+"/password/update", me, nil)
	mustContain(t, r, "税局最新密码", "需要输入税局最新密码", "warnred")

	r = f.post(me, base+"/password/update", base+"/password/update", url.Values{"password": {"Old@2026xyz"}})
	if r.status != 400 {
		t.Fatalf("wrong = %d %s", r.status, r.body)
	}
	mustContain(t, r, domain.ErrWrongPassword.Message)
	if strings.Contains(r.body, "Old@2026xyz") {
		t.Fatal("password shown again")
	}
	if r = f.do("POST", base+"/password/update", me, url.Values{"password": {"Chg@2026xyz"}}); r.status != 403 {
		t.Fatalf("without CSRF = %d", r.status)
	}
	r = f.post(me, base+"/password/update", base+"/password/update", url.Values{"password": {"Chg@2026xyz"}})
	if r.status != 200 {
		t.Fatalf("update = %d %s", r.status, r.body)
	}
	mustContain(t, r, "已更新1个关联账号")
}

// TestResetPasswordHosted: for a hosted number (华盟托管号码) etaxd reads the
// reset code itself, so the wizard goes from identity straight to the new
// password.
func TestResetPasswordHosted(t *testing.T) {
	f := newFixture(t)
	me := f.linked("o_demo_openid")
	bj := domain.MakeTaxNo("11", 10)
	if _, err := f.eng.AddEnterprise(context.Background(), "acme", bj, "北京托管商贸有限公司", ""); err != nil {
		t.Fatal(err)
	}
	const phone = "13800000042"
	f.addPerson("吴十", "wushi", phone, "110101199001011253", domain.RoleInvoicer, bj)
	fr, err := f.eng.AddAccount(context.Background(), "acme", actors.AddAccount{OpenID: "o_demo_openid", TaxNo: bj, Business: "both",
		Username: "wushi", Password: domain.NewSecret("Pw@2026abc"), LoginType: "huameng"})
	if err != nil || fr.State != actors.FlowDone {
		t.Fatalf("add hosted = %+v %v", fr, err)
	}
	base := "/h5/tenants/acme/enterprises/" + bj + "/accounts/" + fr.AccountID
	r := f.post(me, base+"/password/reset", base+"/password/reset", url.Values{"id_type": {"201"}, "id_number": {"110101199001011253"}})
	if r.status != 200 {
		t.Fatalf("identity = %d %s", r.status, r.body)
	}
	if strings.Contains(r.body, `name="code"`) {
		t.Fatalf("a hosted account was asked for the code:\n%s", r.body)
	}
	mustContain(t, r, "新密码", "确认密码")
	m := passwordFlowRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no new password form:\n%s", r.body)
	}
	r = f.do("POST", m[1], me, url.Values{"_csrf": {csrfRE.FindStringSubmatch(r.body)[1]}, "password": {"New@2026abc"}, "confirm": {"New@2026abc"}})
	if r.status != 200 {
		t.Fatalf("reset = %d %s", r.status, r.body)
	}
	mustContain(t, r, "已更新1个关联账号")
}
