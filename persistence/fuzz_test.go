package persistence

import (
	"bytes"
	"context"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to Keyring.Open: it must fail cleanly, and
// succeed only for a value that Seal made.
func FuzzOpen(f *testing.F) {
	kr, err := NewKeyring(map[uint32][]byte{1: make([]byte, KeyLen), 2: bytes.Repeat([]byte{7}, KeyLen)})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := kr.Seal([]byte("secret"), "aad")
	f.Add(good, "aad")
	f.Add(good[:10], "aad")
	f.Add([]byte{}, "")
	f.Add(append([]byte{1, 0, 0, 0, 9}, make([]byte, 40)...), "x")
	f.Fuzz(func(t *testing.T, sealed []byte, aad string) {
		plain, err := kr.Open(sealed, aad)
		// Fuzz workers are separate processes, each with its own seal of
		// the seed: any seal of "secret" under "aad" is genuine.
		if err == nil && (aad != "aad" || string(plain) != "secret") {
			t.Fatalf("Open accepted a forged value: %q", plain)
		}
		_ = kr.NeedsReseal(sealed)
	})
}

// FuzzParseKeys feeds arbitrary text to the key parser: it must fail or
// return well-formed keys, and never panic.
func FuzzParseKeys(f *testing.F) {
	f.Add("v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n# c\n", true)
	f.Add("v4294967295:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=;", true)
	f.Add("v:;;v1:", false)
	f.Fuzz(func(t *testing.T, s string, semicolons bool) {
		keys, err := parseKeys(s, semicolons, "fuzz")
		if err != nil {
			return
		}
		for v, k := range keys {
			if v == 0 || len(k) != KeyLen {
				t.Fatalf("parsed v%d of %d bytes", v, len(k))
			}
		}
	})
}

// FuzzCommit writes arbitrary keys and values: every write either fails with
// an error or reads back as written.
func FuzzCommit(f *testing.F) {
	b, _ := openTest(f, BoltOptions{})
	f.Add("account/T1/A1", []byte("v"), uint64(0), false)
	f.Add("", []byte{}, uint64(1), true)
	f.Add("k\x00\xff", []byte(nil), uint64(7), false)
	f.Fuzz(func(t *testing.T, key string, value []byte, expected uint64, del bool) {
		ctx := context.Background()
		revs, err := b.Commit(ctx, Op{Key: key, Value: value, Expected: expected, Delete: del})
		if err != nil || del {
			return
		}
		rec, err := b.Get(ctx, key)
		if err != nil || !bytes.Equal(rec.Value, value) || rec.Revision != revs[0] {
			t.Fatalf("Get(%q) = %+v, %v after a put of revision %d", key, rec, err, revs[0])
		}
	})
}
