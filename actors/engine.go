// engine.go: the Engine, etaxd's actor system seen from outside: start, stop and the ask to a tenant.

package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

// Deps are the parts an Engine is built from. Store, Sealer, Gateway, SMS and
// Prompts are required; Clock defaults to the wall clock, Logger to
// slog.Default.
type Deps struct {
	Store   persistence.Store
	Sealer  Sealer
	Gateway taxbureau.Gateway
	SMS     taxbureau.SMSProvider
	Prompts prompts.Publisher
	// Events receives client events (B6); nil drops them.
	Events events.EventSink
	Clock  clock.Clock
	Logger *slog.Logger
	// Cluster, when set, runs the engine in cluster mode (see ClusterDeps).
	Cluster *ClusterDeps
}

// Engine is etaxd's actor system seen from outside: every operation of the
// personal center and the client API is a method. It is safe for concurrent
// use. protoactor-go stays behind it.
type Engine struct {
	d       *deps
	sys     *actor.ActorSystem
	root    *actor.PID
	tenants sync.Map // tenant id → *actor.PID
	limiter rateLimiter
	// byAddr and total limit wrong activation codes per client address and
	// across etaxd (across the cluster in cluster mode: sharedLimiter).
	byAddr, total rateLimiter
	keys          apiKeyCache
	stop          sync.Once
	// cl is cluster mode's state; nil on a single node.
	cl *clusterState
}

// Start builds the actor system. Nothing is loaded: tenants and accounts
// activate on first use.
func Start(cfg Config, dp Deps) (*Engine, error) {
	if dp.Store == nil || dp.Sealer == nil || dp.Gateway == nil || dp.SMS == nil || dp.Prompts == nil {
		return nil, errors.New("actors: Store, Sealer, Gateway, SMS and Prompts are required")
	}
	if dp.Clock == nil {
		dp.Clock = clock.Real{}
	}
	if dp.Logger == nil {
		dp.Logger = slog.Default()
	}
	cfg = cfg.withDefaults()
	if err := cfg.LockPolicy.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.PasswordGuard.Validate(); err != nil {
		return nil, err
	}
	if dp.Events == nil {
		dp.Events = events.Discard{}
	}
	d := &deps{cfg: cfg, store: dp.Store, seal: dp.Sealer, gw: dp.Gateway, sms: dp.SMS, pub: dp.Prompts, ev: dp.Events,
		clk: dp.Clock, log: dp.Logger, stats: &Stats{}, bg: newGoroutines(), workers: newWorkers(mailboxThroughput, maxIdleWorkers), clustered: dp.Cluster != nil,
		pwFlows: newAttemptLimiter(cfg.PasswordFlowLimit, cfg.PasswordFlowWindow, dp.Clock)}
	if d.clustered {
		// Every node counts a WeChat user's wrong passwords together.
		d.pwFlows = newSharedLimiter(d, "pwflow", cfg.PasswordFlowLimit, cfg.PasswordFlowWindow)
	}
	var err error
	if d.linkKey, err = loadLinkKey(d); err != nil {
		return nil, fmt.Errorf("load link key: %w", err)
	}
	sweepParkedFlows(d)
	logger := dp.Logger.With("component", "protoactor")
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }),
		actor.WithDeadLetterRequestLogging(false),
		actor.WithDeadLetterThrottleCount(3),
		actor.WithDeadLetterThrottleInterval(time.Minute),
	)
	props := actor.PropsFromProducer(func() actor.Actor { return &rootActor{d: d} }, actor.WithSupervisor(supervisor()), d.dispatch())
	root, err := sys.Root.SpawnNamed(props, "etaxd")
	if err != nil {
		return nil, fmt.Errorf("spawn root: %w", err)
	}
	e := &Engine{d: d, sys: sys, root: root, limiter: newAttemptLimiter(cfg.ActivationLimit, cfg.ActivationWindow, dp.Clock),
		byAddr: newAttemptLimiter(cfg.ActivationPerAddress, cfg.ActivationWindow, dp.Clock),
		total:  newAttemptLimiter(cfg.ActivationTotal, cfg.ActivationWindow, dp.Clock),
		keys:   apiKeyCache{m: map[string]cachedKey{}, ttl: apiKeyTTL}}
	if dp.Cluster != nil {
		e.keys.ttl = clusterAPIKeyTTL
		e.limiter = newSharedLimiter(d, "openid", cfg.ActivationLimit, cfg.ActivationWindow)
		e.byAddr = newSharedLimiter(d, "addr", cfg.ActivationPerAddress, cfg.ActivationWindow)
		e.total = newSharedLimiter(d, "total", cfg.ActivationTotal, cfg.ActivationWindow)
		if e.cl, err = startCluster(d, sys, dp.Cluster); err != nil {
			_ = sys.Root.PoisonFuture(root).Wait()
			sys.Shutdown()
			return nil, err
		}
	}
	return e, nil
}

// Stop stops every actor, children first, and waits for it; then it
// cancels every goroutine the engine started (gateway calls in flight,
// notifier callbacks) and waits for them too. Nothing of the engine runs
// after Stop returned. Stopping a stopped engine does nothing.
func (e *Engine) Stop() {
	e.stop.Do(func() {
		_ = e.sys.Root.PoisonFuture(e.root).Wait()
		if e.cl != nil {
			// Leave the cluster: the other members take over this node's
			// tenants, its grains stop, and the actor system with them.
			e.cl.c.Shutdown(true)
			e.d.bg.stop()
			e.d.workers.stop()
			return
		}
		e.d.bg.stop()
		e.sys.Shutdown()
		e.d.workers.stop()
	})
}

// Stats returns the engine's counters.
func (e *Engine) Stats() StatsSnapshot { return e.d.stats.Snapshot() }

// ask sends msg to the tenant and waits for the reply, within ctx's deadline
// or the configured AskTimeout. A reply that is an error is returned as one.
func (e *Engine) ask(ctx context.Context, tenant string, msg any) (any, error) {
	if !validID(tenant) {
		return nil, domain.ErrTenantNotFound
	}
	timeout := e.d.cfg.AskTimeout
	if dl, has := ctx.Deadline(); has {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return nil, domain.ErrBusy.Wrap(ctx.Err())
		}
	}
	if e.cl != nil {
		return e.askCluster(tenant, msg, timeout)
	}
	for attempt := 0; attempt < 2; attempt++ {
		_, create := msg.(*createTenant)
		pid, err := e.tenantPID(tenant, timeout, create)
		if err != nil {
			return nil, err
		}
		fut := e.sys.Root.RequestFuture(pid, msg, timeout)
		// A cancelled caller completes its own future: nothing waits on. At
		// the deadline the future's own timer (the same instant) does it: a
		// second completion would race inside protoactor's future.
		stop := context.AfterFunc(ctx, func() {
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				e.sys.Root.Send(fut.PID(), domain.ErrBusy.Wrap(context.Canceled))
			}
		})
		res, err := fut.Result()
		stop()
		if errors.Is(err, actor.ErrDeadLetter) {
			e.tenants.Delete(tenant) // the tenant stopped: resolve again
			continue
		}
		if err != nil {
			return nil, domain.ErrBusy.Wrap(err)
		}
		if re, isErr := res.(error); isErr {
			return nil, re
		}
		return res, nil
	}
	return nil, domain.ErrBusy
}

func (e *Engine) tenantPID(tenant string, timeout time.Duration, create bool) (*actor.PID, error) {
	if v, has := e.tenants.Load(tenant); has {
		return v.(*actor.PID), nil
	}
	// Only tenants that exist get an actor: an id made up by a client must
	// not leave one behind.
	if !create {
		if err := e.tenantExists(tenant); err != nil {
			return nil, err
		}
	}
	res, err := e.sys.Root.RequestFuture(e.root, &resolveTenant{tenant: tenant}, timeout).Result()
	if err != nil {
		return nil, domain.ErrBusy.Wrap(err)
	}
	pid, isPID := res.(*actor.PID)
	if !isPID {
		return nil, domain.ErrBusy
	}
	e.tenants.Store(strings.Clone(tenant), pid) // the caller's string may be reused (a web framework's buffer)
	return pid, nil
}

// tenantExists returns nil when the tenant's record exists,
// ErrTenantNotFound when it does not.
func (e *Engine) tenantExists(tenant string) error {
	c, cancel := e.d.storeCtx()
	defer cancel()
	_, err := e.d.store.Get(c, keyTenant(tenant))
	if errors.Is(err, persistence.ErrNotFound) {
		return domain.ErrTenantNotFound
	}
	if err != nil {
		return domain.ErrBusy.Wrap(err)
	}
	return nil
}

func askAs[T any](e *Engine, ctx context.Context, tenant string, msg any) (T, error) {
	var zero T
	res, err := e.ask(ctx, tenant, msg)
	if err != nil {
		return zero, err
	}
	v, isT := res.(T)
	if !isT {
		return zero, domain.ErrInternal.Wrap(fmt.Errorf("unexpected reply %T", res))
	}
	return v, nil
}

type originKey struct{}

// WithOrigin returns ctx carrying who is asking ("key:<id>" for an API key,
// "wx:<openid>" for a WeChat user), recorded in the audit log (B7) by the
// commands that take no openid of their own (Answer, ReportInvalid).
func WithOrigin(ctx context.Context, origin string) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

func originOf(ctx context.Context) string {
	s, _ := ctx.Value(originKey{}).(string)
	return s
}

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the network address a request came
// from (the HTTP client's IP). LinkTenant limits wrong activation codes per
// address. It is not an identity, so it is kept apart from WithOrigin, whose
// value the audit log records as who acted.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

func clientAddrOf(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	return s
}
