package prompts

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/internal/sign"
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
	// Now is the clock for signatures and delivery times; default time.Now.
	Now func() time.Time
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
	if o.Now == nil {
		o.Now = time.Now
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

	fanout, deliver *runner
}

// NewWebhooks returns the registry. With a nil bus it only manages
// registrations; otherwise it creates the ETAXD_WEBHOOKS stream (and
// ETAXD_EVENTS if missing) and its consumers, and starts dispatching.
func NewWebhooks(store persistence.Store, bus *Bus, opts WebhookOptions) (*Webhooks, error) {
	if store == nil {
		return nil, errors.New("prompts: NewWebhooks needs a store")
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
	if err := ensureStreamExists(ctx, w.js, eventStreamConfig(evOpts, bus.Replicas())); err != nil {
		return nil, err
	}
	err := ensureStream(ctx, w.js, jetstream.StreamConfig{
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
	fan, err := w.js.CreateOrUpdateConsumer(ctx, EventStreamName, jetstream.ConsumerConfig{
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
		return nil, fmt.Errorf("prompts: create consumer %s: %w", webhookFanoutConsumer, err)
	}
	del, err := w.js.CreateOrUpdateConsumer(ctx, WebhookStream, jetstream.ConsumerConfig{
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
		return nil, fmt.Errorf("prompts: create consumer %s: %w", webhookDeliverConsumer, err)
	}
	w.deliver = &runner{cons: del, handle: w.handleDelivery, workers: opts.Workers, log: w.log}
	w.fanout = &runner{cons: fan, handle: w.handleEvent, workers: 2, log: w.log}
	if err := w.deliver.start(); err != nil {
		return nil, fmt.Errorf("prompts: start webhook delivery: %w", err)
	}
	if err := w.fanout.start(); err != nil {
		w.deliver.stop()
		return nil, fmt.Errorf("prompts: start webhook fan-out: %w", err)
	}
	return w, nil
}

// Close stops the dispatcher, letting running POSTs finish. Deliveries not
// done wait in ETAXD_WEBHOOKS for the next start. Close it before the Bus.
func (w *Webhooks) Close() {
	if w.fanout != nil {
		w.fanout.stop()
		w.deliver.stop()
	}
	if t, ok := w.opts.Client.Transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
}

// Register adds a webhook for tenant: events of the given types (all of
// them when events is empty) are POSTed to rawURL. The returned Webhook
// carries its signing secret, shown this once.
func (w *Webhooks) Register(ctx context.Context, tenant, rawURL string, events []EventType) (Webhook, error) {
	if !validToken(tenant) {
		return Webhook{}, fmt.Errorf("%w: tenant %q", ErrInvalidWebhook, tenant)
	}
	u, err := checkWebhookURL(rawURL)
	if err != nil {
		return Webhook{}, err
	}
	evs, err := checkEventTypes(events)
	if err != nil {
		return Webhook{}, err
	}
	if err := w.checkWebhookHost(ctx, u); err != nil {
		return Webhook{}, err
	}
	n := 0
	if err := w.store.Scan(ctx, webhookKey(tenant, ""), func(persistence.Record) error { n++; return nil }); err != nil {
		return Webhook{}, fmt.Errorf("prompts: list webhooks of %s: %w", tenant, err)
	}
	if n >= w.opts.MaxPerTenant {
		return Webhook{}, fmt.Errorf("%w: tenant %s has %d (limit %d)", ErrTooManyWebhooks, tenant, n, w.opts.MaxPerTenant)
	}
	id := "wh_" + randomHex(8)
	secret := "whsec_" + randomHex(32)
	rec := webhookRecord{ID: id, Tenant: tenant, URL: u, Events: evs, CreatedAt: w.opts.Now().UTC(), Secret: []byte(secret)}
	if w.opts.Sealer != nil {
		sealed, err := w.opts.Sealer.Seal([]byte(secret), webhookKey(tenant, id))
		if err != nil {
			return Webhook{}, fmt.Errorf("prompts: seal webhook secret: %w", err)
		}
		rec.Secret, rec.Sealed = sealed, true
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return Webhook{}, err
	}
	if _, err := persistence.Put(ctx, w.store, webhookKey(tenant, id), data, 0); err != nil {
		return Webhook{}, fmt.Errorf("prompts: store webhook %s: %w", id, err)
	}
	wh := rec.public()
	wh.Secret = secret
	w.log.Info("webhook registered", "tenant", tenant, "webhook", id, "url", u)
	return wh, nil
}

// checkWebhookURL returns the URL to store, or an error wrapping
// ErrInvalidWebhook.
func checkWebhookURL(raw string) (string, error) {
	if len(raw) > 2048 {
		return "", fmt.Errorf("%w: URL longer than 2048 bytes", ErrInvalidWebhook)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: URL: %v", ErrInvalidWebhook, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%w: URL scheme must be http or https", ErrInvalidWebhook)
	case u.Hostname() == "":
		return "", fmt.Errorf("%w: URL has no host", ErrInvalidWebhook)
	case u.User != nil:
		// List shows the URL: credentials in it would leak.
		return "", fmt.Errorf("%w: URL must not carry credentials", ErrInvalidWebhook)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", fmt.Errorf("%w: URL must not have a fragment", ErrInvalidWebhook)
	}
	return u.String(), nil
}

// checkEventTypes returns the sorted, deduplicated event types (all of
// them for an empty list), or an error wrapping ErrInvalidWebhook.
func checkEventTypes(events []EventType) ([]EventType, error) {
	if len(events) == 0 {
		return slices.Clone(AllEventTypes), nil
	}
	out := make([]EventType, 0, len(events))
	for _, e := range events {
		if !slices.Contains(AllEventTypes, e) {
			return nil, fmt.Errorf("%w: unknown event type %q", ErrInvalidWebhook, e)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (r webhookRecord) public() Webhook {
	return Webhook{ID: r.ID, Tenant: r.Tenant, URL: r.URL, Events: slices.Clone(r.Events), CreatedAt: r.CreatedAt}
}

// List returns the tenant's webhooks, without secrets, in ID order.
func (w *Webhooks) List(ctx context.Context, tenant string) ([]Webhook, error) {
	recs, err := w.records(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]Webhook, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.public())
	}
	return out, nil
}

// records returns the tenant's stored webhooks.
func (w *Webhooks) records(ctx context.Context, tenant string) ([]webhookRecord, error) {
	if !validToken(tenant) {
		return nil, nil // no such tenant can have webhooks
	}
	var out []webhookRecord
	err := w.store.Scan(ctx, webhookKey(tenant, ""), func(r persistence.Record) error {
		var rec webhookRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			return fmt.Errorf("decode %s: %w", r.Key, err)
		}
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prompts: list webhooks of %s: %w", tenant, err)
	}
	return out, nil
}

// Delete removes the tenant's webhook and its delivery state. Deliveries
// already queued for it are dropped. Another tenant's webhook is
// ErrWebhookNotFound.
func (w *Webhooks) Delete(ctx context.Context, tenant, id string) error {
	if !validToken(tenant) || !validToken(id) {
		return ErrWebhookNotFound
	}
	rec, err := w.store.Get(ctx, webhookKey(tenant, id))
	if errors.Is(err, persistence.ErrNotFound) {
		return ErrWebhookNotFound
	}
	if err != nil {
		return fmt.Errorf("prompts: get webhook %s: %w", id, err)
	}
	ops := []persistence.Op{{Key: rec.Key, Delete: true, Expected: rec.Revision}}
	if d, err := w.store.Get(ctx, deliveryKey(tenant, id)); err == nil {
		ops = append(ops, persistence.Op{Key: d.Key, Delete: true, Expected: d.Revision})
	} else if !errors.Is(err, persistence.ErrNotFound) {
		return fmt.Errorf("prompts: get webhook delivery %s: %w", id, err)
	}
	if _, err := w.store.Commit(ctx, ops...); err != nil {
		return fmt.Errorf("prompts: delete webhook %s: %w", id, err)
	}
	w.log.Info("webhook deleted", "tenant", tenant, "webhook", id)
	return nil
}

// Deliveries returns the delivery state of each of the tenant's webhooks,
// in webhook ID order (a zero state for a webhook nothing was sent to yet).
func (w *Webhooks) Deliveries(ctx context.Context, tenant string) ([]WebhookDelivery, error) {
	recs, err := w.records(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]WebhookDelivery, 0, len(recs))
	for _, r := range recs {
		d := WebhookDelivery{WebhookID: r.ID}
		got, err := w.store.Get(ctx, deliveryKey(tenant, r.ID))
		switch {
		case err == nil:
			if err := json.Unmarshal(got.Value, &d); err != nil {
				return nil, fmt.Errorf("prompts: decode delivery of %s: %w", r.ID, err)
			}
		case !errors.Is(err, persistence.ErrNotFound):
			return nil, fmt.Errorf("prompts: get delivery of %s: %w", r.ID, err)
		}
		d.WebhookID, d.URL = r.ID, r.URL
		out = append(out, d)
	}
	return out, nil
}

// handleEvent queues one delivery per webhook of the event's tenant that
// wants its type, then acks the event. A failed publish naks the event:
// the deliveries already queued are deduplicated by their message ID.
func (w *Webhooks) handleEvent(ctx context.Context, m jetstream.Msg) {
	var ev Event
	if err := json.Unmarshal(m.Data(), &ev); err != nil || ev.ID == "" || !validToken(ev.Tenant) {
		w.log.Error("webhooks: undecodable event, skipped", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	attempt := 1
	if md, err := m.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	retry := func(err error) {
		w.log.Warn("webhooks: fan-out failed, will retry", "event", ev.ID, "tenant", ev.Tenant, "err", err)
		_ = m.NakWithDelay(backoff(attempt, time.Second, time.Minute))
	}
	recs, err := w.records(ctx, ev.Tenant)
	if err != nil {
		retry(err)
		return
	}
	for _, r := range recs {
		if !slices.Contains(r.Events, ev.Type) {
			continue
		}
		task, err := json.Marshal(webhookTask{Tenant: ev.Tenant, Webhook: r.ID, EventID: ev.ID, EventType: ev.Type, Event: m.Data()})
		if err != nil {
			retry(err)
			return
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = w.js.PublishMsg(pctx, &nats.Msg{Subject: WebhookSubjectPrefix + "." + ev.Tenant + "." + r.ID, Data: task},
			jetstream.WithMsgID(ev.ID+":"+r.ID), jetstream.WithExpectStream(WebhookStream))
		cancel()
		if err != nil {
			retry(err)
			return
		}
	}
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := m.DoubleAck(actx); err != nil {
		w.log.Warn("webhooks: ack event", "event", ev.ID, "err", err)
	}
}

// handleDelivery POSTs one event to one webhook and records the outcome.
func (w *Webhooks) handleDelivery(ctx context.Context, m jetstream.Msg) {
	var t webhookTask
	if err := json.Unmarshal(m.Data(), &t); err != nil || !validToken(t.Tenant) || !validToken(t.Webhook) {
		w.log.Error("webhooks: undecodable delivery, skipped", "subject", m.Subject(), "err", err)
		_ = m.Term()
		return
	}
	attempt := 1
	if md, err := m.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	log := w.log.With("tenant", t.Tenant, "webhook", t.Webhook, "event", t.EventID, "attempt", attempt)
	got, err := w.store.Get(ctx, webhookKey(t.Tenant, t.Webhook))
	if errors.Is(err, persistence.ErrNotFound) {
		log.Debug("webhooks: webhook deleted, delivery dropped")
		_ = m.Ack()
		return
	}
	var rec webhookRecord
	if err == nil {
		err = json.Unmarshal(got.Value, &rec)
	}
	var secret []byte
	if err == nil {
		secret, err = w.openSecret(rec)
	}
	if err != nil {
		// The store or the keys failed us, not the receiver: retry without
		// counting it against the webhook.
		log.Error("webhooks: load webhook", "err", err)
		_ = m.NakWithDelay(backoff(attempt, w.opts.RetryBase, w.opts.RetryMax))
		return
	}

	status, perr := w.post(ctx, rec, t, secret, attempt)
	now := w.opts.Now().UTC()
	var state string
	forbidden := isForbidden(perr)
	switch {
	case perr == nil:
		state = DeliveryOK
	case attempt >= w.opts.MaxAttempts, forbidden:
		// A refused address stays refused: give the event up at once.
		state = DeliveryFailed
	default:
		state = DeliveryRetrying
	}
	w.record(ctx, t, rec, func(d *WebhookDelivery) {
		d.State, d.LastEventID, d.LastEventType, d.LastStatus, d.Attempts, d.LastAttemptAt = state, t.EventID, t.EventType, status, attempt, now
		d.LastError = ""
		switch state {
		case DeliveryOK:
			d.LastSuccessAt = now
			d.Delivered++
		case DeliveryFailed:
			d.GaveUp++
			d.LastError = errText(perr)
			if forbidden {
				d.LastError = forbiddenReason
			}
		default:
			d.LastError = errText(perr)
		}
	})
	switch state {
	case DeliveryOK:
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := m.DoubleAck(actx); err != nil {
			log.Warn("webhooks: ack delivery", "err", err)
		}
	case DeliveryFailed:
		reason := "webhook attempts exhausted"
		if forbidden {
			reason = "webhook address not allowed"
		}
		log.Error("webhooks: delivery given up", "status", status, "reason", reason, "err", perr)
		_ = m.TermWithReason(reason)
	default:
		d := backoff(attempt, w.opts.RetryBase, w.opts.RetryMax)
		log.Warn("webhooks: delivery failed, will retry", "status", status, "retry_in", d, "err", perr)
		_ = m.NakWithDelay(d)
	}
}

// post sends the signed event and returns the HTTP status (0 without a
// response) and nil for a 2xx.
func (w *Webhooks) post(ctx context.Context, rec webhookRecord, t webhookTask, secret []byte, attempt int) (int, error) {
	u, err := url.Parse(rec.URL)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rec.URL, bytes.NewReader(t.Event))
	if err != nil {
		return 0, err
	}
	for k, v := range sign.Headers(rec.ID, secret, http.MethodPost, u.RequestURI(), t.Event, w.opts.Now()) {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "etaxd-webhooks/1")
	req.Header.Set(HeaderEvent, string(t.EventType))
	req.Header.Set(HeaderEventID, t.EventID)
	req.Header.Set(HeaderDelivery, strconv.Itoa(attempt))
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// openSecret returns the webhook's signing secret.
func (w *Webhooks) openSecret(rec webhookRecord) ([]byte, error) {
	if !rec.Sealed {
		return rec.Secret, nil
	}
	if w.opts.Sealer == nil {
		return nil, errors.New("webhook secret is sealed but no Sealer is configured")
	}
	return w.opts.Sealer.Open(rec.Secret, webhookKey(rec.Tenant, rec.ID))
}

// record updates the webhook's delivery state with fn. The delivery
// workers share the key: persistence.Update. A failure is logged: the state
// is informational, the delivery itself stands.
func (w *Webhooks) record(ctx context.Context, t webhookTask, rec webhookRecord, fn func(*WebhookDelivery)) {
	_, err := persistence.Update(ctx, w.store, deliveryKey(t.Tenant, t.Webhook), func(old persistence.Record) ([]byte, error) {
		var d WebhookDelivery
		if old.Value != nil && json.Unmarshal(old.Value, &d) != nil {
			d = WebhookDelivery{} // an undecodable state starts over
		}
		d.WebhookID, d.URL = rec.ID, rec.URL
		fn(&d)
		return json.Marshal(d)
	})
	if err != nil {
		w.log.Warn("webhooks: record delivery state", "tenant", t.Tenant, "webhook", t.Webhook, "err", err)
	}
}

// errText shortens an error for the delivery state.
func errText(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Resealer re-encrypts sealed values under the current master key;
// persistence.Keyring is one.
type Resealer interface {
	NeedsReseal(sealed []byte) bool
	Reseal(sealed []byte, aad string) ([]byte, error)
}

// ResealWebhookSecrets re-encrypts every sealed webhook secret that needs
// it (etaxd keys rotate) and returns how many it rewrote.
func ResealWebhookSecrets(ctx context.Context, store persistence.Store, r Resealer) (int, error) {
	type todo struct {
		rec webhookRecord
		rev uint64
	}
	var list []todo
	err := store.Scan(ctx, "webhook/", func(got persistence.Record) error {
		var rec webhookRecord
		if err := json.Unmarshal(got.Value, &rec); err != nil {
			return fmt.Errorf("decode %s: %w", got.Key, err)
		}
		if rec.Sealed && r.NeedsReseal(rec.Secret) {
			list = append(list, todo{rec, got.Revision})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prompts: scan webhooks: %w", err)
	}
	n := 0
	for _, t := range list {
		sealed, err := r.Reseal(t.rec.Secret, webhookKey(t.rec.Tenant, t.rec.ID))
		if err != nil {
			return n, fmt.Errorf("prompts: reseal webhook %s: %w", t.rec.ID, err)
		}
		t.rec.Secret = sealed
		data, err := json.Marshal(t.rec)
		if err != nil {
			return n, err
		}
		if _, err := persistence.Put(ctx, store, webhookKey(t.rec.Tenant, t.rec.ID), data, t.rev); err != nil {
			return n, fmt.Errorf("prompts: store webhook %s: %w", t.rec.ID, err)
		}
		n++
	}
	return n, nil
}
