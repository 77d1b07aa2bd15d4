package natsbus

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/natsbus/jsutil"
)

// ValidToken reports whether s can be one token of a NATS subject (and, as
// it excludes "/", one segment of a store key).
func ValidToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	return !strings.ContainsAny(s, ".*>/ \t\r\n\x00")
}

// Backoff returns the delay before attempt+1 after attempt failures
// (attempt ≥ 1): base, 2·base, 4·base, … capped at max (jsutil.Backoff).
func Backoff(attempt int, base, max time.Duration) time.Duration {
	return jsutil.Backoff(attempt, base, max)
}

// AttemptTimeout bounds one attempt of a JetStream management call made
// through Attempt.
const AttemptTimeout = jsutil.AttemptTimeout

// Attempt runs f with short attempts (AttemptTimeout each) until it
// succeeds, fails for good, or ctx ends, and returns f's last error.
// Several nodes of a cluster creating the same replicated stream or
// consumer at once can all wait out their whole deadline; a new attempt
// then takes milliseconds. Only such transient failures are tried again
// (jsutil.Transient); a refusal (a conflicting configuration) returns at
// once. f must be idempotent (create-or-update). It is jsutil.Attempt.
func Attempt(ctx context.Context, f func(context.Context) error) error {
	return jsutil.Attempt(ctx, f)
}

// EnsureStream creates the stream, or updates it to cfg when it exists
// (jsutil.EnsureStream).
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	_, err := jsutil.EnsureStream(ctx, js, cfg)
	return err
}

// EnsureStreamExists creates the stream with cfg unless it exists, leaving
// an existing stream's configuration to its owner (jsutil.EnsureStreamExists).
func EnsureStreamExists(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	return jsutil.EnsureStreamExists(ctx, js, cfg)
}

// RateLog logs a repeated warning at most once per interval, with the
// number of occurrences since the last line. The zero value logs at most
// once every 10 seconds.
type RateLog struct {
	every time.Duration

	mu     sync.Mutex
	last   time.Time
	missed int
}

// Warn logs msg unless it was logged less than r.every ago.
func (r *RateLog) Warn(log *slog.Logger, msg string, args ...any) {
	every := r.every
	if every == 0 {
		every = 10 * time.Second
	}
	r.mu.Lock()
	now := time.Now()
	if !r.last.IsZero() && now.Sub(r.last) < every {
		r.missed++
		r.mu.Unlock()
		return
	}
	missed := r.missed
	r.last, r.missed = now, 0
	r.mu.Unlock()
	if missed > 0 {
		args = append(args, "suppressed", missed)
	}
	log.Warn(msg, args...)
}

// PermanentPublishError reports whether a publish error will not go away
// by retrying: the message is too big, the subject is bad, or the
// connection is closed for good.
func PermanentPublishError(err error) bool {
	return errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) ||
		errors.Is(err, nats.ErrConnectionClosed)
}

// EnsureConsumer creates the durable consumer on stream, or updates it to
// cfg when it exists, with short attempts (jsutil.EnsureConsumer).
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	return jsutil.EnsureConsumer(ctx, js, stream, cfg)
}
