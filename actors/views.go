// views.go: the views of accounts as the pages and the API list them.

package actors

import (
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
)

// refView is an account's view from the tenant's index only.
func (t *tenantActor) refView(r *accountRef, openid string) AccountView {
	return buildView(r, openid, t.rec.Enterprises[r.TaxNo], nil, time.Time{})
}

func (t *tenantActor) onList(ctx actor.Context, m *listAccounts) {
	if m.OpenID != "" && !t.operator(m.OpenID, "").Linked {
		ctx.Respond(domain.ErrNotLinked)
		return
	}
	var refs []*accountRef
	for _, r := range t.refs {
		if m.TaxNo == "" || r.TaxNo == m.TaxNo {
			refs = append(refs, r)
		}
	}
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].TaxNo != refs[j].TaxNo {
			return refs[i].TaxNo < refs[j].TaxNo
		}
		return refs[i].CreatedAt.Before(refs[j].CreatedAt) || refs[i].CreatedAt.Equal(refs[j].CreatedAt) && refs[i].ID < refs[j].ID
	})
	base := make([]AccountView, len(refs))
	out := make([]AccountView, len(refs))
	replyTo := ctx.Sender()
	// A live account is asked; the replies come back to this actor
	// (ReenterAfter), so no goroutine waits for them. An idle account is
	// read from the store, and one whose actor does not answer too.
	fill := func(i int, live *AccountView) {
		if live == nil {
			live = t.storedView(refs[i], m.OpenID)
		}
		b, v := base[i], *live
		v.EnterpriseName, v.DefaultFor, v.Bound, v.BoundOpenID, v.BoundToMe = b.EnterpriseName, b.DefaultFor, b.Bound, b.BoundOpenID, b.BoundToMe
		out[i] = v
	}
	pending := 1 // this handler's own share, released below
	release := func() {
		if pending--; pending == 0 {
			ctx.Send(replyTo, out)
		}
	}
	for i, r := range refs {
		base[i] = t.refView(r, m.OpenID)
		pid := t.children[r.ID]
		if pid == nil {
			fill(i, nil)
			continue
		}
		pending++
		ctx.ReenterAfter(ctx.RequestFuture(pid, &describeAccount{}, t.d.cfg.AskTimeout), func(res any, err error) {
			var live *AccountView
			if err == nil {
				live, _ = res.(*AccountView)
			}
			fill(i, live)
			release()
		})
	}
	release()
}

// viewFacts is what an account's view shows of its state, read from the
// live actor or from the stored record alike.
type viewFacts struct {
	phoneMasked    string
	lock           domain.LockState
	sessionEnds    map[domain.Channel]time.Time // each channel's session: when it ends
	certifiedUntil time.Time
	logins         map[domain.Channel]*login // logins in progress: the live actor's only
	smsRemaining   int
}

// buildView is the one builder of an AccountView: the index entry r as
// openid sees it, with its enterprise e (nil: not known to the caller) and
// the account's state f at now (nil: the index alone, without Channels).
func buildView(r *accountRef, openid string, e *enterpriseRecord, f *viewFacts, now time.Time) AccountView {
	v := AccountView{ID: r.ID, TaxNo: r.TaxNo, Region: r.Region, Username: r.Username, Role: r.Role, RoleName: r.Role.Name(),
		Business: r.Business, LoginType: r.LoginType, Bound: r.BoundTo != "", BoundOpenID: r.BoundTo,
		BoundToMe: openid != "" && r.BoundTo == openid}
	if e != nil {
		v.EnterpriseName = e.Name
		v.DefaultFor = e.Defaults.Flags(r.ID)
	}
	if f == nil {
		return v
	}
	v.PhoneMasked, v.PasswordInvalid = f.phoneMasked, f.lock.PasswordInvalid
	v.Channels = map[domain.Channel]ChannelView{}
	for _, ch := range r.Business.Channels() {
		cv := ChannelView{State: domain.StateLoggedOut}
		if exp, has := f.sessionEnds[ch]; has && now.Before(exp) {
			cv = ChannelView{State: domain.StateLoggedIn, ExpiresAt: &exp}
		} else if l := f.logins[ch]; l != nil {
			cv.State = domain.StateLoggingIn
			if l.prompt != nil {
				v.Pending = l.prompt
			}
		}
		cv.Text = cv.State.Text()
		v.Channels[ch] = cv
	}
	if now.Before(f.certifiedUntil) {
		cu := f.certifiedUntil
		v.CertifiedUntil = &cu
	}
	if f.lock.Lock != nil {
		v.Locked, v.LockReason, v.LockReasonText = true, f.lock.Lock.Reason, f.lock.Lock.Reason.Text()
	}
	v.SMSRemaining = f.smsRemaining
	return v
}

// storedView builds an idle account's view from its committed record
// without opening its secrets. A record it cannot read shows as logged out.
func (t *tenantActor) storedView(r *accountRef, openid string) *AccountView {
	ctx, cancel := t.d.storeCtx()
	defer cancel()
	rec, err := t.d.store.Get(ctx, keyAccount(t.id, r.ID))
	var ar accountRecord
	if err == nil {
		_ = jsonUnmarshal(rec.Value, &ar)
	}
	now := t.d.clk.Now()
	f := &viewFacts{phoneMasked: ar.PhoneMasked, lock: ar.Lock, sessionEnds: map[domain.Channel]time.Time{},
		certifiedUntil: ar.CertifiedUntil, smsRemaining: t.d.smsRemaining(r.Region, r.PersonID, now)}
	for ch, c := range ar.Channels {
		if c != nil {
			f.sessionEnds[ch] = c.ExpiresAt
		}
	}
	v := buildView(r, openid, t.rec.Enterprises[r.TaxNo], f, now)
	return &v
}

// view is the live account's view. The tenant adds what its index knows
// better: the enterprise, the defaults and the binding as openid sees it.
func (a *accountActor) view() *AccountView {
	now := a.d.clk.Now()
	f := &viewFacts{phoneMasked: a.st.phoneMasked, lock: a.st.lock, sessionEnds: map[domain.Channel]time.Time{},
		certifiedUntil: a.st.certifiedUntil, logins: a.logins, smsRemaining: a.d.smsRemaining(a.ref.Region, a.ref.PersonID, now)}
	for ch, s := range a.st.sessions.all() {
		if !s.token.IsZero() {
			f.sessionEnds[ch] = s.expiresAt
		}
	}
	v := buildView(a.ref, "", nil, f, now)
	return &v
}
