// account_login.go: an account's bureau login per channel, shared by its requests (B1): password, SMS code, hosted code and the lock counters (F13).

package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

// loginStage is where a login stands; domain.Machine moves it.
type loginStage = domain.LoginStage

const (
	stageCalling    = domain.LoginCalling    // Login in flight
	stageChallenge  = domain.LoginChallenge  // waiting for a code
	stageSubmitting = domain.LoginSubmitting // SubmitCode in flight
)

// login is a channel's login in progress: one per channel, shared by every
// request that needs it (single flight, B1). nonce, stage, challengeID,
// started and resending mirror the machine's domain.PendingLogin (track);
// the rest is the actor's: timer, prompt, waiting requests, who submitted.
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
	resending   bool      // a new code was asked (domain.ResendCode, resend.go)
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
// machine's guards: lock (F13), refused password (B2), SMS interval and
// budget (B3).
func (a *accountActor) joinLogin(ctx actor.Context, ch domain.Channel) (*login, error) {
	var budget *domain.PhoneBudget
	if a.logins[ch] == nil { // the budget is read only when a login would start
		if b, _, err := a.budget(); err == nil {
			budget = &b
		}
	}
	evs, err := a.decide(domain.StartLogin{Channel: ch, Budget: budget})
	if err != nil {
		return nil, err
	}
	if has[domain.LoginJoined](evs) {
		return a.logins[ch], nil
	}
	a.track(evs)
	l := a.logins[ch]
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
	cmd := domain.LoginAnswered{Channel: m.channel, Nonce: m.nonce}
	cmd.Err, cmd.SessionExpires, cmd.Challenged, cmd.ChallengeID, cmd.PhoneMasked = loginAnswer(m.res, m.err)
	evs, _ := a.decide(cmd)
	l := a.logins[m.channel]
	if len(evs) == 0 || l == nil {
		return
	}
	switch {
	case has[domain.PasswordRefused](evs) || has[domain.FailureCounted](evs):
		// The bureau refused the password (B2) or locked it: counted and
		// audited in one commit, and the person's count (pwguard.go).
		e := ending(evs)
		if err := a.countFailure("system", "login.start", e, evs); err != nil {
			e = domain.AsError(err)
		}
		a.d.notePassword(a.ref.Username, e)
		a.failLogin(ctx, l, e)
	case has[domain.LoginFailed](evs):
		if cmd.Err != nil {
			a.d.audit(a.tenant, "system", "login.start", "account/"+a.ref.ID, cmd.Err)
		}
		a.failLogin(ctx, l, ending(evs))
	case has[domain.LoggedIn](evs):
		a.completeLogin(ctx, l, *m.res.Session, false)
	case has[domain.ChallengeIssued](evs):
		a.challenged(ctx, l, evs)
	}
}

// challenged carries out ChallengeIssued: the code's time and the phone
// are stored, the code spends the budget (B3), the person is prompted
// (F6), the code timer runs, and a hosting provider is asked for the code.
func (a *accountActor) challenged(ctx actor.Context, l *login, evs []domain.Event) {
	if err := a.commitEvents("", "", nil, evs, nil); err != nil {
		a.failLogin(ctx, l, domain.AsError(err))
		return
	}
	a.track(evs)
	now := a.st.lastCodeAt
	a.d.spendSMS(a.ref.Region, a.ref.PersonID, now)
	l.prompt = a.publish(ctx, prompts.KindSMSCode, l.channel, now.Add(a.d.cfg.CodeTTL), "")
	ch, nonce := l.channel, l.nonce
	self, sys := ctx.Self(), ctx.ActorSystem()
	l.timer = a.d.clk.AfterFunc(a.d.cfg.CodeTTL, func() {
		sys.Root.Send(self, &codeExpired{channel: ch, nonce: nonce})
	})
	for _, r := range l.requests {
		a.sendFirst(ctx, r, &SessionReply{State: RequestAwaitingUser, RequestID: r.id, AccountID: a.ref.ID, Prompt: l.prompt})
	}
	for _, e := range evs {
		if c, is := e.(domain.ChallengeIssued); is && c.Hosted {
			a.fetchHostedCode(ctx, l, l.started)
		}
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
	evs, _ := a.decide(domain.HostedCode{Channel: m.channel, Nonce: m.nonce, Err: m.err})
	l := a.logins[m.channel]
	if len(evs) == 0 || l == nil {
		return
	}
	if e := ending(evs); e != nil {
		if err := a.countFailure("system", "login.hosted_code", domain.ErrHostedCodeTimeout, evs); err != nil {
			a.failLogin(ctx, l, domain.AsError(err))
			return
		}
		a.failLogin(ctx, l, e)
		return
	}
	l.submittedBy = ""
	a.submit(ctx, l, m.code, nil, evs)
}

// submit carries out CodeSubmitted: the code goes to the bureau.
func (a *accountActor) submit(ctx actor.Context, l *login, code string, replyTo *actor.PID, evs []domain.Event) {
	a.track(evs)
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
	evs, err := a.decide(domain.SubmitCode{Channel: ch, Code: m.code})
	if err != nil {
		ctx.Respond(err)
		return
	}
	// The submission is audited once the bureau answered, with its outcome:
	// one event, not an "ok" for the typing and a failure for the check.
	l := a.logins[ch]
	l.submittedBy = m.who
	a.submit(ctx, l, m.code, ctx.Sender(), evs)
}

func (a *accountActor) onCodeDone(ctx actor.Context, m *codeDone) {
	l := a.logins[m.channel]
	if l == nil {
		return
	}
	cmd := domain.CodeAnswered{Channel: m.channel, Nonce: m.nonce, SessionExpires: m.sess.ExpiresAt, ByPerson: l.submitter != nil}
	if m.err != nil {
		cmd.Err = bureauError(m.err)
	}
	evs, _ := a.decide(cmd)
	if len(evs) == 0 {
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
	e := cmd.Err
	switch {
	case has[domain.FailureCounted](evs):
		if err := a.countFailure(actor, action, e, evs); err != nil {
			// The failure was not counted: no further code may be
			// tried on this login, or the store's outage would lift
			// the lock policy.
			a.failLogin(ctx, l, domain.AsError(err))
			a.sendTo(ctx, submitter, domain.AsError(err))
			return
		}
		if end := ending(evs); end != nil {
			// Locked, or a hosting provider's code was wrong: nobody
			// is there to type another one.
			a.failLogin(ctx, l, end)
			a.sendTo(ctx, submitter, end)
			return
		}
		a.track(evs)
		a.sendTo(ctx, submitter, e)
	case e != nil:
		if by != "" {
			a.d.audit(a.tenant, by, action, "account/"+a.ref.ID, e)
		}
		if end := ending(evs); end != nil {
			a.failLogin(ctx, l, end)
			a.sendTo(ctx, submitter, end)
			return
		}
		a.track(evs) // the person may try again
		a.sendTo(ctx, submitter, e)
	default:
		if by != "" {
			a.d.audit(a.tenant, by, action, "account/"+a.ref.ID, nil)
		}
		reply := a.completeLogin(ctx, l, m.sess, false)
		a.sendTo(ctx, submitter, reply)
	}
}

func (a *accountActor) onCodeExpired(ctx actor.Context, m *codeExpired) {
	evs, _ := a.decide(domain.CodeTimedOut{Channel: m.channel, Nonce: m.nonce})
	l := a.logins[m.channel]
	if len(evs) == 0 || l == nil {
		return
	}
	if err := a.countFailure("system", "login.code_timeout", domain.ErrCodeExpired, evs); err != nil {
		a.failLogin(ctx, l, domain.AsError(err))
		return
	}
	a.failLogin(ctx, l, ending(evs))
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
	// The machine resets the counters; a QR scan proves nothing about
	// the stored password, so B2's mark stays then.
	evs, err := a.decide(domain.SessionObtained{Channel: ch, ExpiresAt: s.ExpiresAt, ViaQR: viaQR})
	if err == nil {
		err = a.commitEvents("system", "login.ok", nil, evs, func(st *accountState) {
			st.sessions = st.sessions.with(ch, session{token: domain.NewSecret(s.Token), obtainedAt: s.ObtainedAt, expiresAt: s.ExpiresAt})
		})
	}
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
		a.closePrompt(l.prompt, ch, nil)
		delete(a.logins, ch)
	} else if other := a.logins[ch]; other != nil {
		// A QR login completed a channel that was waiting for a code.
		if other.timer != nil {
			other.timer.Stop()
		}
		reqs = other.requests
		a.closePrompt(other.prompt, ch, nil)
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
	a.closePrompt(l.prompt, l.channel, err)
	delete(a.logins, l.channel)
	for _, r := range l.requests {
		a.finish(ctx, r, failed(r.id, a.ref.ID, err))
	}
}

// loginAnswer maps the bureau's answer to a login (or to a resend) onto the
// fields the machine's LoginAnswered and CodeResent share: the refusal, the
// session's end, or the challenge.
func loginAnswer(res taxbureau.LoginResult, err error) (refusal *domain.Error, expires *time.Time, challenged bool, challengeID, phone string) {
	switch {
	case err != nil:
		return bureauError(err), nil, false, "", ""
	case res.Session != nil:
		exp := res.Session.ExpiresAt
		return nil, &exp, false, "", ""
	case res.Challenge != nil:
		return nil, nil, true, res.Challenge.ID, res.Challenge.PhoneMasked
	}
	return nil, nil, false, "", ""
}
