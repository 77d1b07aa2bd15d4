package h5

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

var resendRE = regexp.MustCompile(`formaction="([^"]+/resend[^"]*)"`)

// TestResendOnCodePage: the code page of a flow shows 重新获取 with B3's
// countdown and the day's remaining codes; an early click is refused with
// the real wait, a later one sends a new code; only the flow's person may
// ask.
func TestResendOnCodePage(t *testing.T) {
	f := newFixture(t)
	clk := f.clk
	me := f.signin("o_demo_openid")
	f.post(me, "/h5/tenants", "/h5/tenants", url.Values{"code": {f.code}})
	bj := domain.MakeTaxNo("11", 5)
	if _, err := f.eng.AddEnterprise(context.Background(), "acme", bj, "北京阿克米商贸有限公司", ""); err != nil {
		t.Fatal(err)
	}
	const phone = "13800000012"
	f.person("王五", "wangwu", phone, "110101199003071234", bj, "11")
	page := "/h5/tenants/acme/enterprises/" + bj
	r := f.post(me, page+"/add?business=issue", page+"/add", url.Values{"business": {"issue"}, "username": {"wangwu"},
		"password": {"Pw@2026abc"}, "login_type": {"manual"}})
	if r.status != 200 {
		t.Fatalf("add = %d %s", r.status, r.body)
	}
	mustContain(t, r, "重新获取(180秒)", `data-wait="180"`, "今日剩余可发送19条")
	m, rm := flowRE.FindStringSubmatch(r.body), resendRE.FindStringSubmatch(r.body)
	if m == nil || rm == nil || rm[1] != m[1]+"/resend" {
		t.Fatalf("no code and resend forms:\n%s", r.body)
	}
	submit, resend := m[1], rm[1]
	form := func(v url.Values) url.Values {
		v.Set("_csrf", f.h.csrf(me))
		v.Set("phone", "138****0012")
		return v
	}

	// Too early: refused with the real wait, nothing sent, the countdown goes on.
	clk.Advance(45 * time.Second)
	r = f.do("POST", resend, me, form(url.Values{}))
	if r.status != 429 || r.header.Get("Retry-After") != "135" {
		t.Fatalf("early resend = %d %q %s", r.status, r.header.Get("Retry-After"), r.body)
	}
	mustContain(t, r, "请135秒后再试", "重新获取(135秒)", "今日剩余可发送19条", submit)
	if n := len(f.sim.SentCodes(phone)); n != 1 {
		t.Fatalf("codes sent = %d", n)
	}

	// Another user of the tenant, and a stranger, are refused.
	bob := f.signin("o_bob")
	f.post(bob, "/h5/tenants", "/h5/tenants", url.Values{"code": {f.code}})
	clk.Advance(135 * time.Second)
	r = f.do("POST", resend, bob, url.Values{"_csrf": {f.h.csrf(bob)}})
	if r.status != 403 {
		t.Fatalf("bob's resend = %d %s", r.status, r.body)
	}
	mustContain(t, r, domain.ErrNotPermitted.Message)
	eve := f.signin("o_eve")
	if r = f.do("POST", resend, eve, url.Values{"_csrf": {f.h.csrf(eve)}}); r.status != 403 {
		t.Fatalf("stranger's resend = %d %s", r.status, r.body)
	}
	if r = f.do("POST", resend, me, url.Values{"phone": {"138****0012"}}); r.status != 403 {
		t.Fatalf("resend without CSRF = %d", r.status)
	}
	if n := len(f.sim.SentCodes(phone)); n != 1 {
		t.Fatalf("codes sent after refusals = %d", n)
	}

	// After the interval: a new code, one less today, the countdown anew.
	first := f.sim.SentCodes(phone)[0]
	r = f.do("POST", resend, me, form(url.Values{}))
	if r.status != 200 {
		t.Fatalf("resend = %d %s", r.status, r.body)
	}
	mustContain(t, r, "验证码已重新发送至手机 138****0012", "重新获取(180秒)", "今日剩余可发送18条", submit)
	sent := f.sim.SentCodes(phone)
	if len(sent) != 2 || sent[0].ChallengeID == first.ChallengeID {
		t.Fatalf("outbox = %+v", sent)
	}
	r = f.do("POST", submit, me, form(url.Values{"code": {sent[0].Code}}))
	if r.status != 303 || !strings.HasPrefix(r.loc, page+"#a-") {
		t.Fatalf("new code = %d %q %s", r.status, r.loc, r.body)
	}
	if strings.Contains(f.do("GET", page, me, nil).body, "/resend") {
		t.Fatal("resend offered after the flow ended")
	}
}

// TestResendOnPromptPage: a login prompt's page offers 重新获取 with the
// day's remaining codes; a click sends a new code that answers the prompt.
func TestResendOnPromptPage(t *testing.T) {
	p := newPromptFixture(t, true)
	sr := p.erpLogin()
	page := p.promptPath(sr.Prompt.ID)
	r := p.do("GET", page, p.alice, nil)
	mustContain(t, r, `formaction="`+page+`/resend"`, "重新获取", "今日剩余可发送18条")
	mustNotContain(t, r, "验证码将自动获取", `data-wait="`)
	before := len(p.sim.SentCodes(p.phone))
	r = p.post(p.alice, page, page+"/resend", nil)
	if r.status != 303 || r.loc != page {
		t.Fatalf("resend = %d %q %s", r.status, r.loc, r.body)
	}
	sent := p.sim.SentCodes(p.phone)
	if len(sent) != before+1 {
		t.Fatalf("codes sent = %d, want %d", len(sent), before+1)
	}
	mustContain(t, p.do("GET", page, p.alice, nil), "今日剩余可发送17条")
	r = p.post(p.alice, page, page, url.Values{"code": {sent[0].Code}})
	if r.status != 303 {
		t.Fatalf("new code = %d %s", r.status, r.body)
	}
	mustNotContain(t, p.do("GET", page, p.alice, nil), "/resend")
}

// TestPromptPageHosted: a hosted account's code prompt says the code is
// fetched automatically and offers neither 重新获取 nor the code field.
func TestPromptPageHosted(t *testing.T) {
	f := newFixture(t)
	for _, lt := range []domain.LoginType{domain.LoginHuameng, domain.LoginQixiangyun} {
		st := &actors.PromptStatus{ID: "p1", State: actors.PromptPending, Kind: actors.KindSMSCode,
			Account: actors.AccountView{TaxNo: f.gd, Username: "lisi", LoginType: lt, SMSRemaining: 5}}
		var buf strings.Builder
		data := map[string]any{"Title": "短信验证码登录", "P": promptView{PromptStatus: st, What: "短信验证码登录"},
			"Resend": f.h.promptResend(st, promptRef{page: "/h5/prompt/acme/a1/p1"})}
		if err := f.h.pages["prompt"].Execute(&buf, data); err != nil {
			t.Fatal(err)
		}
		r := resp{body: buf.String()}
		mustContain(t, r, "验证码将自动获取，无需手动输入")
		mustNotContain(t, r, `id="resend"`, "/resend", `name="code"`, "今日剩余可发送")
	}
	// A manual account's prompt, for contrast, has the button.
	st := &actors.PromptStatus{ID: "p1", State: actors.PromptPending, Kind: actors.KindSMSCode,
		Account: actors.AccountView{LoginType: domain.LoginManual, SMSRemaining: 5}}
	if v := f.h.promptResend(st, promptRef{page: "/h5/prompt/acme/a1/p1"}); v == nil || v.Hosted || v.Action != "/h5/prompt/acme/a1/p1/resend" {
		t.Fatalf("manual = %+v", v)
	}
}
