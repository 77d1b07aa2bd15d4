package taxbureau

import (
	"slices"
	"strings"
	"time"
)

// Purpose says why the bureau sent a code.
type Purpose string

const (
	PurposeLogin Purpose = "login" // a login challenge (Login)
	PurposeReset Purpose = "reset" // a password reset (StartReset)
)

// SMS is a code the simulated bureau "sent". The outbox is the simulator's
// stand-in for the person's phone and the test-only endpoint of etax-sim.
type SMS struct {
	Phone       string    `json:"phone"`
	Code        string    `json:"code"`
	Region      string    `json:"region"`
	Purpose     Purpose   `json:"purpose"`
	ChallengeID string    `json:"challenge_id"`
	SentAt      time.Time `json:"sent_at"`
}

// outboxKeep is how many codes the outbox remembers per phone; the daily
// budget keeps a phone far below it in practice.
const outboxKeep = 200

// record appends m to the outbox and wakes every FetchCode waiting for a
// code. The caller holds s.mu.
func (s *Simulator) record(m SMS) {
	box := append(s.outbox[m.Phone], m)
	if len(box) > outboxKeep {
		box = slices.Delete(box, 0, len(box)-outboxKeep)
	}
	s.outbox[m.Phone] = box
	close(s.smsSent)
	s.smsSent = make(chan struct{})
}

// SentCodes returns the codes sent to phone, newest first.
func (s *Simulator) SentCodes(phone string) []SMS {
	s.mu.Lock()
	box := slices.Clone(s.outbox[strings.TrimSpace(phone)])
	s.mu.Unlock()
	slices.Reverse(box)
	return box
}

// LastCode returns the newest code sent to phone, "" when none was.
func (s *Simulator) LastCode(phone string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	box := s.outbox[strings.TrimSpace(phone)]
	if len(box) == 0 {
		return ""
	}
	return box[len(box)-1].Code
}

// codeSince returns the newest code sent at or after since to the phone of
// the person logging in as username. When there is none yet it returns a
// channel closed at the next send. It fails with ErrUnknownPerson.
func (s *Simulator) codeSince(username string, since time.Time) (string, <-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookup(username)
	if p == nil {
		return "", nil, ErrUnknownPerson
	}
	box := s.outbox[p.Phone]
	if n := len(box); n > 0 && !box[n-1].SentAt.Before(since) {
		return box[n-1].Code, nil, nil
	}
	return "", s.smsSent, nil
}
