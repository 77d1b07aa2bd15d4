package kvstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/natsbus/jsutil"
	"github.com/etaxd/etaxd/persistence"
)

// Options tunes a Store. The zero value is usable: every field has a default.
type Options struct {
	// Bucket names the KV bucket (stream "KV_<Bucket>") that holds both the
	// state records and the audit log: one stream, so that one atomic batch
	// can write both. Zero means DefaultBucket.
	Bucket string
	// Replicas is the bucket's replication factor. Zero means 1; a cluster
	// sets 3.
	Replicas int
	// Storage is the bucket's storage. Zero means file storage; memory
	// storage is not durable and is for tests only.
	Storage jetstream.StorageType
	// AttemptTimeout bounds one attempt of a JetStream call made while
	// opening (leader probe, bucket creation). Zero means 1 s.
	AttemptTimeout time.Duration
	// RequestTimeout bounds each read and each write's wait for its
	// acknowledgement when the caller's context has no deadline of its own.
	// Zero means 5 s.
	RequestTimeout time.Duration
	// ReadyTimeout bounds how long New waits, in all, for a JetStream meta
	// leader and for the bucket. Zero means 30 s.
	ReadyTimeout time.Duration
	// AllowDirect lets any replica answer a Get (JetStream direct get).
	// Faster, but a follower may answer with a revision older than one just
	// acknowledged. False (the default) reads through the stream leader.
	AllowDirect bool
	// Clock dates audit events appended without a time. Nil means the real
	// clock.
	Clock clock.Clock
}

// Defaults of Options.
const (
	DefaultBucket         = "etaxd"
	DefaultAttemptTimeout = time.Second
	DefaultReadyTimeout   = 30 * time.Second
	DefaultRequestTimeout = 5 * time.Second
)

// MaxOps bounds the ops of one Commit: an atomic batch holds at most 1000
// messages (nats-server's default max_batch_size), one of which may be the
// audit event.
const MaxOps = 999

// maxCommitBytes bounds the keys and values of one Commit, as Bolt does.
const maxCommitBytes = 64 << 20

// headerRoom is what a message needs beyond its value: subject, reply and
// headers. New refuses a connection whose max_payload cannot carry a value
// of persistence.MaxValueLen with it.
const headerRoom = 8 << 10

// ErrPayloadTooSmall is returned by New when the server's max_payload is
// smaller than a record of persistence.MaxValueLen needs.
var ErrPayloadTooSmall = errors.New("kvstore: the NATS server's max_payload is too small for persistence.MaxValueLen")

// Store is a persistence.Store on a JetStream KV bucket. Create it with New;
// the zero value is not usable. It is safe for concurrent use.
type Store struct {
	js     jetstream.JetStream
	nc     *nats.Conn
	stream jetstream.Stream
	name   string // stream name
	prefix string // "$KV.<bucket>."
	opts   Options
	now    func() time.Time

	// mu orders calls against Close: every call holds it shared while it
	// registers in calls; Close takes it exclusively to set closed.
	mu     sync.RWMutex
	closed bool
	calls  sync.WaitGroup

	// lat measures commits and reads (Latency).
	lat persistence.Latencies

	// testHookRefused, when set before the first write, is called each
	// time a publish wrote nothing and is sent again.
	testHookRefused func()
}

var (
	_ persistence.Store           = (*Store)(nil)
	_ persistence.LatencyReporter = (*Store)(nil)
)

// Latency returns the store's latency histograms since it opened: every
// Commit, CommitAudited and AppendAudit call by the records it writes (one:
// a single publish; several: an atomic batch), and every Get, each the
// whole call as its caller waits for it (retries and the wait for the
// acknowledgement included), whatever its outcome.
func (s *Store) Latency() persistence.LatencySnapshot { return s.lat.Snapshot() }

// New opens the store on js: it waits for a JetStream meta leader, then
// creates the bucket or updates its configuration, retrying each attempt
// after opts.AttemptTimeout, for at most opts.ReadyTimeout (or until ctx
// ends). Several nodes may call New for one bucket at once.
func New(ctx context.Context, js jetstream.JetStream, opts Options) (*Store, error) {
	if opts.Bucket == "" {
		opts.Bucket = DefaultBucket
	}
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	if opts.AttemptTimeout == 0 {
		opts.AttemptTimeout = DefaultAttemptTimeout
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = DefaultReadyTimeout
	}
	if opts.RequestTimeout == 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Replicas < 0 || opts.AttemptTimeout < 0 || opts.ReadyTimeout < 0 || opts.RequestTimeout < 0 {
		return nil, fmt.Errorf("kvstore: negative Options (Replicas %d, AttemptTimeout %s, ReadyTimeout %s, RequestTimeout %s)",
			opts.Replicas, opts.AttemptTimeout, opts.ReadyTimeout, opts.RequestTimeout)
	}
	if !validBucket(opts.Bucket) {
		return nil, fmt.Errorf("kvstore: invalid bucket name %q (letters, digits, - and _ only)", opts.Bucket)
	}
	nc := js.Conn()
	if need := int64(persistence.MaxValueLen + headerRoom); nc.MaxPayload() < need {
		return nil, fmt.Errorf("%w: it is %d bytes, a record needs %d (set max_payload to at least %d)",
			ErrPayloadTooSmall, nc.MaxPayload(), need, need)
	}
	var now func() time.Time = clock.Real{}.Now
	if opts.Clock != nil {
		now = opts.Clock.Now
	}
	s := &Store{
		js:     js,
		nc:     nc,
		name:   "KV_" + opts.Bucket,
		prefix: "$KV." + opts.Bucket + ".",
		opts:   opts,
		now:    now,
	}
	ctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	if err := s.waitMetaLeader(ctx); err != nil {
		return nil, err
	}
	if err := s.createBucket(ctx); err != nil {
		return nil, err
	}
	// A replicated stream just created may not answer yet on every server
	// ("stream not found", no responders): wait until a read gets through.
	err := retry(ctx, s.opts.AttemptTimeout, func(actx context.Context) error {
		_, err := s.stream.GetLastMsgForSubject(actx, s.prefix+"probe")
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kvstore: bucket %s does not answer: %w", opts.Bucket, err)
	}
	return s, nil
}

// nats-server's error codes of a cluster that cannot answer for a moment
// (nats.go names no constant for them); a publish refused with one wrote
// nothing and is sent again.
const (
	errCodeClusterNotAvail  jetstream.ErrorCode = 10008
	errCodeClusterNotLeader jetstream.ErrorCode = 10009
)

// transient reports whether err may go away on its own in a moment: the
// answers jsutil.Transient names (no answer in time, no responders, a
// cluster that cannot answer yet), and a stream just created that does
// not answer yet on every server ("stream not found").
func transient(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamNotFound {
		return true
	}
	return jsutil.Transient(err) || errors.Is(err, jetstream.ErrStreamNotFound)
}

// retry calls fn, each call bounded by attempt, until it returns nil or an
// error that is not transient, or ctx ends; it returns fn's last error.
// Only idempotent calls, or calls that failed without writing, are retried.
func retry(ctx context.Context, attempt time.Duration, fn func(context.Context) error) error {
	return jsutil.Attempts{Timeout: attempt, Transient: transient,
		Pause: func(int) time.Duration { return 20 * time.Millisecond }}.Do(ctx, fn)
}

// validBucket reports whether name is a valid KV bucket name.
func validBucket(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !safeByte(c) && c != '_' {
			return false
		}
	}
	return name != ""
}

// attempts is the start-up policy: jsutil's, one attempt per
// AttemptTimeout.
func (s *Store) attempts() jsutil.Attempts {
	return jsutil.Attempts{Timeout: s.opts.AttemptTimeout}
}

// waitMetaLeader waits for a JetStream meta leader (jsutil.WaitMetaLeader):
// JetStream API calls made before one exists get no reply and hang until
// their deadline.
func (s *Store) waitMetaLeader(ctx context.Context) error {
	if err := s.attempts().WaitMetaLeader(ctx, s.js); err != nil {
		return fmt.Errorf("kvstore: %w", err)
	}
	return nil
}

// streamConfig is the bucket's stream: the configuration nats.go gives a KV
// bucket of history 1, plus atomic batches.
func (s *Store) streamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               s.name,
		Description:        "etaxd state records and audit log",
		Subjects:           []string{s.prefix + ">"},
		MaxMsgsPerSubject:  1,
		MaxBytes:           -1,
		MaxMsgs:            -1,
		MaxMsgSize:         -1,
		Storage:            s.opts.Storage,
		Replicas:           s.opts.Replicas,
		Discard:            jetstream.DiscardNew,
		AllowRollup:        true,
		DenyDelete:         true,
		AllowDirect:        s.opts.AllowDirect,
		AllowAtomicPublish: true,
		Duplicates:         2 * time.Minute,
	}
}

// createBucket creates the bucket's stream or brings its configuration up
// to date, one attempt per AttemptTimeout (jsutil.Attempts.EnsureStream):
// several nodes creating one new replicated stream at once can all hang
// until their deadline, and a retry then succeeds in milliseconds. A
// refused configuration (an existing stream that cannot take these
// settings) is final.
func (s *Store) createBucket(ctx context.Context) error {
	st, err := s.attempts().EnsureStream(ctx, s.js, s.streamConfig())
	if err != nil {
		return fmt.Errorf("kvstore: create bucket %s: %w", s.opts.Bucket, err)
	}
	s.stream = st
	return nil
}

// enter registers a call; it fails with ErrClosed after Close. The caller
// calls s.calls.Done when it returns.
func (s *Store) enter() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return persistence.ErrClosed
	}
	s.calls.Add(1)
	return nil
}

// Close stops accepting calls and waits for the calls under way. It does not
// close the NATS connection, which the caller owns. Every call after Close,
// Close included, returns persistence.ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return persistence.ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	s.calls.Wait()
	return nil
}

// Get returns the record at key; see persistence.Store.
func (s *Store) Get(ctx context.Context, key string) (persistence.Record, error) {
	defer s.lat.ObserveRead(time.Now())
	if err := ctx.Err(); err != nil {
		return persistence.Record{}, err
	}
	if err := checkKey(key); err != nil {
		return persistence.Record{}, fmt.Errorf("get: %w", err)
	}
	if err := s.enter(); err != nil {
		return persistence.Record{}, err
	}
	defer s.calls.Done()
	st, err := s.readKey(ctx, key)
	if err != nil {
		return persistence.Record{}, fmt.Errorf("get %s: %w", shortKey(key), err)
	}
	if st.stored == 0 {
		return persistence.Record{}, fmt.Errorf("%w: %s", persistence.ErrNotFound, shortKey(key))
	}
	if st.value == nil {
		st.value = []byte{}
	}
	return persistence.Record{Key: key, Value: st.value, Revision: st.stored}, nil
}

// keyState is what the stream holds for a key: the revision of its value
// (0: absent or deleted), the sequence of its last message (a delete marker
// included; 0: never written), and the value.
type keyState struct {
	stored uint64
	last   uint64
	value  []byte
}

// Headers of the KV conventions that the store reads and writes.
const (
	hdrOperation = "KV-Operation"
	opDelete     = "DEL"
	opPurge      = "PURGE"
)

// readKey reads the last message of key's subject.
func (s *Store) readKey(ctx context.Context, key string) (keyState, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	subject := s.keySubject(key)
	var m *jetstream.RawStreamMsg
	err := retry(ctx, s.opts.AttemptTimeout, func(actx context.Context) error {
		var err error
		m, err = s.stream.GetLastMsgForSubject(actx, subject)
		return err
	})
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return keyState{}, nil
	}
	if err != nil {
		return keyState{}, err
	}
	if op := m.Header.Get(hdrOperation); op == opDelete || op == opPurge {
		return keyState{last: m.Sequence}, nil
	}
	return keyState{stored: m.Sequence, last: m.Sequence, value: m.Data}, nil
}

// withTimeout bounds ctx by RequestTimeout when it has no deadline of its
// own, so that a request to a server that went away cannot hang forever.
func (s *Store) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.opts.RequestTimeout)
}
