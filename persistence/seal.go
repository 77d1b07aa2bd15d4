package persistence

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The sealed format, version 1:
//
//	byte 0       sealFormat (AES-256-GCM, 12-byte random nonce)
//	bytes 1–4    key version, big-endian
//	bytes 5–16   nonce
//	bytes 17–    ciphertext ‖ 16-byte GCM tag
//
// The additional data is bytes 0–4 followed by the caller's aad, so neither
// the header nor the record the value belongs to can be changed.
const (
	sealFormat    byte = 1
	sealHeaderLen      = 5
	sealNonceLen       = 12
	sealTagLen         = 16
	// SealOverhead is how many bytes Seal adds to a plaintext.
	SealOverhead = sealHeaderLen + sealNonceLen + sealTagLen
	// KeyLen is the length of a master key: AES-256.
	KeyLen = 32
)

// Keyring holds the versioned AES-256-GCM master keys that seal secrets
// (passwords, session tokens) before they reach the store. It seals with the
// highest version and opens with whichever version a value names, so a new
// version can be added while values sealed under older ones stay readable;
// they are resealed as they are next written (see NeedsReseal).
//
// Create it with LoadKeyring or NewKeyring; the zero value is not usable. It
// is safe for concurrent use. It never exposes, prints or logs its keys.
type Keyring struct {
	mu      sync.RWMutex
	aeads   map[uint32]cipher.AEAD
	derive  map[uint32][]byte // per version: the HKDF pseudorandom key of Derive
	current uint32
	file    string // key file that AddKeyVersion extends; "" if none
	logger  *slog.Logger
}

// KeyringOptions says where LoadKeyring finds the master keys.
type KeyringOptions struct {
	// File is the key file: lines "v<N>:<base64 of 32 bytes>", blank lines
	// and lines starting with "#" ignored. It must be a regular file that
	// neither its group nor other users can read or write (mode 0600 or
	// stricter), or it is refused.
	File string
	// Env is the name of an environment variable holding keys in the same
	// form, separated by ";" or newlines. Its keys are merged with the
	// file's; a version defined in both must hold the same key.
	Env string
	// CreateIfMissing creates File (mode 0600, its directory 0700) with one
	// fresh key v1 when it does not exist and Env holds no key. It is for
	// development: the key is generated on this machine, and losing the file
	// loses every sealed secret.
	CreateIfMissing bool
	// Logger receives the notices of LoadKeyring and AddKeyVersion (never a
	// key). Nil means slog.Default().
	Logger *slog.Logger
}

// NewKeyring returns a keyring of the given keys (version → 32-byte key),
// not backed by a file. Versions start at 1. The keys are copied.
func NewKeyring(keys map[uint32][]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, ErrNoKeys
	}
	k := &Keyring{aeads: make(map[uint32]cipher.AEAD, len(keys)), logger: slog.Default()}
	for v, key := range keys {
		if v == 0 {
			return nil, fmt.Errorf("%w: key version 0 (versions start at 1)", ErrKeySyntax)
		}
		if err := k.add(v, key); err != nil {
			return nil, err
		}
	}
	return k, nil
}

// add installs key as version v, which becomes current if it is the
// highest. The caller holds k.mu or owns k.
func (k *Keyring) add(v uint32, key []byte) error {
	if len(key) != KeyLen {
		return fmt.Errorf("%w: key v%d is %d bytes, want %d", ErrKeySyntax, v, len(key), KeyLen)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return fmt.Errorf("key v%d: %w", v, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return fmt.Errorf("key v%d: %w", v, err)
	}
	k.aeads[v] = aead
	if k.derive == nil {
		k.derive = map[uint32][]byte{}
	}
	if k.derive[v], err = hkdf.Extract(sha256.New, key, []byte(deriveSalt)); err != nil {
		return fmt.Errorf("key v%d: %w", v, err)
	}
	if v > k.current {
		k.current = v
	}
	return nil
}

// CurrentVersion returns the version Seal uses: the highest.
func (k *Keyring) CurrentVersion() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// Versions returns every key version held, in increasing order.
func (k *Keyring) Versions() []uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return slices.Sorted(maps.Keys(k.aeads))
}

// Seal encrypts plaintext under the current key version. aad names what the
// value belongs to (for instance the record key "account/T1/A1"): Open must
// be given the same aad, so a sealed value copied to another record does not
// open.
func (k *Keyring) Seal(plaintext []byte, aad string) ([]byte, error) {
	k.mu.RLock()
	v, aead := k.current, k.aeads[k.current]
	k.mu.RUnlock()
	if aead == nil {
		return nil, ErrNoKeys
	}
	out := make([]byte, sealHeaderLen+sealNonceLen, SealOverhead+len(plaintext))
	out[0] = sealFormat
	binary.BigEndian.PutUint32(out[1:sealHeaderLen], v)
	nonce := out[sealHeaderLen:]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("persistence: seal: %w", err)
	}
	return aead.Seal(out, nonce, plaintext, sealAAD(out[:sealHeaderLen], aad)), nil
}

// Open decrypts a value made by Seal with the same aad. It returns an error
// wrapping ErrUnknownKeyVersion when the keyring lacks the value's key
// version, and ErrSealedCorrupt when the value is malformed, altered, or
// belongs to another aad.
func (k *Keyring) Open(sealed []byte, aad string) ([]byte, error) {
	v, ok := sealedVersion(sealed)
	if !ok {
		return nil, fmt.Errorf("%w: not a sealed value", ErrSealedCorrupt)
	}
	k.mu.RLock()
	aead := k.aeads[v]
	k.mu.RUnlock()
	if aead == nil {
		return nil, fmt.Errorf("%w: v%d", ErrUnknownKeyVersion, v)
	}
	nonce := sealed[sealHeaderLen : sealHeaderLen+sealNonceLen]
	body := sealed[sealHeaderLen+sealNonceLen:]
	plain, err := aead.Open(nil, nonce, body, sealAAD(sealed[:sealHeaderLen], aad))
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed (key v%d)", ErrSealedCorrupt, v)
	}
	return plain, nil
}

// NeedsReseal reports whether sealed names a key version other than the
// current one, so that the caller should write it again sealed under the
// current key (Reseal). It does not authenticate sealed: a malformed value
// reports false, and Open reports the problem.
func (k *Keyring) NeedsReseal(sealed []byte) bool {
	v, ok := sealedVersion(sealed)
	return ok && v != k.CurrentVersion()
}

// Reseal opens sealed and seals its plaintext again under the current key.
func (k *Keyring) Reseal(sealed []byte, aad string) ([]byte, error) {
	plain, err := k.Open(sealed, aad)
	if err != nil {
		return nil, err
	}
	defer clear(plain)
	return k.Seal(plain, aad)
}

// String describes the keyring without its keys.
func (k *Keyring) String() string {
	return fmt.Sprintf("Keyring{versions: %v, current: v%d}", k.Versions(), k.CurrentVersion())
}

// GoString describes the keyring without its keys, for %#v.
func (k *Keyring) GoString() string { return k.String() }

// LogValue describes the keyring to slog without its keys.
func (k *Keyring) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("versions", k.Versions()),
		slog.Uint64("current", uint64(k.CurrentVersion())),
	)
}

// sealedVersion returns the key version of a sealed value, and reports
// whether the value is long enough and of a known format.
func sealedVersion(sealed []byte) (uint32, bool) {
	if len(sealed) < SealOverhead || sealed[0] != sealFormat {
		return 0, false
	}
	return binary.BigEndian.Uint32(sealed[1:sealHeaderLen]), true
}

// sealAAD is the additional data of a sealed value: its header, then aad.
func sealAAD(header []byte, aad string) []byte {
	b := make([]byte, 0, len(header)+len(aad))
	return append(append(b, header...), aad...)
}

// LoadKeyring loads the master keys from the environment variable and the
// key file of opts, creating a development key file if asked to. It fails
// with ErrNoKeys when no source holds a key, ErrKeySyntax on a malformed key,
// and ErrInsecureKeyFile when the file is readable by others.
func LoadKeyring(opts KeyringOptions) (*Keyring, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	keys := map[uint32][]byte{}
	defer func() {
		for _, key := range keys {
			clear(key)
		}
	}()
	var sources []string

	if opts.Env != "" {
		if s := os.Getenv(opts.Env); strings.TrimSpace(s) != "" {
			envKeys, err := parseKeys(s, true, "environment variable "+opts.Env)
			if err != nil {
				return nil, err
			}
			maps.Copy(keys, envKeys)
			sources = append(sources, "env:"+opts.Env)
		}
	}

	file := ""
	if opts.File != "" {
		fileKeys, err := readKeyFile(opts.File)
		switch {
		case errors.Is(err, fs.ErrNotExist) && opts.CreateIfMissing && len(keys) == 0:
			fileKeys, err = createKeyFile(opts.File)
			if errors.Is(err, fs.ErrExist) { // created meanwhile by another process
				fileKeys, err = readKeyFile(opts.File)
			} else if err == nil {
				log.Warn("persistence: created a development master key file; back it up (losing it loses every sealed secret) and replace it with a managed key in production",
					slog.String("path", opts.File), slog.Int("version", 1))
			}
		case errors.Is(err, fs.ErrNotExist) && opts.CreateIfMissing:
			err = nil // the environment holds the keys; nothing to create
		}
		if err != nil {
			return nil, err
		}
		for v, key := range fileKeys {
			if prev, ok := keys[v]; ok && subtle.ConstantTimeCompare(prev, key) != 1 {
				return nil, fmt.Errorf("%w: key v%d differs between %s and %s", ErrKeySyntax, v, opts.File, "environment variable "+opts.Env)
			}
			keys[v] = key
		}
		if fileKeys != nil {
			file = opts.File
			sources = append(sources, "file:"+opts.File)
		}
	}

	if len(keys) == 0 {
		return nil, fmt.Errorf("%w (key file %q, environment variable %q)", ErrNoKeys, opts.File, opts.Env)
	}
	k, err := NewKeyring(keys)
	if err != nil {
		return nil, err
	}
	k.file, k.logger = file, log
	log.Info("persistence: master keys loaded",
		slog.Any("versions", k.Versions()), slog.Uint64("current", uint64(k.current)), slog.Any("sources", sources))
	return k, nil
}

// AddKeyVersion generates a fresh key, appends it to the keyring's key file
// as the next version and makes it current: new seals use it, older values
// still open. It returns the new version, or ErrNoKeyFile for a keyring not
// loaded from a file. Other processes using the file see the key when they
// next load it.
func (k *Keyring) AddKeyVersion() (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.file == "" {
		return 0, ErrNoKeyFile
	}
	v, key, err := appendKeyVersion(k.file, k.current+1)
	if err != nil {
		return 0, err
	}
	defer clear(key)
	if err := k.add(v, key); err != nil {
		return 0, err
	}
	k.logger.Info("persistence: master key version added", slog.String("path", k.file), slog.Uint64("version", uint64(v)))
	return v, nil
}

// AppendKeyVersion generates a fresh key and appends it to the key file at
// path as the next version, which it returns; a running process picks it up
// when it next loads its keys. It is what "etaxd keys rotate" does. The file
// is replaced atomically (a crash leaves the old or the new file); two
// concurrent rotations of one file may lose one of the two keys.
func AppendKeyVersion(path string) (uint32, error) {
	v, key, err := appendKeyVersion(path, 1)
	clear(key)
	return v, err
}

// appendKeyVersion adds a fresh key to the file at path, numbered after the
// file's highest version and at least minVersion.
func appendKeyVersion(path string, minVersion uint32) (uint32, []byte, error) {
	data, err := readPrivateFile(path)
	if err != nil {
		return 0, nil, err
	}
	keys, err := parseKeys(string(data), false, "key file "+path)
	clearKeys(keys)
	if err != nil {
		return 0, nil, err
	}
	v := minVersion
	for have := range keys {
		if have >= v {
			v = have + 1
		}
	}
	if v == 0 { // wrapped past the highest version
		return 0, nil, fmt.Errorf("%w: key file %s: no version left", ErrKeySyntax, path)
	}
	key := make([]byte, KeyLen)
	if _, err := rand.Read(key); err != nil {
		return 0, nil, err
	}
	var b strings.Builder
	b.Write(data)
	if len(data) > 0 && data[len(data)-1] != '\n' {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "v%d:%s\n", v, base64.StdEncoding.EncodeToString(key))
	clear(data)
	if err := writeFileAtomic(path, []byte(b.String())); err != nil {
		clear(key)
		return 0, nil, err
	}
	return v, key, nil
}

// readKeyFile reads and parses the key file at path.
func readKeyFile(path string) (map[uint32][]byte, error) {
	data, err := readPrivateFile(path)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	return parseKeys(string(data), false, "key file "+path)
}

// readPrivateFile reads the file at path after checking that it is a
// regular file only its owner can read or write. The check is on the open
// file, so the file checked is the file read.
func readPrivateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("persistence: key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("persistence: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInsecureKeyFile, path)
	}
	// Windows has no such mode bits; its ACLs are the operator's to set.
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, group or others may access it (chmod 600 %s)",
			ErrInsecureKeyFile, path, perm, path)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		clear(data)
		return nil, fmt.Errorf("persistence: key file: %w", err)
	}
	return data, nil
}

// parseKeys parses "v<N>:<base64>" entries, one per line (or separated by
// ";" too when semicolons is set). Errors name the entry, never its text.
func parseKeys(s string, semicolons bool, source string) (map[uint32][]byte, error) {
	what := "line"
	if semicolons {
		s = strings.ReplaceAll(s, ";", "\n")
		what = "entry"
	}
	keys := map[uint32][]byte{}
	fail := func(n int, format string, args ...any) (map[uint32][]byte, error) {
		clearKeys(keys)
		return nil, fmt.Errorf("%w: %s, %s %d: %s", ErrKeySyntax, source, what, n, fmt.Sprintf(format, args...))
	}
	n := 0
	for line := range strings.SplitSeq(s, "\n") {
		n++
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		ver, b64, ok := strings.Cut(line, ":")
		if !ok || len(ver) < 2 || ver[0] != 'v' {
			return fail(n, "want v<N>:<base64 key>")
		}
		v64, err := strconv.ParseUint(ver[1:], 10, 32)
		if err != nil || v64 == 0 {
			return fail(n, "the version must be a number from 1")
		}
		v := uint32(v64)
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil || len(key) != KeyLen {
			clear(key)
			return fail(n, "key v%d must be the base64 of %d bytes", v, KeyLen)
		}
		if _, dup := keys[v]; dup {
			clear(key)
			return fail(n, "version v%d is defined twice", v)
		}
		keys[v] = key
	}
	return keys, nil
}

// clearKeys overwrites the key bytes of keys.
func clearKeys(keys map[uint32][]byte) {
	for _, k := range keys {
		clear(k)
	}
}

// keyFileHeader starts a key file created by etaxd.
const keyFileHeader = `# etaxd master keys: one "v<N>:<base64 of 32 bytes>" per line.
# The highest version seals new secrets; keep every older version until no
# value sealed under it remains. Back this file up: without it, sealed
# secrets cannot be opened. Keep it mode 0600.
`

// createKeyFile creates a key file holding one fresh key v1. It fails with
// an error wrapping fs.ErrExist if the file exists.
func createKeyFile(path string) (map[uint32][]byte, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("persistence: key file: %w", err)
	}
	key := make([]byte, KeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	content := []byte(keyFileHeader + "v1:" + base64.StdEncoding.EncodeToString(key) + "\n")
	defer clear(content)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		clear(key)
		return nil, fmt.Errorf("persistence: key file: %w", err)
	}
	_, err = f.Write(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		clear(key)
		_ = os.Remove(path)
		return nil, fmt.Errorf("persistence: key file %s: %w", path, err)
	}
	return map[uint32][]byte{1: key}, nil
}

// writeFileAtomic replaces the file at path with data (mode 0600): a temp
// file in the same directory, fsynced, renamed over path, directory fsynced.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("persistence: key file: %w", err)
	}
	name := tmp.Name()
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("persistence: key file %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory so that a file created or renamed in it
// survives a crash. Windows cannot sync a directory; it is skipped there.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
