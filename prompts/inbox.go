package prompts

import (
	"context"
	"sync"
)

// Bounds of the dev inbox.
const (
	// InboxPerOpenID is how many prompts the inbox keeps per openid.
	InboxPerOpenID = 100
	// inboxSeen is how many prompt IDs the inbox remembers for dedupe.
	inboxSeen = 100_000
)

// Inbox is the dev notifier: it keeps, per WeChat openid, the prompts that
// user would receive, newest first, so a developer (or a test) can read
// them at GET /dev/inbox?openid=, newest (by CreatedAt) first. Prompts for an account nobody is bound to
// are kept under the empty openid. A prompt delivered again (same ID) is
// stored once. Build it with NewInbox.
type Inbox struct {
	mu     sync.Mutex
	byUser map[string][]Prompt // newest first, at most InboxPerOpenID
	seen   map[string]struct{}
	order  []string // seen IDs, oldest first, at most inboxSeen
}

var _ Notifier = (*Inbox)(nil)

// NewInbox returns an empty inbox.
func NewInbox() *Inbox {
	return &Inbox{byUser: map[string][]Prompt{}, seen: map[string]struct{}{}}
}

// Notify stores p for p.OpenID unless it was stored already. It never
// fails.
func (b *Inbox) Notify(_ context.Context, p Prompt) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.seen[p.ID]; dup {
		return nil
	}
	b.seen[p.ID] = struct{}{}
	b.order = append(b.order, p.ID)
	if len(b.order) > inboxSeen {
		drop := len(b.order) - inboxSeen
		for _, id := range b.order[:drop] {
			delete(b.seen, id)
		}
		b.order = append(b.order[:0:0], b.order[drop:]...)
	}
	// Newest first by creation: workers and redeliveries may hand prompts
	// over out of order.
	list := b.byUser[p.OpenID]
	i := 0
	for i < len(list) && list[i].CreatedAt.After(p.CreatedAt) {
		i++
	}
	if i >= InboxPerOpenID {
		return nil // older than everything kept
	}
	next := make([]Prompt, 0, min(len(list)+1, InboxPerOpenID))
	next = append(next, list[:i]...)
	next = append(next, p)
	next = append(next, list[i:min(len(list), InboxPerOpenID-1)]...)
	b.byUser[p.OpenID] = next
	return nil
}

// Messages returns what openid received, newest first ("" for prompts of
// accounts nobody is bound to). The slice is the caller's.
func (b *Inbox) Messages(openid string) []Prompt {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Prompt(nil), b.byUser[openid]...)
}

// All returns every openid's prompts, newest first. The map is the
// caller's.
func (b *Inbox) All() map[string][]Prompt {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[string][]Prompt, len(b.byUser))
	for k, v := range b.byUser {
		out[k] = append([]Prompt(nil), v...)
	}
	return out
}
