package h5

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/prompts"
)

// inboxApp serves the pages with inbox as the dev inbox (no engine: the
// page needs none).
func inboxApp(t *testing.T, dev bool, inbox DevInbox) (*fiber.App, *H5) {
	t.Helper()
	h := New(Deps{CookieKey: []byte("inbox test key"), Dev: dev, Inbox: inbox})
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	h.Register(app.Group("/h5"))
	return app, h
}

func inboxGet(t *testing.T, app *fiber.App, path, cookie string) resp {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie})
	}
	res, err := app.Test(req, 10000)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: string(b), loc: res.Header.Get("Location")}
}

func TestDevInboxPage(t *testing.T) {
	inbox := prompts.NewInbox()
	at := time.Date(2026, 3, 14, 9, 30, 0, 0, cst)
	notify := func(p prompts.Prompt) {
		if err := inbox.Notify(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	// Delivered out of order: the page shows the newest first.
	notify(prompts.Prompt{ID: "p2", Tenant: "acme", Account: "a1", Kind: prompts.KindSMSCode, OpenID: "o_demo_openid",
		PhoneMasked: "138****0001", Message: "请输入发送到138****0001的短信验证码", TaxNo: "91440000000000035H", Username: "zhangsan",
		CreatedAt: at.Add(2 * time.Minute), ExpiresAt: at.Add(7 * time.Minute)})
	notify(prompts.Prompt{ID: "p1", Tenant: "acme", Account: "a1", Kind: prompts.KindQRScan, OpenID: "o_demo_openid",
		Message: "请扫码登录", Username: "zhangsan", CreatedAt: at, ExpiresAt: at.Add(2 * time.Minute)})
	notify(prompts.Prompt{ID: "p/3", Tenant: "acme", Account: "a 2", Kind: prompts.KindFace, OpenID: "o_demo_openid",
		Message: "请完成人脸认证", Username: "lisi", CreatedAt: at.Add(5 * time.Minute), ExpiresAt: time.Now().Add(time.Hour)})
	notify(prompts.Prompt{ID: "p2r", Of: "p2", Reminder: true, Tenant: "acme", Account: "a1", Kind: prompts.KindSMSCode,
		OpenID: "o_demo_openid", Message: "提醒：请输入短信验证码", Username: "zhangsan", CreatedAt: at.Add(time.Minute)})
	notify(prompts.Prompt{ID: "p9", Tenant: "acme", Account: "a9", Kind: prompts.KindSMSCode, OpenID: "o_bob",
		Message: "给bob的通知", Username: "wangwu", CreatedAt: at})
	notify(prompts.Prompt{ID: "p0", Tenant: "acme", Account: "a0", Kind: prompts.KindSMSCode,
		Message: "无人绑定的账号", Username: "zhaoliu", CreatedAt: at})

	app, h := inboxApp(t, true, actors.NewDevInbox(inbox))
	r := inboxGet(t, app, "/h5/dev/inbox?openid=o_demo_openid", "")
	if r.status != 200 {
		t.Fatalf("inbox = %d %s", r.status, r.body)
	}
	mustContain(t, r, "开发收件箱", "zhangsan", "lisi", "138****0001", "91440000000000035H", "短信验证码", "扫码登录", "人脸认证",
		"2026-03-14 09:32:00", "已过期", "详情",
		`href="/h5/prompt/acme/a1/p2"`, `href="/h5/prompt/acme/a1/p1"`, `href="/h5/prompt/acme/a%202/p%2F3"`,
		`href="/h5/dev/inbox?openid=o_bob"`) // the chat list
	if strings.Contains(r.body, "给bob的通知") || strings.Contains(r.body, "无人绑定的账号") {
		t.Fatal("another openid's messages shown")
	}
	i3, i2, ir, i1 := strings.Index(r.body, "/p%2F3"), strings.Index(r.body, "请输入发送到138"), strings.Index(r.body, "提醒：请输入"),
		strings.Index(r.body, "/p1\"")
	if !(i3 < i2 && i2 < ir && ir < i1) {
		t.Fatalf("not newest first: p3 %d, p2 %d, p2r %d, p1 %d", i3, i2, ir, i1)
	}
	// The reminder opens the prompt it repeats.
	if strings.Contains(r.body, "/p2r") || strings.Count(r.body, `href="/h5/prompt/acme/a1/p2"`) != 2 {
		t.Fatalf("reminder link:\n%s", r.body)
	}

	// No query: the signed-in user's messages; anonymous: the form.
	me := h.sign("o_bob", time.Now().Add(time.Hour))
	mustContain(t, inboxGet(t, app, "/h5/dev/inbox", me), "给bob的通知", `href="/h5/prompt/acme/a9/p9"`)
	r = inboxGet(t, app, "/h5/dev/inbox", "")
	if r.status != 200 || strings.Contains(r.body, "给bob的通知") || strings.Contains(r.body, "zhangsan") {
		t.Fatalf("anonymous = %d %s", r.status, r.body)
	}
	mustContain(t, r, `name="openid"`, "o_demo_openid") // the form and the chat list
	// The prompts of accounts nobody is bound to are under the empty openid.
	mustContain(t, inboxGet(t, app, "/h5/dev/inbox?openid=", ""), "无人绑定的账号", "未绑定微信的账号")
	// An unknown openid: nothing, no error.
	mustContain(t, inboxGet(t, app, "/h5/dev/inbox?openid="+url.QueryEscape("o_nobody"), ""), "暂无消息")
	if r = inboxGet(t, app, "/h5/dev/inbox?openid="+strings.Repeat("x", 200), ""); r.status != 400 {
		t.Fatalf("long openid = %d", r.status)
	}

	// Outside dev mode, or without the dev notifier: not found.
	prod, _ := inboxApp(t, false, actors.NewDevInbox(inbox))
	if r = inboxGet(t, prod, "/h5/dev/inbox?openid=o_demo_openid", ""); r.status != 404 || strings.Contains(r.body, "zhangsan") {
		t.Fatalf("production inbox = %d %s", r.status, r.body)
	}
	mustContain(t, r, "页面不存在")
	none, _ := inboxApp(t, true, nil)
	if r = inboxGet(t, none, "/h5/dev/inbox", ""); r.status != 404 {
		t.Fatalf("no inbox = %d", r.status)
	}
}

// TestDevInboxShowsPromptStates: a message whose prompt was answered says
// so; only the open one reads 待处理.
func TestDevInboxShowsPromptStates(t *testing.T) {
	p := newPromptFixture(t, true)
	inbox := prompts.NewInbox()
	p.h.inbox = actors.NewDevInbox(inbox)
	deliver := func() {
		for _, m := range p.pub().All() {
			if err := inbox.Notify(context.Background(), m); err != nil {
				t.Fatal(err)
			}
		}
	}
	answered := p.erpLogin()
	if _, err := p.eng.AnswerPrompt(context.Background(), "acme", p.acct, answered.Prompt.ID, "o_alice", p.sim.LastCode(p.phone)); err != nil {
		t.Fatal(err)
	}
	if final, err := p.eng.AwaitRequest(context.Background(), "acme", answered.RequestID, 5*time.Second); err != nil || final.State != actors.RequestReady {
		t.Fatalf("answered request = %+v %v", final, err)
	}
	open := p.erpLogin()
	deliver()

	r := p.do("GET", "/h5/dev/inbox?openid=o_alice", p.alice, nil)
	if r.status != 200 {
		t.Fatalf("inbox = %d %s", r.status, r.body)
	}
	card := func(id string) string {
		for _, a := range strings.Split(r.body, "<article")[1:] {
			if strings.Contains(a, `href="`+p.promptPath(id)+`"`) {
				return a
			}
		}
		t.Fatalf("no card of prompt %s in:\n%s", id, r.body)
		return ""
	}
	if c := card(answered.Prompt.ID); !strings.Contains(c, `data-state="done">已完成<`) || strings.Contains(c, "待处理") {
		t.Fatalf("answered prompt's card:\n%s", c)
	}
	if c := card(open.Prompt.ID); !strings.Contains(c, `data-state="pending">待处理<`) {
		t.Fatalf("open prompt's card:\n%s", c)
	}
}
