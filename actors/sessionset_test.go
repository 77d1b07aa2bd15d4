package actors

import (
	"testing"

	"github.com/etaxd/etaxd/domain"
)

// A set is never written once made: a snapshot sharing it with the state
// keeps what it was taken of while the state changes.
func TestSessionSetChangesMakeNewSets(t *testing.T) {
	a, b, c := session{token: domain.NewSecret("a")}, session{token: domain.NewSecret("b")}, session{token: domain.NewSecret("c")}
	tok := func(s sessionSet, ch domain.Channel) string {
		se, has := s.get(ch)
		if !has {
			return "-"
		}
		return se.token.Reveal()
	}
	var empty sessionSet
	s1 := empty.with(domain.ChannelIssue, a)
	s2 := s1.with(domain.ChannelIssue, b)
	s3 := s2.with(domain.ChannelReceive, c)
	s4 := s3.without(domain.ChannelIssue)
	s5 := s4.without(domain.ChannelIssue)
	for _, tc := range []struct {
		name           string
		s              sessionSet
		n              int
		issue, receive string
	}{
		{"empty", empty, 0, "-", "-"}, {"s1", s1, 1, "a", "-"}, {"s2", s2, 1, "b", "-"},
		{"s3", s3, 2, "b", "c"}, {"s4", s4, 1, "-", "c"}, {"s5", s5, 1, "-", "c"},
	} {
		if tc.s.len() != tc.n || tok(tc.s, domain.ChannelIssue) != tc.issue || tok(tc.s, domain.ChannelReceive) != tc.receive {
			t.Errorf("%s: %d sessions, issue %s, receive %s; want %d, %s, %s", tc.name, tc.s.len(),
				tok(tc.s, domain.ChannelIssue), tok(tc.s, domain.ChannelReceive), tc.n, tc.issue, tc.receive)
		}
		seen := map[domain.Channel]int{}
		for ch := range tc.s.all() {
			seen[ch]++
		}
		if len(seen) != tc.n {
			t.Errorf("%s: all yields %v, want %d channels once each", tc.name, seen, tc.n)
		}
	}
}
