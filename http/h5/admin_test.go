package h5

// Tests of F9 数电配置管理员 (admin.go).

import (
	"net/url"
	"strings"
	"testing"

	"github.com/etaxd/etaxd/domain"
)

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
