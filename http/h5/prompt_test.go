package h5

import (
	"context"
	"encoding/json"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/prompts"
)

// promptFixture is an account in 北京 (the login asks for an SMS code),
// added by alice, with codes allowed back to back.
type promptFixture struct {
	*fixture
	bj, acct, phone string
	alice, bob      string // cookies
}

func newPromptFixture(t *testing.T, bind bool) *promptFixture {
	t.Helper()
	cfg := actors.DefaultConfig()
	cfg.SMSPolicy.PerAccountInterval = 0
	f := newFixtureWith(t, cfg)
	p := &promptFixture{fixture: f, bj: domain.MakeTaxNo("11", 7), phone: "13900000007"}
	if _, err := f.eng.AddEnterprise(context.Background(), "acme", p.bj, "北京阿克米商贸有限公司", ""); err != nil {
		t.Fatal(err)
	}
	f.addPerson("李四", "lisi", p.phone, "110101199003071234", domain.RoleInvoicer, p.bj)
	p.alice, p.bob = f.linked("o_alice"), f.linked("o_bob")
	p.acct = f.addAccount("o_alice", p.bj, "lisi", p.phone)
	if bind {
		if err := f.eng.Bind(context.Background(), "acme", p.acct, "o_alice"); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// erpLogin logs the account out and asks for a session as an ERP would: the
// reply carries the prompt.
func (p *promptFixture) erpLogin() *actors.SessionReply {
	p.t.Helper()
	ctx := context.Background()
	r, err := p.eng.RequestSession(ctx, "acme", actors.SessionRequest{AccountID: p.acct, Business: domain.ChannelIssue})
	if err != nil || r.Session == nil {
		p.t.Fatalf("session = %+v %v", r, err)
	}
	if err := p.eng.ReportInvalid(ctx, "acme", p.acct, domain.ChannelIssue, r.Session.Token); err != nil {
		p.t.Fatal(err)
	}
	r, err = p.eng.RequestSession(ctx, "acme", actors.SessionRequest{AccountID: p.acct, Business: domain.ChannelIssue})
	if err != nil || r.State != actors.RequestAwaitingUser || r.Prompt == nil {
		p.t.Fatalf("ERP request = %+v %v", r, err)
	}
	return r
}

func (p *promptFixture) promptPath(id string) string {
	return "/h5/prompt/acme/" + p.acct + "/" + id
}

func mustNotContain(t *testing.T, r resp, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if b != "" && strings.Contains(r.body, b) {
			t.Fatalf("page shows %q:\n%s", b, r.body)
		}
	}
}

// TestPromptPageWeChat: the page a WeChat message opens shows what is asked
// and for which account, takes the code, and the ERP's request completes.
func TestPromptPageWeChat(t *testing.T) {
	p := newPromptFixture(t, true)
	r := p.erpLogin()
	page := p.promptPath(r.Prompt.ID)

	// not signed in: to the sign-in page
	if got := p.do("GET", page, "", nil); got.status != 303 || !strings.Contains(got.loc, "/dev/signin") {
		t.Fatalf("anonymous = %d %q", got.status, got.loc)
	}
	// bob is linked but the account is bound to alice
	got := p.do("GET", page, p.bob, nil)
	if got.status != 403 {
		t.Fatalf("bob = %d", got.status)
	}
	mustContain(t, got, domain.ErrNotPermitted.Message)

	got = p.do("GET", page, p.alice, nil)
	if got.status != 200 {
		t.Fatalf("alice = %d %s", got.status, got.body)
	}
	mustContain(t, got, "短信验证码登录", "待处理", p.bj, "lisi", "开票业务", "139****0007", `name="code"`, "有效期至")

	// a malformed code is refused inline, the prompt stays open
	got = p.post(p.alice, page, page, url.Values{"code": {"12ab"}})
	if got.status != 400 {
		t.Fatalf("bad code = %d", got.status)
	}
	mustContain(t, got, "验证码为6位数字", `name="code"`)

	got = p.post(p.alice, page, page, url.Values{"code": {p.sim.LastCode(p.phone)}})
	if got.status != 303 || got.loc != page {
		t.Fatalf("answer = %d %q %s", got.status, got.loc, got.body)
	}
	final, err := p.eng.AwaitRequest(context.Background(), "acme", r.RequestID, 5*time.Second)
	if err != nil || final.State != actors.RequestReady || final.Session == nil {
		t.Fatalf("ERP's long poll = %+v %v", final, err)
	}
	got = p.do("GET", page, p.alice, nil)
	mustContain(t, got, "已完成", "登录成功，开票业务已登录")
	mustNotContain(t, got, final.Session.Token, `name="code"`)

	// the same message again: nothing left to do, no new login
	got = p.post(p.alice, "/h5/tenants", page, url.Values{"code": {"123456"}})
	mustContain(t, got, domain.ErrPromptClosed.Message)
	if st, _ := p.eng.Prompt(context.Background(), "acme", p.acct, r.Prompt.ID, "o_alice"); st.State != actors.PromptDone {
		t.Fatalf("state after = %+v", st)
	}
	// a forged path is a clear error, not a panic
	got = p.do("GET", "/h5/prompt/acme/nosuchaccount/"+r.Prompt.ID, p.alice, nil)
	if got.status != 404 {
		t.Fatalf("unknown account = %d", got.status)
	}
	mustContain(t, got, domain.ErrAccountNotFound.Message)
}

// TestPromptPageLink: with nobody bound the ERP gets a login link (F16); the
// link alone opens the page and completes the login.
func TestPromptPageLink(t *testing.T) {
	p := newPromptFixture(t, false)
	r := p.erpLogin()
	if r.Prompt.LoginURL == "" {
		t.Fatalf("no login link: %+v", r.Prompt)
	}
	u, err := url.Parse(r.Prompt.LoginURL)
	if err != nil || u.Path != "/h5/login" {
		t.Fatalf("login url = %q", r.Prompt.LoginURL)
	}
	page := u.Path + "?" + u.RawQuery
	got := p.do("GET", page, "", nil)
	if got.status != 200 {
		t.Fatalf("link = %d %s", got.status, got.body)
	}
	mustContain(t, got, "短信验证码登录", "lisi", `name="code"`)
	mustNotContain(t, got, "返回个人中心")
	action := regexp.MustCompile(`<form class="card" method="post" action="([^"]+)"`).FindStringSubmatch(got.body)
	if action == nil {
		t.Fatalf("no form: %s", got.body)
	}
	post := strings.ReplaceAll(action[1], "&amp;", "&")
	got = p.do("POST", post, "", url.Values{"code": {p.sim.LastCode(p.phone)}})
	if got.status != 303 {
		t.Fatalf("answer by link = %d %s", got.status, got.body)
	}
	final, err := p.eng.AwaitRequest(context.Background(), "acme", r.RequestID, 5*time.Second)
	if err != nil || final.State != actors.RequestReady {
		t.Fatalf("ERP's long poll = %+v %v", final, err)
	}
	// Used, the link shows only that: not whose login it was. Opened
	// again, posted again with a code, or confirmed, it names no
	// account, enterprise or phone.
	secrets := []string{"lisi", p.bj, "北京阿克米商贸有限公司", domain.MaskPhone(p.phone), `name="code"`}
	got = p.do("GET", page, "", nil)
	mustContain(t, got, "此链接已使用", "登录成功")
	mustNotContain(t, got, secrets...)
	got = p.do("POST", post, "", url.Values{"code": {"123456"}})
	mustContain(t, got, "此链接已使用")
	mustNotContain(t, got, secrets...)
	got = p.do("POST", strings.Replace(post, "/h5/login?", "/h5/login/confirm?", 1), "", url.Values{})
	mustContain(t, got, "此链接已使用")
	mustNotContain(t, got, secrets...)

	// forged, truncated or missing links are refused
	for _, bad := range []string{"/h5/login", "/h5/login?link=abc", page[:len(page)-3]} {
		got := p.do("GET", bad, "", nil)
		if got.status != 403 {
			t.Fatalf("%s = %d", bad, got.status)
		}
		mustContain(t, got, "链接已失效")
	}
	// and the audit names the link, not a WeChat user
	var seen bool
	_ = p.eng.Audit(context.Background(), "acme", p.clk.Now().Add(-time.Hour), p.clk.Now().Add(time.Hour), func(ev actors.AuditEvent) error {
		if ev.Action == "login.submit_code" && strings.HasPrefix(ev.Actor, "link:") {
			seen = true
		}
		return nil
	})
	if !seen {
		t.Error("no audit record of the code submitted through the link")
	}
}

// TestCertifyPage: 认证 from the account's 登录/认证 page shows the face QR,
// the page's poll learns when the person passed.
func TestCertifyPage(t *testing.T) {
	p := newPromptFixture(t, true)
	base := "/h5/tenants/acme/enterprises/" + p.bj + "/accounts/" + p.acct + "/login"
	got := p.do("GET", base, p.alice, nil)
	mustContain(t, got, "登录电子税局", "开票业务登录", "收票业务登录", "扫码登录")
	mustContain(t, p.do("GET", base+"?action=certify", p.alice, nil), "开票业务认证", "人脸识别")
	if got := p.do("GET", base, p.bob, nil); got.status != 403 {
		t.Fatalf("bob's login page = %d", got.status)
	}
	got = p.post(p.alice, base, base, url.Values{"channel": {"issue"}, "action": {"certify"}})
	if got.status != 303 || !strings.HasPrefix(got.loc, "/h5/prompt/acme/"+p.acct+"/") {
		t.Fatalf("certify = %d %q %s", got.status, got.loc, got.body)
	}
	page := got.loc
	got = p.do("GET", page, p.alice, nil)
	mustContain(t, got, "人脸认证", "data:image/png;base64,", "我已完成认证", "data-poll=")
	content := regexp.MustCompile(`data-content="([^"]+)"`).FindStringSubmatch(got.body)
	if content == nil {
		t.Fatal("no QR content")
	}
	status := func() string {
		r := p.do("GET", page+"/status", p.alice, nil)
		var v struct{ State string }
		if err := json.Unmarshal([]byte(r.body), &v); err != nil || r.status != 200 {
			t.Fatalf("status = %d %s", r.status, r.body)
		}
		return v.State
	}
	if s := status(); s != "pending" {
		t.Fatalf("before the scan: %s", s)
	}
	_, cert, _ := strings.Cut(strings.ReplaceAll(content[1], "&amp;", "&"), "cert=")
	if err := p.sim.PassFace(cert); err != nil {
		t.Fatal(err)
	}
	if s := status(); s != "done" {
		t.Fatalf("after the scan: %s", s)
	}
	mustContain(t, p.do("GET", page, p.alice, nil), "认证成功，有效期至")
	mustContain(t, p.do("GET", "/h5/tenants/acme/enterprises/"+p.bj, p.alice, nil), "已认证 至")
}

// TestQRLoginPage: 扫码登录 (F15) shows a QR for the chosen app and polls it.
func TestQRLoginPage(t *testing.T) {
	p := newPromptFixture(t, true)
	base := "/h5/tenants/acme/enterprises/" + p.bj + "/accounts/" + p.acct
	got := p.post(p.alice, base+"/login", base+"/qr", url.Values{"channel": {"receive"}, "app": {"iit"}})
	if got.status != 200 {
		t.Fatalf("qr = %d %s", got.status, got.body)
	}
	mustContain(t, got, "个人所得税APP扫码登录", "收票业务", "data:image/png;base64,")
	id := regexp.MustCompile(`data-qr-id="([^"]+)"`).FindStringSubmatch(got.body)
	poll := regexp.MustCompile(`data-poll="([^"]+)"`).FindStringSubmatch(got.body)
	if id == nil || poll == nil {
		t.Fatalf("no QR id or poll URL: %s", got.body)
	}
	state := func(cookie string) (int, string) {
		r := p.do("GET", poll[1], cookie, nil)
		var v struct{ State, Message string }
		_ = json.Unmarshal([]byte(r.body), &v)
		return r.status, v.State
	}
	if _, s := state(p.alice); s != "waiting" {
		t.Fatalf("before scan: %s", s)
	}
	if code, s := state(p.bob); code != 403 || s != "error" {
		t.Fatalf("bob polls alice's QR: %d %s", code, s)
	}
	if code, s := state(""); code != 401 || s != "error" {
		t.Fatalf("signed-out poll: %d %s", code, s)
	}
	if err := p.sim.ScanQR(id[1], "lisi"); err != nil {
		t.Fatal(err)
	}
	confirmed := p.do("GET", poll[1], p.alice, nil)
	if !strings.Contains(confirmed.body, `"confirmed"`) || confirmed.flash == nil || confirmed.flash.Value == "" {
		t.Fatalf("after scan: %s, flash %+v", confirmed.body, confirmed.flash)
	}
	// The page the script goes to (the card) says so once; ?ok= says nothing.
	done := regexp.MustCompile(`data-done="([^"]+)"`).FindStringSubmatch(got.body)
	if done == nil || !strings.Contains(done[1], "#a-") || strings.Contains(done[1], "ok=") {
		t.Fatalf("QR page's next page = %v", done)
	}
	target, _, _ := strings.Cut(html.UnescapeString(done[1]), "#")
	mustContain(t, p.withFlash(p.alice, target, confirmed.flash), "扫码登录成功", "收票 已登录")
	mustNotContain(t, p.do("GET", target, p.alice, nil), "扫码登录成功")
	mustNotContain(t, p.do("GET", "/h5/tenants/acme/enterprises/"+p.bj+"?ok=qr", p.alice, nil), "扫码登录成功")
	// an unknown business is an inline error
	got = p.post(p.alice, base+"/login", base+"/qr", url.Values{"channel": {"both"}})
	if got.status != 400 {
		t.Fatalf("bad channel = %d", got.status)
	}
	mustContain(t, got, domain.ErrInvalidBusiness.Message)
}

// TestLoginButton: 登录 asks for a code (to the prompt page) and the card
// shows 登录/认证 only to those who may operate the account.
func TestLoginButton(t *testing.T) {
	p := newPromptFixture(t, true)
	ent := "/h5/tenants/acme/enterprises/" + p.bj
	loginLink := `href="` + ent + "/accounts/" + p.acct + `/login"`
	mustContain(t, p.do("GET", ent, p.alice, nil), loginLink, "/login?action=certify")
	mustNotContain(t, p.do("GET", ent, p.bob, nil), loginLink)
	// log the issue channel out, then log in from the page
	p.erpLogin()
	base := ent + "/accounts/" + p.acct + "/login"
	got := p.post(p.alice, base, base, url.Values{"channel": {"issue"}})
	if got.status != 303 || !strings.HasPrefix(got.loc, "/h5/prompt/acme/"+p.acct+"/") {
		t.Fatalf("login = %d %q", got.status, got.loc)
	}
	// the ERP's pending request and this login share one prompt (B1)
	last := p.pub().All()
	if n := countKind(last, prompts.KindSMSCode); n != 1 {
		t.Fatalf("sms prompts = %d, want 1", n)
	}
	got = p.post(p.alice, got.loc, got.loc, url.Values{"code": {p.sim.LastCode(p.phone)}})
	if got.status != 303 {
		t.Fatalf("code = %d %s", got.status, got.body)
	}
	mustContain(t, p.do("GET", ent, p.alice, nil), "开票 已登录")
	// logged in already: straight back with 登录成功
	got = p.post(p.alice, base, base, url.Values{"channel": {"issue"}})
	if got.status != 303 || got.loc != ent+"#a-"+p.acct {
		t.Fatalf("second login = %d %q", got.status, got.loc)
	}
	p.shownOnce(p.alice, got, "登录成功")
	if got := p.post(p.alice, base, base, url.Values{"channel": {"nope"}}); got.status != 400 {
		t.Fatalf("bad channel = %d", got.status)
	}
}

// TestLoginButtonAfterBureauDroppedSession: the card still says 开票 已登录
// after the bureau forgot the session, but 登录 asks the bureau and goes to
// the prompt page of a new login instead of a stale 登录成功; so does 认证.
func TestLoginButtonAfterBureauDroppedSession(t *testing.T) {
	p := newPromptFixture(t, true)
	ent := "/h5/tenants/acme/enterprises/" + p.bj
	p.sim.DropSessions()
	mustContain(t, p.do("GET", ent, p.alice, nil), "开票 已登录")
	base := ent + "/accounts/" + p.acct + "/login"
	got := p.post(p.alice, base, base, url.Values{"channel": {"issue"}})
	if got.status != 303 || !strings.HasPrefix(got.loc, "/h5/prompt/acme/"+p.acct+"/") {
		t.Fatalf("login = %d %q", got.status, got.loc)
	}
	got = p.post(p.alice, got.loc, got.loc, url.Values{"code": {p.sim.LastCode(p.phone)}})
	if got.status != 303 {
		t.Fatalf("code = %d %s", got.status, got.body)
	}
	if n := len(p.sim.Sessions()); n != 1 {
		t.Fatalf("live bureau sessions = %d, want 1", n)
	}
	// the same for 认证
	p.sim.DropSessions()
	got = p.post(p.alice, base+"?action=certify", base+"?action=certify", url.Values{"channel": {"issue"}, "action": {"certify"}})
	if got.status != 303 || !strings.HasPrefix(got.loc, "/h5/prompt/acme/"+p.acct+"/") {
		t.Fatalf("certify = %d %q %s", got.status, got.loc, got.body)
	}
}

func countKind(ps []prompts.Prompt, k prompts.Kind) int {
	n := 0
	for _, p := range ps {
		if p.Kind == k {
			n++
		}
	}
	return n
}

// TestAddByQRPage: 新增 → 扫码登录 shows the QR of the chosen app; the page's
// poll reports the scan and, once confirmed, the account is added.
func TestAddByQRPage(t *testing.T) {
	p := newPromptFixture(t, true)
	f := p.fixture
	f.addPerson("王五", "wangwu", "13900000008", "110101199003071250", domain.RoleInvoicer, p.bj)
	ent := "/h5/tenants/acme/enterprises/" + p.bj
	form := ent + "/add?business=issue"
	mustContain(t, p.do("GET", form, p.alice, nil), "扫码登录", "个人所得税APP")
	got := p.post(p.alice, form, ent+"/add", url.Values{"business": {"issue"}, "username": {"wangwu"}, "password": {"Pw@2026abc"},
		"login_type": {"manual"}, "via": {"qr"}, "app": {"iit"}})
	if got.status != 200 {
		t.Fatalf("add by QR = %d %s", got.status, got.body)
	}
	mustContain(t, got, "个人所得税APP扫码登录", "data:image/png;base64,")
	id := regexp.MustCompile(`data-qr-id="([^"]+)"`).FindStringSubmatch(got.body)
	poll := regexp.MustCompile(`data-poll="([^"]+)"`).FindStringSubmatch(got.body)
	done := regexp.MustCompile(`data-done="([^"]+)"`).FindStringSubmatch(got.body)
	if id == nil || poll == nil || done == nil {
		t.Fatalf("QR page lacks its data: %s", got.body)
	}
	state := func(cookie string) (int, string) {
		r := p.do("GET", poll[1], cookie, nil)
		var v struct{ State string }
		_ = json.Unmarshal([]byte(r.body), &v)
		return r.status, v.State
	}
	if _, s := state(p.alice); s != "waiting" {
		t.Fatalf("before the scan: %s", s)
	}
	if code, s := state(p.bob); code == 200 || s != "error" {
		t.Fatalf("bob polls alice's flow: %d %s", code, s)
	}
	if err := p.sim.ScanQRUnconfirmed(id[1], "wangwu"); err != nil {
		t.Fatal(err)
	}
	if _, s := state(p.alice); s != "scanned" {
		t.Fatalf("scanned, not confirmed: %s", s)
	}
	if err := p.sim.ScanQR(id[1], "wangwu"); err != nil {
		t.Fatal(err)
	}
	confirmed := p.do("GET", poll[1], p.alice, nil)
	if !strings.Contains(confirmed.body, `"confirmed"`) || confirmed.flash == nil || confirmed.flash.Value == "" {
		t.Fatalf("after the scan: %s, flash %+v", confirmed.body, confirmed.flash)
	}
	next := html.UnescapeString(done[1])
	if strings.Contains(next, "ok=") {
		t.Fatalf("the QR page goes on to %q: the notice would come back on every reload", next)
	}
	mustContain(t, p.withFlash(p.alice, next, confirmed.flash), "新增电子税局账号成功", "wangwu")
	mustNotContain(t, p.do("GET", next, p.alice, nil), "新增电子税局账号成功")
}
