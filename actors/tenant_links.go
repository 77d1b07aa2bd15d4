// tenant_links.go: the tenant's WeChat users: linking with the activation code (F1), unlinking (F2) and following the official account (B6).

package actors

import (
	"slices"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/persistence"
)

func (t *tenantActor) onLink(ctx actor.Context, m *linkUser) {
	if _, linked := t.rec.Linked[m.OpenID]; linked {
		ctx.Respond(domain.ErrAlreadyLinked)
		return
	}
	// The user's index lists the tenant first: it may then list a tenant
	// the link did not reach, which its readers check, never miss one.
	if err := t.updateWeChatUser(m.OpenID, true); err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	next := t.rec.clone()
	next.Linked[m.OpenID] = t.d.clk.Now()
	if _, err := t.commit(ctx, t.event("wx:"+m.OpenID, "tenant.link", "tenant/"+t.id), next, nil); err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	ctx.Respond(&TenantInfo{ID: t.id, Name: t.rec.Name})
}

// wechatUser is the wxuser/<openid> record: the tenants a user linked.
type wechatUser struct {
	OpenID  string   `json:"openid"`
	Tenants []string `json:"tenants"`
}

// updateWeChatUser adds or removes this tenant in the user's record. The
// tenants of one user share it: persistence.Update.
func (t *tenantActor) updateWeChatUser(openid string, add bool) error {
	ctx, cancel := t.d.storeCtx()
	defer cancel()
	_, err := persistence.Update(ctx, t.d.store, keyWeChatUser(openid), func(old persistence.Record) ([]byte, error) {
		u := wechatUser{OpenID: openid}
		if old.Value != nil {
			if err := jsonUnmarshal(old.Value, &u); err != nil {
				return nil, err
			}
		}
		ts := []string{}
		for _, id := range u.Tenants {
			if id != t.id {
				ts = append(ts, id)
			}
		}
		if add {
			ts = append(ts, t.id)
		}
		if old.Value != nil && slices.Equal(ts, u.Tenants) {
			return old.Value, nil
		}
		u.Tenants = ts
		return jsonMarshal(u), nil
	})
	if err != nil {
		t.d.log.Error("persist wechat user", "tenant", t.id, "err", err)
		return domain.ErrBusy.Wrap(err)
	}
	return nil
}

func (t *tenantActor) onUnlink(ctx actor.Context, m *unlinkUser) {
	if _, linked := t.rec.Linked[m.OpenID]; !linked {
		ctx.Respond(domain.ErrNotLinked)
		return
	}
	refs := t.boundTo(m.OpenID, "")
	views := make([]AccountView, 0, len(refs))
	for _, r := range refs {
		views = append(views, t.refView(r, m.OpenID))
	}
	if m.Preview {
		ctx.Respond(views)
		return
	}
	// The bindings, the link and the admin grants go in one transaction.
	unbound := make([]*accountRef, len(refs))
	for i, r := range refs {
		unbound[i] = withBinding(r, "")
	}
	next := t.rec.clone()
	delete(next.Linked, m.OpenID)
	for _, e := range next.Enterprises {
		delete(e.Admins, m.OpenID)
	}
	if _, err := t.commit(ctx, t.event("wx:"+m.OpenID, "tenant.unlink", "tenant/"+t.id), next, unbound); err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	t.tellRefs(ctx, unbound)
	// A failure here leaves the tenant in the user's index, which its
	// readers check against the link.
	_ = t.updateWeChatUser(m.OpenID, false)
	ctx.Respond(views)
}

// onSubscription marks the accounts bound to a user who unfollowed the
// official account unreachable: their prompts come as login links (F16) and
// clients hear binding.unreachable (B6). Following again restores WeChat
// delivery.
func (t *tenantActor) onSubscription(ctx actor.Context, m *recordSubscription) {
	for _, ref := range t.boundTo(m.OpenID, "") {
		if ref.Unreachable == !m.Subscribed {
			continue
		}
		nr := *ref
		nr.Unreachable = !m.Subscribed
		action := "wechat.subscribe"
		if !m.Subscribed {
			action = "wechat.unsubscribe"
		}
		if _, err := t.commit(ctx, t.event("wx:"+m.OpenID, action, "account/"+ref.ID), nil, []*accountRef{&nr}); err != nil {
			ctx.Respond(domain.AsError(err))
			return
		}
		t.tellRefs(ctx, []*accountRef{&nr})
		if !m.Subscribed {
			t.d.emit(events.Event{Type: events.EventBindingUnreachable, Tenant: t.id, Account: ref.ID, TaxNo: ref.TaxNo,
				Reason: "unsubscribed"})
		}
	}
	ctx.Respond(ok{})
}
