package h5

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

// The manual's structure of the account pages: 账号卡片 → 更多 → 编辑 / 删除 /
// 更换微信; the 编辑 page holds 绑定微信收登录通知, 解绑, 设置默认账号 and 修改密码;
// 登录 and 认证 stay below the card.

// moreMenu is the 更多 menu of the card with the id, "" when it has none.
func moreMenu(body, id string) string {
	_, card, ok := strings.Cut(body, `id="a-`+id+`"`)
	if !ok {
		return ""
	}
	card, _, _ = strings.Cut(card, "</section>")
	_, menu, ok := strings.Cut(card, "<summary")
	if !ok {
		return ""
	}
	menu, _, _ = strings.Cut(menu, "</details>")
	return menu
}

// TestAccountCardMore: the card names the login type, keeps 登录 and 认证, and
// puts 编辑 and 删除 (or 更换微信 for someone else's account) behind 更多.
func TestAccountCardMore(t *testing.T) {
	p := newPromptFixture(t, false)
	ent := "/h5/tenants/acme/enterprises/" + p.bj
	acct := ent + "/accounts/" + p.acct
	r := p.do("GET", ent, p.alice, nil)
	mustContain(t, r, "登录类型", "人工登录", `href="`+acct+`/login"`, `href="`+acct+`/login?action=certify"`)
	menu := moreMenu(r.body, p.acct)
	if !strings.Contains(menu, "更多") || !strings.Contains(menu, `href="`+acct+`/edit"`) || !strings.Contains(menu, `href="`+acct+`/delete"`) {
		t.Fatalf("the card's 更多 menu is %q", menu)
	}
	// Flat on the card, outside 更多: none of the 编辑 page's buttons.
	_, card, _ := strings.Cut(r.body, `id="a-`+p.acct+`"`)
	card, _, _ = strings.Cut(card, "</section>")
	for _, flat := range []string{"/bind\"", "/unbind\"", "/default\"", "/password\""} {
		if strings.Contains(card, flat) {
			t.Fatalf("the card itself links %s:\n%s", flat, card)
		}
	}

	// 编辑: the four buttons of the manual; 解绑 once bound.
	r = p.do("GET", acct+"/edit", p.alice, nil)
	if r.status != 200 {
		t.Fatalf("edit = %d %s", r.status, r.body)
	}
	mustContain(t, r, "<h1>编辑</h1>", "lisi", "绑定微信收登录通知", acct+"/bind", acct+"/default", acct+"/password", "设置默认账号", "修改密码")
	mustNotContain(t, r, acct+"/unbind")
	if got := p.post(p.alice, acct+"/edit", acct+"/bind", nil); got.status != 303 {
		t.Fatalf("bind from 编辑 = %d", got.status)
	}
	r = p.do("GET", acct+"/edit", p.alice, nil)
	mustContain(t, r, acct+"/unbind", "解绑", "已绑定")
	mustNotContain(t, r, acct+"/bind\"")

	// Bob sees alice's bound account: 更多 holds 更换微信 only; no 编辑 page.
	r = p.do("GET", ent, p.bob, nil)
	menu = moreMenu(r.body, p.acct)
	if !strings.Contains(menu, acct+"/rebind") || strings.Contains(menu, "/edit") || strings.Contains(menu, "/delete") {
		t.Fatalf("bob's 更多 menu is %q", menu)
	}
	mustNotContain(t, r, acct+"/login\"")
	if got := p.do("GET", acct+"/edit", p.bob, nil); got.status != 403 {
		t.Fatalf("bob's 编辑 = %d", got.status)
	}
}

// TestHostedAccountCard: a 华盟托管号码 account says so on its card.
func TestHostedAccountCard(t *testing.T) {
	p := newPromptFixture(t, false)
	gd := "/h5/tenants/acme/enterprises/" + p.gd
	p.addPerson("王托管", "wangtg", "13900000017", "110101199003071250", domain.RoleInvoicer, p.gd)
	r := p.post(p.alice, gd+"/add?business=issue", gd+"/add", url.Values{"business": {"issue"}, "username": {"wangtg"},
		"password": {"Pw@2026abc"}, "login_type": {"huameng"}})
	if r.status != 303 {
		t.Fatalf("add hosted = %d %s", r.status, r.body)
	}
	r = p.do("GET", gd, p.alice, nil)
	id := accountID(t, r.body, "wangtg")
	_, card, _ := strings.Cut(r.body, `id="a-`+id+`"`)
	card, _, _ = strings.Cut(card, "</section>")
	if !strings.Contains(card, "华盟托管号码") {
		t.Fatalf("the hosted card does not name its login type:\n%s", card)
	}
}

// TestUnbindEnterprise: 个人中心 → 解绑企业 lists the user's bound accounts of
// the enterprise with the manual's warning; 确认解绑 unbinds them all.
func TestUnbindEnterprise(t *testing.T) {
	p := newPromptFixture(t, true)
	ctx := context.Background()
	p.addPerson("赵六", "zhaoliu", "13900000018", "110101199003071269", domain.RoleInvoicer, p.bj)
	second := p.addAccount("o_alice", p.bj, "zhaoliu", "13900000018")
	if err := p.eng.Bind(ctx, "acme", second, "o_alice"); err != nil {
		t.Fatal(err)
	}
	unbind := "/h5/tenants/acme/enterprises/" + p.bj + "/unbind"
	mustContain(t, p.do("GET", "/h5/", p.alice, nil), `href="`+unbind+`"`, "解绑企业")

	r := p.do("GET", unbind, p.alice, nil)
	if r.status != 200 {
		t.Fatalf("unbind page = %d %s", r.status, r.body)
	}
	mustContain(t, r, "<h1>解绑企业</h1>", "北京阿克米商贸有限公司", "lisi", "zhaoliu", "解绑后将无法通过微信登录电子发票服务平台", "确认解绑", "取消")
	// Bob has nothing bound there: nothing to unbind, no button.
	r = p.do("GET", unbind, p.bob, nil)
	mustContain(t, r, "没有绑定您微信的账号")
	mustNotContain(t, r, "确认解绑", "lisi")

	r = p.post(p.alice, unbind, unbind, nil)
	if r.status != 303 || !strings.HasPrefix(r.loc, "/h5/#e-") || strings.Contains(r.loc, "?ok=") {
		t.Fatalf("unbind = %d %q %s", r.status, r.loc, r.body)
	}
	p.shownOnce(p.alice, r, "已解绑该企业下绑定您微信的账号")
	list, err := p.eng.Accounts(ctx, "acme", p.bj, "o_alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Bound {
			t.Fatalf("%s still bound after 解绑企业", a.Username)
		}
	}
	if got := p.do("POST", unbind, p.alice, url.Values{}); got.status != 403 {
		t.Fatalf("unbind without CSRF = %d", got.status)
	}
}

// TestQRAppSwitch: the QR page opens with 税务APP and switches to 个人所得税APP
// and back (manual §扫码登录 ②).
func TestQRAppSwitch(t *testing.T) {
	p := newPromptFixture(t, true)
	acct := "/h5/tenants/acme/enterprises/" + p.bj + "/accounts/" + p.acct
	r := p.do("GET", acct+"/login", p.alice, nil)
	mustContain(t, r, "扫码登录")
	r = p.post(p.alice, acct+"/login", acct+"/qr", url.Values{"channel": {"issue"}})
	mustContain(t, r, "<h2>税务APP扫码登录</h2>", "开票业务")
	sw := regexp.MustCompile(`<input type="hidden" name="app" value="iit"><button[^>]*>个人所得税APP</button>`)
	if !sw.MatchString(r.body) || !strings.Contains(r.body, `name="channel" value="issue"`) {
		t.Fatalf("no switch to 个人所得税APP:\n%s", r.body)
	}
	r = p.post(p.alice, acct+"/login", acct+"/qr", url.Values{"channel": {"issue"}, "app": {"iit"}})
	mustContain(t, r, "<h2>个人所得税APP扫码登录</h2>", `name="app" value="tax"`)
}

// TestFacePromptWording: the face prompt page is titled 人脸认证 and names the
// business as the other pages do (收票业务, not 收票).
func TestFacePromptWording(t *testing.T) {
	p := newPromptFixture(t, true)
	ctx := context.Background()
	p.addPerson("钱收票", "qianst", "13900000019", "110101199003071277", domain.RoleInvoicer, p.bj)
	fr, err := p.eng.AddAccount(ctx, "acme", actors.AddAccount{OpenID: "o_alice", TaxNo: p.bj, Business: "receive",
		Username: "qianst", Password: domain.NewSecret("Pw@2026abc"), LoginType: "manual"})
	if err == nil {
		fr, err = p.eng.SubmitFlowCode(ctx, "acme", fr.FlowID, "o_alice", p.sim.LastCode("13900000019"))
	}
	if err != nil {
		t.Fatal(err)
	}
	acct := "/h5/tenants/acme/enterprises/" + p.bj + "/accounts/" + fr.AccountID + "/login"
	r := p.post(p.alice, acct+"?action=certify", acct, url.Values{"channel": {"receive"}, "action": {"certify"}})
	if r.status != 303 {
		t.Fatalf("certify = %d %s", r.status, r.body)
	}
	r = p.do("GET", r.loc, p.alice, nil)
	mustContain(t, r, "<h1>人脸认证</h1>", "<span>收票业务</span>")
	mustNotContain(t, r, "<h1>登录通知</h1>", "<span>收票</span>")
}
