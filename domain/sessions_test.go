package domain

import (
	"testing"
	"time"
)

// count is the number of sessions s holds.
func count(s Sessions) int {
	n := 0
	for range s.All() {
		n++
	}
	return n
}

func TestSessions(t *testing.T) {
	at := time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
	var s Sessions
	if _, has := s.Get(ChannelIssue); has || count(s) != 0 {
		t.Fatal("the zero value holds a session")
	}
	one := s.With(ChannelReceive, at)
	if _, has := s.Get(ChannelReceive); has {
		t.Fatal("With changed the value it was called on")
	}
	two := one.With(ChannelIssue, at.Add(time.Hour)).With(ChannelReceive, at.Add(2*time.Hour))
	if got, has := two.Get(ChannelReceive); !has || !got.Equal(at.Add(2*time.Hour)) || count(two) != 2 {
		t.Fatalf("receive %v %v, %d sessions", got, has, count(two))
	}
	var order []Channel
	for ch := range two.All() {
		order = append(order, ch)
	}
	if len(order) != 2 || order[0] != ChannelIssue || order[1] != ChannelReceive {
		t.Fatalf("All yields %v", order)
	}
	if left := two.Without(ChannelIssue); count(left) != 1 || count(two) != 2 {
		t.Fatalf("Without: %d left, the original %d", count(left), count(two))
	}
	if got := two.With("other", at).Without("other"); got != two {
		t.Fatalf("what is no channel changed the sessions: %+v", got)
	}
	if (Sessions{}.With(ChannelIssue, at).Without(ChannelIssue)) != (Sessions{}) {
		t.Fatal("a session added and removed is not the zero value")
	}
}
