package h5

// Tests of F8 更换微信 (rebind.go).

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/etaxd/etaxd/domain"
)

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
