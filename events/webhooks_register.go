package events

// Webhook registration: Register, List, Delete and the delivery states a tenant reads.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/etaxd/etaxd/natsbus"
	"github.com/etaxd/etaxd/persistence"
)

// Register adds a webhook for tenant: events of the given types (all of
// them when events is empty) are POSTed to rawURL. The returned Webhook
// carries its signing secret, shown this once.
func (w *Webhooks) Register(ctx context.Context, tenant, rawURL string, events []EventType) (Webhook, error) {
	if !natsbus.ValidToken(tenant) {
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
		return Webhook{}, fmt.Errorf("events: list webhooks of %s: %w", tenant, err)
	}
	if n >= w.opts.MaxPerTenant {
		return Webhook{}, fmt.Errorf("%w: tenant %s has %d (limit %d)", ErrTooManyWebhooks, tenant, n, w.opts.MaxPerTenant)
	}
	id := "wh_" + randomHex(8)
	secret := "whsec_" + randomHex(32)
	rec := webhookRecord{ID: id, Tenant: tenant, URL: u, Events: evs, CreatedAt: w.opts.Clock.Now().UTC(), Secret: []byte(secret)}
	if w.opts.Sealer != nil {
		sealed, err := w.opts.Sealer.Seal([]byte(secret), webhookKey(tenant, id))
		if err != nil {
			return Webhook{}, fmt.Errorf("events: seal webhook secret: %w", err)
		}
		rec.Secret, rec.Sealed = sealed, true
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return Webhook{}, err
	}
	if _, err := persistence.Put(ctx, w.store, webhookKey(tenant, id), data, 0); err != nil {
		return Webhook{}, fmt.Errorf("events: store webhook %s: %w", id, err)
	}
	wh := rec.public()
	wh.Secret = secret
	w.log.Info("webhook registered", "tenant", tenant, "webhook", id, "url", u)
	return wh, nil
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
	if !natsbus.ValidToken(tenant) {
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
		return nil, fmt.Errorf("events: list webhooks of %s: %w", tenant, err)
	}
	return out, nil
}

// Delete removes the tenant's webhook and its delivery state. Deliveries
// already queued for it are dropped. Another tenant's webhook is
// ErrWebhookNotFound.
func (w *Webhooks) Delete(ctx context.Context, tenant, id string) error {
	if !natsbus.ValidToken(tenant) || !natsbus.ValidToken(id) {
		return ErrWebhookNotFound
	}
	rec, err := w.store.Get(ctx, webhookKey(tenant, id))
	if errors.Is(err, persistence.ErrNotFound) {
		return ErrWebhookNotFound
	}
	if err != nil {
		return fmt.Errorf("events: get webhook %s: %w", id, err)
	}
	ops := []persistence.Op{{Key: rec.Key, Delete: true, Expected: rec.Revision}}
	if d, err := w.store.Get(ctx, deliveryKey(tenant, id)); err == nil {
		ops = append(ops, persistence.Op{Key: d.Key, Delete: true, Expected: d.Revision})
	} else if !errors.Is(err, persistence.ErrNotFound) {
		return fmt.Errorf("events: get webhook delivery %s: %w", id, err)
	}
	if _, err := w.store.Commit(ctx, ops...); err != nil {
		return fmt.Errorf("events: delete webhook %s: %w", id, err)
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
				return nil, fmt.Errorf("events: decode delivery of %s: %w", r.ID, err)
			}
		case !errors.Is(err, persistence.ErrNotFound):
			return nil, fmt.Errorf("events: get delivery of %s: %w", r.ID, err)
		}
		d.WebhookID, d.URL = r.ID, r.URL
		out = append(out, d)
	}
	return out, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
