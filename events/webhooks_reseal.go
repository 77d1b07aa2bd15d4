package events

// Webhook resealing: re-encrypting stored signing secrets after a key rotation.

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/etaxd/etaxd/persistence"
)

// Resealer re-encrypts sealed values under the current master key;
// persistence.Keyring is one.
type Resealer interface {
	NeedsReseal(sealed []byte) bool
	Reseal(sealed []byte, aad string) ([]byte, error)
}

// ResealWebhookSecrets re-encrypts every sealed webhook secret that needs
// it (etaxd keys rotate) and returns how many it rewrote.
func ResealWebhookSecrets(ctx context.Context, store persistence.Store, r Resealer) (int, error) {
	type todo struct {
		rec webhookRecord
		rev uint64
	}
	var list []todo
	err := store.Scan(ctx, "webhook/", func(got persistence.Record) error {
		var rec webhookRecord
		if err := json.Unmarshal(got.Value, &rec); err != nil {
			return fmt.Errorf("decode %s: %w", got.Key, err)
		}
		if rec.Sealed && r.NeedsReseal(rec.Secret) {
			list = append(list, todo{rec, got.Revision})
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("events: scan webhooks: %w", err)
	}
	n := 0
	for _, t := range list {
		sealed, err := r.Reseal(t.rec.Secret, webhookKey(t.rec.Tenant, t.rec.ID))
		if err != nil {
			return n, fmt.Errorf("events: reseal webhook %s: %w", t.rec.ID, err)
		}
		t.rec.Secret = sealed
		data, err := json.Marshal(t.rec)
		if err != nil {
			return n, err
		}
		if _, err := persistence.Put(ctx, store, webhookKey(t.rec.Tenant, t.rec.ID), data, t.rev); err != nil {
			return n, fmt.Errorf("events: store webhook %s: %w", t.rec.ID, err)
		}
		n++
	}
	return n, nil
}
