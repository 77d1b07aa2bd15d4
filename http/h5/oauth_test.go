package h5

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// fakeOAuth is WeChat's OAuth2: codes map to openids, once each.
type fakeOAuth struct {
	mu    sync.Mutex
	codes map[string]string
	err   error
	calls int
}

func (f *fakeOAuth) AuthCodeURL(redirectURI, state string) string {
	return "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx123&redirect_uri=" + url.QueryEscape(redirectURI) +
		"&response_type=code&scope=snsapi_base&state=" + url.QueryEscape(state) + "#wechat_redirect"
}

func (f *fakeOAuth) OpenIDFromCode(_ context.Context, code string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return "", f.err
	}
	openid, ok := f.codes[code]
	if !ok {
		return "", errors.New("wechat: oauth2 access_token: 40029 invalid code " + code)
	}
	delete(f.codes, code)
	return openid, nil
}

type oauthFixture struct {
	*fixture
	fake *fakeOAuth
	logs *bytes.Buffer
	app  *fiber.App
	h    *H5
}

// newOAuthFixture serves the pages as production does with WeChat: no dev
// sign-in, OAuth2 on the public URL.
func newOAuthFixture(t *testing.T) *oauthFixture {
	f := newFixture(t)
	ck, err := f.eng.CookieKey()
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeOAuth{codes: map[string]string{}}
	logs := &bytes.Buffer{}
	h := New(Deps{Engine: f.eng, CookieKey: ck, OAuth: fake, PublicURL: "https://etaxd.example.com/", Clock: f.clk,
		Logger: slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Register(app.Group("/h5"))
	return &oauthFixture{fixture: f, fake: fake, logs: logs, app: app, h: h}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// oauthResp is a response with all its cookies.
type oauthResp struct {
	resp
	cookies map[string]*http.Cookie
}

func (o *oauthFixture) send(method, path string, cookies ...*http.Cookie) oauthResp {
	o.t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	res, err := o.app.Test(req, 10000)
	if err != nil {
		o.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	r := oauthResp{resp: resp{status: res.StatusCode, body: string(b), loc: res.Header.Get("Location")}, cookies: map[string]*http.Cookie{}}
	for _, c := range res.Cookies() {
		r.cookies[c.Name] = c
	}
	return r
}

// start asks for path without a session and returns WeChat's authorize
// URL and the sign-in cookie.
func (o *oauthFixture) start(path string) (*url.URL, *http.Cookie) {
	o.t.Helper()
	r := o.send("GET", path)
	if r.status != 302 || !strings.HasPrefix(r.loc, "https://open.weixin.qq.com/connect/oauth2/authorize?") {
		o.t.Fatalf("%s without a session = %d %q", path, r.status, r.loc)
	}
	u, err := url.Parse(r.loc)
	if err != nil {
		o.t.Fatal(err)
	}
	c := r.cookies[oauthCookie]
	if c == nil {
		o.t.Fatalf("no %s cookie", oauthCookie)
	}
	return u, c
}

func TestOAuthSignIn(t *testing.T) {
	o := newOAuthFixture(t)
	u, c := o.start("/h5/tenants?add=1")
	q := u.Query()
	if q.Get("redirect_uri") != "https://etaxd.example.com/h5/wx/oauth" || q.Get("scope") != "snsapi_base" {
		t.Fatalf("authorize URL = %s", u)
	}
	state := q.Get("state")
	if len(state) < 32 || strings.Contains(c.Value, "tenants?add=1") {
		t.Fatalf("state %q, cookie %q", state, c.Value)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || !c.Secure || c.Path != "/h5/wx/oauth" ||
		c.Expires.Before(o.clk.Now()) || c.Expires.After(o.clk.Now().Add(oauthTTL+time.Minute)) {
		t.Fatalf("sign-in cookie = %+v", c)
	}
	// Another visit gets another state.
	if u2, _ := o.start("/h5/"); u2.Query().Get("state") == state {
		t.Fatal("the state is not random")
	}

	// WeChat returns with a code: the session is set and the visitor lands
	// where they wanted to go.
	o.fake.codes["CODE-1"] = "o_wx_user_0001"
	r := o.send("GET", "/h5/wx/oauth?code=CODE-1&state="+url.QueryEscape(state), c)
	if r.status != 302 || r.loc != "/h5/tenants?add=1" {
		t.Fatalf("callback = %d %q %s", r.status, r.loc, r.body)
	}
	sess := r.cookies[cookieName]
	if sess == nil || !sess.HttpOnly || sess.Path != "/h5" || sess.SameSite != http.SameSiteLaxMode || !sess.Secure {
		t.Fatalf("session cookie = %+v", sess)
	}
	if gone := r.cookies[oauthCookie]; gone == nil || gone.Value != "" || gone.Expires.After(o.clk.Now()) {
		t.Fatalf("sign-in cookie not cleared: %+v", gone)
	}
	if openid, ok := o.h.verify(sess.Value, o.clk.Now()); !ok || openid != "o_wx_user_0001" {
		t.Fatalf("session of %q %v", openid, ok)
	}
	r = o.send("GET", "/h5/tenants?add=1", sess)
	if r.status != 200 {
		t.Fatalf("landing = %d %s", r.status, r.body)
	}
	mustContain(t, r.resp, "编辑", "激活码")

	// A POST without a session lands on the personal center.
	r = o.send("POST", "/h5/tenants")
	if r.status != 302 {
		t.Fatalf("POST without a session = %d", r.status)
	}
	_, la, ok := o.h.verifyOAuth(r.cookies[oauthCookie].Value, o.clk.Now())
	if !ok || la != "/h5/" {
		t.Fatalf("POST landing = %q %v", la, ok)
	}
	if strings.Contains(o.logs.String(), "CODE-1") {
		t.Fatalf("the code is in the logs:\n%s", o.logs)
	}
}

func TestOAuthBadState(t *testing.T) {
	o := newOAuthFixture(t)
	u, c := o.start("/h5/")
	state := u.Query().Get("state")
	o.fake.codes["CODE-2"] = "o_wx_user_0002"
	_, other := o.start("/h5/tenants") // another sign-in's cookie

	for name, r := range map[string]oauthResp{
		"wrong state":   o.send("GET", "/h5/wx/oauth?code=CODE-2&state=00112233445566778899aabbccddeeff", c),
		"no state":      o.send("GET", "/h5/wx/oauth?code=CODE-2", c),
		"no cookie":     o.send("GET", "/h5/wx/oauth?code=CODE-2&state="+state),
		"other cookie":  o.send("GET", "/h5/wx/oauth?code=CODE-2&state="+state, other),
		"forged cookie": o.send("GET", "/h5/wx/oauth?code=CODE-2&state="+state, &http.Cookie{Name: oauthCookie, Value: c.Value + "x"}),
	} {
		if r.status != 400 || r.cookies[cookieName] != nil {
			t.Fatalf("%s = %d %v", name, r.status, r.cookies[cookieName])
		}
		mustContain(t, r.resp, "登录失败", "重新登录", `href="/h5/`)
	}
	if o.fake.calls != 0 {
		t.Fatalf("%d code exchanges with a bad state", o.fake.calls)
	}
	// An expired sign-in cookie is refused too.
	o.h.now = func() time.Time { return o.clk.Now().Add(oauthTTL + time.Minute) }
	if r := o.send("GET", "/h5/wx/oauth?code=CODE-2&state="+state, c); r.status != 400 || r.cookies[cookieName] != nil {
		t.Fatalf("expired = %d", r.status)
	}
	o.h.now = o.clk.Now
	// The right state still works (the code was never spent).
	if r := o.send("GET", "/h5/wx/oauth?code=CODE-2&state="+state, c); r.status != 302 || r.cookies[cookieName] == nil {
		t.Fatalf("good state = %d %s", r.status, r.body)
	}
	// No code (the visitor cancelled): a message, not a sign-in.
	u, c = o.start("/h5/")
	if r := o.send("GET", "/h5/wx/oauth?state="+u.Query().Get("state"), c); r.status != 400 || r.cookies[cookieName] != nil {
		t.Fatalf("no code = %d", r.status)
	}
}

func TestOAuthOpenRedirect(t *testing.T) {
	o := newOAuthFixture(t)
	for _, bad := range []string{"https://evil.example.com/", "//evil.example.com/h5/", "/\\evil.example.com", "/h5/../evil",
		"/other", "", "h5/", "/h5/wx/oauth?code=x", "/h5\r\nLocation: https://evil.example.com", "javascript:alert(1)",
		"/h5/" + strings.Repeat("a", maxLanding)} {
		if got := o.h.safeLanding(bad); got != "/h5/" {
			t.Errorf("safeLanding(%q) = %q", bad, got)
		}
	}
	for _, good := range []string{"/h5/", "/h5", "/h5/tenants?add=1", "/h5/prompt/acme/a1/p1", "/h5/tenants/acme/enterprises/91440000000000035H"} {
		if got := o.h.safeLanding(good); got != good {
			t.Errorf("safeLanding(%q) = %q", good, got)
		}
	}
	// Even a signed cookie naming another site lands on the personal center.
	state := "00112233445566778899aabbccddeeff"
	evil := &http.Cookie{Name: oauthCookie, Value: o.h.signOAuth(state, "https://evil.example.com/", o.clk.Now().Add(time.Minute))}
	o.fake.codes["CODE-3"] = "o_wx_user_0003"
	r := o.send("GET", "/h5/wx/oauth?code=CODE-3&state="+state, evil)
	if r.status != 302 || r.loc != "/h5/" {
		t.Fatalf("evil landing = %d %q", r.status, r.loc)
	}
	// The landing page comes from the request, which is always ours.
	_, c := o.start("/h5/tenants/acme/audit?before=1.2.3")
	if _, la, ok := o.h.verifyOAuth(c.Value, o.clk.Now()); !ok || la != "/h5/tenants/acme/audit?before=1.2.3" {
		t.Fatalf("landing = %q %v", la, ok)
	}
}

func TestOAuthExchangeError(t *testing.T) {
	o := newOAuthFixture(t)
	u, c := o.start("/h5/tenants")
	state := u.Query().Get("state")
	// An unknown code (WeChat's 40029), then WeChat down.
	r := o.send("GET", "/h5/wx/oauth?code=SECRET-CODE-9&state="+state, c)
	if r.status != 502 || r.cookies[cookieName] != nil {
		t.Fatalf("bad code = %d", r.status)
	}
	mustContain(t, r.resp, "微信授权登录失败", `href="/h5/tenants"`, "重新登录")
	o.fake.err = errors.New("dial tcp: connection refused for code SECRET-CODE-8")
	u, c = o.start("/h5/")
	r = o.send("GET", "/h5/wx/oauth?code=SECRET-CODE-8&state="+u.Query().Get("state"), c)
	if r.status != 502 || r.cookies[cookieName] != nil {
		t.Fatalf("wechat down = %d", r.status)
	}
	logs := o.logs.String()
	if !strings.Contains(logs, "code exchange failed") || strings.Contains(logs, "SECRET-CODE") {
		t.Fatalf("logs:\n%s", logs)
	}
	for _, s := range []string{"SECRET-CODE", "40029", "connection refused"} {
		if strings.Contains(r.body, s) {
			t.Fatalf("the page shows %q", s)
		}
	}

	// Without OAuth the callback does not exist.
	f := newFixture(t)
	if r := f.do("GET", "/h5/wx/oauth?code=x&state=y", "", nil); r.status != 404 {
		t.Fatalf("callback without OAuth = %d", r.status)
	}
}
