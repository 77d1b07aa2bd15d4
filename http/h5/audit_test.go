package h5

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

var (
	auditRowRE  = regexp.MustCompile(`class="row audit"`)
	auditMoreRE = regexp.MustCompile(`href="(/h5/tenants/acme/audit\?before=[^"]+)"`)
)

func TestAuditPage(t *testing.T) {
	f := newFixture(t)
	const bobID = "o_bob_wechat_1234"
	me, bob := f.linked("o_demo_openid"), f.linked(bobID)
	f.addPerson("张三", "zhangsan", "13800000001", "110101199001011237", domain.RoleInvoicer, f.gd)
	aid := f.addAccount("o_demo_openid", f.gd, "zhangsan", "13800000001")
	page := "/h5/tenants/acme/enterprises/" + f.gd
	base := page + "/accounts/" + aid
	if r := f.post(me, base+"/edit", base+"/bind", nil); r.status != 303 {
		t.Fatalf("bind = %d", r.status)
	}
	// Bob may not unbind my account: a refused operation is logged too.
	if r := f.post(bob, "/h5/tenants", base+"/unbind", nil); r.status != 403 {
		t.Fatalf("forged unbind = %d", r.status)
	}

	// The personal center links the page.
	mustContain(t, f.do("GET", "/h5/", me, nil), `href="/h5/tenants/acme/audit"`, "审计")

	r := f.do("GET", "/h5/tenants/acme/audit", me, nil)
	if r.status != 200 {
		t.Fatalf("audit = %d %s", r.status, r.body)
	}
	mustContain(t, r, "审计", "阿克米集团", "近7天",
		"关联租户", "新增电子税局账号", "绑定微信", "解除微信绑定", // what we did
		"我（o_de…id）", "微信用户 o_bo…34", // who, masked
		"账号 zhangsan（广东阿克米科技有限公司）", "租户 阿克米集团", // on what
		"失败", domain.ErrNotPermitted.Message, "成功", // the refusal, in Chinese
		"没有更早的记录了")
	for _, leak := range []string{bobID, "o_demo_openid", "Pw@2026abc", domain.ErrNotPermitted.Code, domain.ErrNotPermitted.MessageEN} {
		if strings.Contains(r.body, leak) {
			t.Fatalf("the page shows %q:\n%s", leak, r.body)
		}
	}
	// Newest first: the refused unbind comes before the bind, which comes
	// before linking the tenant.
	i, j, k := strings.Index(r.body, "解除微信绑定"), strings.Index(r.body, "绑定微信 "), strings.LastIndex(r.body, "关联租户")
	if !(i < j && j < k) {
		t.Fatalf("not newest first: unbind %d, bind %d, link %d", i, j, k)
	}

	// Bob, linked too, sees the same log; a stranger is refused.
	mustContain(t, f.do("GET", "/h5/tenants/acme/audit", bob, nil), "我（o_bo…34）", "微信用户 o_de…id")
	eve := f.signin("o_eve")
	r = f.do("GET", "/h5/tenants/acme/audit", eve, nil)
	if r.status != 403 {
		t.Fatalf("stranger = %d", r.status)
	}
	mustContain(t, r, domain.ErrNotLinked.Message)
	if strings.Contains(r.body, "zhangsan") {
		t.Fatal("a stranger sees the log")
	}
	if r = f.do("GET", "/h5/tenants/nosuch/audit", me, nil); r.status != 403 {
		t.Fatalf("unknown tenant = %d", r.status)
	}
	// Not signed in: the sign-in page (dev mode).
	if r = f.do("GET", "/h5/tenants/acme/audit", "", nil); r.status != 303 {
		t.Fatalf("anonymous = %d", r.status)
	}
	// A junk cursor is the first page.
	mustContain(t, f.do("GET", "/h5/tenants/acme/audit?before=junk.x.1", me, nil), "近7天", "关联租户")
}

func TestAuditPaging(t *testing.T) {
	f := newFixture(t)
	me := f.linked("o_demo_openid")
	f.addPerson("张三", "zhangsan", "13800000001", "110101199001011237", domain.RoleInvoicer, f.gd)
	aid := f.addAccount("o_demo_openid", f.gd, "zhangsan", "13800000001")
	ctx := context.Background()
	for i := 0; i < 30; i++ {
		if err := f.eng.Bind(ctx, "acme", aid, "o_demo_openid"); err != nil {
			t.Fatal(err)
		}
		if err := f.eng.Unbind(ctx, "acme", aid, "o_demo_openid"); err != nil {
			t.Fatal(err)
		}
	}
	total := 0
	if err := f.eng.Audit(ctx, "acme", time.Time{}, time.Time{}, func(actors.AuditEvent) error { total++; return nil }); err != nil {
		t.Fatal(err)
	}
	if total <= auditPageSize {
		t.Fatalf("only %d events", total)
	}

	// Page 1: the newest 50 and a link to the rest.
	r := f.do("GET", "/h5/tenants/acme/audit", me, nil)
	if n := len(auditRowRE.FindAllString(r.body, -1)); n != auditPageSize {
		t.Fatalf("page 1 has %d rows", n)
	}
	if strings.Contains(r.body, "关联租户") {
		t.Fatal("the oldest event is on the first page")
	}
	m := auditMoreRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no 加载更多 link:\n%s", r.body)
	}
	// Page 2: the rest, ending with linking the tenant, and no more.
	r = f.do("GET", strings.ReplaceAll(m[1], "&amp;", "&"), me, nil)
	n := len(auditRowRE.FindAllString(r.body, -1))
	if n != total-auditPageSize {
		t.Fatalf("page 2 has %d rows, want %d", n, total-auditPageSize)
	}
	mustContain(t, r, "关联租户", "新增电子税局账号", "最新记录", "没有更早的记录了")
	if auditMoreRE.MatchString(r.body) {
		t.Fatal("a 加载更多 link past the oldest event")
	}

	// A week later the first page is empty but leads to the older events.
	f.clk.Advance(8 * 24 * time.Hour)
	me = f.signin("o_demo_openid") // a cookie of that time
	r = f.do("GET", "/h5/tenants/acme/audit", me, nil)
	mustContain(t, r, "近7天暂无操作记录")
	if m = auditMoreRE.FindStringSubmatch(r.body); m == nil {
		t.Fatalf("no link to older events:\n%s", r.body)
	}
	r = f.do("GET", strings.ReplaceAll(m[1], "&amp;", "&"), me, nil)
	if n := len(auditRowRE.FindAllString(r.body, -1)); n != auditPageSize {
		t.Fatalf("older page has %d rows", n)
	}
}

func TestAuditText(t *testing.T) {
	for _, tt := range []struct{ actor, who string }{
		{"wx:o_abcdefgh1234yz", "微信用户 o_ab…yz"},
		{"wx:o_me_openid", "我（o_me…id）"},
		{"wx:o_ab", "微信用户 o…"},
		{"key:k_erp1", "接口 key:k_erp1"},
		{"api", "接口"},
		{"system", "系统"},
		{"cli", "运维"},
		{"link:p123", "登录链接"},
		{"", "系统"},
		{"other:o_abcdefgh1234yz", "other:o_ab…yz"},
	} {
		if got, _ := auditWho(tt.actor, "o_me_openid"); got != tt.who {
			t.Errorf("auditWho(%q) = %q, want %q", tt.actor, got, tt.who)
		}
	}
	if got := auditAction("account.bind"); got != "绑定微信" {
		t.Errorf("account.bind = %q", got)
	}
	if got := auditAction("something.new"); got != "something.new" {
		t.Errorf("unknown action = %q", got)
	}
	if got := auditError("locked"); got != domain.ErrLocked.Message {
		t.Errorf("locked = %q", got)
	}
	if got := auditError("no_such_code"); !strings.Contains(got, "操作失败") {
		t.Errorf("unknown code = %q", got)
	}
	for _, s := range []string{"1.0", "a.b.c", "-1.0.0", "1.1000000000.0", "99999999999.0.0", "1.2.3.4"} {
		if _, ok := parseAuditCursor(s); ok {
			t.Errorf("cursor %q accepted", s)
		}
	}
	c := auditCursor{t: time.Unix(1700000000, 123), seq: 42}
	if back, ok := parseAuditCursor(c.String()); !ok || !back.t.Equal(c.t) || back.seq != 42 {
		t.Errorf("cursor round trip: %v %v", back, ok)
	}
}

// TestAuditCodesNamed keeps the page's tables complete: every action code
// actors/ writes has a Chinese name, every catalogue error a message.
func TestAuditCodesNamed(t *testing.T) {
	files, err := filepath.Glob("../../actors/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("actors sources: %v", err)
	}
	call := regexp.MustCompile(`(?:\.audit\(|saveAudited\(|recordFailure\(|\.event\()[^\n]*?"([a-z_]+\.[a-z_]+)"`)
	seen := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(b), -1) {
			seen++
			if _, ok := auditActions[m[1]]; !ok {
				t.Errorf("%s: action %q has no Chinese name in auditActions (http/h5/audit.go)", filepath.Base(name), m[1])
			}
		}
	}
	if seen < 20 {
		t.Fatalf("found only %d audit calls in actors/", seen)
	}
	all := domain.Catalogue()
	if len(all) < 40 {
		t.Fatalf("found only %d catalogue entries", len(all))
	}
	for _, e := range all {
		if got := auditError(e.Code); got != e.Message {
			t.Errorf("error code %q shows %q, not its message", e.Code, got)
		}
	}
	if got := auditError("no_such_code"); got != "操作失败（no_such_code）" {
		t.Errorf("an unknown code shows %q", got)
	}
}

// auditLineRE is an audit row's action and outcome badge.
var auditLineRE = regexp.MustCompile(`<div>([^<]+) <span class="badge (?:ok|bad)">(成功|失败)</span></div>`)

// auditLines are the page's rows as "action outcome", newest first.
func auditLines(body string) []string {
	var out []string
	for _, m := range auditLineRE.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+" "+m[2])
	}
	return out
}

// TestAuditActionsNameTheOperation: an action's name never says the
// outcome, which the badge beside it says (no "认证成功 成功").
func TestAuditActionsNameTheOperation(t *testing.T) {
	for code, name := range auditActions {
		if strings.HasSuffix(name, "成功") || strings.HasSuffix(name, "失败") {
			t.Errorf("%s is shown as %q: the badge repeats it", code, name)
		}
	}
}

// TestAuditDeletedAccountKeepsItsName: after 删除 the account's events
// still name it, not by its id.
func TestAuditDeletedAccountKeepsItsName(t *testing.T) {
	f := newFixture(t)
	me := f.linked("o_demo_openid")
	f.addPerson("张三", "zhangsan", "13800000001", "110101199001011237", domain.RoleInvoicer, f.gd)
	aid := f.addAccount("o_demo_openid", f.gd, "zhangsan", "13800000001")
	base := "/h5/tenants/acme/enterprises/" + f.gd + "/accounts/" + aid
	// Enough events that the oldest are on the second page.
	for i := 0; i < 30; i++ {
		if err := f.eng.Bind(context.Background(), "acme", aid, "o_demo_openid"); err != nil {
			t.Fatal(err)
		}
		if err := f.eng.Unbind(context.Background(), "acme", aid, "o_demo_openid"); err != nil {
			t.Fatal(err)
		}
	}
	if r := f.post(me, base+"/delete", base+"/delete", nil); r.status != 303 {
		t.Fatalf("delete = %d %s", r.status, r.body)
	}
	r := f.do("GET", "/h5/tenants/acme/audit", me, nil)
	mustContain(t, r, "删除电子税局账号", "账号 zhangsan（广东阿克米科技有限公司）（已删除）")
	if strings.Contains(r.body, aid) {
		t.Fatalf("the page names the deleted account by its id:\n%s", r.body)
	}
	if lines := auditLines(r.body); len(lines) == 0 || lines[0] != "删除电子税局账号 成功" {
		t.Fatalf("rows = %q", lines)
	}
	// The second page, without the deletion, names it too.
	m := auditMoreRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no 加载更多 link:\n%s", r.body)
	}
	r = f.do("GET", strings.ReplaceAll(m[1], "&amp;", "&"), me, nil)
	mustContain(t, r, "新增电子税局账号", "账号 zhangsan（广东阿克米科技有限公司）（已删除）")
	if strings.Contains(r.body, aid) || strings.Contains(r.body, "删除电子税局账号") {
		t.Fatalf("page 2 names the deleted account by its id, or shows the deletion:\n%s", r.body)
	}
}

// TestAuditWrongCodeIsOneFailure: a wrong SMS code is one event, the
// submission failed (not "提交验证码 成功" then "验证码校验 失败"); the right
// one is a successful submission and the login.
func TestAuditWrongCodeIsOneFailure(t *testing.T) {
	p := newPromptFixture(t, true)
	r := p.erpLogin()
	ctx := context.Background()
	before := auditLines(p.do("GET", "/h5/tenants/acme/audit", p.alice, nil).body)
	if _, err := p.eng.AnswerPrompt(ctx, "acme", p.acct, r.Prompt.ID, "o_alice", "000000"); !errors.Is(err, domain.ErrWrongCode) {
		t.Fatalf("wrong code: %v", err)
	}
	page := p.do("GET", "/h5/tenants/acme/audit", p.alice, nil)
	lines := auditLines(page.body)
	if len(lines) != len(before)+1 || lines[0] != "提交验证码 失败" {
		t.Fatalf("after a wrong code: %q (before %q)", lines, before)
	}
	mustContain(t, page, domain.ErrWrongCode.Message)
	if _, err := p.eng.AnswerPrompt(ctx, "acme", p.acct, r.Prompt.ID, "o_alice", p.sim.LastCode(p.phone)); err != nil {
		t.Fatal(err)
	}
	if final, err := p.eng.AwaitRequest(ctx, "acme", r.RequestID, 5*time.Second); err != nil || final.State != actors.RequestReady {
		t.Fatalf("request = %+v %v", final, err)
	}
	lines = auditLines(p.do("GET", "/h5/tenants/acme/audit", p.alice, nil).body)
	if got := strings.Join(lines[:3], ","); got != "登录电子税局 成功,提交验证码 成功,提交验证码 失败" {
		t.Fatalf("after the right code: %q", lines)
	}
}
