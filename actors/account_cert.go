// account_cert.go: an account's face certification (F14).

package actors

import (
	"context"

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
	evs, err := a.decide(domain.StartCert{Channel: r.channel})
	if err != nil {
		return err
	}
	if has[domain.CertJoined](evs) {
		a.cert.requests = append(a.cert.requests, r)
		if a.cert.prompt != nil {
			a.sendFirst(ctx, r, &SessionReply{State: RequestAwaitingUser, RequestID: r.id, AccountID: a.ref.ID, Prompt: a.cert.prompt})
		}
		return nil
	}
	a.track(evs)
	c := a.cert
	se, _ := a.st.sessions.get(r.channel)
	c.token, c.requests = se.token.Reveal(), []*clientRequest{r}
	tok, nonce := c.token, c.nonce
	a.d.goAsync(ctx, a.d.cfg.GatewayTimeout, func(cx context.Context) any {
		fc, err := a.d.gw.StartCertification(cx, tok)
		return &certStarted{nonce: nonce, fc: fc, err: err}
	})
	return nil
}

func (a *accountActor) onCertStarted(ctx actor.Context, m *certStarted) {
	cmd := domain.CertAnswered{Nonce: m.nonce, ID: m.fc.ID}
	if m.err != nil {
		cmd.Err = bureauError(m.err)
	}
	evs, _ := a.decide(cmd)
	c := a.cert
	switch {
	case len(evs) == 0:
		return
	case has[domain.CertSessionLost](evs):
		a.certSessionLost(ctx, c)
		return
	case has[domain.CertFailed](evs):
		a.failCert(ctx, ending(evs))
		return
	}
	a.track(evs)
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
	evs, err := a.decide(domain.ConfirmCert{})
	if err != nil {
		ctx.Respond(err)
		return
	}
	a.track(evs)
	c := a.cert
	id, nonce, replyTo := c.certID, c.nonce, ctx.Sender()
	a.d.goAsync(ctx, a.d.cfg.GatewayTimeout, func(cx context.Context) any {
		st, err := a.d.gw.PollCertification(cx, id)
		return &certPolled{nonce: nonce, st: st, err: err, replyTo: replyTo}
	})
}

func (a *accountActor) onCertPolled(ctx actor.Context, m *certPolled) {
	cmd := domain.CertPolled{Nonce: m.nonce, Confirmed: m.st.State == taxbureau.QRConfirmed,
		Expired: m.st.State == taxbureau.QRExpired, ValidUntil: m.st.ValidUntil}
	if m.err != nil {
		cmd.Err = bureauError(m.err)
	}
	evs, _ := a.decide(cmd)
	c := a.cert
	if len(evs) == 0 {
		return
	}
	c.polling = false
	if cmd.Err != nil {
		a.track(evs)
		a.sendTo(ctx, m.replyTo, cmd.Err)
		return
	}
	switch {
	case has[domain.Certified](evs):
		if err := a.commitEvents("system", "certify.ok", nil, evs, nil); err != nil {
			a.sendTo(ctx, m.replyTo, domain.AsError(err))
			return
		}
		if c.timer != nil {
			c.timer.Stop()
		}
		a.cert = nil
		a.closePrompt(c.prompt, "", nil)
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
	case has[domain.CertFailed](evs):
		a.failCert(ctx, ending(evs))
		a.sendTo(ctx, m.replyTo, ending(evs))
	default:
		a.track(evs)
		a.sendTo(ctx, m.replyTo, &SessionReply{State: RequestAwaitingUser, AccountID: a.ref.ID, Prompt: c.prompt})
	}
}

func (a *accountActor) failCert(ctx actor.Context, err *domain.Error) {
	c := a.cert
	if c.timer != nil {
		c.timer.Stop()
	}
	a.cert = nil
	a.closePrompt(c.prompt, "", err)
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
