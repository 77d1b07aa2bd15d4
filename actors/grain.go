// grain.go: cluster mode: the tenant as a protoactor-go grain, placed on one node of the cluster.

package actors

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/peertls"
	"github.com/etaxd/etaxd/persistence"
)

// tenantKind is the grain kind of a tenant; its identity is the tenant id.
const tenantKind = "tenant"

// ClusterDeps put the engine in cluster mode: tenants become grains of the
// kind "tenant", placed among the cluster's members by the identity
// lookup, and the engine of every node asks them through the cluster. The
// tenant grain supervises its accounts as local children, as the tenant
// actor does on a single node.
type ClusterDeps struct {
	// Name is the cluster's name; every node uses the same.
	Name string
	// Host and Port are this node's actor remote address (Port 0: a free
	// port; the member record carries the one in use).
	Host string
	Port int
	// Provider keeps the member list (membership); Lookup places the
	// grains (consistent hashing over the members).
	Provider cluster.ClusterProvider
	Lookup   cluster.IdentityLookup
	// TLS secures the actor remote: every node presents and requires the
	// cluster's certificate. Required: the remote accepts commands.
	TLS *peertls.Configs
	// RequestTimeout bounds one attempt of a request to a grain; default
	// 5 s (the caller's own deadline still applies).
	RequestTimeout time.Duration
	// Member returns this node's member id, and Alive reports whether a
	// member id is in the membership's member set: the placement leases
	// (see placementKey) count a grain activated while the member holding
	// it was still alive. Nil: no leases.
	Member func() string
	Alive  func(memberID string) bool
	// Serving reports whether this node may serve its grains now (the
	// membership's view: its own heartbeat stored within the TTL). A node
	// that was paused longer than that may have been dropped while its
	// tenants moved elsewhere: its grains refuse (ErrBusy, the caller
	// retries) until it is serving again or exits. Nil: always.
	Serving func() bool
}

// clusterState is the engine's side of cluster mode.
type clusterState struct {
	c *cluster.Cluster
	// known caches the tenants that exist (a store read the first time):
	// a made-up tenant id must not place a grain.
	known sync.Map
	// asks counts the requests sent through the cluster (attempts).
	asks atomic.Int64
	// left holds a channel per member address, closed when that member
	// leaves: an attempt waiting on it stops at once (see askCluster).
	mu   sync.Mutex
	left map[string]chan struct{}
}

// activeTenants is the set of tenants whose grain runs on this node.
type activeTenants struct {
	mu sync.Mutex
	m  map[string]time.Time
	// started counts the activations on this node; doubles those that
	// found the tenant held by another live member.
	started, doubles atomic.Int64
}

func (a *activeTenants) add(id string, at time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil {
		a.m = map[string]time.Time{}
	}
	a.m[id] = at
	a.started.Add(1)
}

func (a *activeTenants) remove(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.m, id)
}

func (a *activeTenants) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.m))
	for id := range a.m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// startCluster joins the actor system to the cluster with the tenant kind.
func startCluster(d *deps, sys *actor.ActorSystem, cd *ClusterDeps) (*clusterState, error) {
	if cd.Provider == nil || cd.Lookup == nil || cd.TLS == nil {
		return nil, errors.New("actors: cluster mode needs Provider, Lookup and TLS")
	}
	if cd.Name == "" {
		cd.Name = "etaxd"
	}
	if cd.RequestTimeout <= 0 {
		cd.RequestTimeout = 5 * time.Second
	}
	rc := remote.Configure(cd.Host, cd.Port,
		remote.WithServerOptions(grpc.Creds(credentials.NewTLS(cd.TLS.Server))),
		remote.WithDialOptions(grpc.WithTransportCredentials(credentials.NewTLS(cd.TLS.Client))))
	kind := cluster.NewKind(tenantKind, actor.PropsFromProducer(func() actor.Actor { return &tenantGrain{d: d, cd: cd, serving: cd.Serving} }))
	cfg := cluster.Configure(cd.Name, cd.Provider, cd.Lookup, rc,
		cluster.WithKinds(kind), cluster.WithRequestTimeout(cd.RequestTimeout), cluster.WithRequestLog(false))
	c := cluster.New(sys, cfg)
	var startErr error
	func() {
		// StartMember panics when the provider fails to start.
		defer func() {
			if r := recover(); r != nil {
				startErr = fmt.Errorf("actors: join the cluster: %v", r)
			}
		}()
		c.StartMember()
	}()
	if startErr != nil {
		return nil, startErr
	}
	cs := &clusterState{c: c, left: map[string]chan struct{}{}}
	cs.watchTopology(sys)
	return cs, nil
}

// tenantGrain is a tenant placed on this node. It runs the tenant actor as
// its child, unchanged, and turns the frames that arrive from any node into
// asks to it: the tenant actor and its accounts see only local senders.
type tenantGrain struct {
	d       *deps
	cd      *ClusterDeps
	serving func() bool
	id      string
	tenant  *actor.PID
}

func (g *tenantGrain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.id = m.Identity.Identity
		props := actor.PropsFromProducer(func() actor.Actor { return newTenantActor(g.d, g.id) },
			actor.WithSupervisor(supervisor()), g.d.dispatch())
		pid, err := ctx.SpawnNamed(props, "t")
		if err != nil {
			g.d.log.Error("spawn tenant", "tenant", g.id, "err", err)
			ctx.Stop(ctx.Self())
			return
		}
		g.tenant = pid
		g.d.active.add(g.id, g.d.clk.Now())
		g.takeLease()
	case *actor.Stopped:
		if g.id != "" {
			g.d.active.remove(g.id)
			g.dropLease()
		}
	case *wrapperspb.BytesValue:
		if g.serving != nil && !g.serving() {
			g.reply(ctx, nil, domain.ErrBusy)
			return
		}
		req, cmd, err := decodeRequest(g.d.seal, m.Value)
		if err != nil {
			g.d.log.Warn("refused a cluster frame", "tenant", g.id, "err", err)
			g.reply(ctx, nil, domain.ErrInternal.Wrap(err))
			return
		}
		if req.Tenant != g.id || g.tenant == nil {
			g.reply(ctx, nil, domain.ErrBusy)
			return
		}
		timeout := req.Timeout
		if timeout <= 0 || timeout > g.d.cfg.AskTimeout {
			timeout = g.d.cfg.AskTimeout
		}
		fut := ctx.RequestFuture(g.tenant, cmd, timeout)
		ctx.ReenterAfter(fut, func(res any, err error) { g.reply(ctx, res, err) })
	}
}

// reply answers the current frame's sender with res (or err), sealed.
func (g *tenantGrain) reply(ctx actor.Context, res any, err error) {
	b, eerr := encodeReply(g.d.seal, res, err)
	if eerr != nil {
		g.d.log.Error("encode a cluster reply", "tenant", g.id, "err", eerr)
		b, _ = encodeReply(g.d.seal, nil, domain.ErrInternal)
	}
	ctx.Respond(&wrapperspb.BytesValue{Value: b})
}

// askCluster sends msg to the tenant's grain, wherever it lives, and
// decodes the reply. It does its own attempts rather than protoactor's
// (whose retry back-off is nanoseconds and whose every attempt waits the
// whole timeout): an attempt ends with the reply, or as soon as the member
// it went to leaves the cluster, and the next one asks the placement again.
// A request the dead member received but did not answer may so run twice:
// the tenant's commands are checked against the stored state, so the second
// run finds the first one's change (and may answer with a conflict).
func (e *Engine) askCluster(tenant string, msg any, timeout time.Duration) (any, error) {
	cs := e.cl
	if _, create := msg.(*createTenant); !create {
		if _, has := cs.known.Load(tenant); !has {
			if err := e.tenantExists(tenant); err != nil {
				return nil, err
			}
			cs.known.Store(tenant, struct{}{})
		}
	}
	deadline := time.Now().Add(timeout)
	var last error
	for attempt := 1; ; attempt++ {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return nil, domain.ErrBusy.Wrap(fmt.Errorf("tenant %s: %d attempts: %w", tenant, attempt-1, last))
		}
		pid := cs.c.Get(tenant, tenantKind)
		if pid == nil {
			last = errors.New("no placement")
			time.Sleep(min(remaining, time.Duration(attempt)*50*time.Millisecond))
			continue
		}
		frame, err := encodeRequest(e.d.seal, tenant, msg, remaining)
		if err != nil {
			return nil, domain.ErrInternal.Wrap(err)
		}
		cs.asks.Add(1)
		res, err, gone := cs.await(e.sys.Root.RequestFuture(pid, &wrapperspb.BytesValue{Value: frame}, remaining), pid.Address)
		switch {
		case gone, errors.Is(err, actor.ErrDeadLetter), errors.Is(err, remote.ErrDeadLetter):
			cs.c.PidCache.RemoveByValue(tenant, tenantKind, pid)
			last = fmt.Errorf("member %s left", pid.Address)
			continue
		case err != nil:
			return nil, domain.ErrBusy.Wrap(err)
		}
		bv, ok := res.(*wrapperspb.BytesValue)
		if !ok {
			return nil, domain.ErrBusy.Wrap(fmt.Errorf("cluster reply %T", res))
		}
		return decodeReply(e.d.seal, bv.Value)
	}
}

// await waits for fut, or until the member at address leaves (gone).
func (cs *clusterState) await(fut *actor.Future, address string) (any, error, bool) {
	left := cs.leftSignal(address)
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fut.Result()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err, false
	case <-left:
		return nil, nil, true
	}
}

// leftSignal returns a channel closed when the member at address leaves
// the cluster (or closed already if it has).
func (cs *clusterState) leftSignal(address string) <-chan struct{} {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	ch := cs.left[address]
	if ch == nil {
		ch = make(chan struct{})
		cs.left[address] = ch
	}
	return ch
}

// watchTopology closes the left signals of the members that leave.
func (cs *clusterState) watchTopology(sys *actor.ActorSystem) {
	sys.EventStream.Subscribe(func(evt any) {
		t, ok := evt.(*cluster.ClusterTopology)
		if !ok {
			return
		}
		cs.mu.Lock()
		defer cs.mu.Unlock()
		for _, m := range t.Left {
			addr := m.Address()
			if ch := cs.left[addr]; ch != nil {
				close(ch)
			} else {
				ch := make(chan struct{})
				close(ch)
				cs.left[addr] = ch
			}
		}
		for _, m := range t.Joined { // a new member at a reused address
			addr := m.Address()
			if ch := cs.left[addr]; ch != nil {
				select {
				case <-ch:
					delete(cs.left, addr)
				default:
				}
			}
		}
	})
}

// MemberView is one member of the cluster as this node's actor system
// sees it.
type MemberView struct {
	ID      string   `json:"id"`
	Address string   `json:"address"`
	Kinds   []string `json:"kinds"`
}

// ClusterMembers returns the members this node's actor system routes to,
// by address; nil on a single node.
func (e *Engine) ClusterMembers() []MemberView {
	if e.cl == nil {
		return nil
	}
	var out []MemberView
	for _, m := range e.cl.c.MemberList.Members().Members() {
		out = append(out, MemberView{ID: m.Id, Address: m.Address(), Kinds: m.Kinds})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// ClusterAddress returns this node's actor address; "" on a single node.
func (e *Engine) ClusterAddress() string {
	if e.cl == nil {
		return ""
	}
	return e.sys.Address()
}

// LocalTenants lists the tenants whose grain runs on this node (cluster
// mode; nil on a single node), and how many activations this node ran.
func (e *Engine) LocalTenants() ([]string, int64) {
	if e.cl == nil {
		return nil, 0
	}
	return e.d.active.list(), e.d.active.started.Load()
}

// ClusterAsks returns how many requests this node sent through the cluster.
func (e *Engine) ClusterAsks() int64 {
	if e.cl == nil {
		return 0
	}
	return e.cl.asks.Load()
}

// TenantAddress returns the actor address of the node that hosts tenant's
// grain, placing it if it is not active anywhere. ErrTenantNotFound for a
// tenant that does not exist; "" on a single node.
func (e *Engine) TenantAddress(tenant string) (string, error) {
	if e.cl == nil {
		return "", nil
	}
	if !validID(tenant) {
		return "", domain.ErrTenantNotFound
	}
	if err := e.tenantExists(tenant); err != nil {
		return "", err
	}
	pid := e.cl.c.Get(tenant, tenantKind)
	if pid == nil {
		return "", domain.ErrBusy
	}
	return pid.Address, nil
}

// The placement lease of a tenant (ops/placement/<tenant>) names the member
// whose grain runs it. A grain takes it when it starts and drops it when it
// stops. A grain that starts while the lease names another member that is
// still alive is a double activation: protoactor's placement does not check
// ownership, so two members with diverging views could both run a tenant.
// The store's revision checks keep such a pair from overwriting each
// other's changes; the lease only counts them (DoubleActivations, logged as
// an error), for the operators and the cluster tests. The lease is written
// off the actor (a store call must not block its receive).
func placementKey(tenant string) string { return persistence.PrefixOps + "placement/" + tenant }

// leaseHandover is how long a starting grain waits for the previous
// owner, alive, to drop the lease before it counts a double activation.
const leaseHandover = 3 * time.Second

func (g *tenantGrain) takeLease() {
	if g.cd == nil || g.cd.Member == nil || g.cd.Alive == nil {
		return
	}
	d, id, self, alive := g.d, g.id, g.cd.Member(), g.cd.Alive
	d.bg.Go(func(ctx context.Context) {
		key := placementKey(id)
		var rev uint64
		// A tenant that moves because a member joined is handed over:
		// the old owner stops its grain when it sees the new topology and
		// then drops the lease, which can come a moment after this grain
		// started. Only a lease still held by a live member after
		// leaseHandover is a double activation.
		deadline := time.Now().Add(leaseHandover)
		for {
			gctx, cancel := context.WithTimeout(ctx, d.cfg.StoreTimeout)
			rec, err := d.store.Get(gctx, key)
			cancel()
			if errors.Is(err, persistence.ErrNotFound) {
				rev = 0
				break
			}
			if err != nil {
				d.log.Warn("cluster: read the placement lease", "tenant", id, "err", err)
				return
			}
			rev = rec.Revision
			holder := string(rec.Value)
			if holder == self || !alive(holder) {
				break
			}
			if time.Now().After(deadline) {
				d.active.doubles.Add(1)
				d.log.Error("cluster: tenant activated while another live member holds it", "tenant", id, "holder", holder,
					"waited", leaseHandover)
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		sctx, cancel := context.WithTimeout(ctx, d.cfg.StoreTimeout)
		defer cancel()
		if _, err := persistence.Put(sctx, d.store, key, []byte(self), rev); err != nil && !errors.Is(err, persistence.ErrRevisionMismatch) {
			d.log.Warn("cluster: write the placement lease", "tenant", id, "err", err)
		}
	})
}

func (g *tenantGrain) dropLease() {
	if g.cd == nil || g.cd.Member == nil {
		return
	}
	d, id, self := g.d, g.id, g.cd.Member()
	d.bg.Go(func(ctx context.Context) {
		sctx, cancel := context.WithTimeout(ctx, d.cfg.StoreTimeout)
		defer cancel()
		rec, err := d.store.Get(sctx, placementKey(id))
		if err != nil || string(rec.Value) != self {
			return // another member holds it now
		}
		_, _ = d.store.Commit(sctx, persistence.Op{Key: placementKey(id), Delete: true, Expected: rec.Revision})
	})
}

// DoubleActivations counts the tenant grains this node started while
// another live member held the tenant (see placementKey); 0 on a single
// node.
func (e *Engine) DoubleActivations() int64 { return e.d.active.doubles.Load() }
