package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/natsbus/jsutil"
)

// SharedKV is a key-value map on a JetStream KV bucket that every node of
// a cluster sees: the client API's idempotency answers
// (httpapi.SharedIdempotency), so that a retried Idempotency-Key is
// recognised on whichever node it reaches. (The nonces are in the nonce
// log, NonceLog.) Entries live the bucket's MaxAge. Safe for concurrent use.
type SharedKV struct{ kv jetstream.KeyValue }

// The idempotency answers' bucket and how long it keeps an entry. They must
// outlive a restart of the whole cluster (24 h): they are on file.
const (
	IdempotencyBucket  = "etaxd_idempotency"
	IdempotencyMaxAge  = 24*time.Hour + time.Hour
	IdempotencyStorage = jetstream.FileStorage
)

// OpenSharedKV creates (or opens) the bucket with the bus's replicas and
// the given storage, and returns the map on it. A bucket found with the
// other storage (a cluster started by an earlier version) is made again:
// JetStream cannot change a stream's storage, and these maps hold only
// entries that expire within a day.
func (b *Bus) OpenSharedKV(ctx context.Context, bucket string, maxAge time.Duration, storage jetstream.StorageType) (*SharedKV, error) {
	cfg := jetstream.KeyValueConfig{Bucket: bucket, History: 1, TTL: maxAge, Storage: storage, Replicas: b.replicas}
	// Every JetStream call in attempts: on a cluster just formed, a request
	// about a stream whose leader is not elected yet gets no answer at all,
	// and one call on ctx alone would wait out the whole start-up.
	stream := "KV_" + bucket
	var other bool // the bucket exists with the other storage
	err := jsutil.Attempt(ctx, func(actx context.Context) error {
		s, err := b.js.Stream(actx, stream)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			other = false
			return nil
		}
		if err != nil {
			return err
		}
		other = s.CachedInfo().Config.Storage != storage
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: look up bucket %s: %w", bucket, err)
	}
	if other {
		b.log.Warn("natsbus: shared bucket has another storage; making it again", "bucket", bucket, "storage", storage.String())
		err := jsutil.Attempt(ctx, func(actx context.Context) error {
			err := b.js.DeleteStream(actx, stream)
			if errors.Is(err, jetstream.ErrStreamNotFound) {
				return nil // another node came first
			}
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("natsbus: remake bucket %s: %w", bucket, err)
		}
	}
	kv, err := b.CreateKV(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &SharedKV{kv: kv}, nil
}

// Create stores value under key unless it holds one.
func (s *SharedKV) Create(ctx context.Context, key string, value []byte) (bool, error) {
	_, err := s.kv.Create(ctx, key, value)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists):
		return false, nil
	}
	return false, fmt.Errorf("natsbus: shared create: %w", err)
}

// Get returns key's value and revision.
func (s *SharedKV) Get(ctx context.Context, key string) ([]byte, uint64, bool, error) {
	e, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, 0, false, nil
	case err != nil:
		return nil, 0, false, fmt.Errorf("natsbus: shared get: %w", err)
	}
	return e.Value(), e.Revision(), true, nil
}

// Update replaces key's value if it still has revision rev.
func (s *SharedKV) Update(ctx context.Context, key string, value []byte, rev uint64) (bool, error) {
	_, err := s.kv.Update(ctx, key, value, rev)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, jetstream.ErrKeyExists), wrongLastSequence(err):
		return false, nil // "wrong last sequence": another writer came first
	}
	return false, fmt.Errorf("natsbus: shared update: %w", err)
}

// Delete forgets key.
func (s *SharedKV) Delete(ctx context.Context, key string) error {
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("natsbus: shared delete: %w", err)
	}
	return nil
}
