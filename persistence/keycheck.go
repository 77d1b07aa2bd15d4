package persistence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// KeyCheckKey is the store key of the master-key canary: a fixed text
// sealed with the keyring, written by the first node that starts on a
// store, opened by every node after it.
const KeyCheckKey = PrefixMeta + "keycheck"

// keyCheckText is the canary's plaintext. It is no secret: the canary
// proves that a keyring opens what another keyring sealed, nothing more.
var keyCheckText = []byte("etaxd master key check 1")

// ErrKeyMismatch is returned by CheckKeys when this process's master keys
// cannot open the store's data: the store was sealed with other keys (every
// node of a cluster must hold the same master keys, and a restored data
// directory needs the key file it was written with). The process must not
// start: it could read nothing sealed, and would seal new secrets that the
// other nodes cannot open.
var ErrKeyMismatch = errors.New("persistence: the master keys cannot open this store's data (every node must hold the same master keys, in the same versions)")

// CheckKeys verifies that keys open the store's data, through the canary
// at KeyCheckKey. On a store without it, it writes one, sealed under the
// current key version (create-once: when several nodes start together, one
// writes it and the others check it). A canary that does not open fails
// with an error wrapping ErrKeyMismatch, and ErrUnknownKeyVersion or
// ErrSealedCorrupt, which names the canary's key version and the versions
// this keyring holds, never a key. A canary sealed under an older version
// than the current one is resealed (see ResealKeyCheck), so that the old
// version can leave the key file once nothing else needs it.
//
// CheckKeys works on any Store; call it at start, before anything is read
// or sealed.
func CheckKeys(ctx context.Context, s Store, keys *Keyring) error {
	pause := 20 * time.Millisecond
	for i := range MaxUpdateAttempts {
		if i > 0 {
			// A replica that lags (nodes starting together on a
			// replicated store) can answer "not found" for a canary another
			// node wrote: give it time rather than asking again at once.
			select {
			case <-ctx.Done():
				return fmt.Errorf("persistence: key check: %w", ctx.Err())
			case <-time.After(pause):
			}
			pause = min(2*pause, 500*time.Millisecond)
		}
		rec, err := s.Get(ctx, KeyCheckKey)
		if errors.Is(err, ErrNotFound) {
			sealed, err := keys.Seal(keyCheckText, KeyCheckKey)
			if err != nil {
				return fmt.Errorf("persistence: key check: %w", err)
			}
			_, err = Put(ctx, s, KeyCheckKey, sealed, 0)
			if errors.Is(err, ErrRevisionMismatch) {
				continue // another node wrote it first: check that one
			}
			if err != nil {
				return fmt.Errorf("persistence: key check: write %s: %w", KeyCheckKey, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("persistence: key check: read %s: %w", KeyCheckKey, err)
		}
		if err := openKeyCheck(keys, rec.Value); err != nil {
			return err
		}
		if !keys.NeedsReseal(rec.Value) {
			return nil
		}
		if err := resealKeyCheck(ctx, s, keys, rec); !errors.Is(err, ErrRevisionMismatch) {
			return err
		}
		// Another node resealed it meanwhile: check its value.
	}
	return fmt.Errorf("persistence: key check: %s still changing after %d attempts: %w", KeyCheckKey, MaxUpdateAttempts, ErrRevisionMismatch)
}

// ResealKeyCheck rewrites the canary sealed under the current key version,
// if it is sealed under another; "etaxd keys rotate" calls it with the
// other resealing. It fails like CheckKeys when the canary does not open,
// and does nothing on a store without a canary.
func ResealKeyCheck(ctx context.Context, s Store, keys *Keyring) error {
	rec, err := s.Get(ctx, KeyCheckKey)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("persistence: key check: read %s: %w", KeyCheckKey, err)
	}
	if err := openKeyCheck(keys, rec.Value); err != nil {
		return err
	}
	if !keys.NeedsReseal(rec.Value) {
		return nil
	}
	return resealKeyCheck(ctx, s, keys, rec)
}

// openKeyCheck opens the canary, or explains why it does not open.
func openKeyCheck(keys *Keyring, sealed []byte) error {
	plain, err := keys.Open(sealed, KeyCheckKey)
	if err == nil && !bytes.Equal(plain, keyCheckText) {
		err = fmt.Errorf("%w: unexpected content", ErrSealedCorrupt)
	}
	if err == nil {
		return nil
	}
	sealedUnder := "an unknown key version"
	if v, ok := sealedVersion(sealed); ok {
		sealedUnder = fmt.Sprintf("key version v%d", v)
	}
	return fmt.Errorf("%w: %s is sealed under %s, this process holds versions %v: %w",
		ErrKeyMismatch, KeyCheckKey, sealedUnder, keys.Versions(), err)
}

// resealKeyCheck writes rec's canary sealed under the current version,
// expecting rec's revision.
func resealKeyCheck(ctx context.Context, s Store, keys *Keyring, rec Record) error {
	sealed, err := keys.Reseal(rec.Value, KeyCheckKey)
	if err != nil {
		return fmt.Errorf("persistence: key check: reseal: %w", err)
	}
	if _, err := Put(ctx, s, KeyCheckKey, sealed, rec.Revision); err != nil {
		return fmt.Errorf("persistence: key check: reseal %s: %w", KeyCheckKey, err)
	}
	return nil
}
