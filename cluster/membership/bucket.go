package membership

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/natsbus/jsutil"
)

// attempt is the timeout of one attempt to write the first member record
// (Provider.create), as jsutil's attempts of the bucket's creation.
const attempt = jsutil.AttemptTimeout

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
// bucket's stream and binds the KV to it, in 1 s attempts retried while
// they fail transiently (jsutil). Every node may run it at once.
func openBucket(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.KeyValue, error) {
	if err := jsutil.WaitMetaLeader(ctx, js); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoMetaLeader, err)
	}
	kv, err := jsutil.EnsureKVStream(ctx, js, cfg.Bucket, streamConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBucket, cfg.Bucket, err)
	}
	return kv, nil
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
