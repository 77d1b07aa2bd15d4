package events

// Webhook delivery: the signed POST of one queued event and its recorded outcome.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/internal/sign"
	"github.com/etaxd/etaxd/natsbus"
	"github.com/etaxd/etaxd/persistence"
)

// handleDelivery POSTs one event to one webhook and records the outcome.
func (w *Webhooks) handleDelivery(ctx context.Context, m jetstream.Msg) {
	var t webhookTask
	if err := json.Unmarshal(m.Data(), &t); err != nil || !natsbus.ValidToken(t.Tenant) || !natsbus.ValidToken(t.Webhook) {
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
		_ = m.NakWithDelay(natsbus.Backoff(attempt, w.opts.RetryBase, w.opts.RetryMax))
		return
	}

	status, perr := w.post(ctx, rec, t, secret, attempt)
	now := w.opts.Clock.Now().UTC()
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
		d := natsbus.Backoff(attempt, w.opts.RetryBase, w.opts.RetryMax)
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
	for k, v := range sign.Headers(rec.ID, secret, http.MethodPost, u.RequestURI(), t.Event, w.opts.Clock.Now()) {
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
