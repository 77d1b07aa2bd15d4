// Package natsbus is etaxd's connection to NATS with JetStream: the Bus,
// either an embedded nats-server started in this process (StartEmbedded)
// or a connection to external servers (Connect), and the helpers the
// packages built on it share — stream creation (EnsureStream,
// EnsureStreamExists), the consumer worker pool (Runner), back-off,
// subject-token checks and rate-limited warnings.
//
// The JetStream start-up routine — wait for the meta leader
// (Bus.WaitMetaLeader), create streams, buckets and consumers in short
// attempts retried only while they fail transiently (Attempt, EnsureStream,
// Bus.CreateKV) — lives in the subpackage natsbus/jsutil, which imports
// nats.go only: cluster/membership and persistence/kvstore use it without
// importing natsbus and its embedded nats-server. The names here are thin
// wrappers of it.
//
// Packages prompts and events build their streams and consumers on a Bus;
// docs/NATS.md describes them.
//
// Cluster mode's client API shares two things through the Bus: its nonces
// in the nonce log (NonceLog: batches per API key appended on the
// condition that the node has followed the key's last one, docs/CLUSTER.md
// "The nonce log") and its idempotency answers in a KV bucket (SharedKV).
//
// # Concurrency
//
// Bus, Runner, RateLog, NonceLog and SharedKV are safe for concurrent use.
// Close a Bus last, after everything built on it.
package natsbus
