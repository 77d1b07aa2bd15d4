package jsutil

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AttemptTimeout bounds one attempt of a JetStream management call.
const AttemptTimeout = time.Second

// ErrNoMetaLeader is returned by WaitMetaLeader when JetStream found no
// meta leader in time: fewer than a quorum of the cluster's servers are
// reachable.
var ErrNoMetaLeader = errors.New("natsbus: no JetStream meta leader (is a quorum of the cluster's nodes up and routed?)")

// ErrNoJetStream is returned by WaitMetaLeader when the servers say that
// the account etaxd connects as has no JetStream: waiting cannot help.
var ErrNoJetStream = errors.New("natsbus: the NATS account has no JetStream (enable jetstream on the servers and for the account etaxd connects as)")

// NoJetStreamGrace is how long WaitMetaLeader keeps asking while the
// servers answer "JetStream not enabled" (a server still starting its
// JetStream says so briefly), when Attempts.NoJetStreamGrace is zero.
const NoJetStreamGrace = 5 * time.Second

// nats-server's error code of a cluster member that cannot handle a request
// for a moment (status 500; nats.go names no constant for it). Its
// companion "JetStream system temporarily unavailable" (10008) is a 503.
const errCodeClusterNotLeader jetstream.ErrorCode = 10009

// Transient reports whether err is a JetStream call that got no answer in
// time (deadline, timeout, no responders) or an answer that says to try
// again (503: no meta leader, no quorum, a peer not current; 408; 10009: a
// cluster member that cannot handle the request yet), rather than a
// refusal.
func Transient(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders) {
		return true
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		return api.Code == 503 || api.Code == 408 || api.ErrorCode == errCodeClusterNotLeader
	}
	return false
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

// Attempts is a policy of short, retried attempts. The zero value is the
// default: AttemptTimeout per attempt, Transient, and a pause of 50 ms
// doubling up to 500 ms between attempts.
type Attempts struct {
	// Timeout bounds one attempt. Zero means AttemptTimeout.
	Timeout time.Duration
	// Transient reports whether an attempt's error is worth another
	// attempt. Nil means Transient.
	Transient func(error) bool
	// Pause is the wait after the n-th failed attempt (n ≥ 1). Nil means
	// Backoff(n, 50ms, 500ms).
	Pause func(n int) time.Duration
	// NoJetStreamGrace: see the constant. Zero means NoJetStreamGrace.
	NoJetStreamGrace time.Duration
}

func (a Attempts) timeout() time.Duration {
	if a.Timeout > 0 {
		return a.Timeout
	}
	return AttemptTimeout
}

func (a Attempts) transient(err error) bool {
	if a.Transient != nil {
		return a.Transient(err)
	}
	return Transient(err)
}

func (a Attempts) pause(n int) time.Duration {
	if a.Pause != nil {
		return a.Pause(n)
	}
	return Backoff(n, 50*time.Millisecond, 500*time.Millisecond)
}

// Do runs f, each call bounded by a.Timeout, until it succeeds, fails for
// good (an error a.Transient rejects), or ctx ends; it returns f's last
// error. f must be idempotent (create-or-update, a read), or fail without
// effect.
func (a Attempts) Do(ctx context.Context, f func(context.Context) error) error {
	for n := 1; ; n++ {
		actx, cancel := context.WithTimeout(ctx, a.timeout())
		err := f(actx)
		cancel()
		if err == nil || !a.transient(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(a.pause(n)):
		}
	}
}

// Attempt is Attempts{}.Do: f in AttemptTimeout attempts, tried again while
// it fails transiently, until ctx ends.
func Attempt(ctx context.Context, f func(context.Context) error) error {
	return Attempts{}.Do(ctx, f)
}

// WaitMetaLeader waits until JetStream answers an account info request,
// which it does only once the cluster has elected its meta leader: before
// that, JetStream API requests get no reply at all and each would wait out
// its whole deadline. Each probe is bounded by half of a.Timeout; a probe
// that fails at once (no responders, JetStream not ready) is made again
// after 100 ms. It returns nil, or an error wrapping ErrNoMetaLeader and the
// last probe's error once ctx ends.
func (a Attempts) WaitMetaLeader(ctx context.Context, js jetstream.JetStream) error {
	probe := a.timeout() / 2
	grace := a.NoJetStreamGrace
	if grace <= 0 {
		grace = NoJetStreamGrace
	}
	var notEnabledSince time.Time
	for {
		actx, cancel := context.WithTimeout(ctx, probe)
		_, err := js.AccountInfo(actx)
		fast := actx.Err() == nil
		cancel()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
			return fmt.Errorf("%w: %w", ErrNoJetStream, err)
		case errors.Is(err, jetstream.ErrJetStreamNotEnabled):
			if notEnabledSince.IsZero() {
				notEnabledSince = time.Now()
			} else if time.Since(notEnabledSince) >= grace {
				return fmt.Errorf("%w: %w", ErrNoJetStream, err)
			}
		default:
			notEnabledSince = time.Time{}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrNoMetaLeader, err)
		}
		if fast {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%w: %w", ErrNoMetaLeader, err)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// WaitMetaLeader is Attempts{}.WaitMetaLeader: 500 ms probes.
func WaitMetaLeader(ctx context.Context, js jetstream.JetStream) error {
	return Attempts{}.WaitMetaLeader(ctx, js)
}

// EnsureStream creates the stream, or updates it to cfg when it exists,
// in attempts.
func (a Attempts) EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	var st jetstream.Stream
	err := a.Do(ctx, func(ctx context.Context) error {
		var err error
		st, err = js.CreateOrUpdateStream(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: create or update stream %s: %w", cfg.Name, err)
	}
	return st, nil
}

// EnsureStream is Attempts{}.EnsureStream.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	return Attempts{}.EnsureStream(ctx, js, cfg)
}

// EnsureStreamExists creates the stream with cfg unless it exists, leaving
// an existing stream's configuration to its owner, in attempts.
func (a Attempts) EnsureStreamExists(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	return a.Do(ctx, func(ctx context.Context) error {
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

// EnsureStreamExists is Attempts{}.EnsureStreamExists.
func EnsureStreamExists(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	return Attempts{}.EnsureStreamExists(ctx, js, cfg)
}

// EnsureConsumer creates the durable consumer on stream, or updates it to
// cfg when it exists, in attempts.
func (a Attempts) EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	var cons jetstream.Consumer
	err := a.Do(ctx, func(ctx context.Context) error {
		var err error
		cons, err = js.CreateOrUpdateConsumer(ctx, stream, cfg)
		return err
	})
	return cons, err
}

// EnsureConsumer is Attempts{}.EnsureConsumer.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	return Attempts{}.EnsureConsumer(ctx, js, stream, cfg)
}

// CreateKV creates or updates a key-value bucket in attempts, with the
// stream nats.go derives from cfg.
func (a Attempts) CreateKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := a.Do(ctx, func(ctx context.Context) error {
		var err error
		kv, err = js.CreateOrUpdateKeyValue(ctx, cfg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: create bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// CreateKV is Attempts{}.CreateKV.
func CreateKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	return Attempts{}.CreateKV(ctx, js, cfg)
}

// EnsureKVStream creates (or updates) the stream of bucket from a stream
// configuration of one's own — for settings KeyValueConfig cannot express
// (nats.go's CreateKeyValue forces AllowDirect, for one) — and binds the
// bucket to it, both in attempts. cfg must follow the KV conventions: name
// "KV_<bucket>", subjects "$KV.<bucket>.>". A stream just created on a
// cluster may not answer on every server yet: "stream not found" while
// binding is tried again too.
func (a Attempts) EnsureKVStream(ctx context.Context, js jetstream.JetStream, bucket string, cfg jetstream.StreamConfig) (jetstream.KeyValue, error) {
	if _, err := a.EnsureStream(ctx, js, cfg); err != nil {
		return nil, err
	}
	bind := a
	bind.Transient = func(err error) bool {
		return a.transient(err) || errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound)
	}
	var kv jetstream.KeyValue
	err := bind.Do(ctx, func(ctx context.Context) error {
		var err error
		kv, err = js.KeyValue(ctx, bucket)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: bind bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// EnsureKVStream is Attempts{}.EnsureKVStream.
func EnsureKVStream(ctx context.Context, js jetstream.JetStream, bucket string, cfg jetstream.StreamConfig) (jetstream.KeyValue, error) {
	return Attempts{}.EnsureKVStream(ctx, js, bucket, cfg)
}
