package prompts

import (
	"context"
	"sync"
	"time"
)

// Kind is what the person must do.
type Kind string

const (
	KindSMSCode  Kind = "sms_code"
	KindQRScan   Kind = "qr_scan"
	KindFace     Kind = "face"
	KindNotice   Kind = "notice" // information only, e.g. "your binding moved" (F8)
	KindLocked   Kind = "locked"
	KindPassword Kind = "password_invalid"
)

// Prompt is one message for a person. It never carries a secret: no
// password, code or session token.
type Prompt struct {
	ID          string    `json:"id"`
	Tenant      string    `json:"tenant"`
	Account     string    `json:"account"`
	Kind        Kind      `json:"kind"`
	Channel     string    `json:"channel,omitempty"`
	OpenID      string    `json:"openid,omitempty"` // the bound WeChat user; empty: nobody is bound (F16)
	PhoneMasked string    `json:"phone_masked,omitempty"`
	Message     string    `json:"message"`
	TaxNo       string    `json:"tax_no,omitempty"`
	Username    string    `json:"username,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	// Of is set on a reminder or an escalated copy (B5): the prompt it
	// repeats, whose page it opens. Such a copy has an ID of its own, so
	// queues and notifiers deliver it as a message of its own.
	Of string `json:"of,omitempty"`
	// Reminder marks a reminder to the bound user; Escalated a copy sent to
	// an enterprise admin.
	Reminder  bool `json:"reminder,omitempty"`
	Escalated bool `json:"escalated,omitempty"`
}

// PageID is the prompt whose page p opens: Of for a reminder or an
// escalated copy, else p's own ID.
func (p Prompt) PageID() string {
	if p.Of != "" {
		return p.Of
	}
	return p.ID
}

// Publisher hands prompts to delivery.
type Publisher interface {
	// Publish queues p for delivery. It returns quickly; a nil error means the
	// prompt was accepted, not that a person has seen it.
	Publish(ctx context.Context, p Prompt) error
}

// Chan is an in-process Publisher: an unbounded queue read with Next or
// drained by Subscribe. The zero value is not usable; call NewChan.
type Chan struct {
	mu     sync.Mutex
	queue  []Prompt
	all    []Prompt
	notify chan struct{}
	closed bool
}

// NewChan returns an empty queue.
func NewChan() *Chan { return &Chan{notify: make(chan struct{})} }

// Publish appends p.
func (c *Chan) Publish(_ context.Context, p Prompt) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	c.queue = append(c.queue, p)
	c.all = append(c.all, p)
	if len(c.all) > keepPublished {
		c.all = append(c.all[:0:0], c.all[len(c.all)-keepPublished:]...)
	}
	close(c.notify)
	c.notify = make(chan struct{})
	return nil
}

// Next returns the oldest undelivered prompt, waiting until one is published
// or ctx ends.
func (c *Chan) Next(ctx context.Context) (Prompt, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			p := c.queue[0]
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return p, nil
		}
		if c.closed {
			c.mu.Unlock()
			return Prompt{}, ErrClosed
		}
		n := c.notify
		c.mu.Unlock()
		select {
		case <-n:
		case <-ctx.Done():
			return Prompt{}, ctx.Err()
		}
	}
}

// keepPublished bounds the history All returns.
const keepPublished = 10000

// All returns the prompts published so far (the newest 10,000), oldest first.
func (c *Chan) All() []Prompt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Prompt(nil), c.all...)
}

// Close ends the queue; waiting Next calls return ErrClosed.
func (c *Chan) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.notify)
	}
}
