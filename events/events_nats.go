package events

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

	"github.com/etaxd/etaxd/natsbus"
)

// Names of the event stream.
const (
	// EventStreamName is the limits-retention stream of client events.
	EventStreamName = "ETAXD_EVENTS"
	// EventSubjectPrefix prefixes an event's subject:
	// "etaxd.events.<tenant>.<type>", e.g. etaxd.events.t1.session.ready.
	// A tenant subscribes to "etaxd.events.<tenant>.>".
	EventSubjectPrefix = "etaxd.events"
)

// EventSubject returns the subject ev is published on.
func EventSubject(tenant string, t EventType) string {
	return EventSubjectPrefix + "." + tenant + "." + string(t)
}

// EventStreamOptions configure an EventStream. The zero value is usable.
type EventStreamOptions struct {
	// Buffer is how many events may wait in memory; default 4096. When it
	// is full Emit drops the event and counts it.
	Buffer int
	// MaxAge is how long the stream keeps events (for ERPs that catch up
	// over NATS and for webhook retries); default 72h.
	MaxAge time.Duration
	// MaxBytes bounds the stream; the oldest events go first. Default 1 GiB.
	MaxBytes int64
	// DedupeWindow is the stream's duplicate window (events carry their ID
	// as message ID); default 2 minutes.
	DedupeWindow time.Duration
	// PublishTimeout bounds one publish attempt; default 5s. An event is
	// tried 3 times.
	PublishTimeout time.Duration
	// Logger; nil means slog.Default.
	Logger *slog.Logger
}

func (o *EventStreamOptions) setDefaults() {
	if o.Buffer <= 0 {
		o.Buffer = 4096
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 72 * time.Hour
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 1 << 30
	}
	if o.DedupeWindow <= 0 {
		o.DedupeWindow = 2 * time.Minute
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// eventStreamConfig is the configuration of ETAXD_EVENTS.
func eventStreamConfig(o EventStreamOptions, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        EventStreamName,
		Description: "etaxd client events, per tenant (B6)",
		Subjects:    []string{EventSubjectPrefix + ".>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    replicas,
		Duplicates:  o.DedupeWindow,
		MaxAge:      o.MaxAge,
		MaxBytes:    o.MaxBytes,
		Discard:     jetstream.DiscardOld,
	}
}

// EventStreamStats are an EventStream's counters since it was built.
type EventStreamStats struct {
	Published uint64 `json:"published"`
	Dropped   uint64 `json:"dropped"` // buffer full, closed, or an invalid tenant/type
	Failed    uint64 `json:"failed"`  // publish failed 3 times
	Pending   int64  `json:"pending"`
}

// EventStream is the NATS EventSink: Emit puts the event in a bounded
// buffer and returns at once; a goroutine publishes it as JSON to
// "etaxd.events.<tenant>.<type>" on ETAXD_EVENTS. Build it with
// NewEventStream.
type EventStream struct {
	js   jetstream.JetStream
	opts EventStreamOptions
	log  *slog.Logger

	buf    chan Event
	done   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.RWMutex
	closed    bool
	closeOnce sync.Once

	published, dropped, failed atomic.Uint64
	pending                    atomic.Int64
	dropLog, failLog           natsbus.RateLog
}

var _ EventSink = (*EventStream)(nil)

// NewEventStream creates or updates the ETAXD_EVENTS stream and starts the
// publishing goroutine.
func NewEventStream(ctx context.Context, bus *natsbus.Bus, opts EventStreamOptions) (*EventStream, error) {
	opts.setDefaults()
	if err := natsbus.EnsureStream(ctx, bus.JetStream(), eventStreamConfig(opts, bus.Replicas())); err != nil {
		return nil, err
	}
	ectx, cancel := context.WithCancel(context.Background())
	s := &EventStream{js: bus.JetStream(), opts: opts, log: opts.Logger,
		buf: make(chan Event, opts.Buffer), done: make(chan struct{}), ctx: ectx, cancel: cancel}
	go s.run()
	return s, nil
}

// Emit queues ev without blocking; when the buffer is full the event is
// dropped, counted and (rate-limited) logged.
func (s *EventStream) Emit(ev Event) {
	if !natsbus.ValidToken(ev.Tenant) || !validEventType(ev.Type) || ev.ID == "" {
		s.dropped.Add(1)
		s.dropLog.Warn(s.log, "event dropped: invalid", "tenant", ev.Tenant, "type", ev.Type, "id", ev.ID)
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.dropped.Add(1)
		return
	}
	s.pending.Add(1)
	select {
	case s.buf <- ev:
	default:
		s.pending.Add(-1)
		s.dropped.Add(1)
		s.dropLog.Warn(s.log, "event dropped: buffer full", "tenant", ev.Tenant, "type", ev.Type, "dropped_total", s.dropped.Load())
	}
}

// validEventType reports whether t can end a subject (it may contain dots).
func validEventType(t EventType) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for _, c := range []byte(t) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return t[0] != '.' && t[len(t)-1] != '.'
}

// run publishes events until Close.
func (s *EventStream) run() {
	defer close(s.done)
	for ev := range s.buf {
		s.publish(ev)
		s.pending.Add(-1)
	}
}

// publish sends one event, trying three times.
func (s *EventStream) publish(ev Event) {
	data, err := json.Marshal(ev)
	if err != nil {
		s.failed.Add(1)
		s.log.Error("event not published", "event", ev.ID, "err", err)
		return
	}
	msg := &nats.Msg{Subject: EventSubject(ev.Tenant, ev.Type), Data: data, Header: nats.Header{}}
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.PublishTimeout)
		_, err = s.js.PublishMsg(ctx, msg, jetstream.WithMsgID(ev.ID), jetstream.WithExpectStream(EventStreamName))
		cancel()
		if err == nil {
			s.published.Add(1)
			return
		}
		if attempt == 3 || natsbus.PermanentPublishError(err) || s.ctx.Err() != nil {
			s.failed.Add(1)
			s.failLog.Warn(s.log, "event not published", "event", ev.ID, "tenant", ev.Tenant, "type", ev.Type, "err", err)
			return
		}
		t := time.NewTimer(natsbus.Backoff(attempt, 100*time.Millisecond, time.Second))
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
		}
	}
}

// Stats returns the counters.
func (s *EventStream) Stats() EventStreamStats {
	return EventStreamStats{Published: s.published.Load(), Dropped: s.dropped.Load(),
		Failed: s.failed.Load(), Pending: s.pending.Load()}
}

// Close stops accepting events and publishes what is buffered, until ctx
// ends. Close it after the actors stopped and before the Bus. It is safe
// to call twice.
func (s *EventStream) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		close(s.buf)
		s.mu.Unlock()
	})
	select {
	case <-s.done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		<-s.done
		return fmt.Errorf("events: close event stream: %w", ctx.Err())
	}
}
