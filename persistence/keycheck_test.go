package persistence

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
)

// testKeys returns a keyring of the given versions, each key filled with
// its seed byte.
func testKeys(t *testing.T, seeds map[uint32]byte) *Keyring {
	t.Helper()
	keys := map[uint32][]byte{}
	for v, b := range seeds {
		keys[v] = bytes.Repeat([]byte{b}, KeyLen)
	}
	k, err := NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCheckKeys(t *testing.T) {
	ctx := context.Background()
	b, _ := openTest(t, BoltOptions{})
	mine := testKeys(t, map[uint32]byte{1: 0x11})
	if err := CheckKeys(ctx, b, mine); err != nil {
		t.Fatalf("first check: %v", err)
	}
	rec := mustGet(t, b, KeyCheckKey)
	if bytes.Contains(rec.Value, keyCheckText) {
		t.Fatal("the canary is stored in clear")
	}
	if err := CheckKeys(ctx, b, testKeys(t, map[uint32]byte{1: 0x11})); err != nil {
		t.Fatalf("same keys, second process: %v", err)
	}
	if got := mustGet(t, b, KeyCheckKey); got.Revision != rec.Revision {
		t.Fatalf("a matching check rewrote the canary: revision %d, then %d", rec.Revision, got.Revision)
	}

	tests := []struct {
		name  string
		keys  map[uint32]byte
		cause error
	}{
		{"another key under the same version", map[uint32]byte{1: 0x22}, ErrSealedCorrupt},
		{"another version only", map[uint32]byte{2: 0x11}, ErrUnknownKeyVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := testKeys(t, tt.keys)
			err := CheckKeys(ctx, b, other)
			if !errors.Is(err, ErrKeyMismatch) || !errors.Is(err, tt.cause) {
				t.Fatalf("CheckKeys = %v, want ErrKeyMismatch and %v", err, tt.cause)
			}
			msg := err.Error()
			if !strings.Contains(msg, KeyCheckKey) || !strings.Contains(msg, "v1") || !strings.Contains(msg, "same master keys") {
				t.Errorf("error %q does not say which record, which version, and what to do", msg)
			}
			for _, k := range tt.keys {
				if key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{k}, KeyLen)); strings.Contains(msg, key) {
					t.Errorf("error %q carries a key", msg)
				}
			}
			if got := mustGet(t, b, KeyCheckKey); got.Revision != rec.Revision {
				t.Fatal("a refused check wrote the canary")
			}
		})
	}
}

// TestCheckKeysReseals: after a rotation the canary is resealed under the
// new version, so a keyring without the old version then passes.
func TestCheckKeysReseals(t *testing.T) {
	ctx := context.Background()
	b, _ := openTest(t, BoltOptions{})
	if err := CheckKeys(ctx, b, testKeys(t, map[uint32]byte{1: 0x11})); err != nil {
		t.Fatal(err)
	}
	onlyNew := testKeys(t, map[uint32]byte{2: 0x22})
	if err := CheckKeys(ctx, b, onlyNew); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("before the reseal: %v, want ErrKeyMismatch", err)
	}
	rotated := testKeys(t, map[uint32]byte{1: 0x11, 2: 0x22})
	if err := ResealKeyCheck(ctx, b, rotated); err != nil {
		t.Fatal(err)
	}
	if rotated.NeedsReseal(mustGet(t, b, KeyCheckKey).Value) {
		t.Fatal("ResealKeyCheck left the canary under v1")
	}
	if err := CheckKeys(ctx, b, onlyNew); err != nil {
		t.Fatalf("after the reseal: %v", err)
	}

	// CheckKeys reseals by itself too.
	b2, _ := openTest(t, BoltOptions{})
	if err := CheckKeys(ctx, b2, testKeys(t, map[uint32]byte{1: 0x11})); err != nil {
		t.Fatal(err)
	}
	if err := CheckKeys(ctx, b2, rotated); err != nil {
		t.Fatal(err)
	}
	if err := CheckKeys(ctx, b2, onlyNew); err != nil {
		t.Fatalf("after a check with the rotated keys: %v", err)
	}
	if err := ResealKeyCheck(ctx, b2, onlyNew); err != nil {
		t.Fatalf("nothing to reseal: %v", err)
	}
	b3, _ := openTest(t, BoltOptions{})
	if err := ResealKeyCheck(ctx, b3, onlyNew); err != nil {
		t.Fatalf("no canary: %v", err)
	}
	wantAbsent(t, b3, KeyCheckKey)
}

// TestCheckKeysConcurrentStart: nodes starting together on an empty store
// agree on one canary.
func TestCheckKeysConcurrentStart(t *testing.T) {
	ctx := context.Background()
	b, _ := openTest(t, BoltOptions{})
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = CheckKeys(ctx, b, testKeys(t, map[uint32]byte{1: 0x11}))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
	if rec := mustGet(t, b, KeyCheckKey); rec.Revision != 1 {
		t.Fatalf("canary written %d times", rec.Revision)
	}
}
