package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// SharedKV is a key-value map every node of a cluster reads and writes
// alike (natsbus.SharedKV keeps it in a replicated JetStream KV bucket).
// Keys are what SharedIdempotency makes of its own: hex digests. (The
// cluster's nonces are in natsbus.NonceLog, a NonceCache of its own.)
// Implementations are safe for concurrent use.
type SharedKV interface {
	// Create stores value under key unless the key holds a value;
	// created reports which.
	Create(ctx context.Context, key string, value []byte) (created bool, err error)
	// Get returns key's value and revision; found is false for a key that
	// holds none.
	Get(ctx context.Context, key string) (value []byte, rev uint64, found bool, err error)
	// Update replaces key's value if it still has revision rev; ok is
	// false when another writer came first.
	Update(ctx context.Context, key string, value []byte, rev uint64) (ok bool, err error)
	// Delete forgets key.
	Delete(ctx context.Context, key string) error
}

// sharedTimeout bounds each call to a SharedKV made without a caller's
// context (Complete, Release) or within one.
const sharedTimeout = 2 * time.Second

// sharedKey is the digest that stands for the parts of a key in a shared
// map: fixed length, and safe in any backend's key syntax.
func sharedKey(kind string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return kind + "_" + hex.EncodeToString(h.Sum(nil))
}

// SharedIdempotency is an Idempotency on a SharedKV: an Idempotency-Key
// retried at another node replays the first node's answer, or waits for it
// while the first node still runs the request. The map must keep entries
// IdempotencyTTL (the bucket's max age).
type SharedIdempotency struct {
	kv  SharedKV
	log *slog.Logger
	// poll is how often a claim on a reserved key looks again.
	poll time.Duration
}

// sharedIdem is one key's value in the map.
type sharedIdem struct {
	Fingerprint string          `json:"fp"`
	Response    *StoredResponse `json:"resp,omitempty"` // nil while reserved
	Expires     time.Time       `json:"expires,omitzero"`
}

// NewSharedIdempotency returns the store on kv; log receives the writes
// that failed (nil: slog.Default).
func NewSharedIdempotency(kv SharedKV, log *slog.Logger) *SharedIdempotency {
	if log == nil {
		log = slog.Default()
	}
	return &SharedIdempotency{kv: kv, log: log, poll: 100 * time.Millisecond}
}

// Claim implements Idempotency.
func (s *SharedIdempotency) Claim(ctx context.Context, key, fingerprint string, now time.Time) (*StoredResponse, error) {
	k := sharedKey("i", key)
	reserved, _ := json.Marshal(sharedIdem{Fingerprint: fingerprint})
	for {
		cctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		created, err := s.kv.Create(cctx, k, reserved)
		cancel()
		if err != nil {
			return nil, domain.ErrBusy.Wrap(err)
		}
		if created {
			return nil, nil
		}
		gctx, cancel := context.WithTimeout(ctx, sharedTimeout)
		b, rev, found, err := s.kv.Get(gctx, k)
		cancel()
		if err != nil {
			return nil, domain.ErrBusy.Wrap(err)
		}
		if !found {
			continue // released meanwhile: claim it
		}
		var v sharedIdem
		if json.Unmarshal(b, &v) != nil {
			return nil, domain.ErrBusy.Wrap(fmt.Errorf("shared idempotency record of %d bytes does not decode", len(b)))
		}
		if v.Response != nil && !now.Before(v.Expires) {
			// Expired but not yet collected: take it over.
			uctx, cancel := context.WithTimeout(ctx, sharedTimeout)
			ok, err := s.kv.Update(uctx, k, reserved, rev)
			cancel()
			if err != nil {
				return nil, domain.ErrBusy.Wrap(err)
			}
			if ok {
				return nil, nil
			}
			continue
		}
		if v.Fingerprint != fingerprint {
			return nil, ErrIdempotencyMismatch
		}
		if v.Response != nil {
			return v.Response, nil
		}
		select { // another node runs it: wait for its answer
		case <-time.After(s.poll):
		case <-ctx.Done():
			return nil, domain.ErrBusy.Wrap(ctx.Err())
		}
	}
}

// Complete implements Idempotency. An answer too large to keep, or one the
// map does not take, is forgotten (logged): a retry then runs again.
func (s *SharedIdempotency) Complete(key string, r StoredResponse, now time.Time) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	k := sharedKey("i", key)
	if len(r.Body) > maxStoredBody {
		s.Release(key)
		return
	}
	b, rev, found, err := s.kv.Get(ctx, k)
	if err != nil || !found {
		s.log.Warn("idempotency: the reservation is gone; the answer is not kept", "err", err)
		return
	}
	var v sharedIdem
	if json.Unmarshal(b, &v) != nil || v.Response != nil {
		return
	}
	v.Response, v.Expires = &r, now.Add(IdempotencyTTL)
	nb, _ := json.Marshal(v)
	if ok, err := s.kv.Update(ctx, k, nb, rev); err != nil || !ok {
		s.log.Warn("idempotency: the answer could not be kept (a retry runs again)", "err", err)
		_ = s.kv.Delete(ctx, k)
	}
}

// Release implements Idempotency.
func (s *SharedIdempotency) Release(key string) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	if err := s.kv.Delete(ctx, sharedKey("i", key)); err != nil {
		s.log.Warn("idempotency: release", "err", err)
	}
}
