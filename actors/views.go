// views.go: the views of accounts as the pages and the API list them.

package actors

import (
	"sort"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
)

// refView is an account's view from the tenant's index only.
func (t *tenantActor) refView(r *accountRef, openid string) AccountView {
	v := AccountView{ID: r.ID, TaxNo: r.TaxNo, Region: r.Region, Username: r.Username, Role: r.Role, RoleName: r.Role.Name(),
		Business: r.Business, LoginType: r.LoginType, Bound: r.BoundTo != "", BoundOpenID: r.BoundTo,
		BoundToMe: openid != "" && r.BoundTo == openid}
	if e := t.rec.Enterprises[r.TaxNo]; e != nil {
		v.EnterpriseName = e.Name
		v.DefaultFor = e.Defaults.Flags(r.ID)
	}
	return v
}

// onList answers with the accounts' views: live actors are asked, idle
// accounts are read from the store without activating them.
func (t *tenantActor) onList(ctx actor.Context, m *listAccounts) {
	if m.openid != "" && !t.operator(m.openid, "").Linked {
		ctx.Respond(domain.ErrNotLinked)
		return
	}
	var refs []*accountRef
	for _, r := range t.refs {
		if m.taxNo == "" || r.TaxNo == m.taxNo {
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
	persons := make([]string, len(refs))
	out := make([]AccountView, len(refs))
	replyTo := ctx.Sender()
	// A live account is asked; the replies come back to this actor
	// (ReenterAfter), so no goroutine waits for them. An idle account is
	// read from the store, and one whose actor does not answer too.
	fill := func(i int, live *AccountView) {
		if live == nil {
			live = storedView(t.d, t.id, base[i], persons[i])
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
		base[i], persons[i] = t.refView(r, m.openid), r.PersonID
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

// storedView builds an idle account's view from its committed record
// without opening its secrets.
func storedView(d *deps, tenant string, b AccountView, person string) *AccountView {
	v := b
	v.Channels = map[domain.Channel]ChannelView{}
	ctx, cancel := d.storeCtx()
	defer cancel()
	rec, err := d.store.Get(ctx, keyAccount(tenant, b.ID))
	var ar accountRecord
	if err == nil {
		_ = jsonUnmarshal(rec.Value, &ar)
	}
	now := d.clk.Now()
	for _, ch := range b.Business.Channels() {
		cv := ChannelView{State: domain.StateLoggedOut}
		if c := ar.Channels[ch]; c != nil && now.Before(c.ExpiresAt) {
			exp := c.ExpiresAt
			cv = ChannelView{State: domain.StateLoggedIn, ExpiresAt: &exp}
		}
		cv.Text = cv.State.Text()
		v.Channels[ch] = cv
	}
	if now.Before(ar.CertifiedUntil) {
		cu := ar.CertifiedUntil
		v.CertifiedUntil = &cu
	}
	v.PhoneMasked, v.PasswordInvalid = ar.PhoneMasked, ar.Lock.PasswordInvalid
	if ar.Lock.Lock != nil {
		v.Locked, v.LockReason, v.LockReasonText = true, ar.Lock.Lock.Reason, ar.Lock.Lock.Reason.Text()
	}
	v.SMSRemaining = d.cfg.SMSPolicy.PerPhonePerDay
	if pb, _, err := d.budget(b.Region, person); err == nil {
		v.SMSRemaining = pb.Remaining(d.cfg.SMSPolicy, now)
	}
	return &v
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
