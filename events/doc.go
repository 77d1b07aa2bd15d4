// Package events carries the client events (B6: session ready, session
// lost, auth required, account locked, binding unreachable) from the
// account actors to the tenants: on their NATS subjects and to their
// registered webhooks.
//
// The actors see only the EventSink interface. Emit returns quickly and
// never calls back into the actors. Implementations:
//
//   - Discard, and EventLog, an in-memory event list, for tests and tools;
//   - EventStream, which publishes events to the limits stream
//     ETAXD_EVENTS on "etaxd.events.<tenant>.<type>".
//
// Webhooks keeps the tenants' webhook registrations in the store (their
// signing secrets sealed), fans each stored event out to the matching
// webhooks through the work-queue stream ETAXD_WEBHOOKS, and POSTs them
// signed (internal/sign), retrying with back-off. It refuses URLs whose
// host is or resolves to a non-public address, at registration and again
// at dial (the SSRF checks of webhookaddr.go), unless AllowPrivate.
//
// Both sit on a natsbus.Bus. docs/NATS.md describes the subjects, streams,
// consumers and message formats.
//
// # Delivery guarantees
//
// An event accepted by EventStream.Emit waits in a bounded memory buffer
// until JetStream stored it; a full buffer drops it (counted). Once stored
// it is kept for the stream's MaxAge and delivered to each webhook at
// least once: receivers dedupe by the event ID (X-Etaxd-Event-Id).
//
// # Concurrency
//
// Every exported type is safe for concurrent use unless its comment says
// otherwise. Webhook deliveries run on the dispatcher's worker goroutines,
// several at a time.
package events
