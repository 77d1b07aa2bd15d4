package events

// Webhook fan-out: one queued delivery per matching webhook for each event.

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/natsbus"
)

// handleEvent queues one delivery per webhook of the event's tenant that
// wants its type, then acks the event. A failed publish naks the event:
// the deliveries already queued are deduplicated by their message ID.
func (w *Webhooks) handleEvent(ctx context.Context, m jetstream.Msg) {
	var ev Event
	if err := json.Unmarshal(m.Data(), &ev); err != nil || ev.ID == "" || !natsbus.ValidToken(ev.Tenant) {
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
		_ = m.NakWithDelay(natsbus.Backoff(attempt, time.Second, time.Minute))
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
