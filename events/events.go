package events

import (
	"sync"
	"time"
)

// EventType names a client event (B6), delivered by webhooks and on the
// tenant's NATS events subject.
type EventType string

const (
	EventSessionReady  EventType = "session.ready"
	EventSessionLost   EventType = "session.lost"
	EventAuthRequired  EventType = "auth.required"
	EventAccountLocked EventType = "account.locked"
	// EventBindingUnreachable: the WeChat user bound to the account
	// unfollowed the official account; its prompts come as login links
	// (F16) until they follow it again.
	EventBindingUnreachable EventType = "binding.unreachable"
)

// Event is something a client may want to hear without polling. It never
// carries a secret: a client fetches the session itself.
type Event struct {
	ID        string     `json:"id"`
	Type      EventType  `json:"type"`
	Tenant    string     `json:"tenant"`
	Account   string     `json:"account_id"`
	TaxNo     string     `json:"tax_no,omitempty"`
	Channel   string     `json:"channel,omitempty"`
	Time      time.Time  `json:"time"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"` // session.ready: the session's expiry
	Reason    string     `json:"reason,omitempty"`     // account.locked: the lock reason; session.lost: why
	PromptID  string     `json:"prompt_id,omitempty"`  // auth.required
}

// EventSink receives events from the actors. Emit must not block and must
// not call back into the actors.
type EventSink interface {
	Emit(Event)
}

// Discard is an EventSink that drops everything.
type Discard struct{}

// Emit drops ev.
func (Discard) Emit(Event) {}

// keepEvents bounds the history EventLog keeps.
const keepEvents = 10000

// EventLog is an EventSink that keeps the newest events in memory, for
// tests and the dev tools. The zero value is ready to use.
type EventLog struct {
	mu     sync.Mutex
	events []Event
}

// Emit records ev.
func (l *EventLog) Emit(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
	if len(l.events) > keepEvents {
		l.events = append(l.events[:0:0], l.events[len(l.events)-keepEvents:]...)
	}
}

// Events returns what was emitted, oldest first.
func (l *EventLog) Events() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}
