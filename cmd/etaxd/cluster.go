package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/cluster/membership"
	"github.com/etaxd/etaxd/internal/peertls"
	"github.com/etaxd/etaxd/natsbus"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/persistence/kvstore"
	"github.com/etaxd/etaxd/third_party/protoactor/disthash"
)

// Cluster mode's parts of the stack. Every secret the nodes share is
// derived from the master keys, which every node holds: the NATS route
// password and the key of the actor remote's mutual TLS. A node with other
// keys cannot join the routes, cannot talk to the other nodes' actors, and
// refuses to start on the cluster's data (persistence.CheckKeys).

// clusterStartTimeout bounds the wait for a JetStream meta leader and the
// cluster's buckets at start: the other nodes may be starting too.
const clusterStartTimeout = 2 * time.Minute

// derived labels of the shared secrets.
const (
	routeSecretLabel = "nats-route"
	actorSecretLabel = "actor-remote"
)

// openClusterStore starts the routed NATS server (or, with nats.urls,
// connects to the external NATS cluster), waits for JetStream's meta
// leader and opens the store on the cluster's KV bucket (R3), then checks
// that this node's keys open the cluster's data.
func (s *stack) openClusterStore() error {
	o := s.opts
	ctx, cancel := context.WithTimeout(context.Background(), clusterStartTimeout)
	defer cancel()
	if o.NATS.Embedded() {
		if err := s.startRoutedNATS(ctx); err != nil {
			return err
		}
	} else if err := s.connectExternalNATS(ctx); err != nil {
		return err
	}
	kv, err := kvstore.New(ctx, s.bus.JetStream(), kvstore.Options{Replicas: o.StreamReplicas(), ReadyTimeout: clusterStartTimeout})
	if err != nil {
		return fmt.Errorf("cluster: open the store: %w", err)
	}
	s.store = kv
	if err := persistence.CheckKeys(ctx, kv, s.keys); err != nil {
		return fmt.Errorf("cluster: %w: every node needs the same master keys (%s or the key file)", err, o.KeysEnv)
	}
	// The client API's nonces and idempotency answers, shared: a replay or
	// a retry is recognised on any node. The node is not ready before it
	// has followed the nonce log to its end.
	if s.nonces, err = s.bus.OpenNonceLog(ctx, 0); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if s.idempotency, err = s.bus.OpenSharedKV(ctx, natsbus.IdempotencyBucket, natsbus.IdempotencyMaxAge, natsbus.IdempotencyStorage); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// startRoutedNATS starts the embedded NATS server routed to the other
// nodes' and waits for JetStream's meta leader.
func (s *stack) startRoutedNATS(ctx context.Context) error {
	o := s.opts
	pass, err := s.keys.Derive(routeSecretLabel)
	if err != nil {
		return fmt.Errorf("cluster: route password: %w", err)
	}
	s.bus, err = natsbus.StartEmbedded(natsbus.EmbeddedOptions{StoreDir: o.NATSStoreDir(), RelaxedSync: !o.NATS.SyncAlways,
		Listen: o.NATS.Listen, Token: o.NATS.Token, Replicas: o.StreamReplicas(), ServerName: o.Node(),
		Logger:  s.log.With("component", "nats"),
		Cluster: &natsbus.RouteOptions{Listen: o.Cluster.Listen, Routes: o.Cluster.Peers, User: "etaxd", Password: pass}})
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	s.log.Info("cluster: waiting for a JetStream meta leader (a quorum of the nodes in cluster.peers)",
		"peers", len(o.Cluster.Peers), "route", o.Cluster.Listen)
	if err := s.bus.WaitMetaLeader(ctx); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	// A meta leader needs a quorum; the first start's streams need every
	// replica's server: wait for them rather than fail on "no suitable
	// peers" (a node started alone waits for the others). Once the state
	// stream exists, a node starts with a quorum.
	if err := s.bus.WaitPlacement(ctx, o.StreamReplicas(), "KV_"+kvstore.DefaultBucket, s.log); err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return nil
}

// clusterDeps joins the engine to the cluster: membership on a KV bucket
// of the routed NATS, placement by consistent hashing (the patched
// disthash), and the actor remote in mutual TLS.
func (s *stack) clusterDeps() (*actors.ClusterDeps, error) {
	o := s.opts
	secret, err := s.keys.Derive(actorSecretLabel)
	if err != nil {
		return nil, fmt.Errorf("cluster: actor key: %w", err)
	}
	tlsc, err := peertls.New(secret)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	actorListen := o.Cluster.ActorListen
	if !o.NATS.Embedded() {
		// No routes: cluster.listen, the address cluster.peers names, is
		// the actor remote's.
		actorListen = o.Cluster.Listen
	}
	host, port, err := actorAddress(actorListen, o.Cluster.Listen)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterStartTimeout)
	defer cancel()
	log := s.log
	s.members, err = membership.New(ctx, s.bus.JetStream(), membership.Config{Name: o.Node(), Replicas: o.StreamReplicas(),
		Logger: log, OnEvicted: func(err error) {
			log.Error("cluster: this node was evicted (it was paused or cut off longer than the membership TTL); "+
				"exiting so that its supervisor starts it again with a fresh member id", "err", err, "exit_code", membership.ExitEvicted)
			os.Exit(membership.ExitEvicted)
		}})
	if err != nil {
		return nil, fmt.Errorf("cluster: membership: %w", err)
	}
	log.Info("cluster: joining", "node", o.Node(), "actor_address", net.JoinHostPort(host, strconv.Itoa(port)), "tls_key", tlsc.Fingerprint)
	return &actors.ClusterDeps{Name: "etaxd", Host: host, Port: port, Provider: s.members, Lookup: disthash.New(),
		TLS: tlsc, Serving: s.members.Serving, Member: s.members.ID, Alive: s.memberAlive}, nil
}

// actorAddress is where the actor remote listens: cluster.actor_listen,
// or cluster.listen's host on a free port.
func actorAddress(actorListen, routeListen string) (string, int, error) {
	addr := actorListen
	if addr == "" {
		host, _, err := net.SplitHostPort(routeListen)
		if err != nil {
			return "", 0, fmt.Errorf("cluster.listen %q: %w", routeListen, err)
		}
		addr = net.JoinHostPort(host, "0")
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("cluster.actor_listen %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("cluster.actor_listen %q: bad port", addr)
	}
	if port == 0 {
		// protoactor's remote advertises the port it was given: pick a free
		// one here so that the member record carries the real one.
		ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", 0, fmt.Errorf("cluster: find a free actor port on %s: %w", host, err)
		}
		port = ln.Addr().(*net.TCPAddr).Port
		_ = ln.Close()
	}
	return host, port, nil
}

// memberAlive reports whether id is a member this node counts alive.
func (s *stack) memberAlive(id string) bool {
	for _, m := range s.members.Snapshot().Members {
		if m.ID == id {
			return m.Alive
		}
	}
	return false
}
