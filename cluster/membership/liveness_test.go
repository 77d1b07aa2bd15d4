package membership

import (
	"slices"
	"testing"
	"time"
)

func obs(id string, rev uint64) observation {
	return observation{id: id, rev: rev, rec: Record{ID: id}}
}

// TestTrackerJoinStaleDrop: a peer is admitted when its revision first
// moves, expired after ttlBeats beats without a move, and never again.
func TestTrackerJoinStaleDrop(t *testing.T) {
	tr := newTracker(4)
	now := time.Unix(0, 0)
	v := tr.observe(now, []observation{obs("b", 1)})
	if len(v.joined) != 0 || len(tr.members()) != 0 {
		t.Fatalf("admitted on first sight: %+v", v)
	}
	if v = tr.observe(now, []observation{obs("b", 2)}); !slices.Equal(v.joined, []string{"b"}) {
		t.Fatalf("not admitted after a move: %+v", v)
	}
	for beat := 1; beat <= 4; beat++ {
		v = tr.observe(now, []observation{obs("b", 2)})
		if expired := len(v.expired) == 1; expired != (beat == 4) {
			t.Fatalf("beat %d without a move: expired = %v", beat, v.expired)
		}
	}
	if v.expired["b"] != 2 {
		t.Fatalf("expired revision = %d, want 2", v.expired["b"])
	}
	if !tr.drop("b") || len(tr.members()) != 0 || !tr.isGone("b") {
		t.Fatal("drop did not forget b")
	}
	if v = tr.observe(now, []observation{obs("b", 9), obs("b", 10)}); len(v.joined) != 0 {
		t.Fatal("a dropped id came back")
	}
}

// TestTrackerMoveResetsStaleness: a peer that moves within the TTL is never
// expired, however long it runs.
func TestTrackerMoveResetsStaleness(t *testing.T) {
	tr := newTracker(4)
	now := time.Unix(0, 0)
	rev := uint64(1)
	for beat := range 40 {
		if beat%3 == 0 {
			rev++
		}
		if v := tr.observe(now, []observation{obs("b", rev)}); len(v.expired) != 0 {
			t.Fatalf("beat %d: expired a live peer", beat)
		}
	}
}

// TestTrackerStaleKeyNeverAdmitted: a key left by a dead incarnation never
// moves, so it is never a member, and is expired after the TTL.
func TestTrackerStaleKeyNeverAdmitted(t *testing.T) {
	tr := newTracker(3)
	now := time.Unix(0, 0)
	var v verdict
	for range 4 {
		v = tr.observe(now, []observation{obs("old", 7)})
		if len(tr.members()) != 0 {
			t.Fatal("a stale key was admitted")
		}
	}
	if v.expired["old"] != 7 {
		t.Fatalf("stale key not expired: %+v", v)
	}
	if tr.drop("old") {
		t.Fatal("drop reported a never-admitted key as a member")
	}
}

// TestTrackerGoneIsLeave: a key found deleted is a leave of a member, and a
// watch-reported delete forgets the peer too.
func TestTrackerGoneIsLeave(t *testing.T) {
	tr := newTracker(4)
	now := time.Unix(0, 0)
	tr.observe(now, []observation{obs("b", 1), obs("c", 1)})
	tr.observe(now, []observation{obs("b", 2), obs("c", 2)})
	v := tr.observe(now, []observation{{id: "b", gone: true}, obs("c", 3)})
	if !slices.Equal(v.left, []string{"b"}) {
		t.Fatalf("left = %v", v.left)
	}
	if !tr.leave("c") || len(tr.members()) != 0 {
		t.Fatal("watch leave did not forget c")
	}
}

// TestConfigDefaultsAndValidate: the zero Config but its name is valid,
// and Validate reports every bad field at once.
func TestConfigDefaultsAndValidate(t *testing.T) {
	c := Config{Name: "a"}.withDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.TTL() != 2*time.Second {
		t.Fatalf("TTL = %s", c.TTL())
	}
	bad := Config{Bucket: "a.b", Replicas: 9, Period: time.Millisecond, MissedBeats: 1, OpTimeout: -1, MaxAge: time.Minute, StartTimeout: -1}
	err := bad.Validate()
	if err == nil {
		t.Fatal("bad config accepted")
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 8 {
		t.Fatalf("%d problems reported, want 8: %v", n, err)
	}
}
