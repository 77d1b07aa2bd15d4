// tenant_sessions.go: the tenant's session requests: the hot path from the account's snapshot, and codes answered.

package actors

import (
	"errors"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
)

func (t *tenantActor) onSession(ctx actor.Context, m *requestSession) {
	req := m.Req
	ch := req.Business
	if ch != domain.ChannelIssue && ch != domain.ChannelReceive {
		ctx.Respond(domain.ErrInvalidBusiness)
		return
	}
	act, err := domain.ParseAction(string(req.Action))
	if err != nil {
		ctx.Respond(err)
		return
	}
	req.Action = Action(act)
	id := req.AccountID
	if id == "" {
		e := t.rec.Enterprises[req.TaxNo]
		if e == nil {
			ctx.Respond(domain.ErrEnterpriseNotFound)
			return
		}
		var err error
		if id, err = e.Defaults.Resolve(ch.Business()); err != nil || t.refs[id] == nil {
			ctx.Respond(domain.ErrNoDefaultAccount)
			return
		}
	}
	ref, err := t.operable(id, req.OpenID)
	if err != nil {
		ctx.Respond(err)
		return
	}
	if req.TaxNo != "" && req.TaxNo != ref.TaxNo {
		ctx.Respond(domain.ErrAccountNotFound)
		return
	}
	if !ref.Business.Has(ch.Business()) {
		ctx.Respond(domain.ErrBusinessNotAllowed)
		return
	}
	// The hot path: a live session answers from the account's snapshot. A
	// person's request (OpenID set) goes to the account, which checks the
	// session with the bureau first (B4).
	if snap := t.snaps[ref.ID]; snap != nil && t.children[ref.ID] != nil && req.OpenID == "" {
		if r := snap.Load().ready(ref.ID, ch, req.Action, t.d.clk.Now()); r != nil {
			t.d.stats.sessionRequests.Add(1)
			r.RequestID = requestID(t.id, ref.ID)
			ctx.Respond(r)
			return
		}
	}
	t.forward(ctx, ref.ID, &serveSession{req: req, channel: ch})
}

func (t *tenantActor) onAnswer(ctx actor.Context, m *answerCode) {
	acct := m.AccountID
	if m.RequestID != "" {
		_, acct, _ = parseRequestID(m.RequestID)
	}
	ref, err := t.operable(acct, m.OpenID)
	if err != nil {
		if m.RequestID != "" && errors.Is(err, domain.ErrAccountNotFound) {
			err = domain.ErrRequestNotFound
		}
		ctx.Respond(err)
		return
	}
	t.forward(ctx, ref.ID, &submitCode{requestID: m.RequestID, promptID: m.PromptID, channel: m.Channel, code: m.Code, who: m.Who})
}
