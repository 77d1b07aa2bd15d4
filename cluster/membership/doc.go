// Package membership is etaxd's protoactor-go cluster provider
// (cluster.ClusterProvider) on a NATS JetStream KV bucket: it tells
// protoactor's MemberList which nodes are members, and drops a node that
// stopped beating. protoactor-go ships no NATS provider; this one is a
// few hundred lines.
//
// # Design
//
// Every member owns one key of the bucket (DefaultBucket), named by its
// protoactor member id, holding its Record: id, name, cluster, host, port,
// kinds and joined time. StartMember writes it with a create-only put; then
// every Period (500 ms) the heartbeat goroutine rewrites it with a
// revision-checked Update(key, value, lastRev). Only the revision moves.
//
// After each acknowledged own beat, and only then, the node reads every
// peer key it knows with a plain Get. The tracker (liveness.go, a pure
// core) counts, per peer, this node's acknowledged beats during which the
// peer's revision did not move:
//
//   - a peer is admitted the first time its revision moves (a key left
//     behind by a dead incarnation never moves and is never admitted);
//   - a peer whose revision stood still for MissedBeats beats (4: TTL 2 s)
//     is dropped, and the node that drops it deletes its key with a
//     revision-checked Delete (so a peer that just moved is not deleted; of
//     two droppers one wins, the other finds the key gone);
//   - a key found deleted is a leave (graceful, or dropped by another node).
//
// The member set (self plus admitted peers) is pushed with
// MemberList.UpdateClusterTopology whenever it changed, as protoactor's
// own providers do. protoactor blocks a member that left forever (P3,
// cluster/member_list.go:144,200); the tracker never re-admits an id either,
// and ids are fresh per process.
//
// The KV watch is used only to learn of new keys (joins) and of deletes
// (graceful leaves), never for liveness: a watch is an ordered consumer with
// a 5 s heartbeat that went silent for 10 s+ when its server died.
//
// # Outages freeze membership
//
// A beat that is not stored (timeout, no responders) acknowledges nothing:
// the node reads no peers and counts no staleness, and a round in which any
// peer read fails is discarded whole. A KV outage therefore freezes the
// member set instead of dropping healthy members; it resumes when beats are
// stored again. Failures are logged once, then every 20th.
//
// # Self-eviction
//
// A node paused (SIGSTOP, a long GC, a VM freeze) or cut off longer than
// the TTL is dropped by the others, who activate its grains elsewhere. When
// it runs again its own Update fails with a revision mismatch; a Get shows
// the key deleted: it has been evicted. It calls Config.OnEvicted (after the
// heartbeat stopped; the error wraps ErrEvicted); the node binary logs a
// clear line and exits with ExitEvicted (75, EX_TEMPFAIL) so its supervisor
// restarts it with a fresh member id. Without this a paused node came back
// as a zombie that saw 3 members while the others saw 2, and grains were
// activated twice. Between resuming and noticing, Serving reports false
// (its last stored beat is older than the TTL): the node must check it
// before serving a request, because messages queued while it was paused
// arrive at once. A mismatch whose Get shows this node's own record at a
// newer revision is an earlier Update that was stored with its
// acknowledgement lost: the revision is adopted.
//
// # Library traps avoided
//
//   - JetStream API calls before a meta leader exists get no reply
//     (nats-server jetstream_api.go:1560): New polls AccountInfo with
//     500 ms probes first (jsutil.WaitMetaLeader).
//   - Several nodes creating the same new R3 bucket at once hang until
//     their deadline (nats.go issue 949): the stream is created with 1 s
//     attempts, retried while they fail transiently
//     (jsutil.EnsureKVStream, the start-up routine natsbus and
//     persistence/kvstore use too).
//   - CreateKeyValue forces AllowDirect (nats.go jetstream/kv.go:687), so a
//     paused replica answers, or stalls, liveness reads: the bucket's stream
//     (KV_<bucket>) is created by hand with AllowDirect false, then bound
//     with KeyValue; every Get goes to the stream leader.
//   - Update drops a per-key TTL (kv.go:128): the bucket's MaxAge (24 h) is
//     only garbage collection of delete markers.
//   - protoactor's StartMember panics on a provider error (cluster.go:107):
//     New does the fallible work (meta leader, bucket) before the cluster
//     starts; StartMember only writes the first record, retried.
//   - The stock disthash lookup waits a fixed 5 s per activation request;
//     use third_party/protoactor/disthash (1 s) with this provider.
//
// # Measured
//
// TestClusterFailover (three member processes on one embedded nats-server,
// 2 shared cores, go test -race, 24 probe grains): three started together
// all saw 3 members after 1.3 s; over 3 kill -9 rounds of the member
// hosting the most grains, it was dropped by both survivors after 2.1–2.3 s
// (median 2.25 s, max 2.29 s) and all its grains answered on survivors after
// median 2.28 s, max 2.34 s (pid cache cleared on the topology change, 1 s
// activation timeout); a restarted member (fresh id, same port) was seen by
// all after median 1.16 s, max 1.18 s. A member paused 2.4 s (TTL 2 s) was
// dropped after 2.2 s, refused the calls queued for it, and exited with
// ExitEvicted on SIGCONT. Double activations: 0. The whole test takes
// about 28 s.
//
// # Concurrency
//
// One heartbeat goroutine owns the tracker, the own revision and the KV
// writes; the watch goroutine only records hints under a mutex; Snapshot,
// Serving and ID are safe for concurrent use. StartMember or StartClient
// may be called once; Shutdown stops the heartbeat, waits for it and
// deletes the node's key (a graceful leave), and may be called more than
// once.
package membership
