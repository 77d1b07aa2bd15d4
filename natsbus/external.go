package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/natsbus/jsutil"
)

// External NATS servers (nats.urls): the TLS and ping settings of the
// connection, the start-up of a cluster node on servers that may be
// starting too, and what /ops/cluster says about them.

// externalOptions are the nats.go options of ConnectOptions' TLS files and
// ping interval. A file that cannot be read fails nats.Connect with the
// file's name.
func (o ConnectOptions) externalOptions() []nats.Option {
	var out []nats.Option
	if o.TLSCAFile != "" {
		out = append(out, nats.RootCAs(o.TLSCAFile))
	}
	if o.TLSCertFile != "" || o.TLSKeyFile != "" {
		out = append(out, nats.ClientCert(o.TLSCertFile, o.TLSKeyFile))
	}
	if o.PingInterval > 0 {
		out = append(out, nats.PingInterval(o.PingInterval))
	}
	return out
}

// ConnectUntil is Connect for a node that starts with its servers: while
// no server can be reached (refused, no such host yet) it tries again,
// every 500 ms, until ctx ends. Any other failure — credentials refused,
// a TLS certificate not trusted, a file that cannot be read — returns at
// once: waiting would not mend it.
func ConnectUntil(ctx context.Context, urls []string, opts ConnectOptions) (*Bus, error) {
	for {
		b, err := Connect(urls, opts)
		if err == nil || !unreachable(err) {
			return b, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// unreachable reports whether a connect error says that no server could
// be reached, rather than that one refused this client.
func unreachable(err error) bool {
	if errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrTimeout) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// ErrNoJetStream is returned by WaitMetaLeader when the servers say that
// the account etaxd connects as has no JetStream.
var ErrNoJetStream = jsutil.ErrNoJetStream

// noJetStreamGrace (a variable for the tests) is how long WaitMetaLeader
// keeps asking while the servers answer "JetStream not enabled".
var noJetStreamGrace = jsutil.NoJetStreamGrace

// externalClusterInfo is ClusterInfo for a connection to external
// servers: the server it is connected to (name, cluster, URL without
// credentials) and every server URL the connection knows, those the
// servers announced included. It has no routes (this process is a client)
// and no meta group: JetStream shows its meta leader to the system
// account only. The streams' leaders and replicas are in their stream
// info, which /ops/cluster lists.
func (b *Bus) externalClusterInfo() ClusterInfo {
	servers := b.nc.Servers()
	if servers == nil {
		servers = []string{}
	}
	return ClusterInfo{Server: b.nc.ConnectedServerName(), Cluster: b.nc.ConnectedClusterName(), Routes: []string{},
		External: true, Connected: b.nc.ConnectedUrlRedacted(), Servers: servers}
}

// errCodeNoPeers is JetStream's "no suitable peers for placement".
const errCodeNoPeers = 10005

// WaitPlacement waits until JetStream can place a stream of replicas on
// the servers, unless the stream named unless exists already: then the
// servers' cluster was set up before, and a server that is down (which
// makes a new R3 stream unplaceable) must not keep a node from starting.
//
// Right after a NATS cluster started, its meta leader answers (so
// WaitMetaLeader returns) before it has heard from every server, and
// creating a replicated stream then fails at once with "no suitable peers
// for placement" (10005), which is not worth a node's start. WaitPlacement
// creates and deletes a small probe stream of its own (file storage, a
// private subject) until the creation succeeds, every 250 ms, until ctx
// ends; then it returns the last refusal, whose description says why
// (insufficient storage, a peer offline).
func (b *Bus) WaitPlacement(ctx context.Context, replicas int, unless string, log *slog.Logger) error {
	err := Attempt(ctx, func(ctx context.Context) error {
		_, err := b.js.Stream(ctx, unless)
		return err
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("natsbus: look up stream %s: %w", unless, err)
	}
	tok, err := randomToken()
	if err != nil {
		return err
	}
	cfg := jetstream.StreamConfig{Name: "ETAXD_PROBE_" + tok[:16], Subjects: []string{"_ETAXD.probe." + tok[:16]},
		Storage: jetstream.FileStorage, Replicas: replicas, MaxMsgs: 1, MaxBytes: 1 << 10}
	for n := 1; ; n++ {
		err := Attempt(ctx, func(ctx context.Context) error {
			_, err := b.js.CreateStream(ctx, cfg)
			if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return nil // an attempt that timed out had made it
			}
			return err
		})
		var api *jetstream.APIError
		switch {
		case err == nil:
			if err := Attempt(ctx, func(ctx context.Context) error {
				err := b.js.DeleteStream(ctx, cfg.Name)
				if errors.Is(err, jetstream.ErrStreamNotFound) {
					return nil
				}
				return err
			}); err != nil {
				return fmt.Errorf("natsbus: delete the placement probe %s: %w", cfg.Name, err)
			}
			return nil
		case !errors.As(err, &api) || api.ErrorCode != errCodeNoPeers:
			return fmt.Errorf("natsbus: place a stream of %d replicas: %w", replicas, err)
		}
		if n%20 == 1 && log != nil {
			log.Info("natsbus: waiting until JetStream can place streams of this many replicas", "replicas", replicas, "err", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsbus: place a stream of %d replicas: %w", replicas, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
