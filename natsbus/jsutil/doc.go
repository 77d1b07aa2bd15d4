// Package jsutil is the one JetStream start-up routine of etaxd: wait for
// the meta leader, then create a stream, a KV bucket or a consumer
// idempotently in short attempts, trying again only what is transient.
//
// Every package that opens JetStream resources uses it: natsbus (its Bus
// and the streams of prompts and events), cluster/membership (the member
// bucket) and persistence/kvstore (the state bucket, and its reads' retry).
// It works on a jetstream.JetStream handle alone, so it serves an embedded
// server and external NATS servers alike.
//
// # Dependencies
//
// jsutil imports nats.go and its jetstream package only — no nats-server,
// no etaxd package — so that membership and kvstore depend on it without
// depending on natsbus (which embeds nats-server):
//
//	natsbus ──────────────┐
//	cluster/membership ───┼──► natsbus/jsutil ──► nats.go, nats.go/jetstream
//	persistence/kvstore ──┘
//
// natsbus keeps its own exported names (Attempt, AttemptTimeout, Backoff,
// EnsureStream, EnsureStreamExists, EnsureConsumer, ErrNoMetaLeader,
// Bus.WaitMetaLeader, Bus.CreateKV) as thin wrappers of this package.
//
// # Why attempts
//
//   - JetStream API calls made before the cluster has a meta leader get no
//     reply at all (nats-server jetstream_api.go) and would each wait out
//     their whole deadline: WaitMetaLeader polls AccountInfo with short
//     probes first.
//   - Several nodes creating the same new replicated stream or bucket at
//     once can all hang until their deadline (nats.go issue 949); a new
//     attempt then takes milliseconds: each call is bounded by
//     AttemptTimeout (1 s) and made again while it fails transiently.
//   - A refusal (a configuration the server will not take) does not improve
//     with time and returns at once.
//
// Everything here is safe for concurrent use.
package jsutil
