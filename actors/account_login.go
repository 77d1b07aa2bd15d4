// account_login.go: an account's bureau login per channel, shared by its requests (B1): password, SMS code, hosted code and the lock counters (F13).

package actors

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

type loginStage int

const (
	stageCalling    loginStage = iota + 1 // Login in flight
	stageChallenge                        // waiting for a code
	stageSubmitting                       // SubmitCode in flight
)

// login is a channel's login in progress: one per channel, shared by every
// request that needs it (single flight, B1).
type login struct {
	channel     domain.Channel
	nonce       uint64
	stage       loginStage
	challengeID string
	prompt      *PromptView
	timer       clock.Timer
	requests    []*clientRequest
	submitter   *actor.PID
	// submittedBy is who typed the code being checked (the audit's actor);
	// "" for a hosting provider's code.
	submittedBy string
	started     time.Time // codes sent from here on belong to this login
	resending   bool      // a new code was asked (resend.go)
}

// loginDone, codeDone, hostedCode and codeExpired are the results of a
// login's asynchronous work, sent by the actor's own goroutines.
type loginDone struct {
	channel domain.Channel
	nonce   uint64
	res     taxbureau.LoginResult
	err     error
}

type codeDone struct {
	channel domain.Channel
	nonce   uint64
	sess    taxbureau.Session
	err     error
}

type hostedCode struct {
	channel domain.Channel
	nonce   uint64
	code    string
	err     error
}

type codeExpired struct {
	channel domain.Channel
	nonce   uint64
}

func (codeExpired) NotInfluenceReceiveTimeout() {}

// joinLogin returns the channel's login in progress, or starts one after the
// guards: lock (F13), refused password (B2), SMS interval and budget (B3).
func (a *accountActor) joinLogin(ctx actor.Context, ch domain.Channel) (*login, error) {
	if l := a.logins[ch]; l != nil {
		return l, nil
	}
	if err := a.st.lock.LoginGuard(); err != nil {
		return nil, err
	}
	now := a.d.clk.Now()
	if err := domain.CheckAccountInterval(a.st.lastCodeAt, a.d.cfg.SMSPolicy, now); err != nil {
		return nil, err
	}
	if b, _, err := a.budget(); err == nil && b.Remaining(a.d.cfg.SMSPolicy, now) <= 0 {
		return nil, domain.ErrSMSBudget
	}
	l := &login{channel: ch, nonce: a.nextNonce(), stage: stageCalling, started: now}
	a.logins[ch] = l
	a.d.stats.bureauLogins.Add(1)
	lr := taxbureau.LoginRequest{Region: a.ref.Region, TaxNo: a.ref.TaxNo, Username: a.ref.Username,
		Password: a.st.password.Reveal(), Channel: ch}
	nonce := l.nonce
	a.d.goAsync(ctx, a.d.cfg.GatewayTimeout, func(c context.Context) any {
		res, err := a.d.gw.Login(c, lr)
		return &loginDone{channel: ch, nonce: nonce, res: res, err: err}
	})
	return l, nil
}

func (a *accountActor) budget() (domain.PhoneBudget, uint64, error) {
	return a.d.budget(a.ref.Region, a.ref.PersonID)
}

func (a *accountActor) onLoginDone(ctx actor.Context, m *loginDone) {
	l := a.logins[m.channel]
	if l == nil || l.nonce != m.nonce {
		return
	}
	if m.err != nil {
		e := bureauError(m.err)
		switch {
		case errors.Is(e, domain.ErrBureauPwdLocked):
			if err := a.change("system", "login.start", e, func(st *accountState) { st.lock.PasswordInvalid = true }); err != nil {
				e = domain.AsError(err)
			}
			a.d.notePassword(a.ref.Username, e)
		case errors.Is(e, domain.ErrWrongPassword):
			if err := a.recordFailure(domain.FailWrongPassword, "login.start", e); err != nil {
				e = domain.AsError(err)
			}
			a.d.notePassword(a.ref.Username, e) // the person's count (pwguard.go)
		default:
			a.d.audit(a.tenant, "system", "login.start", "account/"+a.ref.ID, e)
		}
		a.failLogin(ctx, l, e)
		return
	}
	if m.res.Session != nil {
		a.completeLogin(ctx, l, *m.res.Session, false)
		return
	}
	ch := m.res.Challenge
	if ch == nil {
		a.failLogin(ctx, l, domain.ErrBureauUnavailable.With("", "empty login result"))
		return
	}
	now := a.d.clk.Now()
	if err := a.change("", "", nil, func(st *accountState) { st.lastCodeAt, st.phoneMasked = now, ch.PhoneMasked }); err != nil {
		a.failLogin(ctx, l, domain.AsError(err))
		return
	}
	a.d.spendSMS(a.ref.Region, a.ref.PersonID, now)
	l.stage = stageChallenge
	l.challengeID = ch.ID
	l.prompt = a.publish(ctx, prompts.KindSMSCode, m.channel, now.Add(a.d.cfg.CodeTTL), "")
	nonce := l.nonce
	self, sys := ctx.Self(), ctx.ActorSystem()
	l.timer = a.d.clk.AfterFunc(a.d.cfg.CodeTTL, func() {
		sys.Root.Send(self, &codeExpired{channel: m.channel, nonce: nonce})
	})
	for _, r := range l.requests {
		a.sendFirst(ctx, r, &SessionReply{State: RequestAwaitingUser, RequestID: r.id, AccountID: a.ref.ID, Prompt: l.prompt})
	}
	if a.ref.LoginType.Hosted() {
		a.fetchHostedCode(ctx, l, l.started)
	}
}

func (a *accountActor) fetchHostedCode(ctx actor.Context, l *login, since time.Time) {
	ch, nonce, lt, user := l.channel, l.nonce, a.ref.LoginType, a.ref.Username
	a.d.goAsync(ctx, a.d.cfg.HostedCodeTimeout, func(c context.Context) any {
		code, err := a.d.sms.FetchCode(c, lt, user, since)
		return &hostedCode{channel: ch, nonce: nonce, code: code, err: err}
	})
}

func (a *accountActor) onHostedCode(ctx actor.Context, m *hostedCode) {
	l := a.logins[m.channel]
	if l == nil || l.nonce != m.nonce || l.stage != stageChallenge {
		return
	}
	if m.err != nil {
		if err := a.recordFailure(domain.FailCodeTimeout, "login.hosted_code", domain.ErrHostedCodeTimeout); err != nil {
			a.failLogin(ctx, l, domain.AsError(err))
			return
		}
		a.failLogin(ctx, l, a.lockedOr(domain.ErrHostedCodeTimeout.Wrap(m.err)))
		return
	}
	l.submittedBy = ""
	a.submit(ctx, l, m.code, nil)
}

// recordFailure counts a failed login step (F13, B2), commits it with its
// audit event, and tells clients when it locked the account. When the
// commit fails it returns the store's error, which the caller reports
// instead of the failure or the lock: nothing was counted.
func (a *accountActor) recordFailure(f domain.Failure, action string, outcome error) error {
	return a.recordFailureBy("system", f, action, outcome)
}

// recordFailureBy is recordFailure with who audited as the actor.
func (a *accountActor) recordFailureBy(who string, f domain.Failure, action string, outcome error) error {
	wasLocked := a.st.lock.Lock != nil
	now := a.d.clk.Now()
	err := a.change(who, action, outcome, func(st *accountState) {
		st.lock = st.lock.RecordFailure(f, a.d.cfg.LockPolicy, now)
	})
	if err != nil {
		return err
	}
	if !wasLocked && a.st.lock.Lock != nil {
		a.d.emit(events.Event{Type: events.EventAccountLocked, Tenant: a.tenant, Account: a.ref.ID, TaxNo: a.ref.TaxNo,
			Reason: string(a.st.lock.Lock.Reason)})
	}
	return nil
}

func (a *accountActor) lockedOr(err *domain.Error) *domain.Error {
	if a.st.lock.Lock != nil {
		return domain.LockedError(a.st.lock.Lock.Reason)
	}
	return err
}

func (a *accountActor) submit(ctx actor.Context, l *login, code string, replyTo *actor.PID) {
	l.stage = stageSubmitting
	l.submitter = replyTo
	ch, nonce, id := l.channel, l.nonce, l.challengeID
	a.d.goAsync(ctx, a.d.cfg.GatewayTimeout, func(c context.Context) any {
		s, err := a.d.gw.SubmitCode(c, id, code)
		return &codeDone{channel: ch, nonce: nonce, sess: s, err: err}
	})
}

func (a *accountActor) onSubmitCode(ctx actor.Context, m *submitCode) {
	ch := m.channel
	if m.requestID != "" {
		r := a.openRequest(ctx, m.requestID)
		if r == nil {
			return
		}
		ch = r.channel
	}
	if m.promptID != "" {
		ch = ""
		for c, l := range a.logins {
			if l.prompt != nil && l.prompt.ID == m.promptID {
				ch = c
			}
		}
		if ch == "" {
			ctx.Respond(domain.ErrPromptClosed)
			return
		}
	}
	if ch == "" {
		for c, l := range a.logins {
			if l.stage == stageChallenge {
				ch = c
				break
			}
		}
	}
	l := a.logins[ch]
	if l == nil || l.stage == stageCalling {
		ctx.Respond(domain.ErrNoChallenge)
		return
	}
	if l.stage == stageSubmitting {
		ctx.Respond(domain.ErrBusy.With("验证码正在提交", "a code is being submitted"))
		return
	}
	if !validCode(m.code) {
		ctx.Respond(domain.ErrWrongCode.With("验证码为6位数字", "the code has 6 digits"))
		return
	}
	// The submission is audited once the bureau answered, with its outcome:
	// one event, not an "ok" for the typing and a failure for the check.
	l.submittedBy = m.who
	a.submit(ctx, l, m.code, ctx.Sender())
}

func validCode(c string) bool {
	if len(c) != 6 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return false
		}
	}
	return true
}

func (a *accountActor) onCodeDone(ctx actor.Context, m *codeDone) {
	l := a.logins[m.channel]
	if l == nil || l.nonce != m.nonce || l.stage != stageSubmitting {
		return
	}
	submitter, by := l.submitter, l.submittedBy
	l.submitter, l.submittedBy = nil, ""
	// A person's code is audited as their submission (login.submit_code),
	// a hosting provider's as the code check (login.code).
	action, actor := "login.code", "system"
	if by != "" {
		action, actor = "login.submit_code", by
	}
	if m.err != nil {
		e := bureauError(m.err)
		if errors.Is(e, domain.ErrWrongCode) {
			if err := a.recordFailureBy(actor, domain.FailWrongCode, action, e); err != nil {
				// The failure was not counted: no further code may be
				// tried on this login, or the store's outage would lift
				// the lock policy.
				a.failLogin(ctx, l, domain.AsError(err))
				a.sendTo(ctx, submitter, domain.AsError(err))
				return
			}
			if a.st.lock.Lock != nil || submitter == nil {
				// Locked, or a hosting provider's code was wrong: nobody
				// is there to type another one.
				a.failLogin(ctx, l, a.lockedOr(e))
				a.sendTo(ctx, submitter, a.lockedOr(e))
				return
			}
			l.stage = stageChallenge
			a.sendTo(ctx, submitter, e)
			return
		}
		if by != "" {
			a.d.audit(a.tenant, by, action, "account/"+a.ref.ID, e)
		}
		if errors.Is(e, domain.ErrBureauUnavailable) {
			l.stage = stageChallenge // the person may try again
			a.sendTo(ctx, submitter, e)
			return
		}
		a.failLogin(ctx, l, e)
		a.sendTo(ctx, submitter, e)
		return
	}
	if by != "" {
		a.d.audit(a.tenant, by, action, "account/"+a.ref.ID, nil)
	}
	reply := a.completeLogin(ctx, l, m.sess, false)
	a.sendTo(ctx, submitter, reply)
}

func (a *accountActor) onCodeExpired(ctx actor.Context, m *codeExpired) {
	l := a.logins[m.channel]
	if l == nil || l.nonce != m.nonce || l.stage != stageChallenge {
		return
	}
	if err := a.recordFailure(domain.FailCodeTimeout, "login.code_timeout", domain.ErrCodeExpired); err != nil {
		a.failLogin(ctx, l, domain.AsError(err))
		return
	}
	a.failLogin(ctx, l, a.lockedOr(domain.ErrCodeExpired))
}

// completeLogin stores the session, answers the login's requests and starts
// certification for those that need it. It returns the reply for a person
// who submitted the code.
func (a *accountActor) completeLogin(ctx actor.Context, l *login, s taxbureau.Session, viaQR bool) *SessionReply {
	if l != nil && l.timer != nil {
		l.timer.Stop()
	}
	ch := s.Channel
	if l != nil {
		ch = l.channel
	}
	err := a.change("system", "login.ok", nil, func(st *accountState) {
		st.sessions[ch] = session{token: domain.NewSecret(s.Token), obtainedAt: s.ObtainedAt, expiresAt: s.ExpiresAt}
		if viaQR {
			// A QR scan proves nothing about the stored password (B2 stays).
			st.lock.Counters = domain.Counters{}
		} else {
			st.lock = st.lock.RecordSuccess()
		}
	})
	if err != nil {
		if l != nil {
			a.failLogin(ctx, l, domain.AsError(err))
		}
		return &SessionReply{State: RequestFailed, AccountID: a.ref.ID, Error: domain.AsError(err)}
	}
	exp := s.ExpiresAt
	a.d.emit(events.Event{Type: events.EventSessionReady, Tenant: a.tenant, Account: a.ref.ID, TaxNo: a.ref.TaxNo,
		Channel: string(ch), ExpiresAt: &exp})
	var reqs []*clientRequest
	if l != nil {
		reqs = l.requests
		a.closed.add(l.prompt, ch, nil)
		delete(a.logins, ch)
	} else if other := a.logins[ch]; other != nil {
		// A QR login completed a channel that was waiting for a code.
		if other.timer != nil {
			other.timer.Stop()
		}
		reqs = other.requests
		a.closed.add(other.prompt, ch, nil)
		delete(a.logins, ch)
	}
	var first *SessionReply
	for _, r := range reqs {
		if r.action == ActionCertify {
			if rr := a.ready(ch, ActionCertify, r.id); rr != nil {
				a.finish(ctx, r, rr)
			} else if err := a.joinCert(ctx, r); err != nil {
				a.finish(ctx, r, failed(r.id, a.ref.ID, err))
			}
		} else {
			a.finish(ctx, r, a.ready(ch, ActionLogin, r.id))
		}
		if first == nil && r.final != nil {
			first = r.final
		}
	}
	if first == nil {
		first = a.ready(ch, ActionLogin, "")
	}
	return first
}

func (a *accountActor) failLogin(ctx actor.Context, l *login, err *domain.Error) {
	if l.timer != nil {
		l.timer.Stop()
	}
	a.closed.add(l.prompt, l.channel, err)
	delete(a.logins, l.channel)
	for _, r := range l.requests {
		a.finish(ctx, r, failed(r.id, a.ref.ID, err))
	}
}
