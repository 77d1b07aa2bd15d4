// Package kvstore is a persistence.Store on a NATS JetStream KV bucket, for
// etaxd's cluster mode: the same revision-checked semantics as the bbolt
// store (persistence.Bolt), shared by every node of a cluster through a
// replicated stream. The conformance suite persistence/storetest runs
// against it on one server and on a 3-server cluster with 3 replicas.
//
// # Layout
//
// One bucket (Options.Bucket, stream "KV_<bucket>", subjects
// "$KV.<bucket>.>") holds both the state records and the audit log, so that
// one atomic batch can write both:
//
//	$KV.<bucket>.k.<token>.<token>...   a record; one token per "/"-separated segment of its key
//	$KV.<bucket>.a.<tenant token>.<id>  one audit event (JSON); id is a NUID, unique per event
//
// A token is its segment with every byte outside [a-zA-Z0-9-] written as
// "_" and two hex digits, and the empty segment is "=": any key maps to KV
// tokens one to one, and the keys under "a/b/" are exactly the subjects
// under "k.a.b.>". Scan(prefix) filters on the segments of prefix up to its
// last "/" and, when the prefix does not end there, keeps the keys that
// start with it: correct for any prefix, cheap for a subtree. The stream
// keeps one message per subject (MaxMsgsPerSubject 1), like a KV bucket of
// history 1; every audit event has its own subject, so none is dropped.
//
// # Revisions
//
// A record's revision is the stream sequence of the message that wrote it:
// it grows with every write of the key but is not consecutive, and it is
// never reused, by this key or any other. A delete writes a delete marker
// (header "KV-Operation: DEL", as nats.go's KV does) on the key's subject;
// Get and Scan treat a key whose last message is a marker as absent. The
// marker keeps the key's history: creating the key again (Expected 0)
// checks against the marker's sequence, and the new value gets a new,
// greater sequence. A writer that holds a revision from before a write or
// a delete can never win: its expected revision is a sequence the key's
// subject no longer ends with, and it never will again.
//
// Every write is checked by the server, not by the store: a put or delete
// carries "Nats-Expected-Last-Subject-Sequence" with the revision it
// expects (for Expected 0, the last sequence the store read for the key:
// 0 or the sequence of its delete marker). A mismatch is refused with
// JetStream error 10071 (10164 on a replicated stream), which the store
// returns wrapping persistence.ErrRevisionMismatch. AnyRevision ops carry
// no check.
//
// # Atomicity
//
// A Commit of one write is one message. A Commit of several, and every
// CommitAudited, is one JetStream atomic batch (nats-server 2.12 and later,
// stream option AllowAtomicPublish): the messages carry "Nats-Batch-Id"
// and "Nats-Batch-Sequence", the last one "Nats-Batch-Commit: 1"; the
// server stages them, checks every message's headers when the commit
// arrives, and stores all of them with consecutive sequences, or none. What
// the store relies on was read in nats-server 2.15.3 (stream.go
// processJetStreamBatchMsg, jetstream_batching.go
// checkMsgHeadersPreClusteredProposal):
//
//   - each message may carry Nats-Expected-Last-Subject-Sequence, but only
//     the first message of the batch on a subject: a check on a subject the
//     batch already wrote is refused. The store therefore puts the check on
//     a key's first message only, and checks the later ops on that key
//     itself, against what the earlier ops of the commit leave;
//   - only the first message may carry Nats-Expected-Last-Sequence (the
//     stream's last sequence). When an op expects the revision an earlier
//     op of the same commit produces (the first sequence of the batch plus
//     that op's position), the store states the stream's last sequence that
//     makes it right: the server refuses the batch if the stream moved. A
//     caller can only predict such a revision on a quiescent stream;
//     callers chain ops with AnyRevision, or Expected 0 after a delete;
//   - Nats-Expected-Last-Msg-Id is refused inside a batch (the store does not
//     use it), and so is a batch of more than 1000 messages (MaxOps 999 ops
//     plus the audit event);
//   - the server gives KV-Operation no meaning: a delete marker in a batch
//     is a message like the others, checked and stored with them;
//   - a batch refused as a whole before it was checked (incomplete, too
//     many batches in flight on the stream, 50 by default) wrote nothing:
//     the store sends it again, as it does a publish that found no
//     responder.
//
// A delete of an absent key (Expected 0 or AnyRevision) writes nothing; the
// store decides it from the read it made when planning the commit, so such
// an op takes effect at that read rather than at the commit. Keys are never
// read together, so no caller can tell.
//
// CommitAudited appends the audit event as the batch's last message: the
// event is stored exactly when the commit is, and gets its sequence as its
// Seq.
//
// # Durability
//
// A write returns nil once JetStream acknowledged it, which it does after
// storing it: on one server (Replicas 1) in its file store, which fsyncs
// before the acknowledgement only when the server runs with sync_interval
// "always" (server.Options.SyncAlways); in a cluster (Replicas 3), once a
// quorum of the replicas stored it. An error other than a refusal
// (ErrRevisionMismatch, ErrInvalidKey, ErrValueTooLarge, ErrClosed) leaves
// the outcome unknown: the acknowledgement did not come, and the write may
// be stored. As with Bolt, a caller that gets an error reloads before it
// decides again; a retry with its old revision is refused if the write
// landed.
//
// # Reads
//
// Get reads the key's last message through the stream leader (AllowDirect
// is off unless Options.AllowDirect sets it): a follower may lag behind a
// write already acknowledged. Scan asks the leader for the subjects under
// its filter, sorts their keys, and reads them from the leader, readPage
// keys at a time (8 in flight), calling fn between pages; it costs one read
// per key. Audit reads the tenant's events with a short-lived consumer
// (which may sit on a follower), fenced by the leader's count of the
// tenant's events taken first: a read that delivers fewer is made again.
// It keeps the events in [from, to) and returns them by time, then by seq.
// Events are dated by their caller, so a read cannot start from a stream
// time: Audit reads the tenant's whole log. Like Bolt's, Scan and Audit are
// not snapshots.
//
// # Opening
//
// New waits for a JetStream meta leader (API calls made before one exists
// get no reply and hang until their deadline), then creates the bucket's
// stream or updates its configuration, one attempt per AttemptTimeout (1 s)
// for at most ReadyTimeout (30 s): several nodes creating one new
// replicated stream at once can all hang, and a retry then succeeds in
// milliseconds; only transient failures are tried again, a refused
// configuration is final. This is the start-up routine of package
// natsbus/jsutil, which natsbus and cluster/membership use too (kvstore
// imports jsutil, not natsbus and its embedded server). It then waits
// until the new stream answers a read. New
// refuses a connection whose max_payload cannot carry a value of
// persistence.MaxValueLen with its headers (ErrPayloadTooSmall; 1 MiB + 8
// KiB at least, the servers' default is 1 MiB).
//
// # Latency
//
// Latency returns the store's histograms (persistence.Latencies): every
// Commit, CommitAudited and AppendAudit by the records it writes (one: a
// single publish; several: an atomic batch) and every Get, each the whole
// call as its caller waits — retries and the quorum's acknowledgement
// included — whatever its outcome.
//
// # Limits
//
//   - MaxOps (999) ops and 64 MiB of keys and values per Commit.
//   - A put with Expected set to the sequence of a key's delete marker
//     would succeed; no call returns such a sequence (deletes return 0).
//   - On a replicated stream the server refuses a check on a key that
//     another write is still being replicated for (error 10164): a
//     concurrent writer can be refused although the other write fails in
//     the end. It reloads and tries again, as after any refusal.
//   - Atomic batches on a single server with file storage are staged in a
//     file store of their own, created per batch; replicated streams stage
//     them in memory.
//
// Measured (bench_test.go, one run: 16 writers, each committing its own
// keys with the revisions of its previous commit, 300-byte values, against
// Bolt's group commit; 2 cores shared with other work, fsync on every
// write; the R3 cluster's 3 servers run in the test process):
//
//	                      KV commits/s (p50, p99)   Bolt commits/s   KV/Bolt time
//	put, R1                  2053  (7.3, 17.5 ms)        10249            5.0
//	3 keys + audit, R1        106  (105, 457 ms)          3940           37.2
//	put, R3                  4923  (2.9, 8.7 ms)         11141            2.3
//	3 keys + audit, R3       1704  (8.4, 27 ms)           2863            1.7
//
// One aggregate per key (the "put" rows) is about 2.9 times the throughput
// of an atomic batch of three keys and an event on R3; the batch is what
// keeps Store.Commit's all-or-nothing contract for several keys. On one
// server, batches are slow (their file store per batch): use Replicas 1
// for development and tests, not for load.
//
// # Concurrency
//
// A Store is safe for concurrent use; it holds no lock while it waits for
// the server. Close waits for the calls under way and refuses new ones with
// persistence.ErrClosed; it does not close the NATS connection, which the
// caller owns. Several Stores (one per node) may share a bucket: the
// server's checks order their writes.
package kvstore
