// account_sessions.go: an account's client requests and their sessions: the snapshot, single flight (B1) and the bureau's word on a stored session (B4).

package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/taxbureau"
)

// snapshot is an immutable copy of an account's live sessions. The account
// actor publishes a new one after every message it handles; the tenant reads
// it to answer "the session of a logged-in account" without a second hop.
// The actor stays the only writer of the state.
type snapshot struct {
	sessions       sessionSet // shared with the state it was taken of: never written
	certifiedUntil time.Time
}

// ready is the reply for a live session, or nil.
func (s *snapshot) ready(accountID string, ch domain.Channel, action Action, now time.Time) *SessionReply {
	if s == nil {
		return nil
	}
	se, has := s.sessions.get(ch)
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
	a.snap.Store(&snapshot{sessions: a.st.sessions, certifiedUntil: a.st.certifiedUntil})
}

func sameSessions(a, b sessionSet) bool {
	if a.len() != b.len() {
		return false
	}
	for k, v := range a.all() {
		w, has := b.get(k)
		if !has || !w.expiresAt.Equal(v.expiresAt) || w.token.Reveal() != v.token.Reveal() {
			return false
		}
	}
	return true
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

// sessionChecked is the bureau's word on a stored session that a
// person's request was about to be answered with (B4).
type sessionChecked struct {
	requestID string
	channel   domain.Channel
	token     string
	st        taxbureau.SessionStatus
	err       error
}

// ready is the reply for a live session, or nil.
func (a *accountActor) ready(ch domain.Channel, action Action, reqID string) *SessionReply {
	s := snapshot{sessions: a.st.sessions, certifiedUntil: a.st.certifiedUntil}
	r := s.ready(a.ref.ID, ch, action, a.d.clk.Now())
	if r != nil {
		r.RequestID = reqID
	}
	return r
}

func (a *accountActor) onSession(ctx actor.Context, m *serveSession) {
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
		a.addRequest(req)
		a.answerFirst(ctx, req)
		return
	}
	l, err := a.joinLogin(ctx, m.channel)
	if err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	l.requests = append(l.requests, req)
	a.addRequest(req)
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

func failed(reqID, acct string, err error) *SessionReply {
	return &SessionReply{State: RequestFailed, RequestID: reqID, AccountID: acct, Error: domain.AsError(err)}
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

func (a *accountActor) onAwait(ctx actor.Context, m *awaitOutcome) {
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

// onInvalid drops a session the client saw die (B4); the next request logs
// in again. A token that is not the current one is ignored: the session was
// already replaced.
func (a *accountActor) onInvalid(ctx actor.Context, m *dropInvalidSession) {
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
	s, stored := a.st.sessions.get(ch)
	if evs, _ := a.decide(domain.DropSession{Channel: ch, Current: stored && s.token.Reveal() == tok}); len(evs) == 0 {
		return nil
	}
	a.st.sessions = a.st.sessions.without(ch)
	if err := a.saveAudited(who, action, nil); err != nil {
		a.st.sessions = a.st.sessions.with(ch, s)
		return err
	}
	a.d.emit(events.Event{Type: events.EventSessionLost, Tenant: a.tenant, Account: a.ref.ID, TaxNo: a.ref.TaxNo,
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
	a.addRequest(req)
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
