package h5

import (
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/prompts"
)

// TestDevPagesBehindTheGuard: the dev sign-in and the dev inbox page ask
// Deps.DevGuard first (etaxd passes the loopback-and-same-origin check), and
// show its refusal as a page, never the sign-in or anyone's prompts.
func TestDevPagesBehindTheGuard(t *testing.T) {
	refused := &domain.Error{Code: "dev_loopback_only", Message: "开发模式功能仅允许本机访问"}
	var allow bool
	guard := func(*fiber.Ctx) error {
		if allow {
			return nil
		}
		return refused
	}
	inbox := prompts.NewInbox()
	h := New(Deps{CookieKey: []byte("guard test key"), Dev: true, Inbox: actors.NewDevInbox(inbox), DevGuard: guard})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Register(app.Group("/h5"))
	type answer struct {
		status       int
		body, cookie string
	}
	do := func(method, path string, form url.Values) answer {
		t.Helper()
		req := httptest.NewRequest(method, path, strings.NewReader(form.Encode()))
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := app.Test(req, 10000)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return answer{status: res.StatusCode, body: string(b), cookie: res.Header.Get("Set-Cookie")}
	}
	for _, c := range []struct {
		method, path string
		form         url.Values
	}{
		{"GET", "/h5/dev/signin", nil},
		{"POST", "/h5/dev/signin", url.Values{"openid": {"o_admin"}}},
		{"GET", "/h5/dev/inbox", nil},
		{"GET", "/h5/dev/inbox?openid=o_admin", nil},
	} {
		r := do(c.method, c.path, c.form)
		if r.status != 403 || !strings.Contains(r.body, refused.Message) || r.cookie != "" {
			t.Errorf("%s %s refused by the guard = %d (cookie %q) %.200s", c.method, c.path, r.status, r.cookie, r.body)
		}
	}
	allow = true
	if r := do("POST", "/h5/dev/signin", url.Values{"openid": {"o_admin"}}); r.status != 303 || !strings.Contains(r.cookie, cookieName+"=") {
		t.Errorf("sign-in the guard lets through = %d %q", r.status, r.cookie)
	}
	if r := do("GET", "/h5/dev/inbox", nil); r.status != 200 {
		t.Errorf("inbox the guard lets through = %d", r.status)
	}
}

// TestNoDevSignInWithWeChat: with an official account configured, sign-in
// is WeChat's alone: the dev sign-in is not there, even in dev mode, and a
// visitor without a session goes to WeChat.
func TestNoDevSignInWithWeChat(t *testing.T) {
	f := newFixture(t)
	ck, err := f.eng.CookieKey()
	if err != nil {
		t.Fatal(err)
	}
	h := New(Deps{Engine: f.eng, CookieKey: ck, Dev: true, OAuth: &fakeOAuth{codes: map[string]string{}},
		PublicURL: "https://etaxd.example.com", DevGuard: func(*fiber.Ctx) error { return nil }, Clock: f.clk})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Register(app.Group("/h5"))
	for _, method := range []string{"GET", "POST"} {
		req := httptest.NewRequest(method, "/h5/dev/signin", strings.NewReader("openid=o_admin"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := app.Test(req, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 404 || res.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s /h5/dev/signin with WeChat = %d, cookie %q", method, res.StatusCode, res.Header.Get("Set-Cookie"))
		}
	}
	res, err := app.Test(httptest.NewRequest("GET", "/h5/", nil), 10000)
	if err != nil {
		t.Fatal(err)
	}
	if loc := res.Header.Get("Location"); res.StatusCode != 302 || !strings.HasPrefix(loc, "https://open.weixin.qq.com/") {
		t.Errorf("GET /h5/ without a session = %d %q, want WeChat's authorize URL", res.StatusCode, loc)
	}
}
