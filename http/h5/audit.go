package h5

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

// B7: 审计, a tenant's recent operations for its linked users.

// auditEngine is what the 审计 page needs of *actors.Engine.
type auditEngine interface {
	Audit(ctx context.Context, tenant string, from, to time.Time, fn func(actors.AuditEvent) error) error
}

const (
	// auditWindow is how far back one page of the audit log looks.
	auditWindow = 7 * 24 * time.Hour
	// auditPageSize is at most how many events one page shows.
	auditPageSize = 50
)

// auditActions are the Chinese names of the audit log's action codes (the
// codes actors/ writes); an unknown code is shown as it is. They name the
// operation, not its outcome: the page adds 成功 or 失败.
var auditActions = map[string]string{
	"tenant.create":              "创建租户",
	"tenant.rotate_code":         "更换激活码",
	"tenant.link":                "关联租户",
	"tenant.unlink":              "解除关联租户",
	"enterprise.add":             "新增企业",
	"enterprise.unbind":          "解绑企业",
	"account.add":                "新增电子税局账号",
	"account.bind":               "绑定微信",
	"account.unbind":             "解除微信绑定",
	"account.rebind":             "更换绑定微信",
	"account.set_default":        "设置默认账号",
	"account.delete":             "删除电子税局账号",
	"account.unlock":             "解除登录锁定",
	"account.update_password":    "更新密码（仅更新发票云）",
	"account.password_propagate": "同步新密码",
	"admin.apply":                "申请数电配置管理员",
	"admin.step_down":            "退出数电配置管理员",
	"login.start":                "提交税局密码",
	"login.submit_code":          "提交验证码",
	"login.resend_code":          "重新获取验证码",
	"login.code":                 "验证码校验",
	"login.code_timeout":         "验证码超时未输入",
	"login.hosted_code":          "托管号码获取验证码",
	"login.ok":                   "登录电子税局",
	"certify.ok":                 "实名认证",
	"session.invalid":            "报告登录失效",
	"session.lost":               "税局登录已失效",
	"prompt.undeliverable":       "登录通知无法送达",
	"prompt.delivered":           "登录通知送达微信",
	"prompt.reminder":            "再次发送登录通知",
	"prompt.escalate":            "登录通知转给管理员",
	"apikey.create":              "创建接口密钥",
	"apikey.revoke":              "吊销接口密钥",
}

// auditRow is one event as the page shows it. Nothing in it is secret: the
// log holds who, what, on what and the outcome's code, never a password,
// code or token; openids are masked.
type auditRow struct {
	Time   string // 15:04:05, China time
	Who    string
	Mine   bool
	Action string
	Target string
	Failed bool
	Error  string
}

// auditDay is the events of one day (China time), newest first.
type auditDay struct {
	Date string
	Rows []auditRow
}

// auditCursor is where a page ends: events strictly before (time, seq).
type auditCursor struct {
	t   time.Time
	seq uint64
}

func (c auditCursor) String() string {
	return strconv.FormatInt(c.t.Unix(), 10) + "." + strconv.Itoa(c.t.Nanosecond()) + "." + strconv.FormatUint(c.seq, 10)
}

// parseAuditCursor reads a "before" parameter; ok is false for anything
// else than what String writes.
func parseAuditCursor(s string) (auditCursor, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return auditCursor{}, false
	}
	sec, err1 := strconv.ParseInt(parts[0], 10, 64)
	nsec, err2 := strconv.ParseInt(parts[1], 10, 64)
	seq, err3 := strconv.ParseUint(parts[2], 10, 64)
	// Years 1970 to 2200: enough for an audit log, and no overflow below.
	if err1 != nil || err2 != nil || err3 != nil || sec < 0 || sec > 7258118400 || nsec < 0 || nsec > 999999999 {
		return auditCursor{}, false
	}
	return auditCursor{t: time.Unix(sec, nsec), seq: seq}, true
}

// before reports whether ev comes before the cursor (newest-first order).
func (c auditCursor) before(ev actors.AuditEvent) bool {
	return ev.Time.Before(c.t) || ev.Time.Equal(c.t) && ev.Seq < c.seq
}

// errStopAudit ends a scan early.
var errStopAudit = errors.New("stop")

func (h *H5) auditPage(c *fiber.Ctx) error {
	t, err := h.tenantOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	ctx := c.UserContext()
	now := h.now()
	// The page: the newest auditPageSize events of the window that ends at
	// the cursor (now on the first page).
	cur, paged := parseAuditCursor(c.Query("before"))
	var from, to time.Time
	if paged {
		from, to = cur.t.Add(-auditWindow), cur.t.Add(time.Nanosecond)
	} else {
		from = now.Add(-auditWindow) // to: open, a clock ahead of ours included
	}
	ring := make([]actors.AuditEvent, 0, auditPageSize)
	full := false
	next := 0
	err = h.eng.Audit(ctx, t.ID, from, to, func(ev actors.AuditEvent) error {
		if paged && !cur.before(ev) {
			return nil
		}
		// Oldest first: keep the last auditPageSize.
		if len(ring) < auditPageSize {
			ring = append(ring, ev)
			return nil
		}
		full = true
		ring[next] = ev
		next = (next + 1) % auditPageSize
		return nil
	})
	if err != nil {
		return h.fail(c, err)
	}
	events := make([]actors.AuditEvent, 0, len(ring))
	for i := len(ring) - 1; i >= 0; i-- { // newest first
		events = append(events, ring[(next+i)%len(ring)])
	}
	// 加载更多: before the oldest shown when the window had more, else
	// before the window if anything older exists.
	more := ""
	switch {
	case full:
		last := events[len(events)-1]
		more = auditCursor{t: last.Time, seq: last.Seq}.String()
	default:
		older := false
		err := h.eng.Audit(ctx, t.ID, time.Time{}, from, func(actors.AuditEvent) error {
			older = true
			return errStopAudit
		})
		if err != nil && !errors.Is(err, errStopAudit) {
			return h.fail(c, err)
		}
		if older {
			more = auditCursor{t: from}.String()
		}
	}
	rows := h.auditRows(c, t, events)
	var days []auditDay
	for i, ev := range events {
		d := ev.Time.In(cst).Format("2006-01-02")
		if len(days) == 0 || days[len(days)-1].Date != d {
			days = append(days, auditDay{Date: d})
		}
		days[len(days)-1].Rows = append(days[len(days)-1].Rows, rows[i])
	}
	span := "近7天"
	if paged {
		span = from.In(cst).Format("2006-01-02 15:04") + " 至 " + cur.t.In(cst).Format("2006-01-02 15:04")
	}
	return h.render(c, fiber.StatusOK, "audit", fiber.Map{"Title": "审计", "Back": h.prefix + "/", "Tenant": t, "Days": days,
		"Span": span, "Paged": paged, "More": more, "Full": full})
}

// auditRows turns events into rows: actions and errors in Chinese, who
// masked, targets named (usernames and enterprise names this user may see).
func (h *H5) auditRows(c *fiber.Ctx, t actors.TenantInfo, events []actors.AuditEvent) []auditRow {
	me := openidOf(c)
	var accounts map[string]string    // id → 用户名（企业）
	var enterprises map[string]string // tax number → name
	for _, ev := range events {
		kind, _, _ := strings.Cut(ev.Target, "/")
		switch {
		case kind == "account" && accounts == nil:
			accounts = map[string]string{}
			if list, err := h.eng.Accounts(c.UserContext(), t.ID, "", me); err == nil {
				for _, a := range list {
					accounts[a.ID] = a.Username + "（" + a.EnterpriseName + "）"
				}
			}
		case kind == "enterprise" && enterprises == nil:
			enterprises = map[string]string{}
			if list, err := h.eng.Enterprises(c.UserContext(), t.ID, me); err == nil {
				for _, e := range list {
					enterprises[strings.ToUpper(e.TaxNo)] = e.Name
				}
			}
		}
	}
	// A deleted account is no longer listed: its deletion's event kept its
	// name (Detail), which names its events on the page. The deletion may
	// be newer than the page (加载更多): then the log after it is asked.
	deleted := func(ev actors.AuditEvent) error {
		kind, id, _ := strings.Cut(ev.Target, "/")
		if _, listed := accounts[id]; kind == "account" && ev.Action == "account.delete" && ev.Outcome == "ok" && ev.Detail != "" && !listed {
			accounts[id] = ev.Detail + "（已删除）"
		}
		return nil
	}
	unnamed := false
	for _, ev := range events {
		_ = deleted(ev)
	}
	for _, ev := range events {
		kind, id, _ := strings.Cut(ev.Target, "/")
		if _, listed := accounts[id]; kind == "account" && !listed {
			unnamed = true
		}
	}
	if unnamed && len(events) > 0 {
		if err := h.eng.Audit(c.UserContext(), t.ID, events[0].Time, time.Time{}, deleted); err != nil {
			h.log.Warn("h5 audit: names of deleted accounts", "tenant", t.ID, "err", err)
		}
	}
	rows := make([]auditRow, 0, len(events))
	for _, ev := range events {
		r := auditRow{Time: ev.Time.In(cst).Format("15:04:05"), Action: auditAction(ev.Action), Target: auditTarget(ev.Target, t, accounts, enterprises)}
		r.Who, r.Mine = auditWho(ev.Actor, me)
		if ev.Outcome != "" && ev.Outcome != "ok" {
			r.Failed = true
			r.Error = auditError(ev.Outcome)
		}
		rows = append(rows, r)
	}
	return rows
}

func auditAction(code string) string {
	if s, ok := auditActions[code]; ok {
		return s
	}
	return code
}

// auditError is the Chinese message of a failure's code: an event records
// the code of its failure, the page shows the catalogue's message.
func auditError(code string) string {
	if e, ok := domain.Entry(code); ok {
		return e.Message
	}
	return "操作失败（" + code + "）"
}

// auditWho names an event's actor: a WeChat user by a masked openid (mine
// tells whether it is the viewer), an API key by its id, the system.
func auditWho(actor, me string) (who string, mine bool) {
	kind, id, _ := strings.Cut(actor, ":")
	switch kind {
	case "wx":
		if id != "" && id == me {
			return "我（" + maskOpenID(id) + "）", true
		}
		return "微信用户 " + maskOpenID(id), false
	case "key":
		return "接口 key:" + id, false
	case "api":
		return "接口", false
	case "system":
		return "系统", false
	case "cli":
		return "运维", false
	case "link":
		return "登录链接", false
	case "":
		return "系统", false
	}
	if id != "" { // unknown: keep the kind, mask the rest
		return kind + ":" + maskOpenID(id), false
	}
	return actor, false
}

// maskOpenID keeps the first 4 and last 2 characters of an openid:
// o_abcdefgh1234yz → o_ab…yz.
func maskOpenID(s string) string {
	r := []rune(s)
	switch {
	case len(r) == 0:
		return ""
	case len(r) <= 6:
		return string(r[:1]) + "…"
	}
	return string(r[:4]) + "…" + string(r[len(r)-2:])
}

// auditTarget names what an event was about.
func auditTarget(target string, t actors.TenantInfo, accounts, enterprises map[string]string) string {
	kind, id, _ := strings.Cut(target, "/")
	switch kind {
	case "account":
		if s, ok := accounts[id]; ok {
			return "账号 " + s
		}
		return "账号 " + id
	case "enterprise":
		if s, ok := enterprises[strings.ToUpper(id)]; ok {
			return "企业 " + s + "（" + id + "）"
		}
		return "企业 " + id
	case "tenant":
		if id == t.ID && t.Name != "" {
			return "租户 " + t.Name
		}
		return "租户 " + id
	case "apikey":
		return "接口密钥 " + id
	}
	return target
}
