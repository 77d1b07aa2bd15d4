// promptstatus.go: where a prompt stands, as the prompt page shows it.

package actors

import (
	"context"
	"strings"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// PromptState is where a prompt stands, as the prompt page shows it.
type PromptState string

const (
	// PromptPending: the person still has to act (type the code, scan).
	PromptPending PromptState = "pending"
	// PromptSubmitting: a code was typed and the tax bureau is checking it.
	PromptSubmitting PromptState = "submitting"
	// PromptDone: the login or certification it asked for succeeded.
	PromptDone PromptState = "done"
	// PromptFailed: it ended without success (Error says why).
	PromptFailed PromptState = "failed"
	// PromptClosed: not pending and its outcome is no longer known (an
	// older prompt, or the account was passivated since).
	PromptClosed PromptState = "closed"
)

// PromptStatus is one prompt as the prompt page shows it. It holds no secret:
// QRContent is the face-certification QR the person must scan.
type PromptStatus struct {
	ID        string         `json:"id"`
	State     PromptState    `json:"state"`
	Kind      PromptKind     `json:"kind,omitempty"`
	Channel   domain.Channel `json:"channel,omitempty"`
	Message   string         `json:"message,omitempty"`
	ExpiresAt time.Time      `json:"expires_at,omitzero"`
	QRContent string         `json:"qr_content,omitempty"`
	Error     *domain.Error  `json:"error,omitempty"`
	Account   AccountView    `json:"account"`
	// NextCodeAt is when ResendPromptCode may ask for a new code (B3's
	// interval), set while an SMS code prompt is pending; the day's
	// remaining codes are Account.SMSRemaining.
	NextCodeAt time.Time `json:"next_code_at,omitzero"`
}

// recentPrompts remembers how the account's last few prompts ended, so a
// person opening an old message learns whether it worked. It lives in the
// actor only: after passivation an ended prompt reads as closed.
type recentPrompts struct {
	ids  [recentPromptsKept]string
	ends [recentPromptsKept]promptEnd
	next int
}

const recentPromptsKept = 8

type promptEnd struct {
	kind    PromptKind
	channel domain.Channel
	err     *domain.Error
}

// closePrompt remembers how prompt p (nil: none) ended.
func (a *accountActor) closePrompt(p *PromptView, ch domain.Channel, err *domain.Error) {
	if p == nil {
		return
	}
	if a.closed == nil {
		a.closed = &recentPrompts{} // 456 bytes, which most active accounts never need
	}
	a.closed.add(p, ch, err)
}

func (r *recentPrompts) add(p *PromptView, ch domain.Channel, err *domain.Error) {
	r.ids[r.next] = p.ID
	r.ends[r.next] = promptEnd{kind: p.Kind, channel: ch, err: err}
	r.next = (r.next + 1) % recentPromptsKept
}

// find returns how prompt id ended, if r (which may be nil) remembers it.
func (r *recentPrompts) find(id string) (promptEnd, bool) {
	if r == nil {
		return promptEnd{}, false
	}
	for i, v := range r.ids {
		if v == id && id != "" {
			return r.ends[i], true
		}
	}
	return promptEnd{}, false
}

func (a *accountActor) promptStatus(id string) *PromptStatus {
	s := &PromptStatus{ID: id, State: PromptClosed, Account: *a.view()}
	for ch, l := range a.logins {
		if l.prompt != nil && l.prompt.ID == id {
			s.State, s.Kind, s.Channel = PromptPending, l.prompt.Kind, ch
			if l.stage == stageSubmitting {
				s.State = PromptSubmitting
			}
			s.Message, s.ExpiresAt = l.prompt.Message, l.prompt.ExpiresAt
			if l.prompt.Kind == KindSMSCode {
				s.NextCodeAt = a.nextCodeAt()
			}
			return s
		}
	}
	if c := a.cert; c != nil && c.prompt != nil && c.prompt.ID == id {
		s.State, s.Kind = PromptPending, c.prompt.Kind
		if c.polling {
			s.State = PromptSubmitting
		}
		s.Message, s.ExpiresAt, s.QRContent = c.prompt.Message, c.prompt.ExpiresAt, c.prompt.QRContent
		return s
	}
	if end, ok := a.closed.find(id); ok {
		s.Kind, s.Channel, s.State = end.kind, end.channel, PromptDone
		if end.err != nil {
			s.State, s.Error = PromptFailed, end.err
		}
	}
	return s
}

// Prompt reports a prompt of an account for the prompt page, which a WeChat
// message or a login link (F16) opens. openid is the person asking: the
// bound user, or anyone who may operate the account; empty when the caller
// verified a login link instead.
func (e *Engine) Prompt(ctx context.Context, tenant, accountID, promptID, openid string) (*PromptStatus, error) {
	if !validID(promptID) {
		return nil, domain.ErrPromptClosed
	}
	return askAs[*PromptStatus](e, ctx, tenant, &showPrompt{AccountID: accountID, OpenID: openid, PromptID: promptID})
}

// AnswerPrompt passes the code a person typed on the prompt page. It answers
// that prompt's login only: once it ended, the code is refused with
// ErrPromptClosed rather than starting anything new.
func (e *Engine) AnswerPrompt(ctx context.Context, tenant, accountID, promptID, openid, code string) (*SessionReply, error) {
	if !validID(promptID) {
		return nil, domain.ErrPromptClosed
	}
	by := originOf(ctx)
	if by == "" {
		by = who(openid)
	}
	return askAs[*SessionReply](e, ctx, tenant, &answerCode{AccountID: accountID, PromptID: promptID, OpenID: openid,
		Code: strings.TrimSpace(code), Who: by})
}
