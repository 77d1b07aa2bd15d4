package natsbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/natsbus/jsutil"
)

// The nonce log's stream. One subject per API key (a digest of the key id),
// so that writers of different keys never conflict; messages are batches of
// nonces. It lives in memory, replicated like every stream of the bus (R3 in
// cluster mode): a nonce survives any one node's death and is forgotten only
// when every server stops at once, which is what a single node's in-memory
// nonce cache does at each restart; the signature's ±5 min window bounds
// what a replay can reach then. Messages live NonceLogMaxAge, beyond any
// nonce's window. The stream has no byte limit of its own: JetStream
// reserves such a limit in each server's memory store up front (a server
// with a smaller max_memory_store could not place it). Its size follows
// the nodes' capacity (24 bytes a nonce and a message's overhead a batch),
// and a server out of memory store refuses the append, so the request is
// refused (busy) and no live nonce is forgotten.
const (
	NonceLogStream   = "ETAXD_NONCES"
	NonceLogSubjects = "_ETAXD.nonces.>"
	NonceLogMaxAge   = 15 * time.Minute
	// DefaultNonceLogCapacity bounds the nonces a node remembers (about
	// 48 bytes each: some 200 MiB at the bound); it holds ten minutes of
	// 7,000 signed requests a second across the cluster.
	DefaultNonceLogCapacity = 1 << 22
)

// nonceGeneration is how often the remembered nonces rotate between two
// generations: an entry stays at least this long, which covers every
// nonce a signature check lets through (until ≤ now + 2 × the ±5 min skew).
const nonceGeneration = 10 * time.Minute

// nonceLogTimeout bounds one Use: the batch's writes and the waits for
// another node's batches.
const nonceLogTimeout = 2 * time.Second

// nonceRecord is the size of one nonce in a batch: its digest and the Unix
// second until which it is remembered.
const (
	nonceDigestLen = 16
	nonceRecord    = nonceDigestLen + 8
	nonceBatchV1   = 1 // the first byte of a batch
)

// ErrNonceLogFull is returned by Use when the node remembers as many live
// nonces as its capacity: the request must be refused, not let through
// unchecked.
var ErrNonceLogFull = errors.New("natsbus: nonce log full")

// NonceLog is the client API's nonce cache shared by the nodes of a
// cluster (it satisfies httpapi.NonceCache): a nonce accepted by any node is
// refused by every node while its signature is fresh.
//
// Every node follows the whole log (an ordered consumer) and keeps its
// nonces in memory. A node accepts nonces by appending a batch to its key's
// subject on the condition that the subject's last message is the last one
// it has seen (Nats-Expected-Last-Subject-Sequence): JetStream's stream
// leader checks that, so of two nodes that would accept the same nonce the
// second one's append is refused; it then reads the key's messages it has
// not seen from the stream's leader, drops what is used, and appends again.
// A nonce's Use returns true only after its batch is stored.
//
// Concurrent uses of one key share one append: while a batch is being
// written, the next uses queue and go out together in the following one
// (one JetStream write per batch, not per request).
type NonceLog struct {
	js       jetstream.JetStream
	cfg      jetstream.StreamConfig
	stream   jetstream.Stream
	log      *slog.Logger
	warn     RateLog
	capacity int

	// follower serialises starting to follow the log: at open, and again
	// when the stream was made anew (remake).
	follower sync.Mutex
	cc       jetstream.ConsumeContext
	created  time.Time // the stream's creation time, of the one followed

	stopWatch context.CancelFunc
	watching  chan struct{} // closed when watch returned

	mu      sync.Mutex
	keys    map[string]*nonceKey // by subject
	seen    nonceSet
	applied uint64        // the stream sequence of the last message followed
	atEnd   bool          // the log was followed to its end once
	moved   chan struct{} // closed (and replaced) when applied moves
	closed  bool
}

// nonceKey is one API key's subject: its last message seen here and the
// uses waiting for their batch.
type nonceKey struct {
	subject  string
	last     uint64 // every message of subject up to last is in seen
	pending  []*nonceUse
	flushing bool
}

// nonceUse is one Use waiting for its batch.
type nonceUse struct {
	digest [nonceDigestLen]byte
	until  int64
	now    int64 // the caller's clock, Unix seconds
	fresh  bool
	err    error
	done   chan struct{}
}

// OpenNonceLog creates (or updates) the nonce log's stream with the bus's
// replicas, starts following it, and returns once the node has seen every
// batch stored when it opened (ctx bounds that). capacity bounds the
// nonces remembered (0: DefaultNonceLogCapacity). Close stops it.
func (b *Bus) OpenNonceLog(ctx context.Context, capacity int) (*NonceLog, error) {
	if capacity <= 0 {
		capacity = DefaultNonceLogCapacity
	}
	cfg := jetstream.StreamConfig{
		Name:        NonceLogStream,
		Description: "etaxd: the client API's used nonces, in batches, one subject per API key",
		Subjects:    []string{NonceLogSubjects},
		Storage:     jetstream.MemoryStorage,
		Replicas:    b.replicas,
		MaxAge:      NonceLogMaxAge,
		Discard:     jetstream.DiscardNew,
		// catchUp's reads must see what the leader has: no direct gets,
		// which any replica answers.
		AllowDirect: false,
	}
	stream, err := jsutil.EnsureStream(ctx, b.js, cfg)
	if err != nil {
		return nil, fmt.Errorf("natsbus: nonce log stream: %w", err)
	}
	n := &NonceLog{js: b.js, cfg: cfg, stream: stream, log: b.log, capacity: capacity,
		keys: map[string]*nonceKey{}, seen: newNonceSet(), moved: make(chan struct{})}
	n.follower.Lock()
	err = n.startFollowing(ctx, stream.CachedInfo().Created)
	n.follower.Unlock()
	if err != nil {
		return nil, err
	}
	wctx, stop := context.WithCancel(context.Background())
	n.stopWatch, n.watching = stop, make(chan struct{})
	go n.watch(wctx)
	if err := n.waitFollowed(ctx); err != nil {
		n.Close()
		return nil, fmt.Errorf("natsbus: catch up with the nonce log: %w", err)
	}
	return n, nil
}

// Close stops following the log; a Use after it fails.
func (n *NonceLog) Close() {
	n.mu.Lock()
	n.closed = true
	n.mu.Unlock()
	if n.stopWatch != nil {
		n.stopWatch()
		<-n.watching
	}
	n.follower.Lock()
	defer n.follower.Unlock()
	n.cc.Stop()
	<-n.cc.Closed()
}

// Len returns how many nonces the node holds (live or not yet dropped).
func (n *NonceLog) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.seen.cur) + len(n.seen.prev)
}

// Use implements httpapi.NonceCache: it reports whether keyID's nonce was
// unused on every node, and records it as used until until. An error (the
// log unreachable, full, or slower than nonceLogTimeout) refuses the
// request.
func (n *NonceLog) Use(keyID, nonce string, until, now time.Time) (bool, error) {
	d := nonceDigest(keyID, nonce)
	u := &nonceUse{digest: d, until: until.Unix(), now: now.Unix(), done: make(chan struct{})}
	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		return false, errors.New("natsbus: nonce log closed")
	case n.seen.has(d, now.Unix()):
		n.mu.Unlock()
		return false, nil
	case !n.seen.room(n.capacity, now.Unix()):
		n.mu.Unlock()
		return false, ErrNonceLogFull
	}
	k := n.key(nonceSubject(keyID))
	k.pending = append(k.pending, u)
	if !k.flushing {
		k.flushing = true
		go n.flush(k)
	}
	n.mu.Unlock()
	<-u.done
	return u.fresh, u.err
}

// key returns subject's state, made on first use. n.mu is held.
func (n *NonceLog) key(subject string) *nonceKey {
	k := n.keys[subject]
	if k == nil {
		k = &nonceKey{subject: subject}
		n.keys[subject] = k
	}
	return k
}

// flush writes k's queued uses, a batch at a time, until none is queued.
func (n *NonceLog) flush(k *nonceKey) {
	for {
		n.mu.Lock()
		batch := k.pending
		k.pending = nil
		if len(batch) == 0 {
			k.flushing = false
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
		n.write(k, batch)
	}
}

// write appends the batch to k's subject and answers each of its uses.
func (n *NonceLog) write(k *nonceKey, batch []*nonceUse) {
	deadline := time.Now().Add(nonceLogTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	buf := make([]byte, 0, 1+len(batch)*nonceRecord)
	var after *uint64 // the subject's last message, as the stream said after a refusal
	remade := false   // the stream was made again during this write
	for {
		// Drop what is used meanwhile (by another node, or twice in the
		// batch), then append the rest after k's last message.
		n.mu.Lock()
		fresh := batch[:0]
		for _, u := range batch {
			if n.seen.has(u.digest, u.now) || inBatch(fresh, u.digest) {
				u.answer(false, nil)
				continue
			}
			fresh = append(fresh, u)
		}
		batch = fresh
		expected := k.last
		if after != nil {
			expected = *after
		}
		n.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		buf = append(buf[:0], nonceBatchV1)
		for _, u := range batch {
			buf = append(buf, u.digest[:]...)
			buf = binary.BigEndian.AppendUint64(buf, uint64(u.until))
		}
		ack, err := n.js.PublishMsg(ctx, &nats.Msg{Subject: k.subject, Data: buf},
			jetstream.WithExpectLastSequencePerSubject(expected))
		if err == nil {
			n.mu.Lock()
			for _, u := range batch {
				n.seen.add(u.digest, u.until, u.now)
			}
			k.last = max(k.last, ack.Sequence)
			n.mu.Unlock()
			for _, u := range batch {
				u.answer(true, nil)
			}
			return
		}
		if errors.Is(err, jetstream.ErrNoStreamResponse) && !remade {
			// The stream is gone: make it again and follow it.
			remade = true
			if err := n.remake(ctx); err != nil {
				n.fail(batch, err)
				return
			}
			after = nil
			continue
		}
		if !wrongLastSequence(err) {
			n.fail(batch, fmt.Errorf("natsbus: nonce log append: %w", err))
			return
		}
		// Another node appended to the key first, or the key's last
		// message expired: wait until the subject is followed here up to
		// its last message, then append after that one without what the
		// other batches used.
		last, err := n.catchUp(ctx, k)
		if errors.Is(err, errRemade) {
			after = nil
			continue
		}
		if err != nil {
			n.fail(batch, fmt.Errorf("natsbus: nonce log catch-up: %w", err))
			return
		}
		after = &last
	}
}

// errRemade tells write that catchUp found the stream made anew and the
// log now follows the new one: the append starts over.
var errRemade = errors.New("natsbus: nonce log stream made anew")

// catchUp returns the stream sequence of the last message of k's subject (0
// when it has none: every one expired) once k has taken every message up
// to it. Every message up to k.last is in seen, so when that last is below
// k.last (the later ones expired) there is nothing to take, and an append
// after it is as safe as one after k.last. The stream answers these reads
// from its leader (no direct gets): a replica that lags could say a message
// is not there that the leader has.
func (n *NonceLog) catchUp(ctx context.Context, k *nonceKey) (uint64, error) {
	var last uint64
	m, err := n.stream.GetLastMsgForSubject(ctx, k.subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
	case err != nil:
		return 0, err
	default:
		last = m.Sequence
	}
	n.mu.Lock()
	below := last < k.last
	n.mu.Unlock()
	if below {
		// The key's later messages expired, or the stream is not the one
		// followed (made anew, its sequences started over): only the
		// stream's creation time tells the two apart.
		renewed, err := n.followNew(ctx)
		if err != nil {
			return 0, err
		}
		if renewed {
			return 0, errRemade
		}
	}
	// Read the key's messages after k.last from the stream, in order: the
	// follower may be behind or resetting (its server died), and the
	// append must not wait for it.
	for {
		n.mu.Lock()
		from := k.last
		n.mu.Unlock()
		if from >= last {
			return last, nil
		}
		m, err := n.stream.GetMsg(ctx, from+1, jetstream.WithGetMsgSubject(k.subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return last, nil // expired meanwhile: nothing left to take
		}
		if err != nil {
			return 0, err
		}
		n.mu.Lock()
		ok := n.take(k, m.Sequence, m.Data)
		n.mu.Unlock()
		if !ok {
			n.log.Warn("natsbus: nonce log message is not a batch of nonces; skipped", "subject", k.subject, "bytes", len(m.Data))
		}
	}
}

func (n *NonceLog) fail(batch []*nonceUse, err error) {
	for _, u := range batch {
		u.answer(false, err)
	}
}

func (u *nonceUse) answer(fresh bool, err error) {
	u.fresh, u.err = fresh, err
	close(u.done)
}

func inBatch(batch []*nonceUse, d [nonceDigestLen]byte) bool {
	for _, u := range batch {
		if u.digest == d {
			return true
		}
	}
	return false
}

// wrongLastSequence reports whether err is JetStream's refusal of an
// append whose expected last sequence of the subject is not the last: code
// 10071 from a stream of one replica, 10164 (without the sequence) from a
// replicated one.
func wrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}
