// Package natsbus is etaxd's connection to NATS with JetStream: the Bus,
// either an embedded nats-server started in this process (StartEmbedded)
// or a connection to external servers (Connect), and the helpers the
// packages built on it share — stream creation (EnsureStream,
// EnsureStreamExists), the consumer worker pool (Runner), back-off,
// subject-token checks and rate-limited warnings.
//
// Packages prompts and events build their streams and consumers on a Bus;
// docs/NATS.md describes them.
//
// # Concurrency
//
// Bus, Runner and RateLog are safe for concurrent use. Close a Bus last,
// after everything built on it.
package natsbus
