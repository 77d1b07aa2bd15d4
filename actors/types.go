package actors

import (
	"time"

	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
)

// The engine's own types for what its API hands the HTTP side: the HTTP
// packages import actors (and domain), never taxbureau, prompts, events or
// persistence. Each type has the fields and JSON form of the lower
// package's type it stands for, and is converted at the engine's edge.

// QRApp is the app that scans a login QR code (F15).
type QRApp string

const (
	AppTax QRApp = "tax" // 税务APP (the default)
	AppIIT QRApp = "iit" // 个人所得税APP
)

// QRState is the progress of a QR login.
type QRState string

const (
	QRWaiting   QRState = "waiting"
	QRScanned   QRState = "scanned"
	QRConfirmed QRState = "confirmed"
	QRExpired   QRState = "expired"
)

// PromptKind is what a prompt asks the person to do.
type PromptKind string

const (
	KindSMSCode  PromptKind = PromptKind(prompts.KindSMSCode)
	KindQRScan   PromptKind = PromptKind(prompts.KindQRScan)
	KindFace     PromptKind = PromptKind(prompts.KindFace)
	KindNotice   PromptKind = PromptKind(prompts.KindNotice) // information only, e.g. "your binding moved" (F8)
	KindLocked   PromptKind = PromptKind(prompts.KindLocked)
	KindPassword PromptKind = PromptKind(prompts.KindPassword)
)

// Prompt is one message for a person as a notifier received it (the dev
// inbox shows them). It never carries a secret.
type Prompt struct {
	ID          string     `json:"id"`
	Tenant      string     `json:"tenant"`
	Account     string     `json:"account"`
	Kind        PromptKind `json:"kind"`
	Channel     string     `json:"channel,omitempty"`
	OpenID      string     `json:"openid,omitempty"` // the bound WeChat user; empty: nobody is bound (F16)
	PhoneMasked string     `json:"phone_masked,omitempty"`
	Message     string     `json:"message"`
	TaxNo       string     `json:"tax_no,omitempty"`
	Username    string     `json:"username,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	// Of is set on a reminder or an escalated copy (B5): the prompt it
	// repeats, whose page it opens.
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

func promptOf(p prompts.Prompt) Prompt {
	return Prompt{ID: p.ID, Tenant: p.Tenant, Account: p.Account, Kind: PromptKind(p.Kind), Channel: p.Channel,
		OpenID: p.OpenID, PhoneMasked: p.PhoneMasked, Message: p.Message, TaxNo: p.TaxNo, Username: p.Username,
		CreatedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt, Of: p.Of, Reminder: p.Reminder, Escalated: p.Escalated}
}

func promptListOf(ps []prompts.Prompt) []Prompt {
	if ps == nil {
		return nil
	}
	out := make([]Prompt, len(ps))
	for i, p := range ps {
		out[i] = promptOf(p)
	}
	return out
}

// AuditEvent is one entry of a tenant's audit log (B7).
type AuditEvent struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Tenant  string    `json:"tenant"`
	Actor   string    `json:"actor"`   // "wx:<openid>", "key:<id>", "system", "cli"
	Action  string    `json:"action"`  // "account.add", "account.bind", ...
	Target  string    `json:"target"`  // "account/<id>", "enterprise/<tax_no>", ...
	Outcome string    `json:"outcome"` // "ok" or an error code
	Detail  string    `json:"detail,omitempty"`
}

func auditEventOf(ev persistence.AuditEvent) AuditEvent {
	return AuditEvent{Seq: ev.Seq, Time: ev.Time, Tenant: ev.Tenant, Actor: ev.Actor, Action: ev.Action,
		Target: ev.Target, Outcome: ev.Outcome, Detail: ev.Detail}
}

// StoreStats are the store's write counters since it opened.
type StoreStats struct {
	// Commits counts writes applied and durable.
	Commits uint64
	// Refused counts writes refused by their revision check.
	Refused uint64
	// Failed counts writes lost to a failed transaction (a disk error).
	Failed uint64
	// Cancelled counts writes whose context ended before they were taken.
	Cancelled uint64
	// Transactions counts committed transactions, hence fsyncs.
	Transactions uint64
	// Ops counts records written: puts, deletes of present keys, audit events.
	Ops uint64
	// AvgBatch is the mean number of writes per committed transaction.
	AvgBatch float64
	// LastBatch is the number of writes in the last committed transaction.
	LastBatch int
	// LastCommitLatency is how long the last transaction took, fsync included.
	LastCommitLatency time.Duration
	// MaxCommitLatency is the longest transaction so far.
	MaxCommitLatency time.Duration
}

// EventType names a client event (B6) a webhook may subscribe to.
type EventType string

const (
	EventSessionReady       EventType = EventType(events.EventSessionReady)
	EventSessionLost        EventType = EventType(events.EventSessionLost)
	EventAuthRequired       EventType = EventType(events.EventAuthRequired)
	EventAccountLocked      EventType = EventType(events.EventAccountLocked)
	EventBindingUnreachable EventType = EventType(events.EventBindingUnreachable)
)

// Webhook is a tenant's registered URL.
type Webhook struct {
	ID        string      `json:"id"`
	Tenant    string      `json:"tenant"`
	URL       string      `json:"url"`
	Events    []EventType `json:"events"`
	CreatedAt time.Time   `json:"created_at"`
	// Secret is the HMAC key that signs the POSTs. Only Register returns
	// it; List never does.
	Secret string `json:"secret,omitempty"`
}

// Webhook delivery states.
const (
	DeliveryOK       = events.DeliveryOK       // the last event was delivered
	DeliveryRetrying = events.DeliveryRetrying // the last attempt failed; another follows
	DeliveryFailed   = events.DeliveryFailed   // the last event was given up
)

// WebhookDelivery is the delivery state of one webhook: its last attempt
// and totals.
type WebhookDelivery struct {
	WebhookID     string    `json:"webhook_id"`
	URL           string    `json:"url"`
	State         string    `json:"state,omitempty"` // "", DeliveryOK, DeliveryRetrying or DeliveryFailed
	LastEventID   string    `json:"last_event_id,omitempty"`
	LastEventType EventType `json:"last_event_type,omitempty"`
	LastStatus    int       `json:"last_status,omitempty"` // HTTP status; 0: no response
	Attempts      int       `json:"attempts,omitempty"`    // attempts of the last event so far
	LastError     string    `json:"last_error,omitempty"`
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	LastSuccessAt time.Time `json:"last_success_at,omitzero"`
	Delivered     uint64    `json:"delivered"` // events delivered
	GaveUp        uint64    `json:"gave_up"`   // events given up after MaxAttempts
}

// Webhook registry errors, the same values package events returns: check
// them with errors.Is.
var (
	// ErrWebhookNotFound: the tenant has no webhook with that id.
	ErrWebhookNotFound = events.ErrWebhookNotFound
	// ErrInvalidWebhook: a URL, tenant or event list refused; the wrapping
	// error says which, and is safe to show.
	ErrInvalidWebhook = events.ErrInvalidWebhook
	// ErrWebhookURLForbidden: the URL's host is or resolves to a
	// non-public address.
	ErrWebhookURLForbidden = events.ErrWebhookURLForbidden
	// ErrTooManyWebhooks: the tenant has as many webhooks as allowed.
	ErrTooManyWebhooks = events.ErrTooManyWebhooks
)

func webhookOf(w events.Webhook) Webhook {
	evs := make([]EventType, len(w.Events))
	for i, e := range w.Events {
		evs[i] = EventType(e)
	}
	if w.Events == nil {
		evs = nil
	}
	return Webhook{ID: w.ID, Tenant: w.Tenant, URL: w.URL, Events: evs, CreatedAt: w.CreatedAt, Secret: w.Secret}
}

func deliveryOf(d events.WebhookDelivery) WebhookDelivery {
	return WebhookDelivery{WebhookID: d.WebhookID, URL: d.URL, State: d.State, LastEventID: d.LastEventID,
		LastEventType: EventType(d.LastEventType), LastStatus: d.LastStatus, Attempts: d.Attempts,
		LastError: d.LastError, LastAttemptAt: d.LastAttemptAt, LastSuccessAt: d.LastSuccessAt,
		Delivered: d.Delivered, GaveUp: d.GaveUp}
}
