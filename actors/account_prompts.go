// account_prompts.go: an account's prompts to people (F6, F16) and their reminders (B5).

package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/prompts"
)

// remindPrompt fires PromptReminder after a prompt was published.
type remindPrompt struct{ prompt prompts.Prompt }

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
	p.Message = domain.PromptMessage(a.d.cfg.ServiceName, a.st.phoneMasked, a.ref.BoundTo != "", reach)
	if a.d.cfg.LoginLinksOnly {
		p.Message = noWeChatMessage(a.st.phoneMasked)
	}
	a.send(p)
	a.d.stats.prompts.Add(1)
	a.d.emit(events.Event{Type: events.EventAuthRequired, Tenant: a.tenant, Account: a.ref.ID, TaxNo: a.ref.TaxNo,
		Channel: string(ch), PromptID: p.ID})
	a.armReminder(ctx, p)
	v := &PromptView{ID: p.ID, Kind: PromptKind(kind), Message: p.Message, ExpiresAt: expires, QRContent: qr}
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
// people (Config.LoginLinksOnly): domain.NoWeChatMessage.
func noWeChatMessage(phoneMasked string) string { return domain.NoWeChatMessage(phoneMasked) }

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
	a.d.clk.AfterFunc(d, func() { sys.Root.Send(self, &remindPrompt{prompt: p}) })
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
		ctx.Send(ctx.Parent(), &escalatePrompt{prompt: r, boundTo: a.ref.BoundTo})
	}
}

// PromptMessage is the sentence a client shows while a person must act (F6),
// domain.PromptMessage for a bound user who can be reached. With nobody
// bound the client gets a browser login link instead (F16).
func PromptMessage(service, phoneMasked string, bound bool) string {
	return domain.PromptMessage(service, phoneMasked, bound, bound)
}
