package h5

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/teststack"
	"github.com/etaxd/etaxd/internal/teststack/base"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

type fixture struct {
	t    *testing.T
	eng  *actors.Engine
	sim  *taxbureau.Simulator
	clk  *clock.Fake // the engine's, the simulator's and the pages' clock
	app  *fiber.App
	h    *H5
	code string // acme's activation code
	gd   string // acme's 广东 enterprise
	ch   *prompts.Chan
}

// pub is the prompts the engine published.
func (f *fixture) pub() *prompts.Chan { return f.ch }

// newFixture is the pages on an engine (teststack) whose fake clock the
// pages read, with tenant acme and its 广东 enterprise.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, actors.DefaultConfig())
}

// newFixtureWith is newFixture with an engine configuration.
func newFixtureWith(t *testing.T, cfg actors.Config) *fixture {
	t.Helper()
	s := teststack.New(t, teststack.Options{Options: base.Options{Quiet: true}, Engine: &cfg})
	eng := s.Engine
	ck, err := eng.CookieKey()
	if err != nil {
		t.Fatal(err)
	}
	h := New(Deps{Engine: eng, CookieKey: ck, Dev: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: s.Clock})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Register(app.Group("/h5"))

	ctx := context.Background()
	ten, err := eng.CreateTenant(ctx, "acme", "阿克米集团", "")
	if err != nil {
		t.Fatal(err)
	}
	gd := domain.MakeTaxNo("44", 3)
	if _, err := eng.AddEnterprise(ctx, "acme", gd, "广东阿克米科技有限公司", ""); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, eng: eng, sim: s.Sim, clk: s.Fake, app: app, h: h, code: ten.ActivationCode, gd: gd, ch: s.Prompts}
}

type resp struct {
	status int
	body   string
	loc    string
	cookie *http.Cookie
	// flash is the flash cookie the answer set or cleared, if any.
	flash  *http.Cookie
	header http.Header
}

// do sends a request with the session cookie value (if any) and form fields.
func (f *fixture) do(method, path, cookie string, form url.Values) resp {
	f.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
	}
	return f.send(req)
}

// send sends req to the app and reads the answer.
func (f *fixture) send(req *http.Request) resp {
	f.t.Helper()
	res, err := f.app.Test(req, 10000)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, body: string(b), loc: res.Header.Get("Location"), header: res.Header}
	for _, c := range res.Cookies() {
		switch c.Name {
		case cookieName:
			r.cookie = c
		case flashCookie:
			r.flash = c
		}
	}
	return r
}

// signin signs openid in through the dev page and returns the cookie value.
func (f *fixture) signin(openid string) string {
	f.t.Helper()
	r := f.do("POST", "/h5/dev/signin", "", url.Values{"openid": {openid}})
	if r.status != 303 || r.loc != "/h5/" || r.cookie == nil {
		f.t.Fatalf("signin = %d %q %v", r.status, r.loc, r.cookie)
	}
	return r.cookie.Value
}

var csrfRE = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// post fetches page as the user, takes its CSRF token and posts form to action.
func (f *fixture) post(cookie, page, action string, form url.Values) resp {
	f.t.Helper()
	r := f.do("GET", page, cookie, nil)
	m := csrfRE.FindStringSubmatch(r.body)
	if m == nil {
		f.t.Fatalf("no CSRF token on %s (%d): %s", page, r.status, r.body)
	}
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", m[1])
	return f.do("POST", action, cookie, form)
}

func mustContain(t *testing.T, r resp, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(r.body, w) && !strings.Contains(html.UnescapeString(r.body), w) {
			t.Fatalf("%d: missing %q in:\n%s", r.status, w, r.body)
		}
	}
}

func TestSignin(t *testing.T) {
	f := newFixture(t)
	r := f.do("GET", "/h5/dev/signin", "", nil)
	mustContain(t, r, "o_demo_openid", `name="viewport"`)
	if r = f.do("GET", "/h5/", "", nil); r.status != 303 || r.loc != "/h5/dev/signin" {
		t.Fatalf("anonymous = %d %q", r.status, r.loc)
	}
	resp := f.do("POST", "/h5/dev/signin", "", url.Values{"openid": {"o_demo_openid"}})
	c := resp.cookie
	if c == nil || !c.HttpOnly || c.Path != "/h5" || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie = %+v", c)
	}
	if r = f.do("GET", "/h5/", c.Value, nil); r.status != 200 {
		t.Fatalf("center = %d %s", r.status, r.body)
	}
	mustContain(t, r, "个人中心", "您尚未关联租户")

	forged := f.h.sign("o_demo_openid", f.clk.Now().Add(time.Hour))
	forged = strings.Replace(forged, forged[:4], "b19f", 1) // another openid, same signature
	expired := f.h.sign("o_demo_openid", f.clk.Now().Add(-time.Minute))
	other := New(Deps{Engine: f.eng, CookieKey: []byte("another key")}).sign("o_demo_openid", f.clk.Now().Add(time.Hour))
	for name, v := range map[string]string{"forged": forged, "expired": expired, "other key": other, "junk": "a.b.c"} {
		if r = f.do("GET", "/h5/", v, nil); r.status != 303 {
			t.Fatalf("%s cookie = %d", name, r.status)
		}
	}

	// Production: no sign-in page, 401 in Chinese.
	prod := New(Deps{Engine: f.eng, CookieKey: []byte("k")})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	prod.Register(app.Group("/h5"))
	res, err := app.Test(httptest.NewRequest("GET", "/h5/tenants", nil))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 401 || !strings.Contains(string(b), "请从公众号菜单") || strings.Contains(string(b), "即将上线") {
		t.Fatalf("production = %d %s", res.StatusCode, b)
	}
	if res, _ = app.Test(httptest.NewRequest("GET", "/h5/dev/signin", nil)); res.StatusCode != 404 {
		t.Fatalf("production signin = %d", res.StatusCode)
	}
}

func TestLinkBindUnlink(t *testing.T) {
	f := newFixture(t)
	me := f.signin("o_demo_openid")

	// 新增: a wrong code, then the right one.
	r := f.post(me, "/h5/tenants", "/h5/tenants", url.Values{"code": {"WRONG-CODE"}})
	if r.status != 400 {
		t.Fatalf("wrong code = %d", r.status)
	}
	mustContain(t, r, domain.ErrActivationCode.Message, "WRONG-CODE")
	if r = f.post(me, "/h5/tenants", "/h5/tenants", url.Values{"code": {f.code}}); r.status != 303 {
		t.Fatalf("link = %d %s", r.status, r.body)
	}
	mustContain(t, f.do("GET", "/h5/tenants", me, nil), "阿克米集团", "/h5/tenants/acme/unlink")

	// An account of the 广东 enterprise (no SMS step).
	if err := f.sim.AddPerson(taxbureau.Person{Name: "张三", Username: "zhangsan", Phone: "13800000001", IDNumber: "110101199001011237",
		Password: "Zs@2026abc", Relations: []taxbureau.Relation{{TaxNo: f.gd, Region: "44", Role: domain.RoleInvoicer}}}); err != nil {
		t.Fatal(err)
	}
	fr, err := f.eng.AddAccount(context.Background(), "acme", actors.AddAccount{OpenID: "o_demo_openid", TaxNo: f.gd, Business: "issue",
		Username: "zhangsan", Password: domain.NewSecret("Zs@2026abc"), LoginType: "manual"})
	if err != nil || fr.State != actors.FlowDone {
		t.Fatalf("add account = %+v %v", fr, err)
	}

	r = f.do("GET", "/h5/", me, nil)
	mustContain(t, r, "阿克米集团", "广东阿克米科技有限公司", f.gd, "1 个", "数电配置管理员", "/h5/tenants/acme/enterprises/"+f.gd)

	page := "/h5/tenants/acme/enterprises/" + f.gd
	base := page + "/accounts/" + fr.AccountID
	r = f.do("GET", page, me, nil)
	mustContain(t, r, "电子税局账号管理", "zhangsan", "未绑定", "开票 已登录", base+"/edit")
	r = f.do("GET", base+"/edit", me, nil)
	mustContain(t, r, "绑定微信收登录通知", base+"/bind")
	if strings.Contains(r.body, base+"/unbind") {
		t.Fatal("unbind offered on an unbound account")
	}

	// CSRF: missing and wrong tokens are refused.
	if r = f.do("POST", base+"/bind", me, url.Values{}); r.status != 403 {
		t.Fatalf("no CSRF = %d", r.status)
	}
	if r = f.do("POST", base+"/bind", me, url.Values{"_csrf": {f.h.csrf("x")}}); r.status != 403 {
		t.Fatalf("bad CSRF = %d", r.status)
	}

	// Bind → 已绑定（绑定给我）.
	if r = f.post(me, base+"/edit", base+"/bind", nil); r.status != 303 {
		t.Fatalf("bind = %d %s", r.status, r.body)
	}
	mustContain(t, f.do("GET", page, me, nil), "已绑定（绑定给我）")
	mustContain(t, f.do("GET", base+"/edit", me, nil), base+"/unbind")

	// Another user of the tenant sees no 解绑 and is refused when forging it.
	bob := f.signin("o_bob")
	f.post(bob, "/h5/tenants", "/h5/tenants", url.Values{"code": {f.code}})
	r = f.do("GET", page, bob, nil)
	mustContain(t, r, "zhangsan", "已绑定")
	if strings.Contains(r.body, "绑定给我") || strings.Contains(r.body, base+"/unbind") || strings.Contains(r.body, base+"/bind") {
		t.Fatalf("bob sees my buttons:\n%s", r.body)
	}
	if r = f.post(bob, "/h5/tenants", base+"/unbind", nil); r.status != 403 {
		t.Fatalf("forged unbind = %d", r.status)
	}
	mustContain(t, r, domain.ErrNotPermitted.Message)
	if strings.Contains(r.body, "not_permitted") || strings.Contains(r.body, domain.ErrNotPermitted.MessageEN) {
		t.Fatal("internal text shown")
	}
	// A stranger (no link) is refused on the tenant's pages.
	eve := f.signin("o_eve")
	if r = f.do("GET", page, eve, nil); r.status != 403 {
		t.Fatalf("stranger = %d", r.status)
	}
	mustContain(t, r, domain.ErrNotLinked.Message)

	// Unlink: the confirmation lists the bound account, then the tenant is gone.
	r = f.do("GET", "/h5/tenants/acme/unlink", me, nil)
	mustContain(t, r, "确认解绑", "zhangsan", "广东阿克米科技有限公司")
	if r = f.do("POST", "/h5/tenants/acme/unlink", me, url.Values{}); r.status != 403 {
		t.Fatalf("unlink without CSRF = %d", r.status)
	}
	if r = f.post(me, "/h5/tenants/acme/unlink", "/h5/tenants/acme/unlink", nil); r.status != 303 || r.loc != "/h5/" {
		t.Fatalf("unlink = %d %s", r.status, r.body)
	}
	r = f.do("GET", "/h5/", me, nil)
	if strings.Contains(r.body, "阿克米集团") {
		t.Fatal("tenant still listed after unlink")
	}
	mustContain(t, r, "您尚未关联租户")
	// The account is unbound again: bob may now bind it.
	mustContain(t, f.do("GET", page, bob, nil), "未绑定", base+"/edit")
	mustContain(t, f.do("GET", base+"/edit", bob, nil), base+"/bind")
}

// TestCSRFOnlyFromBodyOrHeader: the token counts only from the form body or
// the X-CSRF-Token header. One in the query string is ignored, so it can
// neither stand alone nor win over a bad one in the body.
func TestCSRFOnlyFromBodyOrHeader(t *testing.T) {
	f := newFixture(t)
	me := f.signin("o_demo_openid")
	token := f.h.csrf(me)
	form := func(v url.Values) *strings.Reader { return strings.NewReader(v.Encode()) }
	send := func(target string, body url.Values, header string) resp {
		req := httptest.NewRequest("POST", target, form(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: cookieName, Value: me})
		if header != "" {
			req.Header.Set(csrfHeader, header)
		}
		return f.send(req)
	}
	q := "/h5/tenants?_csrf=" + url.QueryEscape(token)
	if r := send(q, url.Values{"code": {f.code}}, ""); r.status != 403 {
		t.Fatalf("token in the query only = %d %s", r.status, r.body)
	}
	if r := send(q, url.Values{"code": {f.code}, "_csrf": {f.h.csrf("x")}}, ""); r.status != 403 {
		t.Fatalf("good token in the query, bad one in the body = %d %s", r.status, r.body)
	}
	if r := send("/h5/tenants", url.Values{"code": {f.code}, "_csrf": {f.h.csrf("x")}}, token); r.status != 403 {
		t.Fatalf("bad token in the body, good one in the header = %d %s", r.status, r.body)
	}
	if r := f.do("GET", "/h5/tenants", me, nil); strings.Contains(r.body, "阿克米集团") {
		t.Fatal("a refused request linked the tenant")
	}
	if r := send("/h5/tenants", url.Values{"code": {f.code}}, token); r.status != 303 {
		t.Fatalf("token in the header = %d %s", r.status, r.body)
	}
	mustContain(t, f.do("GET", "/h5/tenants", me, nil), "阿克米集团")
}
