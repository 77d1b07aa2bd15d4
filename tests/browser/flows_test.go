package browser

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/testutil"
)

// flows are the manual's walks, each a subtest of TestBrowser. A flow gets
// the running suite, signs its own WeChat users in and prepares what it
// needs (an enterprise through the ops API, persons at the simulator), so it
// runs alone as well as after the others. Add a flow here.
var flows = []struct {
	name string
	run  func(t *testing.T, s *suite)
}{
	{"link-tenant", flowLinkTenant},
	{"add-accounts", flowAddAccounts},
	{"bind", flowBind},
	{"unlink-tenant", flowUnlinkTenant},
	{"defaults", flowDefaults},
	{"admin-delete", flowAdminDelete},
	{"rebind", flowRebind},
	{"password", flowPassword},
	{"password-hosted", flowPasswordHosted},
	{"lock-unlock", flowLockUnlock},
	{"erp-prompt-qr", flowERPPrompt},
	{"unbind-enterprise", flowUnbindEnterprise},
	{"long-username", flowLongUsername},
}

// TestBrowser starts Chromium and etaxd once and walks every flow.
func TestBrowser(t *testing.T) {
	browser := startBrowser(t) // first: without Chromium nothing else is worth starting
	s := &suite{stack: startStack(t), browser: browser, shots: screenshotDir(t)}
	t.Logf("etaxd on %s; screenshots in %s", s.base, s.shots)
	for _, f := range flows {
		t.Run(f.name, func(t *testing.T) { f.run(t, s) })
	}
}

// Steps several flows share.

// signIn opens a tab for a new WeChat user (who: a word for the openid) and
// signs in on the dev page: the personal center redirects there first.
func (s *suite) signIn(t *testing.T, label, who string) *tab {
	t.Helper()
	openid := fmt.Sprintf("o_%s_%03d", who, s.next())
	tb := s.newTab(t, label, openid)
	tb.status(tb.open("/h5/", "signin"), http.StatusOK, "GET /h5/ without a cookie (redirected to the sign-in)")
	tb.on("开发登录")
	tb.see("开发模式：可以选择任意openid登录", "微信openid")
	if v := tb.value("openid"); v != s.demo.OpenID {
		tb.fatalf("the sign-in proposes %q, want the demo user %q", v, s.demo.OpenID)
	}
	tb.fill("openid", openid)
	tb.status(tb.click("登录", "center"), http.StatusOK, "dev sign-in")
	tb.on("个人中心")
	return tb
}

// linkTenant links the demo tenant as the manual says: 个人中心 → 编辑 →
// 激活码 → 确认, and back to 个人中心.
func (tb *tab) linkTenant() {
	tb.t.Helper()
	tb.click("编辑", "tenants")
	tb.on("编辑")
	tb.fill("code", tb.s.demo.ActivationCode)
	tb.status(tb.click("确认", "tenant-linked"), http.StatusOK, "link the tenant")
	tb.seeIn("关联租户", tb.s.demo.TenantName)
	tb.back("center-linked")
	tb.on("个人中心")
	tb.seeIn(tb.s.demo.TenantName, tb.s.demo.TenantID)
}

// openAccounts goes from 个人中心 to the enterprise's 电子税局账号管理.
func (tb *tab) openAccounts(e enterprise) {
	tb.t.Helper()
	tb.clickIn(e.Name, "电子税局账号管理", "accounts")
	tb.on("电子税局账号管理")
	tb.seeIn(e.Name, "税号："+e.TaxNo, tb.s.demo.TenantName)
}

// toCenter goes back from an enterprise's page to 个人中心.
func (tb *tab) toCenter() {
	tb.t.Helper()
	tb.back("center")
	tb.on("个人中心")
}

// newAccount is what a person types into the 新增 form.
type newAccount struct {
	p         person
	business  string // the button: 开票业务, 收票业务 or 开票+收票
	role      string // the 身份 option; "" leaves 不指定
	loginType string // the radio button; "" leaves 人工登录
}

// addAccount adds an account from the enterprise's 电子税局账号管理: 新增 →
// business → form → 登录 → (北京, 人工登录) the SMS code → the list.
func (tb *tab) addAccount(e enterprise, a newAccount) {
	tb.t.Helper()
	tb.click("新增", "add-business")
	tb.on("新增账号")
	tb.see("请选择账号的业务：")
	tb.click(a.business, "add-form")
	tb.on("新增账号")
	tb.seeIn("新增账号", strings.TrimSuffix(a.business, "业务"))
	if v := tb.value("region"); v != regionNames[e.Region] {
		tb.fatalf("地区 reads %q, want %q", v, regionNames[e.Region])
	}
	if v := tb.value("tax_no"); v != e.TaxNo {
		tb.fatalf("税号 reads %q, want %q", v, e.TaxNo)
	}
	if c := tb.chosen(); c != "人工登录" {
		tb.fatalf("登录类型 defaults to %q, want 人工登录", c)
	}
	if a.role != "" {
		tb.pick("role", a.role)
	}
	tb.fill("username", a.p.Username)
	tb.fill("password", a.p.Password)
	if a.loginType != "" {
		tb.choose(a.loginType)
	}
	st := tb.click("登录", "add-after-login")
	if e.Region == "11" && (a.loginType == "" || a.loginType == "人工登录") {
		tb.status(st, http.StatusOK, "add form")
		tb.on("验证码登录")
		tb.see("验证码已发送至手机 " + masked(a.p.Phone))
		st = tb.enterCode(a.p.Phone, "login", "登录", "add-code-entered")
	}
	tb.status(st, http.StatusOK, "add account")
	tb.on("电子税局账号管理")
	tb.seeNotice("新增电子税局账号成功")
	tb.seeIn(a.p.Username, "未绑定")
}

// enterCode types the newest code the simulator sent to phone and taps
// button.
func (tb *tab) enterCode(phone, purpose, button, slug string) int64 {
	tb.t.Helper()
	tb.fill("code", tb.s.lastCode(tb.t, phone, purpose))
	return tb.click(button, slug)
}

// edit goes from the account card of username to its 编辑 page, as the
// manual says: 更多 → 编辑.
func (tb *tab) edit(username, slug string) {
	tb.t.Helper()
	tb.more(username, slug+"-more")
	tb.status(tb.clickIn(username, "编辑", slug), http.StatusOK, "编辑 page")
	tb.on("编辑")
	tb.seeIn(username, "登录类型")
}

// accountID is the id of the account card of username.
func (tb *tab) accountID(username string) string {
	tb.t.Helper()
	q, _ := json.Marshal(cardXPath(username))
	id, err := evaluate[string](tb, `(x => { const n = document.evaluate(x, document, null, XPathResult.FIRST_ORDERED_NODE_TYPE, null).singleNodeValue; return n ? n.id : "" })(`+string(q)+`)`)
	if err != nil || !strings.HasPrefix(id, "a-") {
		tb.fatalf("no account card of %s (%q, %v)", username, id, err)
	}
	return strings.TrimPrefix(id, "a-")
}

// Flow 1: sign in, link the tenant with its activation code, see it and its
// enterprises in 个人中心.
func flowLinkTenant(t *testing.T, s *suite) {
	me := s.signIn(t, "", "link")
	me.see("您尚未关联租户", "新增租户")

	me.click("编辑", "tenants-empty")
	me.on("编辑")
	me.seeIn("关联租户", "暂无关联租户")
	me.seeIn("新增", "激活码")

	// A mistyped code: the manual's sentence inline, the code kept.
	me.fill("code", "WRONG-CODE-42")
	me.status(me.click("确认", "tenants-wrong-code"), http.StatusBadRequest, "wrong activation code")
	me.seeAlert(domain.ErrActivationCode.Message)
	if v := me.value("code"); v != "WRONG-CODE-42" {
		me.fatalf("the mistyped code is not kept: %q", v)
	}

	me.fill("code", s.demo.ActivationCode)
	me.status(me.click("确认", "tenants-linked"), http.StatusOK, "link the tenant")
	me.seeIn("关联租户", s.demo.TenantName, s.demo.TenantID)
	me.offers("关联租户", "解绑")
	me.notSee("暂无关联租户", domain.ErrActivationCode.Message)

	me.back("center-linked")
	me.on("个人中心")
	me.notSee("您尚未关联租户")
	me.seeIn(s.demo.TenantName, s.demo.TenantID)
	for _, e := range s.demo.Enterprises {
		me.seeIn(e.Name, "税号："+e.TaxNo, "电子税局账号", " 个", "数电配置管理员")
		me.offers(e.Name, "电子税局账号管理", "申请绑定")
	}

	// The demo's 北京 enterprise: the demo user's bound accounts are theirs
	// alone; an unbound one is anyone's.
	var bj enterprise
	for _, e := range s.demo.Enterprises {
		if e.Region == "11" {
			bj = enterprise{TaxNo: e.TaxNo, Name: e.Name, Region: e.Region}
		}
	}
	me.openAccounts(bj)
	me.seeIn("zhangfaren", "法定代表人", "已绑定")
	me.notSeeIn("zhangfaren", "绑定给我", "未绑定")
	me.more("zhangfaren", "more-bound-elsewhere")
	me.offers("zhangfaren", "更换微信")
	me.notOffers("zhangfaren", "编辑", "解绑", "删除", "设置默认账号", "修改密码", "绑定微信收登录通知", "登录", "认证")
	me.seeIn("wangbanshui", "办税员", "未绑定", "登录类型")
	me.more("wangbanshui", "more-unbound")
	me.offers("wangbanshui", "编辑", "删除", "登录", "认证")
	me.notOffers("wangbanshui", "更换微信", "绑定微信收登录通知", "设置默认账号")
	me.edit("wangbanshui", "edit-unbound")
	me.offers("wangbanshui", "绑定微信收登录通知", "设置默认账号", "修改密码")
	me.notOffers("wangbanshui", "解绑")
	me.back("accounts-demo")
	me.seeIn("zhaohuameng", "开票员")
}

// Flow 2: 新增 a manual account (北京: the SMS code page, a wrong code
// first) and a hosted one (华盟托管号码: no code to type).
func flowAddAccounts(t *testing.T, s *suite) {
	bj := s.newEnterprise(t, "11", "新增")
	clerk := s.newPerson(t, "陈会计", "chenkj", "09", bj)
	hosted := s.newPerson(t, "华盟托管", "hmtg", "09", bj)
	stranger := s.newPerson(t, "路人甲", "lurenjia", "09", s.newEnterprise(t, "44", "无关"))

	me := s.signIn(t, "", "add")
	me.linkTenant()
	me.seeIn(bj.Name, "0 个")
	me.openAccounts(bj)
	me.see("该企业下暂无电子税局账号")

	me.click("新增", "business-choice")
	me.on("新增账号")
	me.see("请选择账号的业务：", "开票业务", "收票业务", "开票+收票")
	me.click("开票+收票", "form")
	me.seeIn("新增账号", "开票+收票", "地区", "税号", "身份（选填）", "电子税局账号", "密码", "登录类型",
		"人工登录", "华盟托管号码", "企享云办税小号", "发票云登录App", "已下架")
	if off, err := evaluate[bool](me, `document.querySelector("input[value=fapiaoyun_app]").disabled`); err != nil || !off {
		me.fatalf("发票云登录App can be chosen (%v)", err)
	}

	// A person without a relation to the enterprise: the manual's FAQ
	// sentence, the username kept, the password not.
	me.pick("role", "开票员")
	me.fill("username", stranger.Username)
	me.fill("password", stranger.Password)
	me.status(me.click("登录", "no-relation"), http.StatusBadRequest, "no relation")
	me.seeAlert("未查询到您与该企业的关联关系信息，请确认录入的信息是否正确！")
	if u, p := me.value("username"), me.value("password"); u != stranger.Username || p != "" {
		me.fatalf("after the refusal the form holds %q / %q, want the username and no password", u, p)
	}

	// The clerk: 登录 → the code page.
	me.fill("username", clerk.Username)
	me.fill("password", clerk.Password)
	me.status(me.click("登录", "code-page"), http.StatusOK, "add form")
	me.on("验证码登录")
	me.see("验证码已发送至手机 "+masked(clerk.Phone), "请输入收到的6位验证码")
	code := s.lastCode(t, clerk.Phone, "login")
	me.fill("code", wrongCode(code))
	me.status(me.click("登录", "code-wrong"), http.StatusBadRequest, "wrong code")
	me.on("验证码登录")
	me.seeAlert(domain.ErrWrongCode.Message)
	me.see(masked(clerk.Phone))
	me.fill("code", code)
	me.status(me.click("登录", "added"), http.StatusOK, "right code")
	me.on("电子税局账号管理")
	me.seeNotice("新增电子税局账号成功")
	me.notSee("该企业下暂无电子税局账号")
	// The add logs the 开票 channel in; 收票 logs in when first needed.
	me.seeIn(clerk.Username, "开票员", "开票+收票", masked(clerk.Phone), "未绑定", "开票 已登录", "收票 ", "登录类型", "人工登录")
	// 登录 and 认证 below the card as the manual names them (主动登录和认证);
	// the rest behind 更多 (编辑, 删除) and on the 编辑 page.
	me.offers(clerk.Username, "登录", "认证")
	me.notOffers(clerk.Username, "编辑", "删除", "绑定微信收登录通知", "修改密码", "设置默认账号", "解锁")
	me.more(clerk.Username, "more")
	me.offers(clerk.Username, "编辑", "删除")
	me.notOffers(clerk.Username, "解绑", "解锁", "更换微信", "绑定微信收登录通知")

	// A hosted number: the code is read automatically, no code page.
	me.addAccount(bj, newAccount{p: hosted, business: "开票业务", loginType: "华盟托管号码"})
	me.seeIn(hosted.Username, "开票", "开票 已登录", "华盟托管号码")
	me.notSeeIn(hosted.Username, "收票")
	me.seeIn(clerk.Username, "开票+收票")

	// The manual: 已有的账号无需重复添加.
	me.click("新增", "business-choice-again")
	me.click("开票业务", "form-again")
	me.fill("username", clerk.Username)
	me.fill("password", clerk.Password)
	me.status(me.click("登录", "already-added"), http.StatusBadRequest, "add the same account again")
	me.seeAlert(domain.ErrAccountExists.Message)
	me.back("accounts-again")

	me.toCenter()
	me.seeIn(bj.Name, "2 个")
}

// Flow 3: 绑定微信收登录通知, 解绑 (asked first: 取消 keeps it), bind again.
func flowBind(t *testing.T, s *suite) {
	gd := s.newEnterprise(t, "44", "绑定")
	p := s.newPerson(t, "林出纳", "linkj", "09", gd)
	me := s.signIn(t, "", "bind")
	me.linkTenant()
	me.openAccounts(gd)
	me.addAccount(gd, newAccount{p: p, business: "开票+收票", role: "开票员"})
	me.seeIn(p.Username, "未绑定")
	me.edit(p.Username, "edit")
	me.offers(p.Username, "绑定微信收登录通知")
	me.notOffers(p.Username, "解绑", "更换微信")

	me.status(me.clickIn(p.Username, "绑定微信收登录通知", "bound"), http.StatusOK, "bind")
	me.on("电子税局账号管理")
	me.seeIn(p.Username, "已绑定（绑定给我）")
	me.notSeeIn(p.Username, "未绑定")
	me.more(p.Username, "more-bound")
	me.offers(p.Username, "编辑", "删除")
	me.notOffers(p.Username, "更换微信")
	me.edit(p.Username, "edit-bound")
	me.offers(p.Username, "解绑", "设置默认账号", "修改密码")
	me.notOffers(p.Username, "绑定微信收登录通知", "更换微信")

	// 解绑 asks first; 取消 keeps the binding.
	me.dismiss.Store(true)
	me.clickStay(p.Username, "解绑")
	me.waitDialogs(1)
	if d := me.lastDialog(); d != "确认解绑该账号的微信？解绑后将不再收到登录通知。" {
		me.fatalf("解绑 asks %q", d)
	}
	me.seeIn(p.Username, "已绑定（绑定给我）")
	me.shot("unbind-cancelled")

	// 确定: unbound.
	me.status(me.clickIn(p.Username, "解绑", "unbound"), http.StatusOK, "unbind")
	if n := me.dialogCount(); n != 2 {
		me.fatalf("%d confirm dialogs, want 2", n)
	}
	me.seeIn(p.Username, "未绑定")
	me.notSeeIn(p.Username, "已绑定")
	me.edit(p.Username, "edit-unbound")
	me.offers(p.Username, "绑定微信收登录通知")
	me.notOffers(p.Username, "解绑")

	me.status(me.clickIn(p.Username, "绑定微信收登录通知", "bound-again"), http.StatusOK, "bind again")
	me.seeIn(p.Username, "已绑定（绑定给我）")
}

// Flow: 删除关联租户 (编辑 → 解绑): the confirmation lists the bound
// accounts, which are unbound with the tenant (F2); 新增租户 links it again.
func flowUnlinkTenant(t *testing.T, s *suite) {
	gd := s.newEnterprise(t, "44", "解绑")
	p := s.newPerson(t, "何出纳", "hecn", "09", gd)
	me := s.signIn(t, "", "unlink")
	me.linkTenant()
	me.openAccounts(gd)
	me.addAccount(gd, newAccount{p: p, business: "开票+收票", role: "开票员"})
	me.edit(p.Username, "edit")
	me.clickIn(p.Username, "绑定微信收登录通知", "bound")
	me.seeIn(p.Username, "已绑定（绑定给我）")

	me.toCenter()
	me.click("编辑", "tenants")
	me.status(me.clickIn("关联租户", "解绑", "unlink-confirm"), http.StatusOK, "unlink page")
	me.on("解绑租户")
	me.seeIn("确认解绑租户「"+s.demo.TenantName+"」？", "解绑后，您绑定的以下电子税局账号将同时解除微信绑定，不再收到登录通知",
		p.Username, gd.Name, gd.TaxNo, "开票员")
	me.click("取消", "unlink-cancelled")
	me.on("编辑")
	me.seeIn("关联租户", s.demo.TenantName)

	me.clickIn("关联租户", "解绑", "unlink-confirm-2")
	me.status(me.click("确认解绑", "unlinked"), http.StatusOK, "unlink")
	me.on("个人中心")
	me.see("您尚未关联租户")
	me.notSee(s.demo.TenantName, gd.Name)

	// 新增租户 from the empty 个人中心: the account is no longer bound.
	me.click("新增租户", "tenants-add")
	me.on("编辑")
	if f, err := evaluate[bool](me, `document.activeElement === document.getElementById("code")`); err != nil || !f {
		me.fatalf("新增租户 does not put the cursor in 激活码 (%v)", err)
	}
	me.fill("code", s.demo.ActivationCode)
	me.status(me.click("确认", "relinked"), http.StatusOK, "link again")
	me.toCenter()
	me.openAccounts(gd)
	me.seeIn(p.Username, "未绑定")
	me.edit(p.Username, "edit-relinked")
	me.offers(p.Username, "绑定微信收登录通知")
}

// Flow 4: 设置默认账号 with the manual's two refusals.
func flowDefaults(t *testing.T, s *suite) {
	gd := s.newEnterprise(t, "44", "默认")
	both := s.newPerson(t, "周开票", "zhoukp", "09", gd)
	recv := s.newPerson(t, "吴办税", "wubs", "03", gd) // 办税员: may receive only
	me := s.signIn(t, "", "defaults")
	me.linkTenant()
	me.openAccounts(gd)
	me.addAccount(gd, newAccount{p: both, business: "开票+收票", role: "开票员"})

	me.edit(both.Username, "edit-default-form")
	me.status(me.clickIn(both.Username, "设置默认账号", "default-form"), http.StatusOK, "default page")
	me.on("设置默认账号")
	const warning = "没有开票（收票）权限的账号，无法设置为开票（收票）默认账号！若只有一个账号，只能设置为“开票+收票”默认账号。"
	me.see(warning)
	if c, err := evaluate[string](me, `getComputedStyle(document.querySelector(".warnred")).color`); err != nil || c != "rgb(223, 42, 63)" {
		me.fatalf("the warning is not the manual's red #DF2A3F: %q (%v)", c, err)
	}
	me.seeIn("设置默认账号", both.Username, "开票", "收票", "开票+收票")

	// A single account: only 开票+收票.
	me.choose("开票")
	me.status(me.click("确定", "default-single-refused"), http.StatusBadRequest, "single account as 开票 default")
	me.seeAlert(domain.ErrDefaultSingleBoth.Message)
	if c := me.chosen(); c != "开票" {
		me.fatalf("the refused choice is not kept: %q", c)
	}
	me.choose("开票+收票")
	me.status(me.click("确定", "default-both"), http.StatusOK, "开票+收票 default")
	me.on("电子税局账号管理")
	me.seeNotice("设置默认账号成功")
	me.seeIn(both.Username, "默认账号：开票+收票")

	// A receive-only account cannot be the 开票 default, nor 开票+收票.
	me.addAccount(gd, newAccount{p: recv, business: "收票业务", role: "办税员"})
	me.seeIn(recv.Username, "办税员", "收票 已登录")
	me.edit(recv.Username, "edit-default-form-2")
	me.clickIn(recv.Username, "设置默认账号", "default-form-2")
	me.choose("开票")
	me.status(me.click("确定", "default-no-issue"), http.StatusBadRequest, "receive-only as 开票 default")
	me.seeAlert(domain.ErrDefaultNoIssue.Message)
	me.choose("开票+收票")
	me.status(me.click("确定", "default-no-issue-both"), http.StatusBadRequest, "receive-only as 开票+收票 default")
	me.seeAlert(domain.ErrDefaultNoIssue.Message)
	me.choose("收票")
	me.status(me.click("确定", "default-receive"), http.StatusOK, "收票 default")
	me.seeNotice("设置默认账号成功")
	me.seeIn(recv.Username, "默认账号：收票")
	// The 收票 flag moved: the first account stays the 开票 default.
	me.seeIn(both.Username, "默认账号：开票")
	me.notSeeIn(both.Username, "默认账号：开票+收票")

	// 取消 leaves things as they are.
	me.edit(both.Username, "edit-default-form-3")
	me.clickIn(both.Username, "设置默认账号", "default-form-3")
	me.see("当前默认：开票")
	me.click("取消", "default-cancelled")
	me.on("电子税局账号管理")
	me.seeIn(both.Username, "默认账号：开票")
}

// Flow 5: a second user sees no 删除 on the first user's bound account,
// becomes 数电配置管理员 (申请绑定, a 办税员 refused, the 法定代表人 accepted)
// and deletes it; then steps down.
func flowAdminDelete(t *testing.T, s *suite) {
	bj := s.newEnterprise(t, "11", "管理员")
	clerk := s.newPerson(t, "郑开票", "zhengkp", "09", bj)
	boss := s.newPerson(t, "冯法人", "fengfr", "01", bj)
	taxClerk := s.newPerson(t, "褚办税", "chubs", "03", bj)

	a := s.signIn(t, "a", "owner")
	a.linkTenant()
	a.openAccounts(bj)
	a.addAccount(bj, newAccount{p: clerk, business: "开票+收票", role: "开票员"})
	a.edit(clerk.Username, "edit")
	a.clickIn(clerk.Username, "绑定微信收登录通知", "bound")
	a.seeIn(clerk.Username, "已绑定（绑定给我）")

	b := s.signIn(t, "b", "boss")
	b.linkTenant()
	b.seeIn(bj.Name, "数电配置管理员", "未设置")
	b.offers(bj.Name, "申请绑定")
	b.openAccounts(bj)
	b.seeIn(bj.Name, "数电配置管理员", "否")
	b.seeIn(clerk.Username, "已绑定")
	b.notSeeIn(clerk.Username, "绑定给我")
	b.more(clerk.Username, "more-not-mine")
	b.offers(clerk.Username, "更换微信")
	b.notOffers(clerk.Username, "编辑", "删除", "设置默认账号", "修改密码", "解绑", "登录", "认证", "登录/认证", "绑定微信收登录通知")

	// 申请绑定: the explanation (red), 下一步, the credentials.
	b.toCenter()
	b.clickIn(bj.Name, "申请绑定", "admin-explain")
	b.on("申请绑定")
	b.seeIn("成为数电配置管理员", bj.Name, "注意：只能企业对应的法人或财务负责人可使用此功能")
	b.click("下一步", "admin-form")
	b.on("申请绑定")
	b.see("法人或财务负责人的电子税局账号")

	// A 办税员 is refused: on the form when the bureau's relation tells the
	// role, else after the SMS step.
	b.fill("username", taxClerk.Username)
	b.fill("password", taxClerk.Password)
	st := b.click("提交验证", "admin-clerk")
	if st == http.StatusOK {
		b.on("验证码登录")
		st = b.enterCode(taxClerk.Phone, "login", "登录", "admin-clerk-code")
	}
	b.status(st, http.StatusBadRequest, "apply as a 办税员")
	b.seeAlert(domain.ErrNotAdminRole.Message)
	if b.title() == "申请绑定" {
		if u, p := b.value("username"), b.value("password"); u != taxClerk.Username || p != "" {
			b.fatalf("after the refusal the form holds %q / %q, want the username and no password", u, p)
		}
	} else {
		b.back("accounts-after-refusal")
		b.toCenter()
		b.seeIn(bj.Name, "未设置")
		b.clickIn(bj.Name, "申请绑定", "admin-explain-2")
		b.click("下一步", "admin-form-2")
	}

	// The 法定代表人 is accepted.
	b.fill("username", boss.Username)
	b.fill("password", boss.Password)
	b.status(b.click("提交验证", "admin-code-boss"), http.StatusOK, "apply as the 法定代表人")
	b.on("验证码登录")
	b.status(b.enterCode(boss.Phone, "login", "登录", "admin-granted"), http.StatusOK, "the 法定代表人's code")
	b.on("个人中心")
	b.seeNotice("已成为数电配置管理员")
	b.seeIn(bj.Name, "是")
	b.offers(bj.Name, "退出", "电子税局账号管理")
	b.notOffers(bj.Name, "申请绑定")

	// As admin: 删除 is there for the account bound to the first user.
	b.openAccounts(bj)
	b.seeIn(bj.Name, "我是管理员")
	b.more(clerk.Username, "more-admin")
	b.offers(clerk.Username, "编辑", "删除", "更换微信")
	b.status(b.clickIn(clerk.Username, "删除", "delete-confirm"), http.StatusOK, "delete page")
	b.on("删除账号")
	b.see("确认删除账号「"+clerk.Username+"」？", bj.Name)
	b.status(b.click("确认删除", "deleted"), http.StatusOK, "delete")
	b.on("电子税局账号管理")
	b.seeNotice("删除电子税局账号成功")
	b.see("该企业下暂无电子税局账号")
	if b.hasCard(clerk.Username) {
		b.fatalf("the deleted account is still listed")
	}

	// The first user finds it gone.
	a.toCenter()
	a.seeIn(bj.Name, "0 个", "已设置")
	a.openAccounts(bj)
	a.see("该企业下暂无电子税局账号")

	// 退出 asks first, then the grant ends.
	b.toCenter()
	b.status(b.clickIn(bj.Name, "退出", "stepped-down"), http.StatusOK, "step down")
	if d := b.lastDialog(); d != "确认退出数电配置管理员？" {
		b.fatalf("退出 asks %q", d)
	}
	b.seeNotice("已退出数电配置管理员")
	b.offers(bj.Name, "申请绑定")
	b.seeIn(bj.Name, "未设置")
}

// Flow 6: 更换微信 of an account bound to someone else.
func flowRebind(t *testing.T, s *suite) {
	bj := s.newEnterprise(t, "11", "换绑")
	owner := s.newPerson(t, "蒋出纳", "jiangcn", "09", bj)
	a := s.signIn(t, "a", "colleague")
	a.linkTenant()
	a.openAccounts(bj)
	a.addAccount(bj, newAccount{p: owner, business: "开票+收票", role: "开票员"})
	a.edit(owner.Username, "edit")
	a.clickIn(owner.Username, "绑定微信收登录通知", "bound")

	b := s.signIn(t, "b", "owner")
	b.linkTenant()
	b.openAccounts(bj)
	b.seeIn(owner.Username, "已绑定")
	b.notSeeIn(owner.Username, "绑定给我")
	b.more(owner.Username, "more")
	b.offers(owner.Username, "更换微信")
	b.notOffers(owner.Username, "编辑", "删除")

	b.status(b.clickIn(owner.Username, "更换微信", "rebind-form"), http.StatusOK, "更换微信 page")
	b.on("更换微信")
	b.see("换绑时，需要登录电子税局验证身份", owner.Username, bj.Name)
	b.fill("username", owner.Username)
	b.fill("password", "Wrong@2026x")
	b.status(b.click("登录", "rebind-wrong-password"), http.StatusBadRequest, "wrong password")
	b.seeAlert(domain.ErrWrongPassword.Message)
	if u, p := b.value("username"), b.value("password"); u != owner.Username || p != "" {
		b.fatalf("after the refusal the form holds %q / %q, want the username and no password", u, p)
	}
	b.fill("password", owner.Password)
	b.status(b.click("登录", "rebind-code"), http.StatusOK, "right password")
	b.on("验证码登录")
	b.see("验证码已发送至手机 " + masked(owner.Phone))
	b.status(b.enterCode(owner.Phone, "login", "登录", "rebound"), http.StatusOK, "rebind code")
	b.on("电子税局账号管理")
	b.seeNotice("已更换绑定微信")
	b.seeIn(owner.Username, "已绑定（绑定给我）")
	b.more(owner.Username, "more-rebound")
	b.offers(owner.Username, "编辑", "删除")
	b.notOffers(owner.Username, "更换微信")

	// The first user lost it.
	a.toCenter()
	a.openAccounts(bj)
	a.seeIn(owner.Username, "已绑定")
	a.notSeeIn(owner.Username, "绑定给我")
	a.more(owner.Username, "more-lost")
	a.offers(owner.Username, "更换微信")
	a.notOffers(owner.Username, "编辑", "删除")
}

// Flow 7: 修改密码: the reset wizard (identity → code → new password →
// related accounts updated) and 仅更新发票云.
func flowPassword(t *testing.T, s *suite) {
	gd := s.newEnterprise(t, "44", "密码")
	bj := s.newEnterprise(t, "11", "密码")
	p := s.newPerson(t, "秦会计", "qinkj", "09", gd, bj) // one person, two enterprises
	me := s.signIn(t, "", "password")
	me.linkTenant()
	me.openAccounts(bj)
	me.addAccount(bj, newAccount{p: p, business: "开票+收票", role: "开票员"})
	me.toCenter()
	me.openAccounts(gd)
	me.addAccount(gd, newAccount{p: p, business: "开票+收票", role: "开票员"})

	me.edit(p.Username, "edit-choice")
	me.status(me.clickIn(p.Username, "修改密码", "choice"), http.StatusOK, "修改密码 page")
	me.on("修改密码")
	me.offers("修改密码", "重置税局密码", "已在税局修改，仅更新发票云")

	// Identity: 居民身份证 first; a number that is not the person's.
	me.click("重置税局密码", "reset-identity")
	me.on("重置税局密码")
	me.seeIn("身份认证", gd.Name, p.Username, "证件类型", "证件号码")
	if v := me.value("id_type"); v != "201" {
		me.fatalf("证件类型 defaults to %q, want 201 居民身份证", v)
	}
	me.fill("id_number", residentID("11010119700101999"))
	me.status(me.click("下一步", "reset-identity-wrong"), http.StatusBadRequest, "another person's ID number")
	me.seeAlert(domain.ErrIdentityMismatch.Message)
	me.fill("id_number", p.IDNumber)
	me.status(me.click("下一步", "reset-code"), http.StatusOK, "identity")
	me.on("输入验证码")
	me.see("验证码已发送至手机 " + masked(p.Phone))
	me.status(me.enterCode(p.Phone, "reset", "下一步", "reset-new-password"), http.StatusOK, "reset code")
	me.on("重置密码")
	me.see("新密码", "确认密码", "新密码需为8-15位，包含特殊字符，且至少包含大写字母、小写字母、数字中的两种。")

	// The bureau's policy and a mismatch, inline; nothing typed is shown again.
	me.fill("password", "abc12345")
	me.fill("confirm", "abc12345")
	me.status(me.click("确定", "reset-policy"), http.StatusBadRequest, "weak password")
	me.seeAlertPrefix(domain.ErrPasswordPolicy.Message)
	if me.value("password") != "" || me.value("confirm") != "" {
		me.fatalf("the refused password is shown again")
	}
	me.fill("password", "Nw@2026reset")
	me.fill("confirm", "Nw@2026resex")
	me.status(me.click("确定", "reset-mismatch"), http.StatusBadRequest, "mismatch")
	me.seeAlert(domain.ErrPasswordMismatch.Message)
	const resetPw = "Nw@2026reset"
	me.fill("password", resetPw)
	me.fill("confirm", resetPw)
	me.status(me.click("确定", "reset-done"), http.StatusOK, "new password")
	me.on("重置税局密码")
	me.seeNotice("已更新2个关联账号")
	me.seeIn("更新关联账号", "同一租户下此账号关联的其他税号在发票云保存的密码已同步更新")
	me.click("确定", "reset-back")
	me.on("电子税局账号管理")
	me.seeIn(gd.Name, "税号："+gd.TaxNo)

	// Changed at the bureau by the person: 仅更新发票云, the old one refused.
	const bureauPw = "Up@2026bureau"
	s.setBureauPassword(t, p.Username, bureauPw)
	me.edit(p.Username, "edit-choice-2")
	me.clickIn(p.Username, "修改密码", "choice-2")
	me.click("已在税局修改，仅更新发票云", "update-form")
	me.on("更新发票云密码")
	me.seeIn("更新发票云密码", "注意：需要输入税局最新密码", gd.Name, p.Username)
	me.fill("password", resetPw)
	me.status(me.click("确定", "update-wrong"), http.StatusBadRequest, "old password")
	me.seeAlert(domain.ErrWrongPassword.Message)
	me.fill("password", bureauPw)
	me.status(me.click("确定", "update-done"), http.StatusOK, "update")
	me.on("更新发票云密码")
	me.seeNotice("已更新2个关联账号")
	me.click("确定", "update-back")
	me.on("电子税局账号管理")
}

// Flow: a hosted number (企享云办税小号): a wrong password on 新增, then the
// reset wizard skips the code page (the code is read automatically).
func flowPasswordHosted(t *testing.T, s *suite) {
	bj := s.newEnterprise(t, "11", "托管")
	h := s.newPerson(t, "企享开票", "qxkp", "09", bj)
	me := s.signIn(t, "", "hosted")
	me.linkTenant()
	me.openAccounts(bj)

	me.click("新增", "add-business")
	me.click("开票+收票", "add-form")
	me.fill("username", h.Username)
	me.fill("password", "Wrong@2026hx")
	me.choose("企享云办税小号")
	me.status(me.click("登录", "add-wrong-password"), http.StatusBadRequest, "wrong password")
	me.seeAlert(domain.ErrWrongPassword.Message)
	if c := me.chosen(); c != "企享云办税小号" {
		me.fatalf("after the refusal 登录类型 is %q, want 企享云办税小号 kept", c)
	}
	me.fill("password", h.Password)
	me.status(me.click("登录", "added"), http.StatusOK, "add")
	me.seeNotice("新增电子税局账号成功")
	me.seeIn(h.Username, "开票+收票", "开票 已登录")

	me.edit(h.Username, "edit-choice")
	me.clickIn(h.Username, "修改密码", "choice")
	me.click("重置税局密码", "reset-identity")
	me.see("华盟托管号码、企享云办税小号会自动获取验证码")
	me.fill("id_number", h.IDNumber)
	me.status(me.click("下一步", "reset-new-password"), http.StatusOK, "identity")
	me.on("重置密码")
	me.notSee("验证码已发送")
	me.fill("password", "Qx@2026reset")
	me.fill("confirm", "Qx@2026reset")
	me.status(me.click("确定", "reset-done"), http.StatusOK, "new password")
	me.seeNotice("已更新1个关联账号")
	me.click("确定", "reset-back")
	me.on("电子税局账号管理")
	me.seeIn(h.Username, "开票 已登录")
}

// Flow 8: a hosted account locks (F13) and 解锁 unlocks it; a password
// update clears the refused password.
//
// The pages cannot lock an account: only hosted accounts lock, and their
// codes are read from the hosting provider, never typed. A wrong password
// locks after one refusal (lock.max_wrong_password 1), so the person
// changes the password at the bureau and the ERP's next login (client API)
// fails with it.
func flowLockUnlock(t *testing.T, s *suite) {
	bj := s.newEnterprise(t, "11", "锁定")
	h := s.newPerson(t, "华盟开票", "hmkp", "09", bj)
	me := s.signIn(t, "", "lock")
	me.linkTenant()
	me.openAccounts(bj)
	me.addAccount(bj, newAccount{p: h, business: "开票业务", loginType: "华盟托管号码"})
	me.seeIn(h.Username, "开票 已登录", "华盟托管号码")
	me.notOffers(h.Username, "解锁")
	acct := me.accountID(h.Username)

	// The ERP's session dies; the password changed at the bureau meanwhile.
	code, m := s.session(t, bj.TaxNo, "issue", acct)
	if code != http.StatusOK || str(m, "session", "token") == "" {
		t.Fatalf("session of the new hosted account = %d %v", code, m)
	}
	s.must(t, 200, client, "POST", "/api/v1/sessions/invalid", map[string]any{"account_id": acct, "channel": "issue", "token": str(m, "session", "token")})
	const changed = "Chg@2026lock"
	s.setBureauPassword(t, h.Username, changed)
	if code, m = s.session(t, bj.TaxNo, "issue", acct); code < 400 || errCode(m) != "wrong_password" {
		t.Fatalf("login with the old password = %d %v, want wrong_password", code, m)
	}
	if code, m = s.session(t, bj.TaxNo, "issue", acct); code < 400 || errCode(m) != "locked" {
		t.Fatalf("login of the locked account = %d %v, want locked", code, m)
	}

	me.reload("locked")
	me.seeIn(h.Username, "已锁定：密码错误", "密码已失效", "华盟托管号码", "解锁前无法登录和认证")
	me.offers(h.Username, "解锁")
	me.notOffers(h.Username, "登录", "认证")
	me.more(h.Username, "more-locked")
	me.offers(h.Username, "编辑", "删除")

	me.status(me.clickIn(h.Username, "解锁", "unlocked"), http.StatusOK, "unlock")
	me.on("电子税局账号管理")
	me.notSeeIn(h.Username, "已锁定", "解锁前无法登录和认证")
	me.notOffers(h.Username, "解锁")
	me.offers(h.Username, "登录", "认证")
	// The refused password is not tried again until it is updated (B2).
	me.seeIn(h.Username, "密码已失效")
	if code, m = s.session(t, bj.TaxNo, "issue", acct); code < 400 || errCode(m) != "password_invalid" {
		t.Fatalf("login after unlock = %d %v, want password_invalid", code, m)
	}

	me.edit(h.Username, "edit-choice")
	me.clickIn(h.Username, "修改密码", "choice")
	me.click("已在税局修改，仅更新发票云", "update-form")
	me.fill("password", changed)
	me.status(me.click("确定", "updated"), http.StatusOK, "update")
	me.seeNotice("已更新1个关联账号")
	me.click("确定", "accounts-after-update")
	me.notSeeIn(h.Username, "已锁定", "密码已失效")

	// The ERP logs in again (the hosted code is read automatically).
	code, m = s.session(t, bj.TaxNo, "issue", acct)
	if code == http.StatusAccepted {
		m = s.must(t, 200, client, "GET", "/api/v1/requests/"+str(m, "request_id")+"?wait=30", nil)
	} else if code != http.StatusOK {
		t.Fatalf("login after the update = %d %v", code, m)
	}
	if str(m, "state") != "ready" || str(m, "session", "token") == "" {
		t.Fatalf("login after the update = %v, want a session", m)
	}
	me.reload("logged-in-again")
	me.seeIn(h.Username, "开票 已登录")
}

// Flow 11: an ERP asks for a session of a bound account whose session died;
// the prompt reaches the bound user (the dev inbox page shows it as the phone
// would); the user opens it, types the code on the prompt page, and the
// ERP's long poll returns the session. Then 扫码登录 (F15) from the card.
func flowERPPrompt(t *testing.T, s *suite) {
	bj := s.newEnterprise(t, "11", "通知")
	p := s.newPerson(t, "通知开票", "tzkp", "09", bj)
	me := s.signIn(t, "", "prompt")
	me.linkTenant()
	me.openAccounts(bj)
	me.addAccount(bj, newAccount{p: p, business: "开票业务"})
	me.edit(p.Username, "edit")
	me.clickIn(p.Username, "绑定微信收登录通知", "bound")
	me.seeIn(p.Username, "已绑定")
	acct := me.accountID(p.Username)

	code, m := s.session(t, bj.TaxNo, "issue", acct)
	if code != http.StatusOK {
		t.Fatalf("session of the new account = %d %v", code, m)
	}
	s.must(t, 200, client, "POST", "/api/v1/sessions/invalid", map[string]any{"account_id": acct, "channel": "issue", "token": str(m, "session", "token")})
	var reqID string
	// The SMS interval (1 s here) after the last code may still refuse it.
	testutil.Eventually(t, 30*time.Second, func() error {
		if code, m = s.session(t, bj.TaxNo, "issue", acct); code != http.StatusAccepted {
			return fmt.Errorf("ERP request after the session died = %d %v, want 202", code, m)
		}
		return nil
	})
	if code != http.StatusAccepted || str(m, "prompt", "id") == "" {
		t.Fatalf("ERP request after the session died = %d %v, want 202 with a prompt", code, m)
	}
	reqID = str(m, "request_id")

	// The notifier hands the prompt to the dev inbox on its own goroutine:
	// open the page again until it is there.
	testutil.Eventually(t, 15*time.Second, func() error {
		me.status(me.open("/h5/dev/inbox", "inbox"), http.StatusOK, "dev inbox")
		if w, ok := containsAll(me.pageText(), p.Username, bj.TaxNo, "详情"); !ok {
			return fmt.Errorf("the dev inbox does not show %q yet", w)
		}
		return nil
	})
	me.on("开发收件箱")
	me.see(p.Username, bj.TaxNo, "详情")
	link, err := evaluate[string](me, `(() => { const a = [...document.querySelectorAll("a")].find(a => a.textContent.includes("详情")); return a ? a.getAttribute("href") : "" })()`)
	if err != nil || !strings.Contains(link, "/h5/prompt/") || !strings.Contains(link, acct) {
		t.Fatalf("the inbox message links to %q (%v)", link, err)
	}
	me.status(me.open(link, "prompt"), http.StatusOK, "prompt page")
	me.on("短信验证码登录")
	me.see("待处理", bj.TaxNo, p.Username, "开票业务", masked(p.Phone))
	me.status(me.enterCode(p.Phone, "login", "登录", "prompt-answered"), http.StatusOK, "code on the prompt page")
	me.on("短信验证码登录")
	me.see("已完成", "登录成功，开票业务已登录")

	done := s.must(t, 200, client, "GET", "/api/v1/requests/"+reqID+"?wait=30", nil)
	if str(done, "state") != "ready" || str(done, "session", "token") == "" {
		t.Fatalf("the ERP's long poll = %v", done)
	}
	me.notSee(str(done, "session", "token"))

	// 扫码登录 from the card: 个人所得税APP, scanned and confirmed in the app.
	me.toCenter()
	me.openAccounts(bj)
	me.clickIn(p.Username, "登录", "login-page")
	me.on("登录电子税局")
	// The manual's 扫码登录 ②: 税务APP's code first, 个人所得税APP one tap away.
	me.status(me.clickIn("开票业务", "扫码登录", "qr-tax"), http.StatusOK, "start QR login")
	me.on("扫码登录")
	me.see("税务APP扫码登录", "等待扫码")
	me.status(me.click("个人所得税APP", "qr"), http.StatusOK, "switch to 个人所得税APP")
	me.on("扫码登录")
	me.see("个人所得税APP扫码登录", "等待扫码")
	if got := me.texts(`//button[normalize-space()="税务APP"]`); len(got) != 1 {
		me.fatalf("no switch back to 税务APP (%q)", got)
	}
	qrID, err := evaluate[string](me, `document.querySelector("img[data-qr-id]").getAttribute("data-qr-id")`)
	if err != nil || qrID == "" {
		t.Fatalf("no QR id on the page (%v)", err)
	}
	s.must(t, 200, plain, "POST", "/sim/v1/qr/"+url.PathEscape(qrID)+"/scan", map[string]any{"username": p.Username})
	// The page moves on to the account's card; the flash says it once.
	testutil.Eventually(t, 20*time.Second, func() error {
		if loc := me.location(); strings.HasSuffix(loc, "/qr") {
			return fmt.Errorf("the QR page did not move on after the scan: %s", loc)
		}
		return nil
	})
	me.settle()
	me.shot("qr-done")
	me.on("电子税局账号管理")
	me.seeNotice("扫码登录成功")
	me.seeIn(p.Username, "开票 已登录")
}

// Flow: 个人中心 → 解绑企业 (manual §解除微信绑定的电子税局账号 ③): the
// confirmation lists the user's bound accounts of the enterprise and the
// manual's warning; 取消 keeps them, 确认解绑 unbinds them all.
func flowUnbindEnterprise(t *testing.T, s *suite) {
	gd := s.newEnterprise(t, "44", "解绑企业")
	p1 := s.newPerson(t, "孙开票", "sunkp", "09", gd)
	p2 := s.newPerson(t, "李收票", "lisp", "09", gd)
	me := s.signIn(t, "", "unbindent")
	me.linkTenant()
	me.openAccounts(gd)
	for _, p := range []person{p1, p2} {
		me.addAccount(gd, newAccount{p: p, business: "开票业务"})
		me.edit(p.Username, "edit-"+p.Username)
		me.status(me.clickIn(p.Username, "绑定微信收登录通知", "bound-"+p.Username), http.StatusOK, "bind")
		me.seeIn(p.Username, "已绑定（绑定给我）")
	}
	me.toCenter()
	me.offers(gd.Name, "电子税局账号管理", "解绑企业")

	me.status(me.clickIn(gd.Name, "解绑企业", "confirm"), http.StatusOK, "解绑企业 page")
	me.on("解绑企业")
	me.seeIn(gd.Name, "税号："+gd.TaxNo, p1.Username, p2.Username, "解绑后将无法通过微信登录电子发票服务平台")
	me.offers(gd.Name, "确认解绑", "取消")
	me.click("取消", "cancelled")
	me.on("个人中心")
	me.openAccounts(gd)
	me.seeIn(p1.Username, "已绑定（绑定给我）")
	me.seeIn(p2.Username, "已绑定（绑定给我）")

	me.toCenter()
	me.clickIn(gd.Name, "解绑企业", "confirm-2")
	me.status(me.click("确认解绑", "unbound"), http.StatusOK, "unbind the enterprise")
	me.on("个人中心")
	me.seeNotice("已解绑该企业下绑定您微信的账号")
	me.openAccounts(gd)
	for _, p := range []person{p1, p2} {
		me.seeIn(p.Username, "未绑定")
		me.notSeeIn(p.Username, "已绑定")
	}
	// Nothing left to unbind: the page says so and offers no button.
	me.toCenter()
	me.clickIn(gd.Name, "解绑企业", "nothing-bound")
	me.see("该企业下没有绑定您微信的账号")
	me.notOffers(gd.Name, "确认解绑")
}

// Flow: a long username (an e-mail address) wraps: no page is wider than
// the phone (the screenshot step checks the width of every page).
func flowLongUsername(t *testing.T, s *suite) {
	const long = "a_very_long_username_for_testing_overflow_2026@example.com"
	gd := s.newEnterprise(t, "44", "长账号")
	p := s.newPersonAs(t, "长账号", long, "09", gd)
	me := s.signIn(t, "", "long")
	me.linkTenant()
	me.openAccounts(gd)
	me.addAccount(gd, newAccount{p: p, business: "开票+收票"})
	me.seeIn(long, "未绑定", "人工登录")
	me.more(long, "more")
	me.edit(long, "edit")
	me.status(me.clickIn(long, "绑定微信收登录通知", "bound"), http.StatusOK, "bind")
	me.edit(long, "edit-bound")
	me.clickIn(long, "设置默认账号", "default")
	me.on("设置默认账号")
	me.back("accounts")
	me.edit(long, "edit-again")
	me.clickIn(long, "修改密码", "password")
	me.on("修改密码")
	me.click("已在税局修改，仅更新发票云", "password-update")
	me.back("password-back")
	me.back("accounts-back")
	me.on("电子税局账号管理")
	me.status(me.clickIn(long, "登录", "login"), http.StatusOK, "login page")
	me.on("登录电子税局")
	me.seeIn(long, "开票")
	me.status(me.clickIn("收票业务", "扫码登录", "qr"), http.StatusOK, "QR page")
	me.see(long)
	me.back("login-back")
	me.back("accounts-after-qr")
	me.more(long, "more-again")
	me.status(me.clickIn(long, "删除", "delete"), http.StatusOK, "delete page")
	me.see(long)
	me.back("accounts-end")
	me.toCenter()
	me.clickIn(gd.Name, "解绑企业", "unbind-enterprise")
	me.see(long)
}
