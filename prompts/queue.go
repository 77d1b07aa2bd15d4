package prompts

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/natsbus"
)

// Names of the prompt stream.
const (
	// PromptStream is the work-queue stream of prompts.
	PromptStream = "ETAXD_PROMPTS"
	// PromptSubjectPrefix prefixes a prompt's subject:
	// "etaxd.prompts.<kind>".
	PromptSubjectPrefix = "etaxd.prompts"
)

// PromptSubject returns the subject a prompt of kind k is published on.
func PromptSubject(k Kind) string { return PromptSubjectPrefix + "." + string(k) }

// QueueOptions configure a Queue. The zero value is usable.
type QueueOptions struct {
	// Buffer is how many prompts may wait for JetStream in memory; default
	// 4096.
	Buffer int
	// MaxBlock is how long Publish waits for room in a full buffer before
	// it returns ErrQueueFull; default 50ms. Publish never waits for
	// JetStream itself.
	MaxBlock time.Duration
	// Workers publish concurrently; default 4.
	Workers int
	// PublishTimeout bounds one publish attempt; default 5s.
	PublishTimeout time.Duration
	// MaxAttempts bounds the attempts per prompt (a prompt is also given up
	// once its ExpiresAt passed); default 20.
	MaxAttempts int
	// RetryBase and RetryMax shape the back-off between attempts: base,
	// 2·base, … capped at max. Defaults 100ms and 5s.
	RetryBase time.Duration
	RetryMax  time.Duration
	// DedupeWindow is the stream's duplicate window: a prompt ID published
	// again within it is dropped by the server. Default 10 minutes (longer
	// than any prompt lives).
	DedupeWindow time.Duration
	// MaxAge drops prompts nobody consumed after this long; default 24h.
	MaxAge time.Duration
	// Clock is the time source for giving up on expired prompts; nil means
	// clock.Real.
	Clock clock.Clock
	// Logger; nil means slog.Default.
	Logger *slog.Logger
}

func (o *QueueOptions) setDefaults() {
	if o.Buffer <= 0 {
		o.Buffer = 4096
	}
	if o.MaxBlock <= 0 {
		o.MaxBlock = 50 * time.Millisecond
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 5 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 20
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 5 * time.Second
	}
	if o.DedupeWindow <= 0 {
		o.DedupeWindow = 10 * time.Minute
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 24 * time.Hour
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// promptStreamConfig is the configuration of ETAXD_PROMPTS.
func promptStreamConfig(o QueueOptions, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        PromptStream,
		Description: "etaxd prompts for the notifiers (work queue)",
		Subjects:    []string{PromptSubjectPrefix + ".>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  o.DedupeWindow,
		MaxAge:      o.MaxAge,
		Discard:     jetstream.DiscardOld,
	}
}

// QueueStats are a Queue's counters since it was built.
type QueueStats struct {
	Published  uint64 `json:"published"`  // stored by JetStream (duplicates included)
	Duplicates uint64 `json:"duplicates"` // dropped by the server as already stored
	Retried    uint64 `json:"retried"`    // attempts after a failed one
	Failed     uint64 `json:"failed"`     // given up after MaxAttempts, expiry or Close
	Rejected   uint64 `json:"rejected"`   // refused by Publish (buffer full, closed, invalid)
	Pending    int64  `json:"pending"`    // accepted, not yet stored or given up
}

// Queue is the JetStream Publisher: Publish puts the prompt in a bounded
// buffer and returns; workers publish it to "etaxd.prompts.<kind>" on the
// ETAXD_PROMPTS work-queue stream with the prompt ID as message ID,
// retrying transient failures. Build it with NewQueue.
type Queue struct {
	js   jetstream.JetStream
	opts QueueOptions
	log  *slog.Logger

	buf      chan queued
	stopping chan struct{} // closed first by Close: blocked Publish calls return
	flush    chan struct{} // closed after no Publish can add to buf
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	mu        sync.RWMutex // held for reading while Publish may send to buf
	closed    bool
	closeOnce sync.Once

	published, duplicates, retried, failed, rejected atomic.Uint64
	pending                                          atomic.Int64
	failLog                                          natsbus.RateLog
}

type queued struct {
	id      string
	subject string
	data    []byte
	expires time.Time
}

var _ Publisher = (*Queue)(nil)

// NewQueue creates or updates the ETAXD_PROMPTS stream and starts the
// publishing workers.
func NewQueue(ctx context.Context, bus *natsbus.Bus, opts QueueOptions) (*Queue, error) {
	opts.setDefaults()
	if err := natsbus.EnsureStream(ctx, bus.JetStream(), promptStreamConfig(opts, bus.Replicas())); err != nil {
		return nil, err
	}
	qctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		js: bus.JetStream(), opts: opts, log: opts.Logger,
		buf: make(chan queued, opts.Buffer), stopping: make(chan struct{}), flush: make(chan struct{}),
		ctx: qctx, cancel: cancel,
	}
	for range opts.Workers {
		q.wg.Add(1)
		go q.work()
	}
	return q, nil
}

// Publish queues p for JetStream. It returns at once, or after at most
// MaxBlock when the buffer is full (then ErrQueueFull). A nil error means
// the prompt was accepted, not that it is stored yet.
func (q *Queue) Publish(ctx context.Context, p Prompt) error {
	if p.ID == "" || !natsbus.ValidToken(string(p.Kind)) {
		q.rejected.Add(1)
		return fmt.Errorf("%w: id %q kind %q", ErrInvalidPrompt, p.ID, p.Kind)
	}
	data, err := json.Marshal(p)
	if err != nil {
		q.rejected.Add(1)
		return fmt.Errorf("%w: %v", ErrInvalidPrompt, err)
	}
	it := queued{id: p.ID, subject: PromptSubject(p.Kind), data: data, expires: p.ExpiresAt}

	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		q.rejected.Add(1)
		return ErrClosed
	}
	q.pending.Add(1)
	select {
	case q.buf <- it:
		return nil
	default:
	}
	t := time.NewTimer(q.opts.MaxBlock)
	defer t.Stop()
	select {
	case q.buf <- it:
		return nil
	case <-t.C:
		err = ErrQueueFull
	case <-q.stopping:
		err = ErrClosed
	case <-ctx.Done():
		err = ctx.Err()
	}
	q.pending.Add(-1)
	q.rejected.Add(1)
	return fmt.Errorf("publish prompt %s: %w", p.ID, err)
}

// work publishes buffered prompts until Close has flushed the buffer.
func (q *Queue) work() {
	defer q.wg.Done()
	for {
		select {
		case it := <-q.buf:
			q.send(it)
		case <-q.flush:
			for {
				select {
				case it := <-q.buf:
					q.send(it)
				default:
					return
				}
			}
		}
	}
}

// send publishes one prompt, retrying until it is stored, expired, out of
// attempts, or the queue is torn down.
func (q *Queue) send(it queued) {
	defer q.pending.Add(-1)
	msg := &nats.Msg{Subject: it.subject, Data: it.data, Header: nats.Header{}}
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			q.retried.Add(1)
		}
		actx, cancel := context.WithTimeout(q.ctx, q.opts.PublishTimeout)
		ack, err := q.js.PublishMsg(actx, msg, jetstream.WithMsgID(it.id), jetstream.WithExpectStream(PromptStream))
		cancel()
		if err == nil {
			q.published.Add(1)
			if ack.Duplicate {
				q.duplicates.Add(1)
			}
			return
		}
		why := ""
		switch {
		case natsbus.PermanentPublishError(err):
			why = "refused"
		case attempt >= q.opts.MaxAttempts:
			why = "attempts exhausted"
		case !it.expires.IsZero() && !q.opts.Clock.Now().Before(it.expires):
			why = "prompt expired"
		case q.ctx.Err() != nil:
			why = "queue closed"
		}
		if why != "" {
			q.failed.Add(1)
			q.log.Error("prompt not published", "prompt", it.id, "subject", it.subject, "attempts", attempt, "reason", why, "err", err)
			return
		}
		q.failLog.Warn(q.log, "publish prompt failed, retrying", "prompt", it.id, "attempt", attempt, "err", err)
		t := time.NewTimer(natsbus.Backoff(attempt, q.opts.RetryBase, q.opts.RetryMax))
		select {
		case <-t.C:
		case <-q.ctx.Done():
			t.Stop()
		}
	}
}

// Stats returns the queue's counters.
func (q *Queue) Stats() QueueStats {
	return QueueStats{
		Published: q.published.Load(), Duplicates: q.duplicates.Load(), Retried: q.retried.Load(),
		Failed: q.failed.Load(), Rejected: q.rejected.Load(), Pending: q.pending.Load(),
	}
}

// Close stops accepting prompts and publishes what is buffered, until ctx
// ends; prompts still unpublished then are counted as failed. Close the
// queue after the actors stopped and before the Bus. It is safe to call
// twice.
func (q *Queue) Close(ctx context.Context) error {
	failedBefore := q.failed.Load()
	q.closeOnce.Do(func() {
		close(q.stopping)
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		close(q.flush)
	})
	done := make(chan struct{})
	go func() { q.wg.Wait(); close(done) }()
	select {
	case <-done:
		q.cancel()
		return nil
	case <-ctx.Done():
		q.cancel() // in-flight attempts end; send gives up on each
		<-done
		return fmt.Errorf("prompts: close queue: %d prompts not published: %w", q.failed.Load()-failedBefore, ctx.Err())
	}
}
