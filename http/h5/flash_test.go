package h5

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

// follow GETs where a redirect points (the fragment stays in the browser)
// with the session cookie and the flash cookie the redirect set.
func (f *fixture) follow(cookie string, r resp) resp {
	f.t.Helper()
	if r.status != 303 {
		f.t.Fatalf("not a redirect: %d %s", r.status, r.body)
	}
	target, _, _ := strings.Cut(r.loc, "#")
	return f.withFlash(cookie, target, r.flash)
}

// withFlash GETs path with the session cookie and flash (when not nil).
func (f *fixture) withFlash(cookie, path string, flash *http.Cookie) resp {
	f.t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
	if flash != nil {
		req.AddCookie(&http.Cookie{Name: flashCookie, Value: flash.Value})
	}
	return f.send(req)
}

// notice is the success notice of a page, "" when it shows none.
func notice(body string) string {
	_, rest, ok := strings.Cut(body, `<div class="success" role="status">`)
	if !ok {
		return ""
	}
	text, _, _ := strings.Cut(rest, "</div>")
	return text
}

// shownOnce checks that the page a redirect leads to shows want once: the
// flash is set by the redirect, shown and cleared by the page, and the
// page's reload shows no notice.
func (f *fixture) shownOnce(cookie string, r resp, want string) resp {
	f.t.Helper()
	if r.flash == nil || r.flash.Value == "" || !r.flash.HttpOnly || r.flash.Path != "/h5" {
		f.t.Fatalf("redirect to %s set no flash: %+v", r.loc, r.flash)
	}
	if strings.Contains(r.loc, "ok=") {
		f.t.Fatalf("redirect to %s carries its notice in the URL", r.loc)
	}
	page := f.follow(cookie, r)
	if page.status != 200 || notice(page.body) != want {
		f.t.Fatalf("after the redirect to %s: %d, notice %q, want %q", r.loc, page.status, notice(page.body), want)
	}
	if page.flash == nil || page.flash.Value != "" || page.flash.MaxAge >= 0 && page.flash.Expires.After(f.clk.Now()) {
		f.t.Fatalf("the page did not clear the flash: %+v", page.flash)
	}
	target, _, _ := strings.Cut(r.loc, "#")
	if again := f.do("GET", target, cookie, nil); notice(again.body) != "" {
		f.t.Fatalf("reload of %s shows %q again", target, notice(again.body))
	}
	return page
}

// TestFlashAfterChanges: 新增租户, 绑定微信, 解绑, 设置默认账号, 删除 and 解绑租户
// redirect to the changed card (#a-<id>, #t-<id>) and say what they did
// once; a reload shows nothing.
func TestFlashAfterChanges(t *testing.T) {
	f := newFixture(t)
	me := f.signin("o_demo_openid")

	r := f.post(me, "/h5/tenants", "/h5/tenants", url.Values{"code": {f.code}})
	if r.loc != "/h5/tenants#t-acme" {
		t.Fatalf("link → %q, want /h5/tenants#t-acme", r.loc)
	}
	mustContain(t, f.shownOnce(me, r, "已关联租户「阿克米集团」"), `id="t-acme"`)

	f.person("张三", "zhangsan", "13800000001", "110101199001011237", f.gd, "44")
	fr, err := f.eng.AddAccount(context.Background(), "acme", actors.AddAccount{OpenID: "o_demo_openid", TaxNo: f.gd, Business: "both",
		Username: "zhangsan", Password: domain.NewSecret("Pw@2026abc"), LoginType: "manual"})
	if err != nil || fr.State != actors.FlowDone {
		t.Fatalf("add account = %+v %v", fr, err)
	}
	page := "/h5/tenants/acme/enterprises/" + f.gd
	base := page + "/accounts/" + fr.AccountID
	card := page + "#a-" + fr.AccountID

	r = f.post(me, base+"/edit", base+"/bind", nil)
	if r.loc != card {
		t.Fatalf("bind → %q, want %q", r.loc, card)
	}
	mustContain(t, f.shownOnce(me, r, "已绑定微信，该账号的登录通知将发送给您"), `id="a-`+fr.AccountID+`"`, "已绑定（绑定给我）")

	r = f.post(me, base+"/edit", base+"/unbind", nil)
	if r.loc != card {
		t.Fatalf("unbind → %q, want %q", r.loc, card)
	}
	f.shownOnce(me, r, "已解绑微信，将不再收到该账号的登录通知")

	r = f.post(me, base+"/default", base+"/default", url.Values{"which": {"both"}})
	if r.loc != card {
		t.Fatalf("default → %d %q, want %q", r.status, r.loc, card)
	}
	f.shownOnce(me, r, notices["default"])

	// Bob's page never shows my flash, nor does a stale or forged one.
	r = f.post(me, base+"/edit", base+"/bind", nil)
	bob := f.signin("o_bob")
	f.post(bob, "/h5/tenants", "/h5/tenants", url.Values{"code": {f.code}})
	if got := f.withFlash(bob, page, r.flash); notice(got.body) != "" {
		t.Fatalf("bob sees my flash %q", notice(got.body))
	}
	stale := &http.Cookie{Value: f.h.signFlash("o_demo_openid", "旧的提示", f.clk.Now().Add(-time.Second))}
	forged := &http.Cookie{Value: strings.Replace(r.flash.Value, r.flash.Value[:4], "5LiN", 1)}
	for name, c := range map[string]*http.Cookie{"stale": stale, "forged": forged, "junk": {Value: "a.b.c"}} {
		if got := f.withFlash(me, page, c); got.status != 200 || notice(got.body) != "" {
			t.Fatalf("%s flash: %d, notice %q", name, got.status, notice(got.body))
		}
	}

	r = f.post(me, base+"/delete", base+"/delete", nil)
	if r.loc != page {
		t.Fatalf("delete → %q, want %q", r.loc, page)
	}
	f.shownOnce(me, r, notices["deleted"])

	r = f.post(me, "/h5/tenants/acme/unlink", "/h5/tenants/acme/unlink", nil)
	if r.loc != "/h5/" {
		t.Fatalf("unlink → %q", r.loc)
	}
	f.shownOnce(me, r, "已解绑租户，您在该租户下绑定的电子税局账号已同时解除微信绑定")
}
