//go:build linux

package membership_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/etaxd/etaxd/cluster/membership"
	"github.com/etaxd/etaxd/third_party/protoactor/disthash"
)

// The member side of the process tests: TestMain runs memberMain instead
// of the tests when memberEnv is set, so each cluster member is its own OS
// process (several protoactor cluster members in one process race inside
// the library).
const (
	memberEnv   = "GO_WANT_MEMBER"
	clusterName = "etaxd-test"
	probeKind   = "probe"
	actBucket   = "probe_activations"
)

// memberMain runs one member until SIGTERM (exit 0) or eviction
// (membership.ExitEvicted). It answers on NATS:
//
//	member.<name>.call      data: identity → "ok:<host name>" or "err:<reason>"
//	member.<name>.snapshot  → the provider's Snapshot as JSON
func memberMain() int {
	name, natsURL := os.Getenv("MEMBER_NAME"), os.Getenv("MEMBER_NATS")
	port, _ := strconv.Atoi(os.Getenv("MEMBER_PORT"))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", name)
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})).With("component", "protoactor", "node", name)
	fail := func(what string, err error) int {
		log.Error("member: "+what, "error", err)
		return 1
	}
	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1))
	if err != nil {
		return fail("connect", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fail("jetstream", err)
	}
	ctx := context.Background()
	prov, err := membership.New(ctx, js, membership.Config{Name: name, Logger: log, OnEvicted: func(err error) {
		log.Error("member: evicted, exiting", "code", membership.ExitEvicted, "error", err)
		os.Exit(membership.ExitEvicted)
	}})
	if err != nil {
		return fail("membership", err)
	}
	acts, err := js.KeyValue(ctx, actBucket)
	if err != nil {
		return fail("activation bucket", err)
	}
	members, err := js.KeyValue(ctx, membership.DefaultBucket)
	if err != nil {
		return fail("member bucket", err)
	}
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
		actor.WithDeadLetterRequestLogging(false))
	pr := &probeDeps{name: name, id: sys.ID, acts: acts, members: members, log: log}
	kind := cluster.NewKind(probeKind, actor.PropsFromProducer(func() actor.Actor { return &probe{d: pr} }))
	cfg := cluster.Configure(clusterName, prov, disthash.New(), remote.Configure("127.0.0.1", port),
		cluster.WithKinds(kind))
	c := cluster.New(sys, cfg)
	c.StartMember()

	_, err = nc.Subscribe("member."+name+".call", func(m *nats.Msg) {
		go func() {
			if !prov.Serving() {
				_ = m.Respond([]byte("err:not serving"))
				return
			}
			res, err := c.Request(string(m.Data), probeKind, wrapperspb.String(string(m.Data)), cluster.WithTimeout(1500*time.Millisecond))
			if s, ok := res.(*wrapperspb.StringValue); ok && err == nil {
				_ = m.Respond([]byte("ok:" + s.Value))
				return
			}
			_ = m.Respond(fmt.Appendf(nil, "err:%v", err))
		}()
	})
	if err != nil {
		return fail("subscribe", err)
	}
	_, err = nc.Subscribe("member."+name+".snapshot", func(m *nats.Msg) {
		b, _ := json.Marshal(prov.Snapshot())
		_ = m.Respond(b)
	})
	if err != nil {
		return fail("subscribe", err)
	}
	log.Info("member: ready", "id", sys.ID, "port", port)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	<-sig
	c.Shutdown(true)
	nc.Close()
	return 0
}

type probeDeps struct {
	name, id      string
	acts, members jetstream.KeyValue
	log           *slog.Logger
}

// probe is the test grain. Its activation records itself under
// activation/<identity> with a create-only put. A record left by an owner
// whose member key is gone (dead, dropped) is taken over with a
// revision-checked Update; one left by a member still in the bucket means
// two live activations: it is counted under double.<identity>.<member id>.
// Stopping deletes the record, revision-checked.
type probe struct {
	d   *probeDeps
	key string
	rev uint64
}

func (p *probe) Receive(ctx actor.Context) {
	switch msg := ctx.Message().(type) {
	case *actor.Started:
		p.key = "activation/" + cluster.GetClusterIdentity(ctx).Identity
		p.activate()
	case *actor.Stopping:
		if p.rev != 0 {
			kctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = p.d.acts.Delete(kctx, p.key, jetstream.LastRevision(p.rev))
			cancel()
		}
	case *wrapperspb.StringValue:
		_ = msg
		ctx.Respond(wrapperspb.String(p.d.name))
	}
}

func (p *probe) activate() {
	kctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	mine := []byte(p.d.id + " " + p.d.name)
	rev, err := p.d.acts.Create(kctx, p.key, mine)
	if err == nil {
		p.rev = rev
		return
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		p.d.log.Error("probe: record activation", "key", p.key, "error", err)
		return
	}
	e, err := p.d.acts.Get(kctx, p.key)
	if err != nil {
		p.d.log.Error("probe: read activation", "key", p.key, "error", err)
		return
	}
	owner, _, _ := strings.Cut(string(e.Value()), " ")
	if owner != p.d.id {
		if _, err := p.d.members.Get(kctx, owner); err == nil {
			p.d.log.Error("probe: DOUBLE activation", "key", p.key, "owner", string(e.Value()))
			_, _ = p.d.acts.Create(kctx, "double."+strings.TrimPrefix(p.key, "activation/")+"."+p.d.id, mine)
		}
	}
	if rev, err := p.d.acts.Update(kctx, p.key, mine, e.Revision()); err == nil {
		p.rev = rev
	}
}
