package h5

// Tests of F11, F12 修改密码 (password.go).

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

var passwordFlowRE = regexp.MustCompile(`action="(/h5/tenants/acme/enterprises/[^"/]+/flows/[^"/]+/password)"`)

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
