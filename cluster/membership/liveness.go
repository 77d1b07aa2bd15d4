package membership

import (
	"sort"
	"time"
)

// observation is what one beat read of one peer key: its record and
// revision, or gone when the key was absent or deleted.
type observation struct {
	id   string
	rec  Record
	rev  uint64
	gone bool
}

// peer is the tracker's view of one peer key.
type peer struct {
	rec       Record
	rev       uint64
	stale     int       // own acknowledged beats since rev last moved
	admitted  bool      // its revision was seen to move: it is a member
	lastMoved time.Time // when this node saw rev move (or first saw it)
}

// verdict is what one beat's observations changed.
type verdict struct {
	joined  []string          // admitted this beat
	left    []string          // key gone (graceful leave or dropped by another node)
	expired map[string]uint64 // stood still for ttlBeats: id → revision to delete
}

// tracker is the pure liveness core: it counts, per peer, this node's
// acknowledged beats during which the peer's revision did not move. It is
// not safe for concurrent use; the heartbeat goroutine owns it.
type tracker struct {
	ttlBeats int
	peers    map[string]*peer
	gone     map[string]bool // ids that left or were dropped: never again (protoactor blocks them, P3)
}

func newTracker(ttlBeats int) *tracker {
	return &tracker{ttlBeats: ttlBeats, peers: map[string]*peer{}, gone: map[string]bool{}}
}

// observe applies one acknowledged beat's reads. A peer is admitted the
// first time its revision moves (a key left behind by a dead incarnation
// never moves, is never admitted and is expired like any other); a peer
// whose revision stood still for ttlBeats beats is expired, which the
// caller turns into a revision-checked delete and then drop.
func (t *tracker) observe(now time.Time, obs []observation) verdict {
	v := verdict{expired: map[string]uint64{}}
	for _, o := range obs {
		if t.gone[o.id] {
			continue
		}
		p, known := t.peers[o.id]
		switch {
		case o.gone:
			t.gone[o.id] = true // ids are never reused: a deleted key stays gone
			if known {
				t.forget(o.id)
				if p.admitted {
					v.left = append(v.left, o.id)
				}
			}
		case !known:
			t.peers[o.id] = &peer{rec: o.rec, rev: o.rev, lastMoved: now}
		case o.rev != p.rev:
			p.rec, p.rev, p.stale, p.lastMoved = o.rec, o.rev, 0, now
			if !p.admitted {
				p.admitted = true
				v.joined = append(v.joined, o.id)
			}
		default:
			p.stale++
			if p.stale >= t.ttlBeats {
				v.expired[o.id] = p.rev
			}
		}
	}
	sort.Strings(v.joined)
	sort.Strings(v.left)
	return v
}

// leave forgets id after the watch reported its key deleted, and reports
// whether it was a member.
func (t *tracker) leave(id string) bool {
	p, ok := t.peers[id]
	if !ok {
		t.gone[id] = true
		return false
	}
	t.forget(id)
	return p.admitted
}

// drop forgets id after this node deleted its key, and reports whether it
// was a member.
func (t *tracker) drop(id string) bool { return t.leave(id) }

func (t *tracker) forget(id string) {
	delete(t.peers, id)
	t.gone[id] = true
}

// ids returns the known peer ids, sorted.
func (t *tracker) ids() []string {
	out := make([]string, 0, len(t.peers))
	for id := range t.peers {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// isGone reports whether id left or was dropped.
func (t *tracker) isGone(id string) bool { return t.gone[id] }

// members returns the admitted peers' records, sorted by id.
func (t *tracker) members() []Record {
	var out []Record
	for _, id := range t.ids() {
		if p := t.peers[id]; p.admitted {
			out = append(out, p.rec)
		}
	}
	return out
}
