// Package persistence is etaxd's durable state: the Store interface (get,
// compare-and-set commit, prefix scan, audit log), its implementation on a
// single bbolt file with group commit (Bolt), and the sealing of secrets
// before they reach any store (Keyring).
//
// # Responsibilities
//
// Every write of etaxd goes through a Store: actors load their state with Get
// and Scan when they start, and write every change with Commit before they
// acknowledge it. The package knows nothing of accounts or tenants beyond the
// key conventions below; values are opaque bytes. It never sees a secret in
// clear: callers seal passwords and session tokens with a Keyring first.
//
// # Durability
//
// A write (Commit, AppendAudit) returns nil only once it is on disk: its
// bbolt transaction has committed, and bbolt has fsynced the data and then
// the meta page. NoSync is never set; there is no option to set it. A write
// that returned nil survives a crash of the process or of the machine.
//
// Group commit makes this affordable. Writes are queued to one committer
// goroutine, which takes the first, gathers whatever else is queued (up to
// BoltOptions.MaxBatch, 128 by default; waiting BoltOptions.MaxDelay, none by
// default) and applies the group in one transaction, so one fsync serves
// every write of the group. Writes that arrive while a group commits form the
// next group; when writes come concurrently, the committer also yields the
// processor a few times, and then waits, at most one commit's latency (and
// 5 ms), for the writers it just released and those that queued meanwhile,
// so that they join the group rather than form a small one of their own: a
// lone writer never waits. Measured with 64 concurrent writers, through
// the store alone (bench_test.go) or through the actors, that is 61–64
// writes per transaction, as many as bbolt's own DB.Batch, which has no
// per-write revision check and waits up to 10 ms to fill its batches.
//
// Within a group, each write is checked and applied on its own, against the
// transaction as the writes before it in the group left it: a revision
// mismatch refuses that write only, and writes nothing of it; the other
// writes of the group commit. Only a failure of the transaction itself (a
// disk error) fails the whole group, and then nothing of it is written, as
// far as the file system tells the truth: after a failed fsync the outcome
// is unknown, so a caller that gets an error reloads before it retries (a
// retry with the old revision is refused if the write did land, so retrying
// is never wrong, only possibly refused).
//
// The context of a write bounds only its wait in the queue: if it ends before
// the committer takes the write, the write returns ctx.Err() and nothing is
// written. Once taken, the write's outcome is decided by the transaction
// under way, and the caller waits for it (one transaction at most) whatever
// its context, so that an error never hides a write that happened.
//
// Close stops new writes (they get ErrClosed), lets the committer finish
// every write already queued, and then closes the file. Every call after
// Close returns ErrClosed.
//
// # Revisions
//
// Every key has a revision: 1 when created, one more on every write. 0 means
// "absent": an Op with Expected 0 creates a key, and fails if it exists. A
// write states the revision it expects and fails with ErrRevisionMismatch,
// writing nothing, when the key holds another: the writer that lost reloads
// and decides again. A deleted key keeps its last revision (in a tombstone),
// and creating it again continues from there, so a writer holding a
// revision from before the delete can never overwrite the new key. These are
// the semantics of NATS JetStream KV's Update(key, value, lastRevision), with
// Create as Update with 0, so that the JetStream KV store (persistence/kvstore)
// replaces Bolt in a cluster. Callers must therefore treat revisions as opaque increasing
// tokens: JetStream revisions are stream sequences, increasing per key but
// not consecutive.
//
// One Commit is atomic: all of its ops are applied or none. Its ops apply in
// order, so two ops on one key chain (the second expects the revision the
// first produced). JetStream KV's Update writes one key: the KV store makes a
// commit of several keys (or with an audit event) one atomic batch, which
// costs more than a single write, so prefer commits of one key, plus
// idempotent index records (AnyRevision) that a reader can repair. A caller
// of the KV store cannot predict the revision an op produces, so a later op
// on the same key of one Commit uses AnyRevision (or 0 after a delete). The
// conformance suite persistence/storetest checks every Store against these
// rules.
//
// # Keys
//
// Keys are "/"-separated paths of at most MaxKeyLen bytes, the most general
// part first, so that a prefix Scan reads one subtree in key order. Every
// prefix has one owner, the only code that writes it while etaxd runs
// (keys.go holds the same table as KeyOwners; a test keeps them equal):
//
//	tenant/<tenant>                     the tenant actor
//	accref/<tenant>/<account>           the tenant actor (the account actor deletes it with the account)
//	actcode/<hash>                      the tenant actor
//	account/<tenant>/<account>          the account actor (the tenant actor creates it, F3)
//	wxuser/<openid>                     the tenant actors of the user's tenants, through Update
//	smsbudget/<region>/<person>         the account actors of one person, through Update
//	pwguard/<hash>                      the flows, tenant and account actors that submit one person's password, through Update
//	apikey/<id>                         Engine.CreateAPIKey and RevokeAPIKey, through Update
//	meta/<name>                         the engine at start, create-once; in cluster mode the node that seeds the demo (meta/demo) and the key check (meta/keycheck)
//	webhook/<tenant>/<id>               events.Webhooks Register and Delete
//	webhookdelivery/<tenant>/<id>       events.Webhooks' delivery workers, through Update
//	ratelimit/<limit>/<digest>          cluster mode's engines (wrong activation codes, a WeChat user's wrong passwords), through Update
//	flow/<tenant>/<flow>                the flow actor (the tenant actor resumes it, and deletes it once expired)
//	ops/<name>                          cluster mode's tenant grains (the placement leases ops/placement/<tenant>); else read only (the readiness probe)
//
// A key that several writers share (wxuser, smsbudget, pwguard, ratelimit, webhookdelivery) is
// written with Update only (a placement lease, written by whichever member
// activates the tenant, with a compare-and-set on the revision it read): a read, a change, a compare-and-set, again from
// the read when another writer won. "etaxd keys rotate" rewrites sealed
// values under account/, apikey/, meta/ and webhook/, while no engine runs.
//
// A prefix is compared bytewise: Scan("account/T1") also returns the accounts
// of T10; scan "account/T1/" for one tenant. Keys may hold any byte; the KV
// store maps them to KV keys one to one, and keys of the characters
// [-a-zA-Z0-9/] stay readable there as they are. The audit log
// is keyed by tenant and time, so reading one tenant's events over a period
// costs the events read, whatever the size of the log.
//
// # Acknowledgement
//
// etaxd acknowledges a change (answers a client "done") only after the
// write that stores it returned nil, and it stores a change and its audit
// event in one transaction (CommitAudited): an acknowledged change is on
// disk with its audit event, and an audit event is never missing for a
// stored change. The writer computes the new state on a copy, commits it,
// and only then makes it its state; a failed write leaves its state as it
// was and answers the error (busy, HTTP 503).
//
// A write that fails did not happen, with one exception. Commit refusals
// (ErrRevisionMismatch, ErrInvalidKey, ErrValueTooLarge, ErrClosed) and the
// caller's context ending before the committer took the write leave nothing
// on disk. Any other error is a failed transaction, and a failed fsync
// leaves its outcome unknown: the write may be on disk. Such a change is
// not acknowledged either, and after a restart whatever the store holds is
// the truth, so the rule a crash test checks is exact:
//
//	acknowledged ⊆ stored ⊆ acknowledged ∪ uncertain
//
// where uncertain are the writes that failed with an error other than a
// refusal. A writer that got an error reloads before it decides again: if
// the write did land, its next compare-and-set with the old revision is
// refused, never lost.
//
// # Sealing
//
// A Keyring holds versioned AES-256-GCM master keys. Seal encrypts a value
// under the highest version; a sealed value is
//
//	0x01 ‖ key version (4 bytes, big-endian) ‖ nonce (12 random bytes) ‖ ciphertext ‖ tag (16 bytes)
//
// with the first five bytes and the caller's aad as additional data. The aad
// is the record the value belongs to (its store key, or account id and field):
// a sealed value moved to another record does not open. Open finds the key by
// the version in the value, and fails with ErrUnknownKeyVersion or
// ErrSealedCorrupt; neither error, nor any log line, ever carries a key.
//
// Keys come from a key file (KeyringOptions.File: lines "v<N>:<base64 of 32
// bytes>", "#" comments) and an environment variable (KeyringOptions.Env: the
// same, separated by ";" or newlines). The key file must be a regular file
// of mode 0600 or stricter: a file its group or other users can read or write
// is refused (ErrInsecureKeyFile). In development, CreateIfMissing creates the
// file with one fresh key and warns that it must be backed up and replaced in
// production.
//
// Key check: CheckKeys, called at start, opens the canary meta/keycheck (a
// fixed text sealed by the first process that started on the store) and
// fails with ErrKeyMismatch when this process's keys cannot open it, so that
// a node with other master keys refuses to start instead of sealing secrets
// no other node can open. It works on any Store, and reseals the canary
// under the current version (as ResealKeyCheck does).
//
// Rotation: AddKeyVersion (or AppendKeyVersion, for "etaxd keys rotate")
// appends a fresh key as the next version. New seals use it; values sealed
// under older versions still open, report NeedsReseal, and are resealed
// (Reseal) when next written. An old version may leave the file only once no
// value sealed under it remains. Random 96-bit nonces bound one key to about
// 2^32 seals; rotating yearly keeps far below that.
//
// # Latency
//
// Latencies counts a store's commits (one record: Single; several: Batch)
// and reads (Get) in fixed histograms (LatencyBuckets), each the whole call
// as its caller waits for it, whatever its outcome. persistence/kvstore
// measures itself; Timed wraps a store that does not (Bolt) to measure it
// the same way. A store with figures is a LatencyReporter; /metrics shows
// them as etaxd_store_commit_seconds and etaxd_store_read_seconds.
//
// # Memory
//
// bbolt reads its file through one shared, read-only mapping, and every page
// a read touches would stay mapped into the process, with its neighbours in
// the page cache (Linux's 64 KiB "fault around"): after a tenant's index
// scan and a read per activated account, most of a large file counts in
// etaxd's VmRSS although etaxd keeps what it read in its own memory. So
// reads count the 64 KiB windows of the map they touch, and give the whole
// map back (madvise MADV_DONTNEED, Linux only) before their read
// transaction ends, while the map cannot move: a long scan when it ends,
// point reads every 512 windows. The pages stay in the kernel's page cache
// and are refaulted from it, the same bytes, by the next read that needs
// them; at rest at most about 32 MiB of the file stays mapped (mapped.go).
// BoltOptions.KeepReadPages keeps bbolt's own behaviour. With 1,000,000
// accounts and 100,000 of them active, VmRSS is 0.7 GiB with the release
// and 2.3 GiB without; the refaults cost a point read a few microseconds
// (docs/PERFORMANCE.md).
//
// # Concurrency
//
// Bolt and Keyring are safe for concurrent use. One writer per key is the
// callers' rule (the account actor owns its account's keys); revisions
// detect any breach of it, such as two activations of one actor during a
// cluster topology change, instead of losing a write. Scan and Audit read in
// pages of short read transactions and call fn outside any transaction, so fn
// may call the store; they are therefore not snapshots: a record written
// during a Scan may or may not be seen, but each record is seen whole.
//
// Only one process may open a bbolt file: a second OpenBolt waits
// BoltOptions.LockTimeout (1 s by default) for the file lock and fails with
// ErrLocked.
package persistence
