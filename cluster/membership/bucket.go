package membership

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/internal/clock"
)

// attempt is the timeout of one JetStream call while starting: a call made
// before a meta leader exists, or three nodes creating the same new R3
// bucket at once, hang until their deadline and a retry takes milliseconds.
const attempt = time.Second

// waitMetaLeader polls AccountInfo until JetStream answers: JetStream API
// calls made before a meta leader exists get no reply at all.
func waitMetaLeader(ctx context.Context, js jetstream.JetStream, clk clock.Clock) error {
	for {
		actx, cancel := context.WithTimeout(ctx, attempt/2)
		_, err := js.AccountInfo(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", ErrNoMetaLeader, err)
		}
		if actx.Err() == nil { // failed fast (no responders): do not spin
			if waitErr := pause(ctx, clk, attempt/10); waitErr != nil {
				return fmt.Errorf("%w: %w", ErrNoMetaLeader, err)
			}
		}
	}
}

// streamConfig is the stream of a KV bucket as nats.go's CreateKeyValue
// makes it (history 1), except AllowDirect: false. With direct get any
// replica answers a Get, and a paused replica then stalls liveness reads;
// without it every Get goes to the stream leader, which also sees every
// acknowledged beat.
func streamConfig(cfg Config) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              "KV_" + cfg.Bucket,
		Subjects:          []string{"$KV." + cfg.Bucket + ".>"},
		MaxMsgsPerSubject: 1,
		MaxBytes:          -1,
		MaxMsgs:           -1,
		MaxMsgSize:        -1,
		MaxConsumers:      -1,
		MaxAge:            cfg.MaxAge,
		Storage:           jetstream.FileStorage,
		Replicas:          cfg.Replicas,
		AllowRollup:       true,
		DenyDelete:        true,
		Duplicates:        2 * time.Minute,
		Discard:           jetstream.DiscardNew,
		AllowDirect:       false,
	}
}

// openBucket waits for a meta leader, creates (or updates) the member
// bucket's stream with 1 s attempts, retried, and binds the KV to it.
// Every node may run it at once.
func openBucket(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.KeyValue, error) {
	if err := waitMetaLeader(ctx, js, cfg.Clock); err != nil {
		return nil, err
	}
	scfg := streamConfig(cfg)
	for {
		actx, cancel := context.WithTimeout(ctx, attempt)
		_, err := js.CreateOrUpdateStream(actx, scfg)
		var kv jetstream.KeyValue
		if err == nil {
			kv, err = js.KeyValue(actx, cfg.Bucket)
		}
		cancel()
		if err == nil {
			return kv, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBucket, cfg.Bucket, err)
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.Code == 400 && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return nil, fmt.Errorf("%w: %s: %w", ErrBucket, cfg.Bucket, err) // a config the server refuses: retrying will not help
		}
		if err := pause(ctx, cfg.Clock, attempt/10); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBucket, cfg.Bucket, err)
		}
	}
}

// pause waits d on clk or until ctx ends.
func pause(ctx context.Context, clk clock.Clock, d time.Duration) error {
	ch := make(chan struct{})
	t := clk.AfterFunc(d, func() { close(ch) })
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
