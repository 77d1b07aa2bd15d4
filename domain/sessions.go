package domain

import (
	"iter"
	"time"
)

// Sessions is the expiry of each channel's stored session, at most one per
// channel (ChannelIssue, ChannelReceive). It is a value: an Account copied
// is a Sessions copied, so the machine's changes never reach the state they
// were computed from, and a change allocates nothing. (It was a map, made
// anew for every state change of a logged-in account.) The zero value holds
// none.
type Sessions struct {
	at  [2]time.Time
	has [2]bool
}

// channelIndex is ch's slot, or -1 for a string that is no channel.
func channelIndex(ch Channel) int {
	switch ch {
	case ChannelIssue:
		return 0
	case ChannelReceive:
		return 1
	}
	return -1
}

var sessionChannels = [2]Channel{ChannelIssue, ChannelReceive}

// Get returns the expiry of ch's session, and whether it has one.
func (s Sessions) Get(ch Channel) (time.Time, bool) {
	i := channelIndex(ch)
	if i < 0 || !s.has[i] {
		return time.Time{}, false
	}
	return s.at[i], true
}

// With returns s with ch's session expiring at at (a string that is no
// channel changes nothing: no session can be stored for it).
func (s Sessions) With(ch Channel, at time.Time) Sessions {
	if i := channelIndex(ch); i >= 0 {
		s.at[i], s.has[i] = at, true
	}
	return s
}

// Without returns s without ch's session.
func (s Sessions) Without(ch Channel) Sessions {
	if i := channelIndex(ch); i >= 0 {
		s.at[i], s.has[i] = time.Time{}, false
	}
	return s
}

// All yields each session, ChannelIssue's first.
func (s Sessions) All() iter.Seq2[Channel, time.Time] {
	return func(yield func(Channel, time.Time) bool) {
		for i, h := range s.has {
			if h && !yield(sessionChannels[i], s.at[i]) {
				return
			}
		}
	}
}
