package main

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/etaxd/etaxd/cluster/membership"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/natsbus"
)

// clusterDoc is GET /ops/cluster's body in cluster mode.
type clusterDoc struct {
	Node     string              `json:"node"`
	Mode     string              `json:"mode"` // "cluster"
	ID       string              `json:"id"`   // this member's id (a new one on every start)
	Address  string              `json:"address"`
	Serving  bool                `json:"serving"`
	TTL      string              `json:"ttl"`
	Members  []memberDoc         `json:"members"`
	Blocked  []string            `json:"blocked"`
	Counters membership.Counters `json:"counters"`
	// Activations counts the tenant grains this node started; Remote the
	// requests it sent through the cluster.
	Activations int64 `json:"activations"`
	// Doubles counts the activations that found the tenant held by
	// another live member (double activations; 0 is the healthy figure).
	Doubles int64               `json:"double_activations"`
	Remote  int64               `json:"remote_requests"`
	NATS    natsbus.ClusterInfo `json:"nats"`
	Streams []streamDoc         `json:"streams"`
	Tenant  *tenantDoc          `json:"tenant,omitempty"`
}

type memberDoc struct {
	membership.MemberStatus
	// Tenants are the tenants whose grain runs on that member, as it
	// answered; nil when it did not answer within a second.
	Tenants []string `json:"tenants"`
}

type streamDoc struct {
	Name     string         `json:"name"`
	Leader   string         `json:"leader"`
	Replicas []natsbus.Peer `json:"replicas"`
	// Lagging names the replicas that are not current.
	Lagging []string `json:"lagging"`
}

type tenantDoc struct {
	ID      string `json:"id"`
	Node    string `json:"node"`
	Address string `json:"address"`
}

// activeSubject is where a node answers with the tenants active on it.
func activeSubject(memberID string) string { return "_ETAXD.cluster.active." + memberID }

// serveActiveTenants answers activeSubject for this node.
func (s *stack) serveActiveTenants() (*nats.Subscription, error) {
	engine := s.engine
	return s.bus.Conn().Subscribe(activeSubject(s.members.ID()), func(m *nats.Msg) {
		ids, _ := engine.LocalTenants()
		b, _ := json.Marshal(ids)
		_ = m.Respond(b)
	})
}

// clusterStatus builds /ops/cluster's body.
func (s *stack) clusterStatus(ctx context.Context, tenant string) (any, error) {
	snap := s.members.Snapshot()
	_, started := s.engine.LocalTenants()
	doc := clusterDoc{Node: s.opts.Node(), Mode: "cluster", ID: snap.Self.ID, Address: snap.Self.Address,
		Serving: snap.Serving, TTL: snap.TTL.String(), Blocked: snap.Blocked, Counters: snap.Counters,
		Activations: started, Doubles: s.engine.DoubleActivations(), Remote: s.engine.ClusterAsks(), NATS: s.bus.ClusterInfo(), Streams: []streamDoc{}}
	if doc.Blocked == nil {
		doc.Blocked = []string{}
	}
	for _, m := range snap.Members {
		md := memberDoc{MemberStatus: m}
		if m.Alive {
			md.Tenants = s.askActive(ctx, m.ID)
		}
		doc.Members = append(doc.Members, md)
	}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	streams := s.bus.JetStream().ListStreams(lctx)
	for info := range streams.Info() {
		sd := streamDoc{Name: info.Config.Name, Replicas: []natsbus.Peer{}, Lagging: []string{}}
		if ci := info.Cluster; ci != nil {
			sd.Leader = ci.Leader
			for _, r := range ci.Replicas {
				sd.Replicas = append(sd.Replicas, natsbus.Peer{Name: r.Name, Current: r.Current, Offline: r.Offline,
					Lag: r.Lag, Active: r.Active.Seconds()})
				if !r.Current || r.Offline {
					sd.Lagging = append(sd.Lagging, r.Name)
				}
			}
		}
		doc.Streams = append(doc.Streams, sd)
	}
	sort.Slice(doc.Streams, func(i, j int) bool { return doc.Streams[i].Name < doc.Streams[j].Name })
	if tenant != "" {
		addr, err := s.engine.TenantAddress(tenant)
		if err != nil {
			return nil, err
		}
		td := &tenantDoc{ID: tenant, Address: addr}
		for _, m := range snap.Members {
			if m.Address == addr && m.Alive {
				td.Node = m.Name
			}
		}
		if td.Node == "" {
			return nil, domain.ErrBusy.Wrap(errors.New("the tenant's address is no member's"))
		}
		doc.Tenant = td
	}
	return doc, nil
}

// askActive asks a member for the tenants active on it; nil when it does
// not answer within a second.
func (s *stack) askActive(ctx context.Context, id string) []string {
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	msg, err := s.bus.Conn().RequestWithContext(rctx, activeSubject(id), nil)
	if err != nil {
		return nil
	}
	var ids []string
	if json.Unmarshal(msg.Data, &ids) != nil {
		return nil
	}
	if ids == nil {
		ids = []string{}
	}
	return ids
}

// clusterCounters are the cluster's counters for /metrics.
func (s *stack) clusterCounters() map[string]int64 {
	snap := s.members.Snapshot()
	_, started := s.engine.LocalTenants()
	alive := int64(0)
	for _, m := range snap.Members {
		if m.Alive {
			alive++
		}
	}
	c := snap.Counters
	return map[string]int64{
		"membership_changes": int64(c.Changes), "joins": int64(c.Joins), "leaves": int64(c.Leaves),
		"drops": int64(c.Drops), "evictions": int64(c.Evictions), "beats_failed": int64(c.BeatsFailed),
		"activations": started, "double_activations": s.engine.DoubleActivations(),
		"remote_requests": s.engine.ClusterAsks(), "members_alive": alive,
	}
}
