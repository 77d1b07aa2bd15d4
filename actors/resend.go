// resend.go: 重新获取验证码: a new SMS code for a flow or a login (B3).

package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

// 重新获取验证码: a person on a code page asks the bureau for a new code.
// The same B3 guards apply as when a login or a flow first asks for one:
// one code per account every SMSPolicy.PerAccountInterval, and the day's
// budget of the person's phone. The bureau has no "send again" of its own,
// so a new code is a new challenge: the login (or the reset) is started
// again and its challenge replaces the old one.

// Messages of a resend.
type (
	// resendFlowCode asks a flow of openid's for a new code (reply FlowReply).
	resendFlowCode struct{ FlowID, OpenID string }
	// flowResend is resendFlowCode handed to the flow.
	flowResend struct{}
	// flowResent is the bureau's answer to a flow's resend.
	flowResent struct {
		res     taxbureau.LoginResult
		reset   taxbureau.Challenge
		err     error
		replyTo *actor.PID
	}
)

// ResendFlowCode asks the tax bureau for a new SMS code of a verification
// flow awaiting one (F3, F8, F9, F11). It is refused with ErrSMSTooFrequent
// (RetryAfter is the real wait) within the interval since the flow's last
// code, with ErrSMSBudget when the person's phone has no code left today,
// with ErrNotPermitted when the flow is another person's, and with
// ErrNoChallenge when the flow awaits no code a person types (ended, hosted,
// or a QR). The reply is awaiting_code with the new NextCodeAt and
// SMSRemaining.
func (e *Engine) ResendFlowCode(ctx context.Context, tenant, flowID, openid string) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &resendFlowCode{FlowID: flowID, OpenID: openid})
}

// onFlowResend refuses another person's flow outright: asking for a code
// spends the owner's SMS budget.
func (t *tenantActor) onFlowResend(ctx actor.Context, m *resendFlowCode) {
	if t.lookupFlow(ctx, m.FlowID) != nil && t.flowOwners[m.FlowID] != m.OpenID {
		ctx.Respond(domain.ErrNotPermitted)
		return
	}
	t.toFlow(ctx, m.FlowID, m.OpenID, &flowResend{})
}

// smsRemaining is how many codes the person's phone may still get today in
// region; the whole day's budget while the person is not known yet.
func (d *deps) smsRemaining(region, person string, now time.Time) int {
	if b, _, err := d.budget(region, person); err == nil {
		return b.Remaining(d.cfg.SMSPolicy, now)
	}
	return d.cfg.SMSPolicy.PerPhonePerDay
}

// person is whose phone the flow's codes go to.
func (f *flowActor) person() string {
	if f.personID != "" {
		return f.personID
	}
	return f.spec.personID
}

// codeSent records a code the bureau just sent for the flow (B3).
func (f *flowActor) codeSent() {
	now := f.d.clk.Now()
	f.codeAt = now
	f.d.spendSMS(f.spec.region, f.person(), now)
}

// typesCode reports whether the flow waits for a code a person types.
func (f *flowActor) typesCode() bool {
	return f.challenge.ID != "" && f.qr == nil && f.code == "" && !f.spec.loginType.Hosted()
}

// codeReply is the awaiting_code reply, with when the next code may be
// asked and the day's remaining budget.
func (f *flowActor) codeReply() *FlowReply {
	p := f.d.cfg.SMSPolicy
	return &FlowReply{FlowID: f.spec.id, State: FlowAwaitingCode, PhoneMasked: f.challenge.PhoneMasked,
		ExpiresAt: f.challenge.ExpiresAt, NextCodeAt: p.NextCodeAt(f.codeAt),
		SMSRemaining: f.d.smsRemaining(f.spec.region, f.person(), f.d.clk.Now())}
}

func (f *flowActor) onResend(ctx actor.Context) {
	if f.busy {
		ctx.Respond(domain.ErrBusy)
		return
	}
	if !f.typesCode() {
		ctx.Respond(domain.ErrNoChallenge)
		return
	}
	now := f.d.clk.Now()
	if err := domain.CheckResendInterval(f.codeAt, f.d.cfg.SMSPolicy, now); err != nil {
		ctx.Respond(err)
		return
	}
	if err := f.d.checkSMSBudget(f.spec.region, f.person(), now); err != nil {
		ctx.Respond(err)
		return
	}
	f.busy = true
	replyTo := ctx.Sender()
	if f.spec.purpose == purposeReset {
		req := taxbureau.ResetRequest{Region: f.spec.region, Username: f.spec.username, IDType: f.spec.idType, IDNumber: f.spec.idNumber}
		f.d.goAsync(ctx, f.d.cfg.GatewayTimeout, func(c context.Context) any {
			ch, err := f.d.gw.StartReset(c, req)
			return &flowResent{reset: ch, err: err, replyTo: replyTo}
		})
		return
	}
	login := f.loginCall()
	f.d.goAsync(ctx, f.d.cfg.GatewayTimeout, func(c context.Context) any {
		res, err := login(c)
		return &flowResent{res: res, err: err, replyTo: replyTo}
	})
}

// onResent takes the new challenge. A refusal leaves the old one standing:
// its code may still arrive.
func (f *flowActor) onResent(ctx actor.Context, m *flowResent) {
	f.busy = false
	f.replyTo = m.replyTo
	if m.err != nil {
		ctx.Send(m.replyTo, bureauError(m.err))
		return
	}
	ch := &m.reset
	if f.spec.purpose != purposeReset {
		if m.res.Session != nil {
			f.verified(ctx, m.res.Session)
			return
		}
		ch = m.res.Challenge
	}
	if ch == nil || ch.ID == "" {
		ctx.Send(m.replyTo, domain.ErrBureauUnavailable.With("", "empty resend result"))
		return
	}
	f.challenge = *ch
	f.codeSent()
	f.park()
	ctx.Send(m.replyTo, f.codeReply())
}

// A pending login prompt's 重新获取 (the prompt page, a login link).
type (
	// resendPromptCode asks for a new code of a login prompt (reply
	// PromptStatus).
	resendPromptCode struct{ AccountID, OpenID, PromptID, Who string }
	// resendCode is resendPromptCode handed to the account.
	resendCode struct{ promptID, who string }
	// loginResent is the bureau's answer to a login's resend.
	loginResent struct {
		channel domain.Channel
		nonce   uint64
		res     taxbureau.LoginResult
		err     error
		who     string
		replyTo *actor.PID
	}
)

// ResendPromptCode asks the tax bureau for a new SMS code of a pending
// login prompt, under the same B3 guards as a login: ErrSMSTooFrequent (with
// the real wait) within the account's interval, ErrSMSBudget with the day's
// codes spent. A hosted account's code is fetched automatically: it is
// refused with ErrNoChallenge. The new code replaces the old one within the
// prompt's validity (the prompt and its login link keep their expiry). The
// reply is the prompt with the new NextCodeAt.
func (e *Engine) ResendPromptCode(ctx context.Context, tenant, accountID, promptID, openid string) (*PromptStatus, error) {
	if !validID(promptID) {
		return nil, domain.ErrPromptClosed
	}
	by := originOf(ctx)
	if by == "" {
		by = who(openid)
	}
	return askAs[*PromptStatus](e, ctx, tenant, &resendPromptCode{AccountID: accountID, OpenID: openid, PromptID: promptID, Who: by})
}

func (t *tenantActor) onPromptResend(ctx actor.Context, m *resendPromptCode) {
	ref, err := t.operable(m.AccountID, m.OpenID)
	if err != nil {
		ctx.Respond(err)
		return
	}
	t.forward(ctx, ref.ID, &resendCode{promptID: m.PromptID, who: m.Who})
}

// nextCodeAt is when the account may be sent its next code (B3).
func (a *accountActor) nextCodeAt() time.Time {
	return a.d.cfg.SMSPolicy.NextCodeAt(a.st.lastCodeAt)
}

// onResend asks the bureau for a new code of the prompt's login, once the
// machine allowed it (domain.ResendCode).
func (a *accountActor) onResend(ctx actor.Context, m *resendCode) {
	var l *login
	for _, x := range a.logins {
		if x.prompt != nil && x.prompt.ID == m.promptID {
			l = x
		}
	}
	if l == nil {
		ctx.Respond(domain.ErrPromptClosed)
		return
	}
	var budget *domain.PhoneBudget
	if b, _, err := a.budget(); err == nil {
		budget = &b
	}
	evs, err := a.decide(domain.ResendCode{Channel: l.channel, Budget: budget})
	if err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	a.track(evs)
	lr := taxbureau.LoginRequest{Region: a.ref.Region, TaxNo: a.ref.TaxNo, Username: a.ref.Username,
		Password: a.st.password.Reveal(), Channel: l.channel}
	ch, nonce, by, replyTo := l.channel, l.nonce, m.who, ctx.Sender()
	a.d.goAsync(ctx, a.d.cfg.GatewayTimeout, func(c context.Context) any {
		res, err := a.d.gw.Login(c, lr)
		return &loginResent{channel: ch, nonce: nonce, res: res, err: err, who: by, replyTo: replyTo}
	})
}

// onLoginResent carries out the machine's decision on the bureau's answer
// (domain.CodeResent): a new challenge is stored with the code's time and
// the phone, spends the budget and is audited; a refusal leaves the old one
// standing; a session completes the login.
func (a *accountActor) onLoginResent(ctx actor.Context, m *loginResent) {
	cmd := domain.CodeResent{Channel: m.channel, Nonce: m.nonce}
	cmd.Err, cmd.SessionExpires, cmd.Challenged, cmd.ChallengeID, cmd.PhoneMasked = loginAnswer(m.res, m.err)
	evs, _ := a.decide(cmd)
	l := a.logins[m.channel]
	if len(evs) == 0 || l == nil {
		ctx.Send(m.replyTo, domain.ErrPromptClosed)
		return
	}
	for _, e := range evs {
		switch e := e.(type) {
		case domain.ResendFailed:
			a.track(evs)
			ctx.Send(m.replyTo, e.Err)
		case domain.LoggedIn:
			a.completeLogin(ctx, l, *m.res.Session, false)
			ctx.Send(m.replyTo, a.promptStatus(l.prompt.ID))
		case domain.ChallengeReissued:
			if err := a.commitEvents("", "", nil, evs, nil); err != nil {
				e := domain.AsError(err)
				a.track([]domain.Event{domain.ResendFailed{Channel: l.channel, Err: e}})
				ctx.Send(m.replyTo, e)
				return
			}
			a.track(evs)
			a.d.spendSMS(a.ref.Region, a.ref.PersonID, a.st.lastCodeAt)
			a.d.audit(a.tenant, m.who, "login.resend_code", "account/"+a.ref.ID, nil)
			ctx.Send(m.replyTo, a.promptStatus(l.prompt.ID))
		}
	}
}
