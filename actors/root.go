// root.go: the root actor, which spawns and routes to the tenant actors.

package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
)

// toTenant routes a command to a tenant actor through the root.
type toTenant struct {
	tenant string
	msg    any
}

// resolveTenant asks the root for a tenant actor's PID (reply *actor.PID),
// spawning it on demand; the engine caches it to skip the root hop.
type resolveTenant struct{ tenant string }

// rootActor supervises one tenant actor per tenant (OneForOne: a crashed
// tenant restarts alone and reloads from the store).
type rootActor struct {
	d       *deps
	tenants map[string]*actor.PID
}

// supervisor restarts a failing child up to 10 times a minute; a restarted
// actor rebuilds its state from the store in Started.
func supervisor() actor.SupervisorStrategy { return restartStrategy }

// restartStrategy is shared by every actor: a one-for-one strategy keeps
// no state of its own (the restart counts are each child's).
var restartStrategy = actor.NewOneForOneStrategy(10, time.Minute, func(reason any) actor.Directive {
	return actor.RestartDirective
})

func (r *rootActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		r.tenants = map[string]*actor.PID{}
	case *toTenant:
		pid := r.tenant(ctx, m.tenant)
		if pid == nil {
			ctx.Respond(domain.ErrBusy)
			return
		}
		ctx.RequestWithCustomSender(pid, m.msg, ctx.Sender())
	case *resolveTenant:
		if pid := r.tenant(ctx, m.tenant); pid != nil {
			ctx.Respond(pid)
		} else {
			ctx.Respond(domain.ErrBusy)
		}
	case *actor.Terminated:
		for id, pid := range r.tenants {
			if pid.Equal(m.Who) {
				delete(r.tenants, id)
			}
		}
	}
}

func (r *rootActor) tenant(ctx actor.Context, id string) *actor.PID {
	if pid := r.tenants[id]; pid != nil {
		return pid
	}
	if r.d.clustered {
		// In cluster mode a tenant runs only as its grain (grain.go): a
		// local actor beside it would be a second activation.
		r.d.log.Error("cluster mode: the root was asked for a local tenant actor; refused", "tenant", id)
		return nil
	}
	props := actor.PropsFromProducer(func() actor.Actor { return newTenantActor(r.d, id) },
		actor.WithSupervisor(supervisor()), r.d.dispatch())
	pid, err := ctx.SpawnNamed(props, "t-"+id)
	if err != nil {
		r.d.log.Error("spawn tenant", "tenant", id, "err", err)
		return nil
	}
	r.tenants[id] = pid
	return pid
}
