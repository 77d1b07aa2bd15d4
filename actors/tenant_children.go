// tenant_children.go: the tenant's account actors: spawned on demand, passivated, restarted and erased (F10).

package actors

import (
	"fmt"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// buffered is a message that arrived for an account while its actor was
// stopping; it is replayed with its original sender.
type buffered struct {
	msg    any
	sender *actor.PID
}

// accountMailbox makes an account actor's mailbox: lock-free queues, which
// take a few bytes while empty, where the default one's user queue is a
// ring of 10 slots (about 230 bytes) from the start. An account gets few
// messages (the tenant answers most requests from its snapshot); there are
// many accounts.
var accountMailbox = actor.UnboundedLockfree()

// forward sends msg to the account's actor, spawning it on demand, with
// the current sender as the reply address.
func (t *tenantActor) forward(ctx actor.Context, accountID string, msg any) {
	t.sendAccount(ctx, accountID, msg, ctx.Sender())
}

func (t *tenantActor) sendAccount(ctx actor.Context, accountID string, msg any, sender *actor.PID) {
	if buf, isStopping := t.stopping[accountID]; isStopping {
		t.stopping[accountID] = append(buf, buffered{msg: msg, sender: sender})
		return
	}
	pid := t.children[accountID]
	if pid == nil {
		ref := t.refs[accountID]
		if ref == nil {
			if sender != nil {
				ctx.Send(sender, domain.ErrAccountNotFound)
			}
			return
		}
		snap := t.snaps[accountID]
		if snap == nil {
			snap = &atomic.Pointer[snapshot]{}
			t.snaps[accountID] = snap
		}
		props := actor.PropsFromProducer(func() actor.Actor { return newAccountActor(t.d, t.id, ref, snap) },
			actor.WithSupervisor(supervisor()), actor.WithMailbox(accountMailbox), t.d.dispatch())
		var err error
		pid, err = ctx.SpawnNamed(props, "a-"+accountID)
		if err != nil {
			t.d.log.Error("spawn account", "tenant", t.id, "account", accountID, "err", err)
			if sender != nil {
				ctx.Send(sender, domain.ErrBusy)
			}
			return
		}
		t.children[accountID] = pid
	}
	if sender != nil {
		ctx.RequestWithCustomSender(pid, msg, sender)
	} else {
		ctx.Send(pid, msg)
	}
}

func (t *tenantActor) onTerminated(ctx actor.Context, m *actor.Terminated) {
	for id, pid := range t.children {
		if pid.Equal(m.Who) {
			delete(t.children, id) // crashed beyond restarts; respawn on demand
			return
		}
	}
	for id, buf := range t.stopping {
		if m.Who.Id == ctx.Self().Id+"/a-"+id {
			delete(t.stopping, id)
			for _, b := range buf {
				t.sendAccount(ctx, id, b.msg, b.sender)
			}
			return
		}
	}
}

// accountName is an account as the audit names it: 用户名（企业名）, the
// account.delete event's Detail, so that the deleted account keeps a name.
func (t *tenantActor) accountName(ref *accountRef) string {
	if e := t.rec.Enterprises[ref.TaxNo]; e != nil && e.Name != "" {
		return ref.Username + "（" + e.Name + "）"
	}
	return ref.Username
}

func (t *tenantActor) onDelete(ctx actor.Context, m *deleteAccount) {
	ref, err := t.operable(m.AccountID, m.OpenID)
	if err != nil {
		t.d.audit(t.id, who(m.OpenID), "account.delete", "account/"+m.AccountID, err)
		ctx.Respond(err)
		return
	}
	id := ref.ID
	// The enterprise's defaults lose the account in the transaction that
	// deletes it (the account actor commits it, the tenant's op checked
	// against the revision it has now).
	var next *tenantRecord
	var extra []persistence.Op
	if e := t.rec.Enterprises[ref.TaxNo]; e != nil && e.Defaults.Flags(id) != 0 {
		next = t.rec.clone()
		next.Enterprises[ref.TaxNo].Defaults = e.Defaults.Without(id)
		extra = []persistence.Op{{Key: keyTenant(t.id), Value: jsonMarshal(next), Expected: t.rev}}
	}
	fut := actor.NewFuture(ctx.ActorSystem(), t.d.cfg.AskTimeout)
	t.sendAccount(ctx, id, &eraseAccount{who: who(m.OpenID), name: t.accountName(ref), extra: extra}, fut.PID())
	replyTo := ctx.Sender()
	ctx.ReenterAfter(fut, func(res any, ferr error) {
		revs, erased := res.([]uint64)
		if ferr == nil && !erased {
			ferr, _ = res.(error)
			if ferr == nil {
				ferr = fmt.Errorf("unexpected reply %T", res)
			}
		}
		if ferr != nil {
			t.reload(ctx) // the tenant's op may have landed with the account's
			ctx.Send(replyTo, domain.ErrBusy.Wrap(ferr))
			return
		}
		delete(t.refs, id)
		if next != nil {
			t.rec, t.rev = next, revs[0]
		}
		if pid := t.children[id]; pid != nil {
			delete(t.children, id)
			t.stopping[id] = nil
			ctx.Poison(pid)
		}
		ctx.Send(replyTo, ok{})
	})
}

// passivate is the child's request to its parent to be stopped.
type passivate struct {
	id  string
	pid *actor.PID
}
