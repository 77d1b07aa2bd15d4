package actors

import (
	"context"
	"errors"
	"maps"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

// Messages the tenant sends to an account actor. Each names its reply.
type (
	// accountSession asks for a session (reply SessionReply, maybe later).
	accountSession struct {
		req     SessionRequest
		channel domain.Channel
	}
	// accountAwait asks for a request's outcome (reply SessionReply); with
	// wait set the reply comes when the request finishes.
	accountAwait struct {
		requestID string
		wait      bool
	}
	// accountSubmitCode passes an SMS code (reply SessionReply).
	accountSubmitCode struct {
		requestID string
		promptID  string
		channel   domain.Channel
		code      string
		who       string
	}
	// accountPrompt asks where a prompt stands (reply PromptStatus).
	accountPrompt struct{ id string }
	// accountStartQR opens a QR login (reply QRView).
	accountStartQR struct {
		channel domain.Channel
		app     taxbureau.QRApp
	}
	// accountPollQR polls it (reply QRView).
	accountPollQR struct{ qrID string }
	// accountConfirmCert tells the actor the person finished face
	// certification (reply SessionReply).
	accountConfirmCert struct{}
	// accountUnlock is F13 (reply ok).
	accountUnlock struct{ who string }
	// accountSetPassword stores a new password and unlocks (reply ok).
	accountSetPassword struct {
		password domain.Secret
		who      string
	}
	// accountInvalid reports a dead session (reply ok), B4.
	accountInvalid struct {
		channel domain.Channel
		token   string
		who     string
	}
	// accountView asks for the account's view (reply AccountView).
	accountView struct{}
	// accountErase deletes the account, F10, in one transaction with the
	// tenant's extra ops (reply []uint64, the revisions of extra).
	accountErase struct {
		who string
		// name is the account as people know it, kept in the audit
		// event: after the erase nothing else remembers it.
		name  string
		extra []persistence.Op
	}
	// accountSetRef updates the tenant's entry (binding), no reply.
	accountSetRef struct{ ref accountRef }
	// promptReminder fires PromptReminder after a prompt was published.
	promptReminder struct{ prompt prompts.Prompt }
)

// ok is the reply of commands that return nothing.
type ok struct{}

// Results of asynchronous work, sent by the actor's own goroutines.
type (
	loginDone struct {
		channel domain.Channel
		nonce   uint64
		res     taxbureau.LoginResult
		err     error
	}
	codeDone struct {
		channel domain.Channel
		nonce   uint64
		sess    taxbureau.Session
		err     error
	}
	hostedCode struct {
		channel domain.Channel
		nonce   uint64
		code    string
		err     error
	}
	codeExpired struct {
		channel domain.Channel
		nonce   uint64
	}
	qrStarted struct {
		channel domain.Channel
		app     taxbureau.QRApp
		qr      taxbureau.QRChallenge
		err     error
		replyTo *actor.PID
	}
	qrPolled struct {
		qrID    string
		st      taxbureau.QRStatus
		err     error
		replyTo *actor.PID
	}
	certStarted struct {
		nonce uint64
		fc    taxbureau.FaceChallenge
		err   error
	}
	certPolled struct {
		nonce   uint64
		st      taxbureau.CertStatus
		err     error
		replyTo *actor.PID
	}
	certExpired struct{ nonce uint64 }
	// sessionChecked is the bureau's word on a stored session that a
	// person's request was about to be answered with (B4).
	sessionChecked struct {
		requestID string
		channel   domain.Channel
		token     string
		st        taxbureau.SessionStatus
		err       error
	}
	// passivate is the child's request to its parent to be stopped.
	passivate struct {
		id  string
		pid *actor.PID
	}
)

func (codeExpired) NotInfluenceReceiveTimeout() {}
func (certExpired) NotInfluenceReceiveTimeout() {}

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

// certOp is a face certification in progress.
type certOp struct {
	nonce    uint64
	channel  domain.Channel // whose session the certification was started with
	token    string
	certID   string
	prompt   *PromptView
	timer    clock.Timer
	requests []*clientRequest
	polling  bool
}

// clientRequest is one client's request. Pending replies wait for the
// prompt (first answer); waiters wait for the outcome (long polls).
type clientRequest struct {
	id      string
	channel domain.Channel
	action  Action
	first   []*actor.PID
	waiters []*actor.PID
	final   *SessionReply
	doneAt  time.Time
	// relogged is set once the request started a login because the bureau
	// refused its session; a second refusal ends it (no login loop).
	relogged bool
}

// snapshot is an immutable copy of an account's live sessions. The account
// actor publishes a new one after every message it handles; the tenant reads
// it to answer "the session of a logged-in account" without a second hop.
// The actor stays the only writer of the state.
type snapshot struct {
	sessions       map[domain.Channel]session
	certifiedUntil time.Time
}

// ready is the reply for a live session, or nil.
func (s *snapshot) ready(accountID string, ch domain.Channel, action Action, now time.Time) *SessionReply {
	if s == nil {
		return nil
	}
	se, has := s.sessions[ch]
	if !has || !se.alive(now) {
		return nil
	}
	r := &SessionReply{State: RequestReady, AccountID: accountID,
		Session: &SessionView{Channel: ch, Token: se.token.Reveal(), ExpiresAt: se.expiresAt}}
	if action == ActionCertify {
		if !now.Before(s.certifiedUntil) {
			return nil
		}
		cu := s.certifiedUntil
		r.CertifiedUntil = &cu
	}
	return r
}

type accountActor struct {
	snap   *atomic.Pointer[snapshot]
	d      *deps
	tenant string
	ref    accountRef
	st     *accountState
	rev    uint64
	gone   bool // the record is missing: deleted
	seq    uint64
	logins map[domain.Channel]*login
	cert   *certOp
	closed recentPrompts // how the last prompts ended, for the prompt page
	reqs   map[string]*clientRequest
	qrs    map[string]domain.Channel
}

func newAccountActor(d *deps, tenant string, ref accountRef, snap *atomic.Pointer[snapshot]) actor.Actor {
	return &accountActor{
		d: d, tenant: tenant, ref: ref, snap: snap,
		logins: map[domain.Channel]*login{}, reqs: map[string]*clientRequest{}, qrs: map[string]domain.Channel{},
	}
}

func (a *accountActor) key() string { return keyAccount(a.tenant, a.ref.ID) }

func (a *accountActor) load() error {
	ctx, cancel := a.d.storeCtx()
	defer cancel()
	rec, err := a.d.store.Get(ctx, a.key())
	if errors.Is(err, persistence.ErrNotFound) {
		a.gone = true
		return nil
	}
	if err != nil {
		return err
	}
	st, err := decodeAccount(a.d.seal, a.tenant, a.ref.ID, rec.Value)
	if err != nil {
		return err
	}
	st.lock.Hosted = a.ref.LoginType.Hosted()
	a.st, a.rev = st, rec.Revision
	a.publishSnapshot()
	return nil
}

// change computes the next state on a copy of the current one, commits it
// with its audit event (when action is set) in one transaction, and only
// then makes it the actor's state: the caller acknowledges only after it
// returned nil, and a change the store did not take is never seen. After a
// failed commit the actor reloads what the store holds: a write whose fsync
// failed may have landed, and the store is the truth (persistence,
// "Acknowledgement"). When the reload fails too, the state stays as it was.
func (a *accountActor) change(who, action string, outcome error, mutate func(*accountState)) error {
	next := a.st.clone()
	mutate(next)
	if err := a.commit(next, who, action, outcome); err != nil {
		if lerr := a.load(); lerr != nil {
			a.d.log.Error("reload account", "tenant", a.tenant, "account", a.ref.ID, "err", lerr)
		}
		return err
	}
	a.st = next
	a.publishSnapshot() // before anyone hears of the change
	return nil
}

// clone returns a copy of st that a change may modify: the sessions map is
// copied; secrets are immutable values.
func (st *accountState) clone() *accountState {
	c := *st
	c.sessions = maps.Clone(st.sessions)
	if c.sessions == nil {
		c.sessions = map[domain.Channel]session{}
	}
	return &c
}

// saveAudited commits the state as the caller changed it in place and, when
// action is set, its audit event in the same transaction. The caller
// restores the state when it fails; change is the safer form.
func (a *accountActor) saveAudited(who, action string, outcome error) error {
	if err := a.commit(a.st, who, action, outcome); err != nil {
		if errors.Is(err, persistence.ErrRevisionMismatch) {
			_ = a.load()
		}
		return err
	}
	a.publishSnapshot() // before anyone hears of the change
	return nil
}

// commit writes st as the account's record, with its audit event when
// action is set, and advances the revision. A revision conflict means
// another activation wrote.
func (a *accountActor) commit(st *accountState, who, action string, outcome error) error {
	now := a.d.clk.Now()
	b, err := encodeAccount(a.d.seal, a.tenant, a.ref.ID, st, now)
	if err != nil {
		return domain.ErrInternal.Wrap(err)
	}
	ctx, cancel := a.d.storeCtx()
	defer cancel()
	op := persistence.Op{Key: a.key(), Value: b, Expected: a.rev}
	var revs []uint64
	if action != "" {
		revs, err = a.d.store.CommitAudited(ctx, a.d.event(a.tenant, who, action, "account/"+a.ref.ID, outcome), op)
	} else {
		revs, err = a.d.store.Commit(ctx, op)
	}
	var rev uint64
	if err == nil {
		rev = revs[0]
	}
	if err != nil {
		a.d.log.Error("persist account", "tenant", a.tenant, "account", a.ref.ID, "err", err)
		return domain.ErrBusy.Wrap(err)
	}
	a.rev = rev
	a.d.stats.commits.Add(1)
	return nil
}

func (a *accountActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if err := a.load(); err != nil {
			// Escalate: the supervisor restarts us and Started reloads.
			panic(err)
		}
		a.d.stats.activations.Add(1)
		a.d.stats.active.Add(1)
		ctx.SetReceiveTimeout(a.d.cfg.IdleTimeout)
	case *actor.Stopped:
		a.d.stats.active.Add(-1)
		a.stopTimers()
		a.snap.Store(nil)
		return
	case *actor.Restarting:
		a.d.stats.active.Add(-1)
		a.stopTimers()
		a.snap.Store(nil)
		return
	case *actor.ReceiveTimeout:
		if a.idle() {
			ctx.Send(ctx.Parent(), &passivate{id: a.ref.ID, pid: ctx.Self()})
		}
	case *promptReminder:
		a.onPromptReminder(ctx, m.prompt)
	case *accountSetRef:
		a.ref = m.ref
		if a.st != nil {
			a.st.lock.Hosted = a.ref.LoginType.Hosted()
		}
	default:
		if a.gone {
			a.replyGone(ctx)
			return
		}
		a.handle(ctx, m)
	}
}

// publishSnapshot shares the committed sessions with the tenant, or nothing
// when the account is not loaded. It runs after every successful save, so
// the tenant never answers from a state older than an acknowledged change.
func (a *accountActor) publishSnapshot() {
	if a.st == nil || a.gone {
		a.snap.Store(nil)
		return
	}
	if cur := a.snap.Load(); cur != nil && cur.certifiedUntil.Equal(a.st.certifiedUntil) && sameSessions(cur.sessions, a.st.sessions) {
		return
	}
	ss := make(map[domain.Channel]session, len(a.st.sessions))
	for k, v := range a.st.sessions {
		ss[k] = v
	}
	a.snap.Store(&snapshot{sessions: ss, certifiedUntil: a.st.certifiedUntil})
}

func sameSessions(a, b map[domain.Channel]session) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, has := b[k]
		if !has || !w.expiresAt.Equal(v.expiresAt) || w.token.Reveal() != v.token.Reveal() {
			return false
		}
	}
	return true
}

func (a *accountActor) replyGone(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *accountSession, *accountAwait, *accountSubmitCode, *accountPrompt, *accountStartQR, *accountPollQR,
		*accountConfirmCert, *accountUnlock, *accountSetPassword, *accountInvalid, *accountView, *accountErase, *accountResend:
		ctx.Respond(domain.ErrAccountNotFound)
	}
}

func (a *accountActor) handle(ctx actor.Context, msg any) {
	switch m := msg.(type) {
	case *accountSession:
		a.onSession(ctx, m)
	case *accountAwait:
		a.onAwait(ctx, m)
	case *accountSubmitCode:
		a.onSubmitCode(ctx, m)
	case *accountPrompt:
		ctx.Respond(a.promptStatus(m.id))
	case *accountResend:
		a.onResend(ctx, m)
	case *loginResent:
		a.onLoginResent(ctx, m)
	case *loginDone:
		a.onLoginDone(ctx, m)
	case *codeDone:
		a.onCodeDone(ctx, m)
	case *hostedCode:
		a.onHostedCode(ctx, m)
	case *codeExpired:
		a.onCodeExpired(ctx, m)
	case *accountStartQR:
		a.onStartQR(ctx, m)
	case *qrStarted:
		a.onQRStarted(ctx, m)
	case *accountPollQR:
		a.onPollQR(ctx, m)
	case *qrPolled:
		a.onQRPolled(ctx, m)
	case *certStarted:
		a.onCertStarted(ctx, m)
	case *sessionChecked:
		a.onSessionChecked(ctx, m)
	case *accountConfirmCert:
		a.onConfirmCert(ctx)
	case *certPolled:
		a.onCertPolled(ctx, m)
	case *certExpired:
		if a.cert != nil && a.cert.nonce == m.nonce {
			a.failCert(ctx, domain.ErrQRExpired)
		}
	case *accountUnlock:
		err := a.change(m.who, "account.unlock", nil, func(st *accountState) { st.lock = st.lock.Unlock() })
		respond(ctx, ok{}, err)
	case *accountSetPassword:
		err := a.change("", "", nil, func(st *accountState) {
			st.password, st.sealedPassword = m.password, nil
			st.lock = st.lock.PasswordUpdated()
		})
		respond(ctx, ok{}, err)
	case *accountInvalid:
		a.onInvalid(ctx, m)
	case *accountView:
		ctx.Respond(a.view())
	case *accountErase:
		a.onErase(ctx, m)
	}
}

func respond(ctx actor.Context, v any, err error) {
	if err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	ctx.Respond(v)
}

func (a *accountActor) idle() bool {
	if len(a.logins) > 0 || a.cert != nil || len(a.qrs) > 0 {
		return false
	}
	a.purge()
	return len(a.reqs) == 0
}

func (a *accountActor) stopTimers() {
	for _, l := range a.logins {
		if l.timer != nil {
			l.timer.Stop()
		}
	}
	if a.cert != nil && a.cert.timer != nil {
		a.cert.timer.Stop()
	}
}

// purge drops finished requests older than the retention.
func (a *accountActor) purge() {
	now := a.d.clk.Now()
	for id, r := range a.reqs {
		if r.final != nil && now.Sub(r.doneAt) > a.d.cfg.RequestRetention {
			delete(a.reqs, id)
		}
	}
}

func (a *accountActor) nextNonce() uint64 { a.seq++; return a.seq }

// ready is the reply for a live session, or nil.
func (a *accountActor) ready(ch domain.Channel, action Action, reqID string) *SessionReply {
	s := snapshot{sessions: a.st.sessions, certifiedUntil: a.st.certifiedUntil}
	r := s.ready(a.ref.ID, ch, action, a.d.clk.Now())
	if r != nil {
		r.RequestID = reqID
	}
	return r
}

func (a *accountActor) onSession(ctx actor.Context, m *accountSession) {
	a.d.stats.sessionRequests.Add(1)
	if r := a.ready(m.channel, m.req.Action, ""); r != nil {
		r.RequestID = requestID(a.tenant, a.ref.ID)
		if m.req.OpenID != "" {
			a.checkSession(ctx, m.channel, m.req.Action, r)
			return
		}
		ctx.Respond(r)
		return
	}
	a.purge()
	req := &clientRequest{id: requestID(a.tenant, a.ref.ID), channel: m.channel, action: m.req.Action}
	// A logged-in account that needs certification goes straight to it.
	if m.req.Action == ActionCertify && a.ready(m.channel, ActionLogin, "") != nil {
		if err := a.joinCert(ctx, req); err != nil {
			ctx.Respond(domain.AsError(err))
			return
		}
		a.reqs[req.id] = req
		a.answerFirst(ctx, req)
		return
	}
	l, err := a.joinLogin(ctx, m.channel)
	if err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	l.requests = append(l.requests, req)
	a.reqs[req.id] = req
	a.answerFirst(ctx, req)
}

// answerFirst replies to the requester now when the prompt is known, or
// remembers it until it is.
func (a *accountActor) answerFirst(ctx actor.Context, req *clientRequest) {
	p := a.promptFor(req)
	if p != nil {
		ctx.Respond(&SessionReply{State: RequestAwaitingUser, RequestID: req.id, AccountID: a.ref.ID, Prompt: p})
		return
	}
	if s := ctx.Sender(); s != nil {
		req.first = append(req.first, s)
	}
}

func (a *accountActor) promptFor(req *clientRequest) *PromptView {
	if a.cert != nil {
		for _, r := range a.cert.requests {
			if r == req {
				return a.cert.prompt
			}
		}
	}
	if l := a.logins[req.channel]; l != nil {
		return l.prompt
	}
	return nil
}

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
		a.d.emit(prompts.Event{Type: prompts.EventAccountLocked, Tenant: a.tenant, Account: a.ref.ID, TaxNo: a.ref.TaxNo,
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

// openRequest returns the unfinished request id, or answers the caller
// itself (not found, or the request's outcome) and returns nil.
func (a *accountActor) openRequest(ctx actor.Context, id string) *clientRequest {
	r := a.reqs[id]
	switch {
	case r == nil:
		ctx.Respond(domain.ErrRequestNotFound)
		return nil
	case r.final != nil:
		ctx.Respond(r.final)
		return nil
	}
	return r
}

func (a *accountActor) onSubmitCode(ctx actor.Context, m *accountSubmitCode) {
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

func (a *accountActor) sendTo(ctx actor.Context, pid *actor.PID, v any) {
	if pid != nil {
		ctx.Send(pid, v)
	}
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
	a.d.emit(prompts.Event{Type: prompts.EventSessionReady, Tenant: a.tenant, Account: a.ref.ID, TaxNo: a.ref.TaxNo,
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

func failed(reqID, acct string, err error) *SessionReply {
	return &SessionReply{State: RequestFailed, RequestID: reqID, AccountID: acct, Error: domain.AsError(err)}
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

// finish records a request's outcome and answers everyone waiting for it.
func (a *accountActor) finish(ctx actor.Context, r *clientRequest, reply *SessionReply) {
	if r.final != nil || reply == nil {
		return
	}
	reply.RequestID = r.id
	r.final = reply
	r.doneAt = a.d.clk.Now()
	for _, p := range r.first {
		ctx.Send(p, reply)
	}
	for _, p := range r.waiters {
		ctx.Send(p, reply)
	}
	r.first, r.waiters = nil, nil
}

func (a *accountActor) sendFirst(ctx actor.Context, r *clientRequest, reply *SessionReply) {
	for _, p := range r.first {
		ctx.Send(p, reply)
	}
	r.first = nil
}

func (a *accountActor) onAwait(ctx actor.Context, m *accountAwait) {
	r := a.openRequest(ctx, m.requestID)
	if r == nil {
		return
	}
	if m.wait && ctx.Sender() != nil {
		r.waiters = append(r.waiters, ctx.Sender())
		return
	}
	ctx.Respond(&SessionReply{State: RequestAwaitingUser, RequestID: r.id, AccountID: a.ref.ID, Prompt: a.promptFor(r)})
}

// publish raises a prompt for the bound user (or, with nobody bound or the
// bound user unreachable, for whoever opens the login link) and returns what
// clients are told.
func (a *accountActor) publish(ctx actor.Context, kind prompts.Kind, ch domain.Channel, expires time.Time, qr string) *PromptView {
	now := a.d.clk.Now()
	reach := a.reachable()
	p := prompts.Prompt{
		ID: newID("p"), Tenant: a.tenant, Account: a.ref.ID, Kind: kind, Channel: string(ch),
		PhoneMasked: a.st.phoneMasked, TaxNo: a.ref.TaxNo, Username: a.ref.Username,
		CreatedAt: now, ExpiresAt: expires,
	}
	if reach {
		p.OpenID = a.ref.BoundTo
	}
	p.Message = promptMessage(a.d.cfg.ServiceName, a.st.phoneMasked, a.ref.BoundTo != "", reach)
	if a.d.cfg.LoginLinksOnly {
		p.Message = noWeChatMessage(a.st.phoneMasked)
	}
	a.send(p)
	a.d.stats.prompts.Add(1)
	a.d.emit(prompts.Event{Type: prompts.EventAuthRequired, Tenant: a.tenant, Account: a.ref.ID, TaxNo: a.ref.TaxNo,
		Channel: string(ch), PromptID: p.ID})
	a.armReminder(ctx, p)
	v := &PromptView{ID: p.ID, Kind: kind, Message: p.Message, ExpiresAt: expires, QRContent: qr}
	if !reach {
		v.LoginURL = a.d.loginURL(LoginLink{Tenant: a.tenant, Account: a.ref.ID, Prompt: p.ID, Expires: expires})
	}
	return v
}

// reachable reports whether a notifier can deliver to the bound user.
func (a *accountActor) reachable() bool {
	return !a.d.cfg.LoginLinksOnly && a.ref.BoundTo != "" && !a.ref.Unreachable
}

// noWeChatMessage is what a client is told when no notifier reaches
// people (Config.LoginLinksOnly): nobody gets a WeChat message, the person
// behind the phone must open the login link.
func noWeChatMessage(phoneMasked string) string {
	who := phoneMasked
	if who == "" {
		who = "该账号"
	}
	return "请" + who + "的本人用浏览器打开登录链接完成电子税局登录后再操作（本服务未开通微信公众号通知）"
}

func (a *accountActor) send(p prompts.Prompt) {
	ctx, cancel := a.d.storeCtx()
	defer cancel()
	if err := a.d.pub.Publish(ctx, p); err != nil {
		a.d.log.Error("publish prompt", "tenant", a.tenant, "account", a.ref.ID, "prompt", p.ID, "err", err)
	}
}

// armReminder schedules B5's reminder of p, when p lives long enough.
func (a *accountActor) armReminder(ctx actor.Context, p prompts.Prompt) {
	d := a.d.cfg.PromptReminder
	if d <= 0 || !p.ExpiresAt.After(a.d.clk.Now().Add(d)) {
		return
	}
	self, sys := ctx.Self(), ctx.ActorSystem()
	a.d.clk.AfterFunc(d, func() { sys.Root.Send(self, &promptReminder{prompt: p}) })
}

// onPromptReminder re-sends a prompt nobody answered (B5) to the bound user
// and, with PromptEscalate, asks the tenant to send it to the enterprise's
// admins. An answered or expired prompt is left alone.
func (a *accountActor) onPromptReminder(ctx actor.Context, p prompts.Prompt) {
	if a.promptStatus(p.ID).State != PromptPending {
		return
	}
	r := p
	r.Of, r.ID, r.Reminder, r.CreatedAt = p.ID, p.ID+"r", true, a.d.clk.Now()
	if a.reachable() {
		r.OpenID = a.ref.BoundTo
		a.send(r)
	}
	a.d.audit(a.tenant, "system", "prompt.reminder", "account/"+a.ref.ID, nil)
	if a.d.cfg.PromptEscalate {
		ctx.Send(ctx.Parent(), &tEscalate{prompt: r, boundTo: a.ref.BoundTo})
	}
}

// PromptMessage is the sentence a client shows while a person must act (F6).
// With nobody bound the client gets a browser login link instead (F16).
func PromptMessage(service, phoneMasked string, bound bool) string {
	return promptMessage(service, phoneMasked, bound, bound)
}

func promptMessage(service, phoneMasked string, bound, reachable bool) string {
	if !bound {
		return "电子税局登录失败，该账号未绑定微信，请用浏览器打开登录链接完成登录后再操作"
	}
	if !reachable {
		return "电子税局登录失败，该账号绑定的微信用户已取消关注" + service + "公众号，请用浏览器打开登录链接完成登录后再操作"
	}
	who := phoneMasked
	if who == "" {
		who = "该账号"
	}
	return "请" + who + "绑定的微信用户，前往" + service + "公众号点击收到的登录通知进行操作"
}

// Certification (F14).

func (a *accountActor) joinCert(ctx actor.Context, r *clientRequest) error {
	if a.cert != nil {
		a.cert.requests = append(a.cert.requests, r)
		if a.cert.prompt != nil {
			a.sendFirst(ctx, r, &SessionReply{State: RequestAwaitingUser, RequestID: r.id, AccountID: a.ref.ID, Prompt: a.cert.prompt})
		}
		return nil
	}
	s, okS := a.st.sessions[r.channel]
	if !okS || !s.alive(a.d.clk.Now()) {
		return domain.ErrNotLoggedIn
	}
	c := &certOp{nonce: a.nextNonce(), channel: r.channel, token: s.token.Reveal(), requests: []*clientRequest{r}}
	a.cert = c
	tok, nonce := c.token, c.nonce
	a.d.goAsync(ctx, a.d.cfg.GatewayTimeout, func(cx context.Context) any {
		fc, err := a.d.gw.StartCertification(cx, tok)
		return &certStarted{nonce: nonce, fc: fc, err: err}
	})
	return nil
}

func (a *accountActor) onCertStarted(ctx actor.Context, m *certStarted) {
	c := a.cert
	if c == nil || c.nonce != m.nonce {
		return
	}
	if m.err != nil {
		e := bureauError(m.err)
		if errors.Is(e, domain.ErrNotLoggedIn) {
			a.certSessionLost(ctx, c)
			return
		}
		a.failCert(ctx, e)
		return
	}
	c.certID = m.fc.ID
	c.prompt = a.publish(ctx, prompts.KindFace, "", m.fc.ExpiresAt, m.fc.Content)
	self, sys, nonce := ctx.Self(), ctx.ActorSystem(), c.nonce
	c.timer = a.d.clk.AfterFunc(m.fc.ExpiresAt.Sub(a.d.clk.Now()), func() {
		sys.Root.Send(self, &certExpired{nonce: nonce})
	})
	for _, r := range c.requests {
		a.sendFirst(ctx, r, &SessionReply{State: RequestAwaitingUser, RequestID: r.id, AccountID: a.ref.ID, Prompt: c.prompt})
	}
}

func (a *accountActor) onConfirmCert(ctx actor.Context) {
	c := a.cert
	if c == nil || c.certID == "" {
		ctx.Respond(domain.ErrNoChallenge)
		return
	}
	if c.polling {
		ctx.Respond(domain.ErrBusy)
		return
	}
	c.polling = true
	id, nonce, replyTo := c.certID, c.nonce, ctx.Sender()
	a.d.goAsync(ctx, a.d.cfg.GatewayTimeout, func(cx context.Context) any {
		st, err := a.d.gw.PollCertification(cx, id)
		return &certPolled{nonce: nonce, st: st, err: err, replyTo: replyTo}
	})
}

func (a *accountActor) onCertPolled(ctx actor.Context, m *certPolled) {
	c := a.cert
	if c == nil || c.nonce != m.nonce {
		return
	}
	c.polling = false
	if m.err != nil {
		a.sendTo(ctx, m.replyTo, bureauError(m.err))
		return
	}
	switch m.st.State {
	case taxbureau.QRConfirmed:
		if err := a.change("system", "certify.ok", nil, func(st *accountState) { st.certifiedUntil = m.st.ValidUntil }); err != nil {
			a.sendTo(ctx, m.replyTo, domain.AsError(err))
			return
		}
		if c.timer != nil {
			c.timer.Stop()
		}
		a.cert = nil
		a.closed.add(c.prompt, "", nil)
		var first *SessionReply
		for _, r := range c.requests {
			reply := a.ready(r.channel, ActionLogin, r.id)
			if reply == nil {
				// The channel's session ended during the certification:
				// log in again; the certification stands.
				a.resume(ctx, r)
				continue
			}
			cu := m.st.ValidUntil
			reply.CertifiedUntil = &cu
			a.finish(ctx, r, reply)
			if first == nil {
				first = r.final
			}
		}
		if first == nil {
			first = &SessionReply{State: RequestReady, AccountID: a.ref.ID}
		}
		a.sendTo(ctx, m.replyTo, first)
	case taxbureau.QRExpired:
		a.failCert(ctx, domain.ErrQRExpired)
		a.sendTo(ctx, m.replyTo, domain.ErrQRExpired)
	default:
		a.sendTo(ctx, m.replyTo, &SessionReply{State: RequestAwaitingUser, AccountID: a.ref.ID, Prompt: c.prompt})
	}
}

func (a *accountActor) failCert(ctx actor.Context, err *domain.Error) {
	c := a.cert
	if c.timer != nil {
		c.timer.Stop()
	}
	a.cert = nil
	a.closed.add(c.prompt, "", err)
	for _, r := range c.requests {
		a.finish(ctx, r, failed(r.id, a.ref.ID, err))
	}
}

// QR login (F15).

func (a *accountActor) onStartQR(ctx actor.Context, m *accountStartQR) {
	if err := a.st.lock.LoginGuard(); err != nil && a.st.lock.Lock != nil {
		ctx.Respond(err)
		return
	}
	app := m.app
	if app == "" {
		app = taxbureau.AppTax
	}
	req := taxbureau.QRRequest{Region: a.ref.Region, TaxNo: a.ref.TaxNo, Channel: m.channel, App: app}
	replyTo, ch := ctx.Sender(), m.channel
	a.d.goAsync(ctx, a.d.cfg.GatewayTimeout, func(c context.Context) any {
		qr, err := a.d.gw.StartQR(c, req)
		return &qrStarted{channel: ch, app: app, qr: qr, err: err, replyTo: replyTo}
	})
}

func (a *accountActor) onQRStarted(ctx actor.Context, m *qrStarted) {
	if m.err != nil {
		a.sendTo(ctx, m.replyTo, bureauError(m.err))
		return
	}
	a.qrs[m.qr.ID] = m.channel
	a.sendTo(ctx, m.replyTo, &QRView{QRID: m.qr.ID, App: m.app, Content: m.qr.Content, State: taxbureau.QRWaiting, ExpiresAt: m.qr.ExpiresAt})
}

func (a *accountActor) onPollQR(ctx actor.Context, m *accountPollQR) {
	if _, known := a.qrs[m.qrID]; !known {
		ctx.Respond(domain.ErrNoChallenge)
		return
	}
	id, replyTo := m.qrID, ctx.Sender()
	a.d.goAsync(ctx, a.d.cfg.GatewayTimeout, func(c context.Context) any {
		st, err := a.d.gw.PollQR(c, id)
		return &qrPolled{qrID: id, st: st, err: err, replyTo: replyTo}
	})
}

func (a *accountActor) onQRPolled(ctx actor.Context, m *qrPolled) {
	ch, known := a.qrs[m.qrID]
	if !known {
		return
	}
	view := &QRView{QRID: m.qrID, State: m.st.State}
	if m.err != nil {
		e := bureauError(m.err)
		if errors.Is(e, domain.ErrQRExpired) {
			delete(a.qrs, m.qrID)
			view.State = taxbureau.QRExpired
			a.sendTo(ctx, m.replyTo, view)
			return
		}
		a.sendTo(ctx, m.replyTo, e)
		return
	}
	switch m.st.State {
	case taxbureau.QRConfirmed:
		delete(a.qrs, m.qrID)
		if m.st.Session != nil {
			s := *m.st.Session
			s.Channel = ch
			a.completeLogin(ctx, a.logins[ch], s, true)
		}
	case taxbureau.QRExpired:
		delete(a.qrs, m.qrID)
	}
	a.sendTo(ctx, m.replyTo, view)
}

// onInvalid drops a session the client saw die (B4); the next request logs
// in again. A token that is not the current one is ignored: the session was
// already replaced.
func (a *accountActor) onInvalid(ctx actor.Context, m *accountInvalid) {
	if err := a.dropSession(m.channel, m.token, m.who, "session.invalid", "reported_invalid"); err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	ctx.Respond(ok{})
}

// dropSession forgets the channel's session when its token is still tok,
// commits that with its audit event (action by who) and tells clients
// (session.lost with reason). A session that was replaced meanwhile stays.
func (a *accountActor) dropSession(ch domain.Channel, tok, who, action, reason string) error {
	s, has := a.st.sessions[ch]
	if !has || s.token.Reveal() != tok {
		return nil
	}
	delete(a.st.sessions, ch)
	if err := a.saveAudited(who, action, nil); err != nil {
		a.st.sessions[ch] = s
		return err
	}
	a.d.emit(prompts.Event{Type: prompts.EventSessionLost, Tenant: a.tenant, Account: a.ref.ID, TaxNo: a.ref.TaxNo,
		Channel: string(ch), Reason: reason})
	return nil
}

// reasonBureauInvalid is session.lost's reason when the bureau itself said
// the session is no longer valid.
const reasonBureauInvalid = "bureau_invalid"

// checkSession asks the bureau about the stored session before a person is
// told ready (B4): a person who presses 登录 or 认证 in the personal center
// must not hear 登录成功 for a session the bureau dropped. An ERP's request
// is never checked (the bureau dislikes frequent checks): it is answered from
// the stored session, and the ERP reports a dead one (POST /sessions/invalid).
// The reply goes to the sender once the bureau answered.
func (a *accountActor) checkSession(ctx actor.Context, ch domain.Channel, action Action, ready *SessionReply) {
	a.purge()
	req := &clientRequest{id: ready.RequestID, channel: ch, action: action}
	if s := ctx.Sender(); s != nil {
		req.first = append(req.first, s)
	}
	a.reqs[req.id] = req
	id, tok := req.id, ready.Session.Token
	a.d.goAsync(ctx, a.d.cfg.GatewayTimeout, func(c context.Context) any {
		st, err := a.d.gw.CheckSession(c, tok)
		return &sessionChecked{requestID: id, channel: ch, token: tok, st: st, err: err}
	})
}

func (a *accountActor) onSessionChecked(ctx actor.Context, m *sessionChecked) {
	r := a.reqs[m.requestID]
	if r == nil || r.final != nil {
		return
	}
	if m.err != nil {
		// The bureau cannot say: tell the person rather than claim success.
		a.finish(ctx, r, failed(r.id, a.ref.ID, bureauError(m.err)))
		return
	}
	if !m.st.Alive {
		if err := a.dropSession(m.channel, m.token, "system", "session.lost", reasonBureauInvalid); err != nil {
			a.finish(ctx, r, failed(r.id, a.ref.ID, err))
			return
		}
	}
	a.resume(ctx, r)
}

// certSessionLost handles a certification the bureau refused because the
// session it was started with is no longer valid: the session is dropped
// (committed, session.lost) and every request of the certification goes on
// with a new login in the same client request.
func (a *accountActor) certSessionLost(ctx actor.Context, c *certOp) {
	a.cert = nil
	if err := a.dropSession(c.channel, c.token, "system", "session.lost", reasonBureauInvalid); err != nil {
		for _, r := range c.requests {
			a.finish(ctx, r, failed(r.id, a.ref.ID, err))
		}
		return
	}
	for _, r := range c.requests {
		a.resume(ctx, r)
	}
}

// resume routes a request again after the bureau refused its session: ready
// when the channel's session was replaced meanwhile, certification when the
// channel is logged in, otherwise a login shared with the channel's other
// requests (B1). A request that already logged in again once ends with
// domain.ErrNotLoggedIn instead of looping. The first answer goes to those
// still waiting for it, as soon as the login's prompt is known.
func (a *accountActor) resume(ctx actor.Context, r *clientRequest) {
	if rr := a.ready(r.channel, r.action, r.id); rr != nil {
		a.finish(ctx, r, rr)
		return
	}
	if r.action == ActionCertify && a.ready(r.channel, ActionLogin, "") != nil {
		if err := a.joinCert(ctx, r); err != nil {
			a.finish(ctx, r, failed(r.id, a.ref.ID, err))
		}
		return
	}
	if r.relogged {
		a.finish(ctx, r, failed(r.id, a.ref.ID, domain.ErrNotLoggedIn))
		return
	}
	r.relogged = true
	l, err := a.joinLogin(ctx, r.channel)
	if err != nil {
		a.finish(ctx, r, failed(r.id, a.ref.ID, err))
		return
	}
	l.requests = append(l.requests, r)
	if l.prompt != nil {
		a.sendFirst(ctx, r, &SessionReply{State: RequestAwaitingUser, RequestID: r.id, AccountID: a.ref.ID, Prompt: l.prompt})
	}
}

func (a *accountActor) onErase(ctx actor.Context, m *accountErase) {
	c, cancel := a.d.storeCtx()
	defer cancel()
	ops := append([]persistence.Op{
		{Key: a.key(), Delete: true, Expected: a.rev},
		{Key: keyAccountRef(a.tenant, a.ref.ID), Delete: true, AnyRevision: true},
	}, m.extra...)
	ev := a.d.event(a.tenant, m.who, "account.delete", "account/"+a.ref.ID, nil)
	ev.Detail = m.name
	revs, err := a.d.store.CommitAudited(c, ev, ops...)
	if err != nil {
		a.d.log.Error("erase account", "tenant", a.tenant, "account", a.ref.ID, "err", err)
		if lerr := a.load(); lerr != nil { // the erase may have landed
			a.d.log.Error("reload account", "tenant", a.tenant, "account", a.ref.ID, "err", lerr)
		}
		ctx.Respond(domain.ErrBusy.Wrap(err))
		return
	}
	a.stopTimers()
	for _, l := range a.logins {
		for _, r := range l.requests {
			a.finish(ctx, r, failed(r.id, a.ref.ID, domain.ErrAccountDeleted))
		}
	}
	if a.cert != nil {
		for _, r := range a.cert.requests {
			a.finish(ctx, r, failed(r.id, a.ref.ID, domain.ErrAccountDeleted))
		}
	}
	a.logins, a.cert, a.reqs, a.qrs = map[domain.Channel]*login{}, nil, map[string]*clientRequest{}, map[string]domain.Channel{}
	a.st = nil
	a.gone = true
	a.snap.Store(nil)
	ctx.Respond(revs[2:])
}

func (a *accountActor) view() *AccountView {
	now := a.d.clk.Now()
	v := &AccountView{
		ID: a.ref.ID, TaxNo: a.ref.TaxNo, Region: a.ref.Region, Username: a.ref.Username,
		Role: a.ref.Role, RoleName: a.ref.Role.Name(), Business: a.ref.Business, LoginType: a.ref.LoginType,
		Bound: a.ref.BoundTo != "", BoundOpenID: a.ref.BoundTo, PhoneMasked: a.st.phoneMasked,
		Channels: map[domain.Channel]ChannelView{}, PasswordInvalid: a.st.lock.PasswordInvalid,
	}
	for _, ch := range a.ref.Business.Channels() {
		cv := ChannelView{State: domain.StateLoggedOut}
		if s, has := a.st.sessions[ch]; has && s.alive(now) {
			exp := s.expiresAt
			cv = ChannelView{State: domain.StateLoggedIn, ExpiresAt: &exp}
		} else if a.logins[ch] != nil {
			cv.State = domain.StateLoggingIn
			if a.logins[ch].prompt != nil {
				v.Pending = a.logins[ch].prompt
			}
		}
		cv.Text = cv.State.Text()
		v.Channels[ch] = cv
	}
	if now.Before(a.st.certifiedUntil) {
		cu := a.st.certifiedUntil
		v.CertifiedUntil = &cu
	}
	if a.st.lock.Lock != nil {
		v.Locked, v.LockReason, v.LockReasonText = true, a.st.lock.Lock.Reason, a.st.lock.Lock.Reason.Text()
	}
	v.SMSRemaining = a.d.cfg.SMSPolicy.PerPhonePerDay
	if b, _, err := a.budget(); err == nil {
		v.SMSRemaining = b.Remaining(a.d.cfg.SMSPolicy, now)
	}
	return v
}
