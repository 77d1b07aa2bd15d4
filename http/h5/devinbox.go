package h5

import (
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
)

// The dev inbox page (dev mode): what the dev notifier kept for a WeChat
// user, shown as the phone would show the template messages.

// DevInbox is the dev notifier's store; *actors.DevInbox is one.
type DevInbox interface {
	// Messages returns what openid received, newest first.
	Messages(openid string) []actors.Prompt
	// All returns every openid's prompts, newest first.
	All() map[string][]actors.Prompt
}

// inboxCard is one template message.
type inboxCard struct {
	Title   string
	Kind    string
	Account string // the e-tax account's user name
	TaxNo   string
	Phone   string // masked
	Text    string
	Time    string
	Expires string
	Expired bool
	Link    string // the prompt page
	// Reminder: a reminder of an unanswered prompt; Escalated: a copy sent
	// to an enterprise admin (B5).
	Reminder  bool
	Escalated bool
	// State is where the prompt stands now (actors.PromptState: pending,
	// submitting, done, failed, closed); "" when the engine cannot say.
	// StateText is its Chinese badge, Outcome why a failed one failed.
	State     string
	StateText string
	Outcome   string
}

// inboxStates are the badges of a prompt's state, as the prompt page says them.
var inboxStates = map[actors.PromptState]string{
	actors.PromptPending:    "待处理",
	actors.PromptSubmitting: "校验中",
	actors.PromptDone:       "已完成",
	actors.PromptFailed:     "未完成",
	actors.PromptClosed:     "已结束",
}

// inboxChat is one openid's conversation in the list.
type inboxChat struct {
	OpenID string
	Label  string
	Count  int
	Last   string
	Active bool
}

// inboxKinds are the template message's title per prompt kind.
var inboxKinds = map[actors.PromptKind]string{
	actors.KindSMSCode:  "短信验证码",
	actors.KindQRScan:   "扫码登录",
	actors.KindFace:     "人脸认证",
	actors.KindNotice:   "通知",
	actors.KindLocked:   "账号已锁定",
	actors.KindPassword: "税局密码已失效",
}

// promptLink is the prompt page a WeChat message opens (the link the
// wechat notifier puts in its template messages).
func (h *H5) promptLink(tenant, account, id string) string {
	return h.prefix + "/prompt/" + url.PathEscape(tenant) + "/" + url.PathEscape(account) + "/" + url.PathEscape(id)
}

func (h *H5) devInboxPage(c *fiber.Ctx) error {
	if !h.dev {
		return h.message(c, fiber.StatusNotFound, "页面不存在", "开发收件箱仅在开发模式可用。")
	}
	if h.inbox == nil {
		return h.message(c, fiber.StatusNotFound, "页面不存在", "开发收件箱未启用：已配置微信公众号时，登录通知通过微信模板消息发送。")
	}
	// Signed in or not: the page is a developer's tool, like /dev/signin.
	me, _ := h.verify(c.Cookies(cookieName), h.now())
	openid, asked := strings.Clone(strings.TrimSpace(c.Query("openid"))), c.Context().QueryArgs().Has("openid")
	if len(openid) > 128 {
		return h.render(c, fiber.StatusBadRequest, "inbox", fiber.Map{"Title": "开发收件箱", "Back": h.prefix + "/",
			"Error": "openid过长", "Chats": h.inboxChats("", false, me)})
	}
	if !asked {
		openid = me
	}
	picked := asked || me != ""
	var cards []inboxCard
	if picked {
		now := h.now()
		for _, p := range h.inbox.Messages(openid) {
			card := h.inboxCardOf(p, now)
			h.inboxState(c, p, &card)
			cards = append(cards, card)
		}
	}
	return h.render(c, fiber.StatusOK, "inbox", fiber.Map{"Title": "开发收件箱", "Back": h.prefix + "/", "OpenID": openid,
		"Picked": picked, "SignedIn": me, "Cards": cards, "Chats": h.inboxChats(openid, picked, me)})
}

func (h *H5) inboxCardOf(p actors.Prompt, now time.Time) inboxCard {
	k := inboxKinds[p.Kind]
	if k == "" {
		k = string(p.Kind)
	}
	card := inboxCard{Title: "登录验证提醒", Kind: k, Account: p.Username, TaxNo: p.TaxNo, Phone: p.PhoneMasked, Text: p.Message,
		Time: p.CreatedAt.In(cst).Format("2006-01-02 15:04:05"), Reminder: p.Reminder, Escalated: p.Escalated}
	// A reminder or an escalated copy opens the page of the prompt it repeats.
	id := p.ID
	if p.Of != "" {
		id = p.Of
	}
	card.Link = h.promptLink(p.Tenant, p.Account, id)
	switch p.Kind {
	case actors.KindNotice, actors.KindLocked, actors.KindPassword:
		card.Title = "账号通知"
	}
	if !p.ExpiresAt.IsZero() {
		card.Expires = p.ExpiresAt.In(cst).Format("2006-01-02 15:04")
		card.Expired = !now.Before(p.ExpiresAt)
	}
	return card
}

// inboxChats lists the openids that received something, the latest
// conversation first; the signed-in one and the shown one (when picked)
// are always listed.
func (h *H5) inboxChats(shown string, picked bool, me string) []inboxChat {
	all := h.inbox.All()
	var chats []inboxChat
	last := map[string]time.Time{}
	for id, ps := range all {
		ch := inboxChat{OpenID: id, Label: id, Count: len(ps)}
		if len(ps) > 0 {
			last[id] = ps[0].CreatedAt
			ch.Last = ps[0].CreatedAt.In(cst).Format("01-02 15:04")
		}
		chats = append(chats, ch)
	}
	extra := []string{me}
	if picked {
		extra = append(extra, shown)
	}
	for _, id := range extra {
		if _, has := all[id]; !has && (id != "" || picked && id == shown) {
			all[id] = nil
			chats = append(chats, inboxChat{OpenID: id, Label: id})
		}
	}
	sort.Slice(chats, func(i, j int) bool {
		ti, tj := last[chats[i].OpenID], last[chats[j].OpenID]
		if !ti.Equal(tj) {
			return ti.After(tj)
		}
		return chats[i].OpenID < chats[j].OpenID
	})
	for i := range chats {
		if chats[i].OpenID == "" {
			chats[i].Label = "（未绑定微信的账号）"
		}
		chats[i].Active = picked && chats[i].OpenID == shown
	}
	return chats
}

// inboxState asks the engine where the card's prompt stands, as its
// recipient would see it on the prompt page: an answered prompt must not
// look like a pending one. A reminder or an escalated copy has the state of
// the prompt it repeats. Without an engine, or when the engine refuses (the
// account deleted, say), the card shows no state.
func (h *H5) inboxState(c *fiber.Ctx, p actors.Prompt, card *inboxCard) {
	if h.eng == nil {
		return
	}
	id := p.ID
	if p.Of != "" {
		id = p.Of
	}
	st, err := h.eng.Prompt(c.UserContext(), p.Tenant, p.Account, id, p.OpenID)
	if err != nil || st == nil {
		return
	}
	card.State, card.StateText = string(st.State), inboxStates[st.State]
	if st.State == actors.PromptFailed && st.Error != nil {
		card.Outcome = st.Error.Message
	}
	if st.State != actors.PromptPending && st.State != actors.PromptSubmitting {
		card.Expired = false // over anyway: its state says how
	}
}
