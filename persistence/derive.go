package persistence

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
)

// deriveSalt separates Derive's keys from every other use of the master
// keys.
const deriveSalt = "etaxd derive v1"

// Derive returns a 32-byte secret for purpose (a label such as
// "nats-route"), derived with HKDF-SHA256 from the lowest key version held,
// in hex. Every process holding the same master keys derives the same
// secret, so cluster nodes agree on it without another secret to
// distribute; adding a key version (which becomes current for Seal) leaves
// it unchanged. Different purposes give unrelated secrets, and a secret
// reveals nothing of the master key.
func (k *Keyring) Derive(purpose string) (string, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if len(k.derive) == 0 {
		return "", ErrNoKeys
	}
	v := slices.Min(slices.Collect(maps.Keys(k.derive)))
	out, err := hkdf.Expand(sha256.New, k.derive[v], purpose, 32)
	if err != nil {
		return "", fmt.Errorf("derive %s: %w", purpose, err)
	}
	return hex.EncodeToString(out), nil
}
