package persistence

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// newKey returns a fresh random master key.
func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KeyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// keyLine formats a key file line.
func keyLine(v uint32, key []byte) string {
	return fmt.Sprintf("v%d:%s\n", v, base64.StdEncoding.EncodeToString(key))
}

// writeKeyFile writes a key file with the given mode.
func writeKeyFile(t testing.TB, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // beyond the umask
		t.Fatal(err)
	}
	return path
}

// captureLog returns a logger writing JSON into the returned buffer.
func captureLog() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func TestSealOpen(t *testing.T) {
	k1 := newKey(t)
	kr, err := NewKeyring(map[uint32][]byte{1: k1})
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("password: 123456")
	sealed, err := kr.Seal(secret, "account/T1/A1")
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != len(secret)+SealOverhead {
		t.Errorf("sealed is %d bytes, want %d", len(sealed), len(secret)+SealOverhead)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed value holds the plaintext")
	}
	again, _ := kr.Seal(secret, "account/T1/A1")
	if bytes.Equal(sealed, again) {
		t.Fatal("two seals of one plaintext are equal: nonce reuse")
	}

	tamper := func(i int) []byte {
		c := bytes.Clone(sealed)
		c[i] ^= 1
		return c
	}
	tests := []struct {
		name   string
		sealed []byte
		aad    string
		want   error
	}{
		{"roundtrip", sealed, "account/T1/A1", nil},
		{"empty plaintext", must(kr.Seal(nil, "x")), "x", nil},
		{"wrong aad", sealed, "account/T1/A2", ErrSealedCorrupt},
		{"empty aad", sealed, "", ErrSealedCorrupt},
		{"tampered ciphertext", tamper(len(sealed) - 20), "account/T1/A1", ErrSealedCorrupt},
		{"tampered tag", tamper(len(sealed) - 1), "account/T1/A1", ErrSealedCorrupt},
		{"tampered nonce", tamper(sealHeaderLen), "account/T1/A1", ErrSealedCorrupt},
		{"tampered format", tamper(0), "account/T1/A1", ErrSealedCorrupt},
		{"version changed to unknown", tamper(4), "account/T1/A1", ErrUnknownKeyVersion},
		{"truncated", sealed[:len(sealed)-1], "account/T1/A1", ErrSealedCorrupt},
		{"too short", sealed[:SealOverhead-1], "account/T1/A1", ErrSealedCorrupt},
		{"nil", nil, "account/T1/A1", ErrSealedCorrupt},
		{"plaintext given to Open", secret, "account/T1/A1", ErrSealedCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, err := kr.Open(tt.sealed, tt.aad)
			if tt.want != nil {
				if !errors.Is(err, tt.want) || plain != nil {
					t.Fatalf("Open = %q, %v; want %v", plain, err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.name == "roundtrip" && !bytes.Equal(plain, secret) {
				t.Fatalf("Open = %q", plain)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestKeyVersions(t *testing.T) {
	path := writeKeyFile(t, keyLine(1, newKey(t)), 0o600)
	log, buf := captureLog()
	kr, err := LoadKeyring(KeyringOptions{File: path, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	old, _ := kr.Seal([]byte("s1"), "a")
	if kr.CurrentVersion() != 1 || kr.NeedsReseal(old) {
		t.Fatalf("v1 keyring: current %d, NeedsReseal %v", kr.CurrentVersion(), kr.NeedsReseal(old))
	}

	v, err := kr.AddKeyVersion()
	if err != nil || v != 2 {
		t.Fatalf("AddKeyVersion = %d, %v", v, err)
	}
	if kr.CurrentVersion() != 2 {
		t.Fatalf("current %d after adding v2", kr.CurrentVersion())
	}
	if got, err := kr.Open(old, "a"); err != nil || string(got) != "s1" {
		t.Fatalf("v1 value after adding v2: %q, %v", got, err)
	}
	if !kr.NeedsReseal(old) {
		t.Fatal("a v1 value does not need resealing under v2")
	}
	fresh, _ := kr.Seal([]byte("s2"), "a")
	if v, _ := sealedVersion(fresh); v != 2 || kr.NeedsReseal(fresh) {
		t.Fatalf("new seal uses v%d", v)
	}
	resealed, err := kr.Reseal(old, "a")
	if err != nil || kr.NeedsReseal(resealed) {
		t.Fatalf("Reseal: %v", err)
	}
	if kr.NeedsReseal([]byte("junk")) {
		t.Fatal("a malformed value needs resealing")
	}

	// The file now holds both versions: a fresh load opens both values.
	kr2, err := LoadKeyring(KeyringOptions{File: path, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(kr2.Versions()) != "[1 2]" {
		t.Fatalf("versions after reload: %v", kr2.Versions())
	}
	for _, s := range [][]byte{old, fresh, resealed} {
		if _, err := kr2.Open(s, "a"); err != nil {
			t.Fatal(err)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode after rotation: %v", fi.Mode())
	}

	// A keyring without v1 (dropped from the file) cannot open v1 values.
	only2, _ := NewKeyring(map[uint32][]byte{2: newKey(t)})
	if _, err := only2.Open(old, "a"); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("Open of a v1 value without v1 = %v", err)
	}

	// AppendKeyVersion, for the CLI.
	if v, err := AppendKeyVersion(path); err != nil || v != 3 {
		t.Fatalf("AppendKeyVersion = %d, %v", v, err)
	}
	assertNoKeyMaterial(t, buf, path)
}

func TestDevKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets", "master.keys")
	log, buf := captureLog()
	kr, err := LoadKeyring(KeyringOptions{File: path, CreateIfMissing: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", fi, err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Fatalf("key dir mode %v", di.Mode())
	}
	if !strings.Contains(buf.String(), `"level":"WARN"`) || !strings.Contains(buf.String(), path) {
		t.Fatalf("no warning naming the created file: %s", buf)
	}
	sealed, _ := kr.Seal([]byte("x"), "k")

	// A second load reuses the file, without a warning.
	buf.Reset()
	kr2, err := LoadKeyring(KeyringOptions{File: path, CreateIfMissing: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr2.Open(sealed, "k"); err != nil {
		t.Fatalf("the second load made a new key: %v", err)
	}
	if strings.Contains(buf.String(), "WARN") {
		t.Fatalf("warned again: %s", buf)
	}
	assertNoKeyMaterial(t, buf, path)
}

func TestLoadKeyringSources(t *testing.T) {
	k1, k2, k3 := newKey(t), newKey(t), newKey(t)
	file := writeKeyFile(t, "# comment\n\n"+keyLine(1, k1)+"  "+strings.TrimSpace(keyLine(2, k2))+"  \r\n", 0o600)
	tests := []struct {
		name         string
		opts         KeyringOptions
		env          string
		wantVersions string
		wantErr      error
	}{
		{name: "file", opts: KeyringOptions{File: file}, wantVersions: "[1 2]"},
		{name: "env with semicolons", opts: KeyringOptions{Env: "ETAXD_TEST_KEYS"},
			env: strings.TrimSpace(keyLine(1, k1)) + ";" + strings.TrimSpace(keyLine(3, k3)), wantVersions: "[1 3]"},
		{name: "env with newlines", opts: KeyringOptions{Env: "ETAXD_TEST_KEYS"},
			env: keyLine(1, k1) + keyLine(3, k3), wantVersions: "[1 3]"},
		{name: "env and file merge", opts: KeyringOptions{Env: "ETAXD_TEST_KEYS", File: file},
			env: keyLine(1, k1) + keyLine(3, k3), wantVersions: "[1 2 3]"},
		{name: "env and file disagree", opts: KeyringOptions{Env: "ETAXD_TEST_KEYS", File: file},
			env: keyLine(2, k3), wantErr: ErrKeySyntax},
		{name: "env keys, missing file, create: nothing created", opts: KeyringOptions{Env: "ETAXD_TEST_KEYS",
			File: filepath.Join(t.TempDir(), "none"), CreateIfMissing: true}, env: keyLine(4, k1), wantVersions: "[4]"},
		{name: "missing file", opts: KeyringOptions{File: filepath.Join(t.TempDir(), "none")}, wantErr: os.ErrNotExist},
		{name: "nothing configured", opts: KeyringOptions{}, wantErr: ErrNoKeys},
		{name: "empty env", opts: KeyringOptions{Env: "ETAXD_TEST_KEYS"}, env: " ", wantErr: ErrNoKeys},
		{name: "empty file", opts: KeyringOptions{File: writeKeyFile(t, "# nothing\n", 0o600)}, wantErr: ErrNoKeys},
		{name: "world-readable file", opts: KeyringOptions{File: writeKeyFile(t, keyLine(1, k1), 0o644)}, wantErr: ErrInsecureKeyFile},
		{name: "group-readable file", opts: KeyringOptions{File: writeKeyFile(t, keyLine(1, k1), 0o640)}, wantErr: ErrInsecureKeyFile},
		{name: "world-writable file", opts: KeyringOptions{File: writeKeyFile(t, keyLine(1, k1), 0o602)}, wantErr: ErrInsecureKeyFile},
		{name: "a directory", opts: KeyringOptions{File: t.TempDir()}, wantErr: ErrInsecureKeyFile},
	}
	for _, bad := range []string{
		"1:" + base64.StdEncoding.EncodeToString(k1),
		"v0:" + base64.StdEncoding.EncodeToString(k1),
		"vx:" + base64.StdEncoding.EncodeToString(k1),
		"v99999999999:" + base64.StdEncoding.EncodeToString(k1),
		"v1:" + base64.StdEncoding.EncodeToString(k1[:16]),
		"v1:not base64!" + base64.StdEncoding.EncodeToString(k1),
		"v1 " + base64.StdEncoding.EncodeToString(k1),
		keyLine(1, k1) + keyLine(1, k2),
	} {
		tests = append(tests, struct {
			name         string
			opts         KeyringOptions
			env          string
			wantVersions string
			wantErr      error
		}{name: "malformed " + bad[:min(len(bad), 6)], opts: KeyringOptions{File: writeKeyFile(t, bad, 0o600)}, wantErr: ErrKeySyntax})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ETAXD_TEST_KEYS", tt.env)
			log, buf := captureLog()
			tt.opts.Logger = log
			kr, err := LoadKeyring(tt.opts)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("LoadKeyring = %v, want %v", err, tt.wantErr)
				}
				// The error never quotes a key.
				for _, k := range [][]byte{k1, k2, k3} {
					if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(k)[:12]) {
						t.Fatalf("error quotes a key: %v", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(kr.Versions()); got != tt.wantVersions {
				t.Fatalf("versions %s, want %s", got, tt.wantVersions)
			}
			assertKeysAbsent(t, buf.String(), k1, k2, k3)
		})
	}
}

func TestAddKeyVersionNeedsAFile(t *testing.T) {
	kr, _ := NewKeyring(map[uint32][]byte{1: newKey(t)})
	if _, err := kr.AddKeyVersion(); !errors.Is(err, ErrNoKeyFile) {
		t.Fatalf("AddKeyVersion = %v", err)
	}
	if _, err := AppendKeyVersion(writeKeyFile(t, keyLine(1, newKey(t)), 0o644)); !errors.Is(err, ErrInsecureKeyFile) {
		t.Fatalf("AppendKeyVersion on a readable file = %v", err)
	}
}

func TestAddKeyVersionAboveEnvVersions(t *testing.T) {
	file := writeKeyFile(t, keyLine(1, newKey(t)), 0o600)
	t.Setenv("ETAXD_TEST_KEYS", keyLine(5, newKey(t)))
	log, _ := captureLog()
	kr, err := LoadKeyring(KeyringOptions{File: file, Env: "ETAXD_TEST_KEYS", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := kr.AddKeyVersion(); err != nil || v != 6 {
		t.Fatalf("AddKeyVersion = %d, %v; want 6", v, err)
	}
}

func TestNewKeyringRejects(t *testing.T) {
	for name, keys := range map[string]map[uint32][]byte{
		"none":      nil,
		"version 0": {0: newKey(t)},
		"short key": {1: make([]byte, 16)},
	} {
		if _, err := NewKeyring(keys); err == nil {
			t.Errorf("%s: NewKeyring succeeded", name)
		}
	}
}

// TestKeysNeverPrinted formats a keyring every way a careless log line might.
func TestKeysNeverPrinted(t *testing.T) {
	key := newKey(t)
	kr, _ := NewKeyring(map[uint32][]byte{7: key})
	log, buf := captureLog()
	log.Info("keyring", "k", kr)
	log.Info("keyring", slog.Any("k", kr))
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s", kr, kr, kr, kr)
	if !strings.Contains(out, "current") {
		t.Fatalf("keyring not described: %s", out)
	}
	assertKeysAbsent(t, out, key)
	// The AES key schedule starts with the key itself: look for raw bytes.
	if strings.Contains(out, string(key[:8])) {
		t.Fatal("raw key bytes in output")
	}
}

// assertNoKeyMaterial fails if the log in buf holds any key of the key file
// at path.
func assertNoKeyMaterial(t *testing.T, buf *bytes.Buffer, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := parseKeys(string(data), false, path)
	if err != nil || len(keys) == 0 {
		t.Fatalf("key file: %v", err)
	}
	var all [][]byte
	for _, k := range keys {
		all = append(all, k)
	}
	if buf.Len() == 0 {
		t.Fatal("nothing was logged: the check would be vacuous")
	}
	assertKeysAbsent(t, buf.String(), all...)
}

// assertKeysAbsent fails if out holds any key, encoded any usual way.
func assertKeysAbsent(t *testing.T, out string, keys ...[]byte) {
	t.Helper()
	for _, k := range keys {
		for _, enc := range []string{
			base64.StdEncoding.EncodeToString(k),
			base64.RawStdEncoding.EncodeToString(k)[:20],
			base64.URLEncoding.EncodeToString(k)[:20],
			fmt.Sprintf("%x", k)[:20],
			fmt.Sprint(k[:6])[1:],
		} {
			if strings.Contains(out, enc) {
				t.Fatalf("key material %q found in output:\n%s", enc, out)
			}
		}
	}
}
