package h5

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

var flowRE = regexp.MustCompile(`action="(/h5/tenants/acme/enterprises/[^"/]+/flows/[^"]+)"`)

func (f *fixture) person(name, user, phone, id, taxNo, region string) {
	f.t.Helper()
	if err := f.sim.AddPerson(taxbureau.Person{Name: name, Username: user, Phone: phone, IDNumber: id,
		Password: "Pw@2026abc", Relations: []taxbureau.Relation{{TaxNo: taxNo, Region: region, Role: domain.RoleInvoicer}}}); err != nil {
		f.t.Fatal(err)
	}
}

// accountID is the id of username's card on the account page.
func accountID(t *testing.T, body, username string) string {
	t.Helper()
	m := regexp.MustCompile(`id="a-([^"]+)">\s*<h2>` + regexp.QuoteMeta(username) + `<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no card of %s in:\n%s", username, body)
	}
	return m[1]
}

func TestAddDefaultDelete(t *testing.T) {
	f := newFixture(t)
	me := f.signin("o_demo_openid")
	f.post(me, "/h5/tenants", "/h5/tenants", url.Values{"code": {f.code}})
	bj := domain.MakeTaxNo("11", 5)
	if _, err := f.eng.AddEnterprise(context.Background(), "acme", bj, "北京阿克米商贸有限公司", ""); err != nil {
		t.Fatal(err)
	}
	f.person("李四", "lisi", "13800000011", "110101199001011237", f.gd, "44")
	f.person("王五", "wangwu", "13800000012", "110101199003071234", bj, "11")

	gdPage := "/h5/tenants/acme/enterprises/" + f.gd
	r := f.do("GET", gdPage, me, nil)
	mustContain(t, r, `href="`+gdPage+`/add"`, "新增")
	r = f.do("GET", gdPage+"/add", me, nil)
	mustContain(t, r, "开票业务", "收票业务", "开票+收票", gdPage+"/add?business=both")
	r = f.do("GET", gdPage+"/add?business=both", me, nil)
	mustContain(t, r, "广东", f.gd, "readonly", "身份", "电子税局账号", "密码", "人工登录", "华盟托管号码", "企享云办税小号",
		"<s>发票云登录App</s>", "已下架", `value="manual" checked`, "登录")

	// No relation: the manual's sentence, the form kept (without the password).
	r = f.post(me, gdPage+"/add?business=both", gdPage+"/add", url.Values{"business": {"both"}, "username": {"wangwu"},
		"password": {"Pw@2026abc"}, "login_type": {"manual"}})
	if r.status != 400 {
		t.Fatalf("no relation = %d %s", r.status, r.body)
	}
	mustContain(t, r, "未查询到您与该企业的关联关系信息，请确认录入的信息是否正确！", `value="wangwu"`)
	if strings.Contains(r.body, "Pw@2026abc") {
		t.Fatal("password shown again")
	}

	// 广东: no SMS step, done at once.
	r = f.post(me, gdPage+"/add?business=both", gdPage+"/add", url.Values{"business": {"both"}, "username": {"lisi"},
		"password": {"Pw@2026abc"}, "login_type": {"manual"}})
	if r.status != 303 || !strings.HasPrefix(r.loc, gdPage+"#a-") {
		t.Fatalf("add gd = %d %q %s", r.status, r.loc, r.body)
	}
	added := r.loc
	r = f.shownOnce(me, r, "新增电子税局账号成功")
	mustContain(t, r, "lisi")
	gdID := accountID(t, r.body, "lisi")
	if added != gdPage+"#a-"+gdID {
		t.Fatalf("add gd → %q, not the new card", added)
	}

	// 北京: the SMS code page; a wrong code stays, the right one finishes.
	bjPage := "/h5/tenants/acme/enterprises/" + bj
	r = f.post(me, bjPage+"/add?business=issue", bjPage+"/add", url.Values{"business": {"issue"}, "username": {"wangwu"},
		"password": {"Pw@2026abc"}, "login_type": {"manual"}})
	if r.status != 200 {
		t.Fatalf("add bj = %d %s", r.status, r.body)
	}
	mustContain(t, r, "验证码", "138****0012", `name="code"`)
	m := flowRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no flow form:\n%s", r.body)
	}
	code := f.sim.LastCode("13800000012")
	if len(code) != 6 {
		t.Fatalf("code = %q", code)
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	csrf := csrfRE.FindStringSubmatch(r.body)[1]
	r = f.do("POST", m[1], me, url.Values{"_csrf": {csrf}, "code": {wrong}, "phone": {"138****0012"}})
	if r.status != 400 {
		t.Fatalf("wrong code = %d %s", r.status, r.body)
	}
	mustContain(t, r, "验证码错误", m[1], "138****0012")
	if r = f.do("POST", m[1], me, url.Values{"code": {code}}); r.status != 403 {
		t.Fatalf("code without CSRF = %d", r.status)
	}
	r = f.do("POST", m[1], me, url.Values{"_csrf": {csrf}, "code": {code}, "phone": {"138****0012"}})
	if r.status != 303 || !strings.HasPrefix(r.loc, bjPage+"#a-") {
		t.Fatalf("right code = %d %q %s", r.status, r.loc, r.body)
	}
	mustContain(t, f.do("GET", bjPage, me, nil), "wangwu", "开票")

	// 设置默认账号: a single account may only be 开票+收票.
	base := gdPage + "/accounts/" + gdID
	r = f.do("GET", base+"/default", me, nil)
	mustContain(t, r, "没有开票（收票）权限的账号，无法设置为开票（收票）默认账号！若只有一个账号，只能设置为“开票+收票”默认账号。",
		`value="issue"`, `value="receive"`, `value="both"`)
	r = f.post(me, base+"/default", base+"/default", url.Values{"which": {"issue"}})
	if r.status != 400 {
		t.Fatalf("single issue default = %d %s", r.status, r.body)
	}
	mustContain(t, r, domain.ErrDefaultSingleBoth.Message, `value="issue" checked`)
	if r = f.do("POST", base+"/default", me, url.Values{"which": {"both"}}); r.status != 403 {
		t.Fatalf("default without CSRF = %d", r.status)
	}
	if r = f.post(me, base+"/default", base+"/default", url.Values{"which": {"both"}}); r.status != 303 {
		t.Fatalf("both default = %d %s", r.status, r.body)
	}
	if r.loc != gdPage+"#a-"+gdID {
		t.Fatalf("both default → %q, not the card", r.loc)
	}
	mustContain(t, f.shownOnce(me, r, "设置默认账号成功"), "默认账号：开票+收票")

	// Bound to me: bob sees neither button and is refused when forging them.
	if r = f.post(me, base+"/edit", base+"/bind", nil); r.status != 303 {
		t.Fatalf("bind = %d", r.status)
	}
	bob := f.signin("o_bob")
	f.post(bob, "/h5/tenants", "/h5/tenants", url.Values{"code": {f.code}})
	r = f.do("GET", gdPage, bob, nil)
	mustContain(t, r, `id="a-`+gdID+`"`, "已绑定")
	if strings.Contains(r.body, base+"/delete") || strings.Contains(r.body, base+"/default") {
		t.Fatalf("bob sees 删除/设置默认账号:\n%s", r.body)
	}
	if r = f.do("GET", base+"/delete", bob, nil); r.status != 403 {
		t.Fatalf("bob delete page = %d", r.status)
	}
	if r = f.post(bob, "/h5/tenants", base+"/delete", nil); r.status != 403 {
		t.Fatalf("forged delete = %d %s", r.status, r.body)
	}
	mustContain(t, r, domain.ErrNotPermitted.Message)
	if r = f.post(bob, "/h5/tenants", base+"/default", url.Values{"which": {"both"}}); r.status != 403 {
		t.Fatalf("forged default = %d %s", r.status, r.body)
	}
	mustContain(t, f.do("GET", gdPage, me, nil), "lisi")

	// 删除: confirmation, then gone.
	r = f.do("GET", gdPage, me, nil)
	mustContain(t, r, base+"/delete", base+"/edit")
	mustContain(t, f.do("GET", base+"/edit", me, nil), base+"/default")
	r = f.do("GET", base+"/delete", me, nil)
	mustContain(t, r, "确认删除", "lisi")
	if r = f.do("POST", base+"/delete", me, url.Values{}); r.status != 403 {
		t.Fatalf("delete without CSRF = %d", r.status)
	}
	if r = f.post(me, base+"/delete", base+"/delete", nil); r.status != 303 || r.loc != gdPage {
		t.Fatalf("delete = %d %q %s", r.status, r.loc, r.body)
	}
	r = f.shownOnce(me, r, "删除电子税局账号成功")
	mustContain(t, r, "该企业下暂无电子税局账号")
	if strings.Contains(r.body, "lisi") {
		t.Fatal("deleted account still listed")
	}
}
