// Package prompts carries the prompts that account actors raise when a
// person must act (type an SMS code, scan a QR code, pass face
// certification) to the notifiers that reach that person.
//
// The actors see only the Publisher interface. Publish returns quickly and
// never calls back into the actors: an implementation queues the prompt and
// delivers it on its own goroutines. Implementations:
//
//   - Chan, an in-process queue, for tests and tools;
//   - Queue, which publishes prompts to the JetStream work-queue stream
//     ETAXD_PROMPTS, read by Consume with one durable pull consumer per
//     notifier kind (the dev Inbox here, WeChat in package wechat).
//
// Queue and Consume sit on a natsbus.Bus. Client events and webhooks (B6)
// are package events. docs/NATS.md describes the subjects, streams,
// consumers and message formats.
//
// # Delivery guarantees
//
// A prompt accepted by Queue.Publish sits in a bounded memory buffer until
// JetStream acknowledged it (normally well under a millisecond with the
// embedded server); a process crash inside that window loses it, and the
// account actor raises a new prompt on the next request. Once stored, a
// prompt survives restarts (file storage; SyncAlways on by default) and is
// delivered at least once. Publishing uses the prompt ID as the JetStream
// message ID, so a prompt published twice within the dedupe window is
// stored once; notifiers dedupe by prompt ID as well, because an ack can
// be lost (then the prompt is delivered again after AckWait).
//
// A consumer acks a prompt only after its Notifier returned nil. A
// transient error is retried with NakWithDelay and an attempt-based
// back-off, up to MaxDeliver attempts; a permanent error (Permanent) and
// the last failed attempt Term the message and call OnUndeliverable, which
// tells the account actor nobody was reached.
//
// # Concurrency
//
// Every exported type is safe for concurrent use unless its comment says
// otherwise. Notifier.Notify and OnUndeliverable run on a consumer's worker
// goroutines, several at a time.
package prompts
