package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
// (attempt ≥ 1): base, 2·base, 4·base, … capped at max.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// AttemptTimeout bounds one attempt of a JetStream management call made
// through Attempt.
const AttemptTimeout = time.Second

// Attempt runs f with short attempts (AttemptTimeout each) until it
// succeeds, fails for good, or ctx ends, and returns f's last error.
// Several nodes of a cluster creating the same replicated stream or
// consumer at once can all wait out their whole deadline; a new attempt
// then takes milliseconds. Only such transient failures are tried again
// (see transient); a refusal (a conflicting configuration) returns at once.
// f must be idempotent (create-or-update).
func Attempt(ctx context.Context, f func(context.Context) error) error {
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, AttemptTimeout)
		err := f(actx)
		cancel()
		if err == nil || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(Backoff(n, 50*time.Millisecond, 500*time.Millisecond)):
		}
	}
}

// transient reports whether err is a JetStream call that got no answer in
// time or an answer that says to try again (503: no meta leader, no
// quorum, a peer not current), rather than a refusal.
func transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) {
		return true
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		return api.Code == 503 || api.Code == 408
	}
	return false
}

// EnsureStream creates the stream, or updates it to cfg when it exists.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	err := Attempt(ctx, func(ctx context.Context) error {
		_, err := js.CreateOrUpdateStream(ctx, cfg)
		return err
	})
	if err != nil {
		return fmt.Errorf("natsbus: create or update stream %s: %w", cfg.Name, err)
	}
	return nil
}

// EnsureStreamExists creates the stream with cfg unless it exists, leaving
// an existing stream's configuration to its owner.
func EnsureStreamExists(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	return Attempt(ctx, func(ctx context.Context) error {
		_, err := js.Stream(ctx, cfg.Name)
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("natsbus: look up stream %s: %w", cfg.Name, err)
		}
		_, err = js.CreateStream(ctx, cfg)
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("natsbus: create stream %s: %w", cfg.Name, err)
		}
		return nil
	})
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
// cfg when it exists, with short attempts (see Attempt).
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	var cons jetstream.Consumer
	err := Attempt(ctx, func(ctx context.Context) error {
		var err error
		cons, err = js.CreateOrUpdateConsumer(ctx, stream, cfg)
		return err
	})
	return cons, err
}
