// reseal.go: re-encrypting sealed values under the keyring's current key (key rotation).

package actors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/etaxd/etaxd/persistence"
)

// Reseal re-encrypts every sealed value in the store that is not under the
// keyring's current key version, and returns how many records it
// rewrote. It is the offline half of a master key rotation ("etaxd keys
// rotate"): add a key version, then Reseal, and no record needs the older
// versions any more.
//
// The sealed values, with the associated data each was sealed for (the
// same the engine uses, so the engine opens them as before):
//
//   - account/<tenant>/<id>: the password (aad: the record key) and each
//     channel's session token (aad: the record key + "#" + the channel);
//   - apikey/<id>: the key's secret, revoked keys included (aad: the
//     record key);
//   - meta/link-key: the F16 link-signing key (aad: the record key).
//   - meta/h5-cookie-key: the H5 session-cookie key (aad: the record key).
//   - meta/demo: a cluster's demo, API key secret included (aad: the
//     record key), written by etaxd serve --demo in cluster mode.
//
// Every other field of a record is written back as it was read. Records are
// rewritten in revision-checked batches as the scan goes, so a crash
// leaves some records under the new version and the rest under the old
// one: both open, and running Reseal again finishes the job (it is
// idempotent and returns 0 once nothing is left).
//
// Reseal must run while no engine uses the store: an account actor caches
// its sealed values and the record's revision, and would fail its next
// write after Reseal changed the record. A record that changes while
// Reseal works on it is read again; one that still changes after a few
// tries fails the call. A value that does not open (unknown key version,
// altered, or sealed for another record) fails the call with an error that
// names the record key, never the value; n counts what was rewritten
// before.
func Reseal(ctx context.Context, store persistence.Store, keys *persistence.Keyring) (n int, err error) {
	kinds := []struct {
		prefix string
		reseal resealFunc
	}{
		{persistence.PrefixAccount, resealAccount},
		{persistence.PrefixAPIKey, resealAPIKey},
		{keyLinkKey, resealRaw},
		{keyCookieKey, resealRaw},
		{keyClusterDemo, resealRaw},
	}
	for _, k := range kinds {
		// Scan hands out records page by page outside its read
		// transaction, so writing from the callback is safe, and memory
		// stays bounded by one batch.
		var batch []rewrite
		err := store.Scan(ctx, k.prefix, func(r persistence.Record) error {
			if strings.HasPrefix(k.prefix, persistence.PrefixMeta) && r.Key != k.prefix {
				return nil // a key that merely starts with the meta key's name
			}
			value, changed, err := k.reseal(keys, r.Key, r.Value)
			if err != nil {
				return fmt.Errorf("reseal %s: %w", r.Key, err)
			}
			if !changed {
				return nil
			}
			if batch = append(batch, rewrite{r, value}); len(batch) == resealBatch {
				wrote, err := writeBatch(ctx, store, keys, batch, k.reseal)
				n += wrote
				batch = batch[:0]
				return err
			}
			return nil
		})
		if err != nil {
			return n, err
		}
		wrote, err := writeBatch(ctx, store, keys, batch, k.reseal)
		n += wrote
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// resealBatch is how many rewritten records one commit holds: one fsync
// for many records, as the records of an offline store never conflict.
const resealBatch = 128

// rewrite is a record and its resealed value.
type rewrite struct {
	rec   persistence.Record
	value []byte
}

// writeBatch commits the rewrites in one transaction, each op checking the
// revision it was read at. When a concurrent write changed one of them,
// nothing of the batch was written: each record is then written on its own
// (writeResealed). It returns how many records it wrote.
func writeBatch(ctx context.Context, store persistence.Store, keys *persistence.Keyring, batch []rewrite, reseal resealFunc) (int, error) {
	if len(batch) == 0 {
		return 0, nil
	}
	ops := make([]persistence.Op, len(batch))
	for i, w := range batch {
		ops[i] = persistence.Op{Key: w.rec.Key, Value: w.value, Expected: w.rec.Revision}
	}
	_, err := store.Commit(ctx, ops...)
	if err == nil {
		return len(batch), nil
	}
	if !errors.Is(err, persistence.ErrRevisionMismatch) {
		return 0, fmt.Errorf("reseal: write %d records from %s: %w", len(batch), batch[0].rec.Key, err)
	}
	n := 0
	for _, w := range batch {
		wrote, err := writeResealed(ctx, store, keys, w.rec, w.value, reseal)
		if err != nil {
			return n, err
		}
		if wrote {
			n++
		}
	}
	return n, nil
}

// resealFunc returns a record's value with its sealed values under the
// current key, and reports whether anything changed.
type resealFunc func(keys *persistence.Keyring, key string, value []byte) ([]byte, bool, error)

// resealTries bounds the writes of a record that keeps changing.
const resealTries = 5

// writeResealed writes value, the resealed form of r, expecting r's
// revision. When a concurrent write changed the record, it reads and
// reseals it again. It reports whether it wrote.
func writeResealed(ctx context.Context, store persistence.Store, keys *persistence.Keyring, r persistence.Record,
	value []byte, reseal resealFunc) (bool, error) {
	for try := 1; ; try++ {
		_, err := persistence.Put(ctx, store, r.Key, value, r.Revision)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, persistence.ErrRevisionMismatch) || try >= resealTries {
			return false, fmt.Errorf("reseal %s: write: %w", r.Key, err)
		}
		r, err = store.Get(ctx, r.Key)
		if errors.Is(err, persistence.ErrNotFound) {
			return false, nil // deleted meanwhile: nothing left to reseal
		}
		if err != nil {
			return false, fmt.Errorf("reseal %s: read: %w", r.Key, err)
		}
		var changed bool
		if value, changed, err = reseal(keys, r.Key, r.Value); err != nil {
			return false, fmt.Errorf("reseal %s: %w", r.Key, err)
		} else if !changed {
			return false, nil // the other writer sealed it under the current key
		}
	}
}

// resealValue reseals one sealed value under the current key when it needs
// it, and reports whether it changed. It opens the value either way, so a
// value that would not open is found now rather than by the engine.
func resealValue(keys *persistence.Keyring, sealed []byte, aad string) (out []byte, changed bool, err error) {
	if !keys.NeedsReseal(sealed) {
		plain, err := keys.Open(sealed, aad)
		clear(plain)
		return sealed, false, err
	}
	out, err = keys.Reseal(sealed, aad)
	return out, err == nil, err
}

// resealAccount reseals an account record's password and session tokens.
// The record is decoded into a generic map so that every field, known to
// this build or not, is written back unchanged.
func resealAccount(keys *persistence.Keyring, key string, value []byte) ([]byte, bool, error) {
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(value, &rec); err != nil {
		return nil, false, fmt.Errorf("decode: %w", err)
	}
	changed, err := resealField(keys, rec, "password", key)
	if err != nil {
		return nil, false, fmt.Errorf("password: %w", err)
	}
	if raw, has := rec["channels"]; has && string(raw) != "null" {
		var chans map[string]map[string]json.RawMessage
		if err := json.Unmarshal(raw, &chans); err != nil {
			return nil, false, fmt.Errorf("decode channels: %w", err)
		}
		chChanged := false
		for ch, c := range chans {
			if c == nil {
				continue
			}
			ok, err := resealField(keys, c, "token", key+"#"+ch)
			if err != nil {
				return nil, false, fmt.Errorf("token of channel %s: %w", ch, err)
			}
			chChanged = chChanged || ok
		}
		if chChanged {
			if rec["channels"], err = json.Marshal(chans); err != nil {
				return nil, false, err
			}
			changed = true
		}
	}
	if !changed {
		return value, false, nil
	}
	out, err := json.Marshal(rec)
	return out, err == nil, err
}

// resealAPIKey reseals an API key record's secret.
func resealAPIKey(keys *persistence.Keyring, key string, value []byte) ([]byte, bool, error) {
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(value, &rec); err != nil {
		return nil, false, fmt.Errorf("decode: %w", err)
	}
	changed, err := resealField(keys, rec, "secret", key)
	if err != nil || !changed {
		return value, false, err
	}
	out, err := json.Marshal(rec)
	return out, err == nil, err
}

// resealRaw reseals a record whose whole value is one sealed value.
func resealRaw(keys *persistence.Keyring, key string, value []byte) ([]byte, bool, error) {
	return resealValue(keys, value, key)
}

// resealField reseals the sealed value at rec[field] (a JSON []byte, that
// is base64) with aad, in place; it reports whether it changed. A missing
// or empty field holds no secret.
func resealField(keys *persistence.Keyring, rec map[string]json.RawMessage, field, aad string) (bool, error) {
	raw, has := rec[field]
	if !has || string(raw) == "null" {
		return false, nil
	}
	var sealed []byte
	if err := json.Unmarshal(raw, &sealed); err != nil {
		return false, fmt.Errorf("decode: %w", err)
	}
	if len(sealed) == 0 {
		return false, nil
	}
	out, changed, err := resealValue(keys, sealed, aad)
	if err != nil || !changed {
		return false, err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return false, err
	}
	rec[field] = b
	return true, nil
}

// keyClusterDemo is the record of a cluster's demo (cmd/etaxd).
const keyClusterDemo = persistence.PrefixMeta + "demo"
