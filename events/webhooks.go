package events

// Webhook setup: the options, the stored and queued types, and NewWebhooks, which starts the dispatcher.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/natsbus"
	"github.com/etaxd/etaxd/persistence"
)

// Names of the webhook delivery queue.
const (
	// WebhookStream is the work-queue stream of webhook deliveries: one
	// message per (event, webhook).
	WebhookStream = "ETAXD_WEBHOOKS"
	// WebhookSubjectPrefix prefixes a delivery's subject:
	// "etaxd.webhooks.<tenant>.<webhook id>".
	WebhookSubjectPrefix = "etaxd.webhooks"

	webhookFanoutConsumer  = "webhook-fanout"
	webhookDeliverConsumer = "webhook-deliver"
)

// Webhook headers, besides the four of internal/sign (X-Etaxd-Key carries
// the webhook ID).
const (
	HeaderEvent    = "X-Etaxd-Event"            // the event type
	HeaderEventID  = "X-Etaxd-Event-Id"         // the event ID: receivers dedupe by it
	HeaderDelivery = "X-Etaxd-Delivery-Attempt" // 1, 2, …
)

// AllEventTypes are the event types a webhook may subscribe to.
var AllEventTypes = []EventType{EventSessionReady, EventSessionLost, EventAuthRequired, EventAccountLocked, EventBindingUnreachable}

// Sealer encrypts secrets at rest; persistence.Keyring is one. The aad
// binds a sealed value to its key.
type Sealer interface {
	Seal(plaintext []byte, aad string) ([]byte, error)
	Open(sealed []byte, aad string) ([]byte, error)
}

// WebhookOptions configure Webhooks. The zero value is usable (secrets are
// then stored in the clear: pass a Sealer in production).
type WebhookOptions struct {
	// Sealer seals each webhook's signing secret in the store.
	Sealer Sealer
	// MaxPerTenant bounds a tenant's webhooks; default 10.
	MaxPerTenant int
	// Timeout bounds one POST; default 10s.
	Timeout time.Duration
	// MaxAttempts bounds the POSTs of one event to one webhook; default 10.
	MaxAttempts int
	// RetryBase and RetryMax shape the back-off between attempts: base,
	// 2·base, … capped at max. Defaults 2s and 5m (about 17 minutes over
	// 10 attempts).
	RetryBase time.Duration
	RetryMax  time.Duration
	// Workers POST concurrently; default 4.
	Workers int
	// AllowPrivate lets webhooks reach loopback, private, link-local and
	// other non-public addresses (an ERP on the premises' network). Off,
	// Register refuses such URLs with ErrWebhookURLForbidden and the
	// default Client refuses to dial such an address, whatever the name
	// resolved to at registration. Off by default: a tenant's webhook
	// must not reach the node's own operator API or its neighbours.
	AllowPrivate bool
	// Resolver looks up webhook hosts, at registration and for the default
	// Client's dials; default net.DefaultResolver.
	Resolver Resolver
	// Client makes the POSTs; default a client with Timeout that does not
	// follow redirects, uses no proxy (a proxy would dial for it, past the
	// address check) and refuses non-public addresses at dial unless
	// AllowPrivate. A Client given here must make those checks itself.
	Client *http.Client
	// Clock is the time source for signatures, registration and delivery times; nil means
	// clock.Real.
	Clock clock.Clock
	// Logger; nil means slog.Default.
	Logger *slog.Logger
}

func (o *WebhookOptions) setDefaults() {
	if o.MaxPerTenant <= 0 {
		o.MaxPerTenant = 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 2 * time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Webhook is a tenant's registered URL.
type Webhook struct {
	ID        string      `json:"id"`
	Tenant    string      `json:"tenant"`
	URL       string      `json:"url"`
	Events    []EventType `json:"events"`
	CreatedAt time.Time   `json:"created_at"`
	// Secret is the HMAC key that signs the POSTs (its bytes as written).
	// Only Register returns it; List never does.
	Secret string `json:"secret,omitempty"`
}

// Delivery states.
const (
	DeliveryOK       = "ok"       // the last event was delivered
	DeliveryRetrying = "retrying" // the last attempt failed; another follows
	DeliveryFailed   = "failed"   // the last event was given up
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

// webhookRecord is the stored form of a Webhook.
type webhookRecord struct {
	ID        string      `json:"id"`
	Tenant    string      `json:"tenant"`
	URL       string      `json:"url"`
	Events    []EventType `json:"events"`
	CreatedAt time.Time   `json:"created_at"`
	Secret    []byte      `json:"secret"` // sealed when Sealed
	Sealed    bool        `json:"sealed"`
}

// webhookTask is one message of ETAXD_WEBHOOKS.
type webhookTask struct {
	Tenant    string          `json:"tenant"`
	Webhook   string          `json:"webhook"`
	EventID   string          `json:"event_id"`
	EventType EventType       `json:"event_type"`
	Event     json.RawMessage `json:"event"` // the body, as published on ETAXD_EVENTS
}

func webhookKey(tenant, id string) string  { return "webhook/" + tenant + "/" + id }
func deliveryKey(tenant, id string) string { return "webhookdelivery/" + tenant + "/" + id }

// Webhooks is the B6 webhook registry and dispatcher. Registrations live in
// the store; the dispatcher (when built with a Bus) reads ETAXD_EVENTS with
// the durable consumer "webhook-fanout", which queues one delivery per
// matching webhook on ETAXD_WEBHOOKS, and POSTs those with the durable
// consumer "webhook-deliver", retrying each webhook on its own. Build it
// with NewWebhooks.
type Webhooks struct {
	store persistence.Store
	opts  WebhookOptions
	log   *slog.Logger
	js    jetstream.JetStream

	fanout, deliver *natsbus.Runner
}

// NewWebhooks returns the registry. With a nil bus it only manages
// registrations; otherwise it creates the ETAXD_WEBHOOKS stream (and
// ETAXD_EVENTS if missing) and its consumers, and starts dispatching.
func NewWebhooks(store persistence.Store, bus *natsbus.Bus, opts WebhookOptions) (*Webhooks, error) {
	if store == nil {
		return nil, errors.New("events: NewWebhooks needs a store")
	}
	opts.setDefaults()
	w := &Webhooks{store: store, opts: opts, log: opts.Logger.With("component", "webhooks")}
	if w.opts.Client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = nil
		t.DialContext = w.dialContext
		w.opts.Client = &http.Client{
			Timeout:   opts.Timeout,
			Transport: t,
			// A redirect would send the signed body somewhere the tenant
			// did not register; a 3xx is a failed attempt.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if bus == nil {
		return w, nil
	}
	w.js = bus.JetStream()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var evOpts EventStreamOptions
	evOpts.setDefaults()
	if err := natsbus.EnsureStreamExists(ctx, w.js, eventStreamConfig(evOpts, bus.Replicas())); err != nil {
		return nil, err
	}
	err := natsbus.EnsureStream(ctx, w.js, jetstream.StreamConfig{
		Name:        WebhookStream,
		Description: "etaxd webhook deliveries, one per event and webhook (work queue)",
		Subjects:    []string{WebhookSubjectPrefix + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    bus.Replicas(),
		Duplicates:  10 * time.Minute,
		MaxAge:      7 * 24 * time.Hour,
	})
	if err != nil {
		return nil, err
	}
	fan, err := natsbus.EnsureConsumer(ctx, w.js, EventStreamName, jetstream.ConsumerConfig{
		Durable:     webhookFanoutConsumer,
		Description: "etaxd webhooks: queue one delivery per matching webhook",
		AckPolicy:   jetstream.AckExplicitPolicy,
		AckWait:     30 * time.Second,
		// Events from before the first start are history, not news.
		DeliverPolicy: jetstream.DeliverNewPolicy,
		FilterSubject: EventSubjectPrefix + ".>",
		MaxAckPending: 1000,
		Replicas:      bus.Replicas(),
	})
	if err != nil {
		return nil, fmt.Errorf("events: create consumer %s: %w", webhookFanoutConsumer, err)
	}
	del, err := natsbus.EnsureConsumer(ctx, w.js, WebhookStream, jetstream.ConsumerConfig{
		Durable:       webhookDeliverConsumer,
		Description:   "etaxd webhooks: POST each delivery",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       opts.Timeout + 30*time.Second,
		MaxDeliver:    opts.MaxAttempts + 1, // see Consume
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 1000,
		Replicas:      bus.Replicas(),
	})
	if err != nil {
		return nil, fmt.Errorf("events: create consumer %s: %w", webhookDeliverConsumer, err)
	}
	w.deliver = natsbus.NewRunner(del, w.handleDelivery, opts.Workers, w.log)
	w.fanout = natsbus.NewRunner(fan, w.handleEvent, 2, w.log)
	if err := w.deliver.Start(); err != nil {
		return nil, fmt.Errorf("events: start webhook delivery: %w", err)
	}
	if err := w.fanout.Start(); err != nil {
		w.deliver.Stop()
		return nil, fmt.Errorf("events: start webhook fan-out: %w", err)
	}
	return w, nil
}

// Close stops the dispatcher, letting running POSTs finish. Deliveries not
// done wait in ETAXD_WEBHOOKS for the next start. Close it before the Bus.
func (w *Webhooks) Close() {
	if w.fanout != nil {
		w.fanout.Stop()
		w.deliver.Stop()
	}
	if t, ok := w.opts.Client.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}
