// account_cert.go: an account's face certification (F14).

package actors

import (
	"context"
	"errors"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

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

// certStarted, certPolled and certExpired are the results of a
// certification's asynchronous work, sent by the actor's own goroutines.
type certStarted struct {
	nonce uint64
	fc    taxbureau.FaceChallenge
	err   error
}

type certPolled struct {
	nonce   uint64
	st      taxbureau.CertStatus
	err     error
	replyTo *actor.PID
}

type certExpired struct{ nonce uint64 }

func (certExpired) NotInfluenceReceiveTimeout() {}

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
