package natsbus

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/natsbus/jsutil"
)

// RouteOptions join the embedded server to a NATS cluster of etaxd nodes:
// each node's server routes to every other, and JetStream replicates
// etaxd's streams across them (RAFT). Every node must use the same Name,
// User and Password.
type RouteOptions struct {
	// Name is the NATS cluster's name; default "etaxd".
	Name string
	// Listen is this server's route address (host:port, a fixed port).
	Listen string
	// Routes are the other servers' route addresses (host:port). This
	// server's own may be among them: nats-server ignores a route to itself.
	Routes []string
	// User and Password authenticate the routes: a server that does not
	// present them cannot join (and so cannot read etaxd's streams).
	User     string
	Password string
}

// ClusterMaxPayload is a routed server's max_payload: a state record of
// persistence.MaxValueLen (1 MiB) with its subject and headers.
const ClusterMaxPayload = 2 << 20

// ErrNoMetaLeader is returned by WaitMetaLeader when JetStream found no
// meta leader in time: fewer than a quorum of the cluster's servers are
// reachable.
// It is jsutil.ErrNoMetaLeader.
var ErrNoMetaLeader = jsutil.ErrNoMetaLeader

// apply sets the route part of so.
func (r *RouteOptions) apply(so *server.Options) error {
	host, port, err := splitHostPort(r.Listen)
	if err != nil {
		return fmt.Errorf("natsbus: route address %q: %w", r.Listen, err)
	}
	if port <= 0 {
		return fmt.Errorf("natsbus: route address %q needs a fixed port", r.Listen)
	}
	if r.User == "" || r.Password == "" {
		return errors.New("natsbus: route User and Password are required")
	}
	name := r.Name
	if name == "" {
		name = "etaxd"
	}
	// NoAdvertise: a client learns no other server's client URL (a
	// node's is a loopback port of its own process, or its ERPs' port).
	so.Cluster = server.ClusterOpts{Name: name, Host: host, Port: port, Username: r.User, Password: r.Password, NoAdvertise: true}
	for _, a := range r.Routes {
		if a == r.Listen {
			continue
		}
		if _, _, err := splitHostPort(a); err != nil {
			return fmt.Errorf("natsbus: route %q: %w", a, err)
		}
		so.Routes = append(so.Routes, &url.URL{Scheme: "nats-route", User: url.UserPassword(r.User, r.Password), Host: a})
	}
	return nil
}

// splitHostPort parses host:port with a port from 0 to 65535.
func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("bad port %q", port)
	}
	return host, p, nil
}

// WaitMetaLeader waits until JetStream answers an account info request,
// which it does only once the cluster has elected its meta leader: before
// that, JetStream API requests get no reply at all and each would wait out
// its whole deadline. It polls with short probes until ctx ends
// (jsutil.WaitMetaLeader, through the bus's JetStream handle: it works with
// external servers too). An account without JetStream fails at once with
// ErrNoJetStream.
func (b *Bus) WaitMetaLeader(ctx context.Context) error {
	return jsutil.Attempts{NoJetStreamGrace: noJetStreamGrace}.WaitMetaLeader(ctx, b.js)
}

// CreateKV creates or updates a key-value bucket with short, retried
// attempts (jsutil.CreateKV). Several nodes creating the same replicated
// bucket at once can all hang until their deadline; a retry then takes
// milliseconds.
func (b *Bus) CreateKV(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return jsutil.CreateKV(ctx, b.js, cfg)
}

// ClusterInfo describes the NATS side of a cluster for the operators'
// status: the servers this one is routed to and JetStream's meta leader.
type ClusterInfo struct {
	Server     string   `json:"server"`
	Cluster    string   `json:"cluster,omitempty"`
	Routes     []string `json:"routes"`
	MetaLeader string   `json:"meta_leader,omitempty"`
	MetaPeers  []Peer   `json:"meta_peers,omitempty"`
	// External, Connected and Servers describe a connection to external
	// servers (see externalClusterInfo).
	External  bool     `json:"external,omitempty"`
	Connected string   `json:"connected,omitempty"`
	Servers   []string `json:"servers,omitempty"`
}

// Peer is one server of JetStream's meta group or of a stream's group.
type Peer struct {
	Name    string  `json:"name"`
	Current bool    `json:"current"`
	Offline bool    `json:"offline,omitempty"`
	Lag     uint64  `json:"lag,omitempty"`
	Active  float64 `json:"active_seconds_ago,omitempty"`
}

// ClusterInfo reports the embedded server's routes and meta group, or
// with external servers what the connection knows of them.
func (b *Bus) ClusterInfo() ClusterInfo {
	if b.ns == nil {
		return b.externalClusterInfo()
	}
	ci := ClusterInfo{Server: b.ns.Name(), Cluster: b.ns.ClusterName(), Routes: []string{}}
	if rz, err := b.ns.Routez(nil); err == nil {
		seen := map[string]bool{}
		for _, r := range rz.Routes {
			if !seen[r.RemoteName] {
				seen[r.RemoteName] = true
				ci.Routes = append(ci.Routes, r.RemoteName)
			}
		}
	}
	if jsz, err := b.ns.Jsz(nil); err == nil && jsz.Meta != nil {
		ci.MetaLeader = jsz.Meta.Leader
		for _, p := range jsz.Meta.Replicas {
			ci.MetaPeers = append(ci.MetaPeers, Peer{Name: p.Name, Current: p.Current, Offline: p.Offline,
				Lag: p.Lag, Active: p.Active.Seconds()})
		}
	}
	return ci
}

// throttledLogger rate-limits nats-server's errors and warnings: a route to a
// dead peer logs a reconnect error several times a second, for as long as
// the peer is down. Each distinct format string is logged at most once per
// interval, with the number it stood for.
type throttledLogger struct {
	serverLogger
	every time.Duration
	mu    sync.Mutex
	last  map[string]*throttleEntry
}

type throttleEntry struct {
	at      time.Time
	dropped int
}

func newThrottledLogger(l *slog.Logger, every time.Duration) *throttledLogger {
	return &throttledLogger{serverLogger: serverLogger{l}, every: every, last: map[string]*throttleEntry{}}
}

func (q *throttledLogger) allow(format string) (int, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	e := q.last[format]
	if e == nil {
		if len(q.last) > 1000 { // a bound on distinct formats, which are few
			clear(q.last)
		}
		q.last[format] = &throttleEntry{at: now}
		return 0, true
	}
	if now.Sub(e.at) < q.every {
		e.dropped++
		return 0, false
	}
	n := e.dropped
	e.at, e.dropped = now, 0
	return n, true
}

func (q *throttledLogger) Warnf(f string, v ...any) {
	if n, ok := q.allow(f); ok {
		q.l.Warn(fmt.Sprintf(f, v...), "repeated", n)
	}
}

func (q *throttledLogger) Errorf(f string, v ...any) {
	if n, ok := q.allow(f); ok {
		q.l.Error(fmt.Sprintf(f, v...), "repeated", n)
	}
}

// randomToken returns 32 random bytes in hex.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("natsbus: random token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
