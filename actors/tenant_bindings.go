// tenant_bindings.go: the WeChat binding of accounts: bind (F4), unbind (F7) and change binding (F8).

package actors

import (
	"sort"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// withBinding returns a copy of ref bound to openid ("" unbinds).
func withBinding(ref *accountRef, openid string) *accountRef {
	c := *ref
	c.BoundTo, c.Unreachable = openid, false
	return &c
}

func (t *tenantActor) boundTo(openid string, taxNo string) []*accountRef {
	var out []*accountRef
	for _, r := range t.refs {
		if r.BoundTo == openid && (taxNo == "" || r.TaxNo == taxNo) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// setBinding stores a ref's new binding with its audit event and tells a
// live actor.
func (t *tenantActor) setBinding(ctx actor.Context, ref *accountRef, openid string, ev persistence.AuditEvent) error {
	nr := withBinding(ref, openid)
	if _, err := t.commit(ctx, ev, nil, []*accountRef{nr}); err != nil {
		return err
	}
	t.tellRefs(ctx, []*accountRef{nr})
	return nil
}

func (t *tenantActor) onBind(ctx actor.Context, m *bindAccount) {
	ref := t.refs[m.AccountID]
	if ref == nil {
		ctx.Respond(domain.ErrAccountNotFound)
		return
	}
	if err := domain.CanBind(t.operator(m.OpenID, ref.TaxNo), ref.BoundTo); err != nil {
		t.d.audit(t.id, who(m.OpenID), "account.bind", "account/"+ref.ID, err)
		ctx.Respond(domain.AsError(err))
		return
	}
	err := t.setBinding(ctx, ref, m.OpenID, t.event(who(m.OpenID), "account.bind", "account/"+ref.ID))
	respond(ctx, ok{}, err)
}

func (t *tenantActor) onUnbind(ctx actor.Context, m *unbindAccount) {
	ref, err := t.operable(m.AccountID, m.OpenID)
	if err == nil && ref.BoundTo == "" {
		err = domain.ErrNotBound
	}
	if err != nil {
		t.d.audit(t.id, who(m.OpenID), "account.unbind", "account/"+m.AccountID, err)
		ctx.Respond(domain.AsError(err))
		return
	}
	err = t.setBinding(ctx, ref, "", t.event(who(m.OpenID), "account.unbind", "account/"+m.AccountID))
	respond(ctx, ok{}, err)
}

func (t *tenantActor) onUnbindEnterprise(ctx actor.Context, m *unbindEnterprise) {
	if _, linked := t.rec.Linked[m.OpenID]; !linked {
		ctx.Respond(domain.ErrNotLinked)
		return
	}
	if t.rec.Enterprises[m.TaxNo] == nil {
		ctx.Respond(domain.ErrEnterpriseNotFound)
		return
	}
	var unbound []*accountRef
	for _, r := range t.boundTo(m.OpenID, m.TaxNo) {
		unbound = append(unbound, withBinding(r, ""))
	}
	if _, err := t.commit(ctx, t.event(who(m.OpenID), "enterprise.unbind", "enterprise/"+m.TaxNo), nil, unbound); err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	t.tellRefs(ctx, unbound)
	ctx.Respond(len(unbound))
}

func (t *tenantActor) onRebind(ctx actor.Context, m *changeBinding) {
	ref := t.refs[m.AccountID]
	switch {
	case ref == nil:
		ctx.Respond(domain.ErrAccountNotFound)
	case !t.operator(m.OpenID, "").Linked:
		ctx.Respond(domain.ErrNotLinked)
	case ref.BoundTo == m.OpenID:
		ctx.Respond(domain.ErrSameWeChat)
	case m.Username != ref.Username:
		ctx.Respond(domain.Invalid("username", "请输入该电子税局账号的用户名"))
	case m.Password.IsZero():
		ctx.Respond(domain.Invalid("password", "请输入密码"))
	default:
		t.startFlow(ctx, flowSpec{purpose: purposeRebind, openid: m.OpenID, accountID: ref.ID, taxNo: ref.TaxNo,
			region: ref.Region, username: ref.Username, password: m.Password, loginType: ref.LoginType, business: ref.Business})
	}
}
