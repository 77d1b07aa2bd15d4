package membership

import (
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
)

// recentMax is how many departed members a snapshot keeps.
const recentMax = 16

// Counters are the provider's monotonic counts, ready for metrics.
type Counters struct {
	BeatsAcked  uint64 `json:"beats_acked"`  // own records stored
	BeatsFailed uint64 `json:"beats_failed"` // own records not stored (outage): membership frozen
	Joins       uint64 `json:"joins"`        // peers admitted
	Leaves      uint64 `json:"leaves"`       // peer keys found deleted: graceful leaves, or dropped by another node
	Drops       uint64 `json:"drops"`        // peers this node dropped (it deleted their keys)
	Changes     uint64 `json:"changes"`      // member sets pushed to protoactor's MemberList
	Evictions   uint64 `json:"evictions"`    // 1 once this node found itself evicted
}

// MemberStatus is one member as this node sees it.
type MemberStatus struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Address       string    `json:"address"`
	Self          bool      `json:"self,omitempty"`
	Alive         bool      `json:"alive"`             // in the member set pushed to protoactor
	State         string    `json:"state"`             // "member", "joining", "left" or "dropped"
	Joined        time.Time `json:"joined"`            // from its record
	LastHeartbeat time.Time `json:"last_heartbeat"`    // when this node last saw its revision move (own: last stored beat)
	Departed      time.Time `json:"departed,omitzero"` // when it left or was dropped
}

// Snapshot is the provider's state for an ops endpoint.
type Snapshot struct {
	Self     MemberStatus   `json:"self"`
	Serving  bool           `json:"serving"`
	Evicted  bool           `json:"evicted"`
	TTL      time.Duration  `json:"ttl"`
	Members  []MemberStatus `json:"members"` // sorted by name, then id: members, joining peers, then recent departures
	Blocked  []string       `json:"blocked"` // ids protoactor blocks forever (left or dropped)
	Counters Counters       `json:"counters"`
}

// view is what the heartbeat goroutine publishes for Snapshot, guarded by
// Provider.mu.
type view struct {
	started, stopped, client, evicted bool
	self                              Record
	lastAck                           time.Time
	members                           []Record // admitted peers
	joining                           []Record
	lastOf                            map[string]time.Time
	recent                            []MemberStatus
	counters                          Counters
	// blocked are the ids that were in a member set pushed to protoactor
	// and are not in a later one: protoactor's MemberList blocks exactly
	// those for good. Kept here because reading protoactor's own block list
	// is a data race (remote.BlockList reads its set without the lock).
	blocked map[string]bool
}

// publish records one round in the view and pushes self + admitted peers
// to protoactor's MemberList when the set changed (or never was pushed).
func (p *Provider) publish(left, joined, dropped []string) {
	now := p.cfg.Clock.Now()
	members := p.tr.members()
	var joining []Record
	lastOf := map[string]time.Time{}
	for id, pr := range p.tr.peers {
		lastOf[id] = pr.lastMoved
		if !pr.admitted {
			joining = append(joining, pr.rec)
		}
	}
	p.mu.Lock()
	prev := p.view.members
	for _, id := range left {
		p.view.recent = appendRecent(p.view.recent, departed(prev, id, "left", now, p.view.lastOf))
	}
	for _, id := range dropped {
		p.view.recent = appendRecent(p.view.recent, departed(prev, id, "dropped", now, p.view.lastOf))
	}
	p.view.members, p.view.joining, p.view.lastOf = members, joining, lastOf
	p.view.counters.Joins += uint64(len(joined))
	p.view.counters.Leaves += uint64(len(left))
	p.view.counters.Drops += uint64(len(dropped))
	changed := !p.pushed || len(left)+len(joined)+len(dropped) > 0
	if changed {
		p.view.counters.Changes++
	}
	p.mu.Unlock()
	if !changed {
		return
	}
	p.pushed = true
	set := make([]*cluster.Member, 0, len(members)+1)
	if !p.client {
		set = append(set, p.self.member())
	}
	for _, r := range members {
		set = append(set, r.member())
	}
	pushed := make(map[string]bool, len(set))
	for _, m := range set {
		pushed[m.Id] = true
	}
	var gone []string
	for id := range p.pushedIDs {
		if !pushed[id] {
			gone = append(gone, id)
		}
	}
	p.pushedIDs = pushed
	if len(gone) > 0 {
		p.mu.Lock()
		if p.view.blocked == nil {
			p.view.blocked = map[string]bool{}
		}
		for _, id := range gone {
			p.view.blocked[id] = true
		}
		p.mu.Unlock()
	}
	p.c.MemberList.UpdateClusterTopology(set)
	p.log.Info("membership: member set changed", "members", len(set), "joined", joined, "left", left, "dropped", dropped)
}

func departed(prev []Record, id, state string, now time.Time, lastOf map[string]time.Time) MemberStatus {
	s := MemberStatus{ID: id, State: state, Departed: now, LastHeartbeat: lastOf[id]}
	for _, r := range prev {
		if r.ID == id {
			s.Name, s.Address, s.Joined = r.Name, r.Address(), r.Joined
		}
	}
	return s
}

func appendRecent(recent []MemberStatus, s MemberStatus) []MemberStatus {
	recent = append(recent, s)
	if len(recent) > recentMax {
		recent = recent[len(recent)-recentMax:]
	}
	return recent
}

// Serving reports whether this node may act as a member now: started, not
// evicted, and its own record was stored within the TTL. A node that was
// paused or cut off longer than that may already have been dropped while
// its grains were activated elsewhere; it must not serve until its next
// beat is stored (or exit, if that beat finds it evicted). A client serves
// while started.
func (p *Provider) Serving() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.view.started || p.view.stopped || p.view.evicted {
		return false
	}
	return p.view.client || p.cfg.Clock.Now().Sub(p.view.lastAck) < p.cfg.TTL()
}

// ID returns this member's id (empty before StartMember).
func (p *Provider) ID() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.view.self.ID
}

// Snapshot returns the current view. Safe for concurrent use.
func (p *Provider) Snapshot() Snapshot {
	serving := p.Serving()
	p.mu.Lock()
	v := p.view
	s := Snapshot{Serving: serving, Evicted: v.evicted, TTL: p.cfg.TTL(), Counters: v.counters,
		Self: MemberStatus{ID: v.self.ID, Name: v.self.Name, Address: v.self.Address(), Self: true,
			Alive: serving, State: "member", Joined: v.self.Joined, LastHeartbeat: v.lastAck}}
	if v.evicted {
		s.Self.State = "dropped"
	}
	if !v.client && v.started {
		s.Members = append(s.Members, s.Self)
	}
	for _, r := range v.members {
		s.Members = append(s.Members, MemberStatus{ID: r.ID, Name: r.Name, Address: r.Address(), Alive: true,
			State: "member", Joined: r.Joined, LastHeartbeat: v.lastOf[r.ID]})
	}
	for _, r := range v.joining {
		s.Members = append(s.Members, MemberStatus{ID: r.ID, Name: r.Name, Address: r.Address(),
			State: "joining", Joined: r.Joined, LastHeartbeat: v.lastOf[r.ID]})
	}
	s.Members = append(s.Members, v.recent...)
	s.Blocked = make([]string, 0, len(v.blocked))
	for id := range v.blocked {
		s.Blocked = append(s.Blocked, id)
	}
	p.mu.Unlock()
	sort.Strings(s.Blocked)
	rank := map[string]int{"member": 0, "joining": 1, "left": 2, "dropped": 2}
	sort.SliceStable(s.Members, func(i, j int) bool {
		a, b := s.Members[i], s.Members[j]
		if rank[a.State] != rank[b.State] {
			return rank[a.State] < rank[b.State]
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.ID < b.ID
	})
	return s
}
