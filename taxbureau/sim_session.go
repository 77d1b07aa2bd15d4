package taxbureau

// Simulator sessions: CheckSession, the tests' view and kill switches, and the one-session rule.

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// CheckSession implements Gateway. A token the bureau does not know (never
// issued, replaced by a newer login, killed, or long expired) is not alive
// and has a zero ExpiresAt; an expired one reports its expiry.
func (s *Simulator) CheckSession(ctx context.Context, token string) (SessionStatus, error) {
	if err := s.begin(ctx, mCheckSession); err != nil {
		return SessionStatus{}, err
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[token]
	if sess == nil {
		return SessionStatus{}, nil
	}
	return SessionStatus{Alive: now.Before(sess.ExpiresAt), ExpiresAt: sess.ExpiresAt}, nil
}

// SessionInfo describes a session the simulator issued.
type SessionInfo struct {
	Session
	PersonID string
	Region   string
	TaxNo    string
	Role     domain.Role
}

// Sessions returns the live sessions, in no particular order.
func (s *Simulator) Sessions() []SessionInfo {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SessionInfo
	for _, sess := range s.sessions {
		if now.Before(sess.ExpiresAt) {
			out = append(out, SessionInfo{
				Session:  sess.Session,
				PersonID: sess.key.personID,
				Region:   sess.key.region,
				TaxNo:    sess.taxNo,
				Role:     sess.role,
			})
		}
	}
	return out
}

// KillSession ends a session as the bureau does at its own whim, and
// reports whether the token was known.
func (s *Simulator) KillSession(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[token]
	if sess == nil {
		return false
	}
	s.dropSession(sess)
	return true
}

// DropSessions forgets every session, as a restart of the bureau's session
// store (or the bureau kicking everyone out) does: the tokens clients hold
// die while persons, passwords and SMS budgets stay. It returns how many
// sessions it forgot. Tests use it to play a restarted simulator.
func (s *Simulator) DropSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.sessions)
	s.sessions = make(map[string]*session)
	s.live = make(map[liveKey]string)
	return n
}

// openSession issues a session and ends the person's older one on the same
// region and channel. The caller holds s.mu.
func (s *Simulator) openSession(personID string, rel Relation, ch domain.Channel, now time.Time) Session {
	s.sweep(now)
	key := liveKey{personID: personID, region: rel.Region, channel: ch}
	if old := s.sessions[s.live[key]]; old != nil {
		s.dropSession(old)
	}
	sess := &session{
		Session: Session{Token: rand.Text(), Channel: ch, ObtainedAt: now, ExpiresAt: now.Add(s.cfg.SessionLength)},
		key:     key,
		taxNo:   rel.TaxNo,
		role:    rel.Role,
	}
	s.sessions[sess.Token] = sess
	s.live[key] = sess.Token
	return sess.Session
}

// dropSession forgets a session. The caller holds s.mu.
func (s *Simulator) dropSession(sess *session) {
	delete(s.sessions, sess.Token)
	if s.live[sess.key] == sess.Token {
		delete(s.live, sess.key)
	}
}
