package actors

import (
	"context"
	"errors"

	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
)

// The services next to the engine that the HTTP side reads, in the engine's
// types: webhook registrations (B6), the dev inbox and the store's health.
// cmd/etaxd builds them from the concrete parts and hands them to the HTTP
// packages, which see only these methods.

// WebhookRegistry is events.Webhooks in the engine's types. Every method is
// scoped to a tenant: an id of another tenant is not found. Safe for
// concurrent use.
type WebhookRegistry struct{ w *events.Webhooks }

// NewWebhookRegistry returns w's registry.
func NewWebhookRegistry(w *events.Webhooks) *WebhookRegistry { return &WebhookRegistry{w: w} }

// Register adds a URL for evs (all event types when empty) and returns it
// with its signing secret, which is never returned again.
func (r *WebhookRegistry) Register(ctx context.Context, tenant, url string, evs []EventType) (Webhook, error) {
	var in []events.EventType
	if evs != nil {
		in = make([]events.EventType, len(evs))
		for i, e := range evs {
			in[i] = events.EventType(e)
		}
	}
	wh, err := r.w.Register(ctx, tenant, url, in)
	if err != nil {
		return Webhook{}, err
	}
	return webhookOf(wh), nil
}

// List returns the tenant's webhooks, without secrets.
func (r *WebhookRegistry) List(ctx context.Context, tenant string) ([]Webhook, error) {
	whs, err := r.w.List(ctx, tenant)
	if err != nil || whs == nil {
		return nil, err
	}
	out := make([]Webhook, len(whs))
	for i, wh := range whs {
		out[i] = webhookOf(wh)
	}
	return out, nil
}

// Delete removes a webhook; deliveries queued for it are dropped.
func (r *WebhookRegistry) Delete(ctx context.Context, tenant, id string) error {
	return r.w.Delete(ctx, tenant, id)
}

// Deliveries returns each webhook's delivery state.
func (r *WebhookRegistry) Deliveries(ctx context.Context, tenant string) ([]WebhookDelivery, error) {
	ds, err := r.w.Deliveries(ctx, tenant)
	if err != nil || ds == nil {
		return nil, err
	}
	out := make([]WebhookDelivery, len(ds))
	for i, d := range ds {
		out[i] = deliveryOf(d)
	}
	return out, nil
}

// DevInbox reads the dev notifier's prompts.Inbox in the engine's types.
// Safe for concurrent use.
type DevInbox struct{ in *prompts.Inbox }

// NewDevInbox returns in's reader.
func NewDevInbox(in *prompts.Inbox) *DevInbox { return &DevInbox{in: in} }

// Messages returns what openid received, newest first ("" for prompts of
// accounts nobody is bound to).
func (d *DevInbox) Messages(openid string) []Prompt { return promptListOf(d.in.Messages(openid)) }

// All returns every openid's prompts, newest first.
func (d *DevInbox) All() map[string][]Prompt {
	all := d.in.All()
	out := make(map[string][]Prompt, len(all))
	for openid, ps := range all {
		out[openid] = promptListOf(ps)
	}
	return out
}

// probeKey is read by StoreProbe.Probe. Nothing writes it: a healthy store
// answers persistence.ErrNotFound.
const probeKey = "ops/readyz-probe"

// StoreProbe is what the ops endpoints see of the store: whether it
// answers, and its write counters (bbolt's; a store without them reports
// zeros). Safe for concurrent use.
type StoreProbe struct {
	s persistence.Store
	b *persistence.Bolt // s when it is bbolt
}

// NewStoreProbe returns s's probe.
func NewStoreProbe(s persistence.Store) *StoreProbe {
	b, _ := s.(*persistence.Bolt)
	return &StoreProbe{s: s, b: b}
}

// Probe reads a key nobody writes; nil means the store answered.
func (p *StoreProbe) Probe(ctx context.Context) error {
	_, err := p.s.Get(ctx, probeKey)
	if err != nil && !errors.Is(err, persistence.ErrNotFound) {
		return err
	}
	return nil
}

// Stats returns the store's write counters.
func (p *StoreProbe) Stats() StoreStats {
	if p.b == nil {
		return StoreStats{}
	}
	s := p.b.Stats()
	return StoreStats{Commits: s.Commits, Refused: s.Refused, Failed: s.Failed, Cancelled: s.Cancelled,
		Transactions: s.Transactions, Ops: s.Ops, AvgBatch: s.AvgBatch, LastBatch: s.LastBatch,
		LastCommitLatency: s.LastCommitLatency, MaxCommitLatency: s.MaxCommitLatency}
}
