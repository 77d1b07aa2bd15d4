package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/etaxd/etaxd/config"
	"github.com/etaxd/etaxd/natsbus"
	"github.com/etaxd/etaxd/persistence/kvstore"
)

// clusterPingInterval is how often a cluster node pings its external NATS
// server: a server that stops answering (its host gone, no TCP reset) is
// left for another after two unanswered pings.
const clusterPingInterval = 5 * time.Second

// externalNATSOptions are the connection options of the external NATS
// servers of o (nats.urls): the credentials and TLS files, and the
// replicas (3 in cluster mode).
func externalNATSOptions(o config.Options, log *slog.Logger) natsbus.ConnectOptions {
	n := o.NATS
	co := natsbus.ConnectOptions{Name: o.Node(), User: n.User, Password: n.Password, Token: n.Token, CredsFile: n.CredsFile,
		TLSCAFile: n.TLSCAFile, TLSCertFile: n.TLSCertFile, TLSKeyFile: n.TLSKeyFile,
		Replicas: o.StreamReplicas(), Logger: log.With("component", "nats")}
	if o.Cluster.Enabled() {
		co.PingInterval = clusterPingInterval
	}
	return co
}

// connectExternalNATS is cluster mode's NATS with nats.urls: it connects
// to the external servers (trying again while none can be reached: they
// may be starting too) and waits for their JetStream meta leader. Refused
// credentials or an untrusted certificate fail at once.
func (s *stack) connectExternalNATS(ctx context.Context) error {
	o := s.opts
	urls := o.Redacted().NATS.URLs
	s.log.Info("cluster: connecting to the external NATS servers", "urls", strings.Join(urls, ","))
	var err error
	s.bus, err = natsbus.ConnectUntil(ctx, o.NATS.URLs, externalNATSOptions(o, s.log))
	if err != nil {
		hint := ""
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) {
			hint = ": the servers refused etaxd's credentials (nats.user/nats.password, nats.token, nats.creds_file or the user info in nats.urls)"
		}
		return fmt.Errorf("cluster: connect to the external NATS servers %s: %w%s", strings.Join(urls, ","), err, hint)
	}
	s.log.Info("cluster: waiting for the external NATS cluster's JetStream meta leader",
		"server", s.bus.Conn().ConnectedServerName(), "url", s.bus.Conn().ConnectedUrlRedacted())
	if err := s.bus.WaitMetaLeader(ctx); err != nil {
		return fmt.Errorf("cluster: external NATS %s: %w", strings.Join(urls, ","), err)
	}
	// A NATS cluster that has just started answers before it can place
	// replicated streams: on a fresh one, wait until it can.
	if err := s.bus.WaitPlacement(ctx, o.StreamReplicas(), "KV_"+kvstore.DefaultBucket, s.log); err != nil {
		return fmt.Errorf("cluster: external NATS %s: %w", strings.Join(urls, ","), err)
	}
	return nil
}
