package prompts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/natsbus"
)

// Notifier reaches the person a prompt is for (the dev inbox, WeChat).
type Notifier interface {
	// Notify delivers p, within ctx. It returns nil once the channel
	// accepted the prompt; an error wrapped with Permanent when retrying
	// cannot help (the user blocked the official account, the prompt is
	// malformed); any other error is retried later. Notify may be called
	// again for a prompt it already delivered (a lost ack): it should dedupe
	// by p.ID where the channel allows.
	Notify(ctx context.Context, p Prompt) error
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, p Prompt) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, p Prompt) error { return f(ctx, p) }

// Permanent marks err as permanent: the prompt is not retried. Permanent(nil)
// is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err, or an error it wraps, was marked by
// Permanent.
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}

// ConsumerOptions configure Consume. The zero value is usable.
type ConsumerOptions struct {
	// Kinds restricts the consumer to prompts of these kinds; empty means
	// every kind. On the work-queue stream two consumers may not overlap:
	// notifier kinds that run side by side must split the prompt kinds.
	Kinds []Kind
	// Workers call Notify concurrently; default 4.
	Workers int
	// MaxDeliver bounds the attempts per prompt; default 8. After the last
	// failed attempt the prompt is terminated and OnUndeliverable called.
	MaxDeliver int
	// RetryBase and RetryMax shape the NakWithDelay back-off after a
	// transient error: base, 2·base, … capped at max, by attempt. Defaults
	// 1s and 1m.
	RetryBase time.Duration
	RetryMax  time.Duration
	// NotifyTimeout bounds one Notify call; default 10s.
	NotifyTimeout time.Duration
	// AckWait is how long the server waits for an ack before it redelivers
	// (to any instance); default 30s, and at least 3×NotifyTimeout: a
	// message may wait for a worker in the client before its Notify starts.
	AckWait time.Duration
	// DeliverExpired delivers prompts whose ExpiresAt has passed (after an
	// outage, say). By default they are acked without calling Notify: a
	// person told to act on an expired prompt can only fail.
	DeliverExpired bool
	// OnUndeliverable is called, on a worker goroutine, for each prompt
	// that is terminated: a permanent error, the attempts exhausted (the
	// error wraps ErrGaveUp) or an undecodable message (ErrUndecodable; the
	// prompt then holds only its ID). It must not block; the engine uses it
	// to tell the account actor nobody was reached. Nil: only logged.
	OnUndeliverable func(p Prompt, err error)
	// Clock is the time source for ExpiresAt; nil means
	// clock.Real.
	Clock clock.Clock
	// Logger; nil means slog.Default.
	Logger *slog.Logger
}

func (o *ConsumerOptions) setDefaults() {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = 8
	}
	if o.RetryBase <= 0 {
		o.RetryBase = time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = time.Minute
	}
	if o.NotifyTimeout <= 0 {
		o.NotifyTimeout = 10 * time.Second
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	o.AckWait = max(o.AckWait, 3*o.NotifyTimeout)
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// ConsumerStats are a Consumer's counters since it was built, and the
// server's view of its backlog.
type ConsumerStats struct {
	Delivered   uint64 `json:"delivered"`   // Notify succeeded, acked
	Redelivered uint64 `json:"redelivered"` // messages seen for the 2nd time or later
	Retried     uint64 `json:"retried"`     // transient errors, NakWithDelay
	Terminated  uint64 `json:"terminated"`  // Term: permanent, exhausted or undecodable
	Expired     uint64 `json:"expired"`     // acked unseen: ExpiresAt had passed
	// Pending is the number of prompts not yet delivered to any instance;
	// AckPending those delivered and not yet acked (in a Notify, or waiting
	// for a NakWithDelay). Both come from the server (zero when Stats could
	// not ask it).
	Pending    uint64 `json:"pending"`
	AckPending int    `json:"ack_pending"`
}

// Consumer is the durable pull consumer of one notifier kind on
// ETAXD_PROMPTS, shared by every etaxd instance: each prompt goes to one of
// them. Build it with Consume.
type Consumer struct {
	name string
	n    Notifier
	opts ConsumerOptions
	cons jetstream.Consumer
	r    *natsbus.Runner
	log  *slog.Logger

	delivered, redelivered, retried, terminated, expired atomic.Uint64
}

// Consume creates or updates the durable consumer name (the notifier kind:
// "inbox", "wechat") on ETAXD_PROMPTS, creating the stream if needed, and
// starts delivering its prompts to n.
func Consume(ctx context.Context, bus *natsbus.Bus, name string, n Notifier, opts ConsumerOptions) (*Consumer, error) {
	if !natsbus.ValidToken(name) {
		return nil, fmt.Errorf("prompts: consumer name %q is not a valid NATS name", name)
	}
	if n == nil {
		return nil, errors.New("prompts: Consume needs a Notifier")
	}
	opts.setDefaults()
	if err := natsbus.EnsureStreamExists(ctx, bus.JetStream(), promptStreamConfig(QueueOptions{DedupeWindow: 10 * time.Minute, MaxAge: 24 * time.Hour}, bus.Replicas())); err != nil {
		return nil, err
	}
	cfg := jetstream.ConsumerConfig{
		Durable:     name,
		Description: "etaxd notifier " + name,
		AckPolicy:   jetstream.AckExplicitPolicy,
		AckWait:     opts.AckWait,
		// One more than our own limit: a delivery lost to a crash still
		// leaves a last attempt that ends in Term and OnUndeliverable.
		MaxDeliver:    opts.MaxDeliver + 1,
		MaxAckPending: 1000,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas:      bus.Replicas(),
	}
	for _, k := range opts.Kinds {
		if !natsbus.ValidToken(string(k)) {
			return nil, fmt.Errorf("prompts: kind %q is not a valid subject token", k)
		}
		cfg.FilterSubjects = append(cfg.FilterSubjects, PromptSubject(k))
	}
	if len(cfg.FilterSubjects) == 1 {
		cfg.FilterSubject, cfg.FilterSubjects = cfg.FilterSubjects[0], nil
	}
	cons, err := natsbus.EnsureConsumer(ctx, bus.JetStream(), PromptStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("prompts: create consumer %s: %w", name, err)
	}
	c := &Consumer{name: name, n: n, opts: opts, cons: cons, log: opts.Logger.With("consumer", name)}
	c.r = natsbus.NewRunner(cons, c.handle, opts.Workers, c.log)
	if err := c.r.Start(); err != nil {
		return nil, fmt.Errorf("prompts: start consumer %s: %w", name, err)
	}
	return c, nil
}

// RemoveConsumer deletes the durable consumer name from ETAXD_PROMPTS; a
// missing one is not an error. The prompts it had not acked stay in the
// stream for the next consumer. A work-queue stream refuses consumers that
// overlap, so a deployment that switches notifier kinds (inbox → wechat)
// removes the old kind's consumer before Consume creates the new one.
func RemoveConsumer(ctx context.Context, bus *natsbus.Bus, name string) error {
	err := bus.JetStream().DeleteConsumer(ctx, PromptStream, name)
	if err == nil || errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	return fmt.Errorf("prompts: remove consumer %s: %w", name, err)
}

// Name returns the durable consumer's name.
func (c *Consumer) Name() string { return c.name }

// Start resumes consuming after Stop. It is a no-op when running.
func (c *Consumer) Start() error { return c.r.Start() }

// Stop stops fetching prompts, lets the running Notify calls finish and
// waits for them. The prompts published meanwhile wait in the stream. It
// is a no-op when stopped; call it before closing the Bus.
func (c *Consumer) Stop() { c.r.Stop() }

// Running reports whether the consumer is started.
func (c *Consumer) Running() bool { return c.r.Started() }

// Stats returns the counters and asks the server for the backlog; on error
// the counters are still returned.
func (c *Consumer) Stats(ctx context.Context) (ConsumerStats, error) {
	s := ConsumerStats{
		Delivered: c.delivered.Load(), Redelivered: c.redelivered.Load(), Retried: c.retried.Load(),
		Terminated: c.terminated.Load(), Expired: c.expired.Load(),
	}
	info, err := c.cons.Info(ctx)
	if err != nil {
		return s, fmt.Errorf("prompts: consumer %s info: %w", c.name, err)
	}
	s.Pending, s.AckPending = info.NumPending, info.NumAckPending
	return s, nil
}

// handle delivers one message to the notifier and settles it.
func (c *Consumer) handle(ctx context.Context, m jetstream.Msg) {
	attempt := 1
	if md, err := m.Metadata(); err == nil {
		attempt = int(md.NumDelivered)
	}
	if attempt > 1 {
		c.redelivered.Add(1)
	}
	var p Prompt
	if err := json.Unmarshal(m.Data(), &p); err != nil || p.ID == "" {
		if err == nil {
			err = errors.New("prompt without id")
		}
		p = Prompt{ID: m.Headers().Get(jetstream.MsgIDHeader)}
		c.term(m, p, attempt, fmt.Errorf("%w on %s: %v", ErrUndecodable, m.Subject(), err))
		return
	}
	if !c.opts.DeliverExpired && !p.ExpiresAt.IsZero() && !c.opts.Clock.Now().Before(p.ExpiresAt) {
		c.expired.Add(1)
		c.log.Info("prompt expired before delivery", "prompt", p.ID, "tenant", p.Tenant, "account", p.Account)
		c.ack(ctx, m, p)
		return
	}
	err := c.notify(ctx, p)
	switch {
	case err == nil:
		c.delivered.Add(1)
		c.ack(ctx, m, p)
	case IsPermanent(err):
		c.term(m, p, attempt, err)
	case attempt >= c.opts.MaxDeliver:
		c.term(m, p, attempt, fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, attempt, err))
	default:
		d := natsbus.Backoff(attempt, c.opts.RetryBase, c.opts.RetryMax)
		c.retried.Add(1)
		c.log.Warn("notify failed, will retry", "prompt", p.ID, "tenant", p.Tenant, "account", p.Account,
			"attempt", attempt, "retry_in", d, "err", err)
		if err := m.NakWithDelay(d); err != nil {
			c.log.Warn("nak prompt", "prompt", p.ID, "err", err)
		}
	}
}

// notify calls the notifier with a timeout; a panic is a transient error.
func (c *Consumer) notify(ctx context.Context, p Prompt) (err error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.NotifyTimeout)
	defer cancel()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("notifier panicked: %v", r)
		}
	}()
	return c.n.Notify(ctx, p)
}

// ack confirms m and waits for the server, so that a settled prompt is not
// redelivered after a restart. A failed ack is logged: the prompt comes
// again after AckWait and the notifier dedupes it.
func (c *Consumer) ack(ctx context.Context, m jetstream.Msg, p Prompt) {
	actx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := m.DoubleAck(actx); err != nil {
		c.log.Warn("ack prompt", "prompt", p.ID, "err", err)
	}
}

// term terminates m and reports p as undeliverable.
func (c *Consumer) term(m jetstream.Msg, p Prompt, attempt int, err error) {
	c.terminated.Add(1)
	c.log.Error("prompt undeliverable", "prompt", p.ID, "tenant", p.Tenant, "account", p.Account,
		"attempt", attempt, "err", err)
	if terr := m.TermWithReason("undeliverable"); terr != nil {
		c.log.Warn("terminate prompt", "prompt", p.ID, "err", terr)
	}
	if c.opts.OnUndeliverable != nil {
		c.opts.OnUndeliverable(p, err)
	}
}
