package wechat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/etaxd/etaxd/prompts"
	"github.com/silenceper/wechat/v2/officialaccount/message"
)

// actions are the prompt kinds that ask the person for something, with
// what the template message says is asked. Other kinds are skipped.
var actions = map[prompts.Kind]string{
	prompts.KindSMSCode: "短信验证码",
	prompts.KindQRScan:  "扫码登录",
	prompts.KindFace:    "人脸认证",
}

// chinaTime is the zone of the expiry shown in messages (no tzdata needed).
var chinaTime = time.FixedZone("CST", 8*3600)

// Notifier sends prompts as template messages; it implements
// prompts.Notifier. Get it from Client.Notifier; it is safe for concurrent
// use.
type Notifier struct {
	c   *Client
	log *slog.Logger

	mu       sync.Mutex
	inflight map[string]struct{}
	sent     *boundedMap[string, struct{}]

	nSent, nSkipped, nDeduped, nRefreshed, nPermanent, nTransient atomic.Uint64
}

var _ prompts.Notifier = (*Notifier)(nil)

func newNotifier(c *Client) *Notifier {
	return &Notifier{
		c:        c,
		log:      c.log.With("notifier", "wechat"),
		inflight: map[string]struct{}{},
		sent:     newBoundedMap[string, struct{}](c.opts.SentTTL, c.opts.MaxRemembered),
	}
}

// NotifierStats are a Notifier's counters since it was built.
type NotifierStats struct {
	Sent      uint64 `json:"sent"`      // template messages WeChat accepted
	Skipped   uint64 `json:"skipped"`   // prompts without openid, or of a kind that asks nothing
	Deduped   uint64 `json:"deduped"`   // prompts already sent: redeliveries
	Refreshed uint64 `json:"refreshed"` // sends retried after WeChat rejected the token
	Permanent uint64 `json:"permanent"` // sends that failed permanently
	Transient uint64 `json:"transient"` // sends that failed and will be retried
}

// Stats returns the counters.
func (n *Notifier) Stats() NotifierStats {
	return NotifierStats{
		Sent: n.nSent.Load(), Skipped: n.nSkipped.Load(), Deduped: n.nDeduped.Load(),
		Refreshed: n.nRefreshed.Load(), Permanent: n.nPermanent.Load(), Transient: n.nTransient.Load(),
	}
}

// Notify sends p to p.OpenID as a template message linking to its prompt
// page, with p.ID as ClientMsgID. It returns nil without sending for a
// prompt without OpenID or whose kind asks for nothing (counted as
// skipped: the account's browser link is the fallback) and for a prompt
// it already sent (a redelivery). It returns ErrInFlight, transient, while
// another call sends the same prompt. Errors: a user who unsubscribed or
// refused messages, an invalid openid or a refused template are permanent
// (prompts.IsPermanent, with an *APIError inside); anything else is
// transient.
func (n *Notifier) Notify(ctx context.Context, p prompts.Prompt) error {
	action, asks := actions[p.Kind]
	if !asks || p.OpenID == "" {
		n.nSkipped.Add(1)
		n.log.Debug("prompt skipped", "prompt", p.ID, "tenant", p.Tenant, "account", p.Account, "kind", p.Kind,
			"bound", p.OpenID != "")
		return nil
	}
	if p.ID == "" {
		n.nPermanent.Add(1)
		return prompts.Permanent(fmt.Errorf("%w: no id", ErrInvalidPrompt))
	}
	now := n.c.now()
	n.mu.Lock()
	if _, done := n.sent.get(p.ID, now); done {
		n.mu.Unlock()
		n.nDeduped.Add(1)
		return nil
	}
	if _, busy := n.inflight[p.ID]; busy {
		n.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrInFlight, p.ID)
	}
	n.inflight[p.ID] = struct{}{}
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.inflight, p.ID)
		n.mu.Unlock()
	}()

	switch {
	case p.Escalated:
		action = "待代办：" + action // an admin answers for the bound user (B5)
	case p.Reminder:
		action = "提醒：" + action
	}
	msg := n.message(p, action)
	var msgID int64
	refreshed, err := n.c.withToken(ctx, func(tok string) error {
		res, err := n.c.postJSON(ctx, "template send", "/cgi-bin/message/template/send", tok, msg)
		msgID = res.MsgID
		return err
	})
	if refreshed {
		n.nRefreshed.Add(1)
	}
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Permanent() {
			n.nPermanent.Add(1)
			return prompts.Permanent(fmt.Errorf("wechat: prompt %s: %w", p.ID, err))
		}
		n.nTransient.Add(1)
		return fmt.Errorf("wechat: prompt %s: %w", p.ID, err)
	}
	now = n.c.now()
	n.sent.put(p.ID, struct{}{}, now)
	if msgID != 0 {
		n.c.msgPrompt.put(msgID, SentPrompt{Tenant: p.Tenant, Account: p.Account, ID: p.ID}, now)
	}
	n.nSent.Add(1)
	n.log.Info("template message sent", "prompt", p.ID, "tenant", p.Tenant, "account", p.Account,
		"kind", p.Kind, "msgid", msgID)
	return nil
}

// templateMessage is the body of cgi-bin/message/template/send. It is the
// SDK's message.TemplateMessage without the miniprogram object, which the
// SDK always sends, empty.
type templateMessage struct {
	ToUser      string                               `json:"touser"`
	TemplateID  string                               `json:"template_id"`
	URL         string                               `json:"url,omitempty"`
	Data        map[string]*message.TemplateDataItem `json:"data"`
	ClientMsgID string                               `json:"client_msg_id,omitempty"`
}

// message builds p's template message.
func (n *Notifier) message(p prompts.Prompt, action string) templateMessage {
	f := n.c.opts.Fields
	data := map[string]*message.TemplateDataItem{}
	set := func(key, val string, limit int) {
		if key == "" {
			return
		}
		if val == "" {
			val = "-"
		}
		data[key] = &message.TemplateDataItem{Value: truncate(val, limit)}
	}
	set(f.Action, action, 20)
	set(f.TaxNo, p.TaxNo, 32)
	set(f.Username, p.Username, 20)
	set(f.Phone, p.PhoneMasked, 32)
	expiry := ""
	if !p.ExpiresAt.IsZero() {
		expiry = p.ExpiresAt.In(chinaTime).Format("2006年1月2日 15:04")
	}
	set(f.Expiry, expiry, 32)
	return templateMessage{
		ToUser:      p.OpenID,
		TemplateID:  n.c.cfg.TemplateID,
		URL:         n.c.PromptURL(p),
		Data:        data,
		ClientMsgID: p.ID,
	}
}

// truncate cuts s to limit runes: WeChat refuses (47003) a thing longer
// than 20 characters or a character_string longer than 32.
func truncate(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	return string([]rune(s)[:limit])
}
