package persistence

import "errors"

// Errors returned by every Store. Callers check them with errors.Is: the
// returned errors usually wrap them with the key or path involved.
var (
	// ErrNotFound is returned by Get for a key that holds nothing.
	ErrNotFound = errors.New("persistence: key not found")
	// ErrRevisionMismatch is returned by a write whose expected revision is not
	// the stored one: another writer won. Nothing was written.
	ErrRevisionMismatch = errors.New("persistence: revision mismatch")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("persistence: store closed")
	// ErrInvalidKey is returned for an empty key, or one longer than MaxKeyLen,
	// and for an audit tenant that contains a NUL byte or is too long.
	ErrInvalidKey = errors.New("persistence: invalid key")
	// ErrValueTooLarge is returned by Commit for a value larger than
	// MaxValueLen, or ops whose keys and values exceed 64 MiB in all, and by
	// AppendAudit for an event larger than MaxValueLen. Nothing was written.
	ErrValueTooLarge = errors.New("persistence: value too large")
)

// Errors returned when opening a Bolt store.
var (
	// ErrLocked is returned by OpenBolt when another process (or another Bolt
	// in this process) holds the database file open.
	ErrLocked = errors.New("persistence: database file is locked by another process")
)

// Errors returned by the Keyring and the key file functions. None of them
// ever carries key material or sealed bytes.
var (
	// ErrUnknownKeyVersion is returned by Open for a value sealed under a key
	// version the keyring does not hold (a key was dropped from the key file,
	// or the value comes from another installation).
	ErrUnknownKeyVersion = errors.New("persistence: sealed with an unknown key version")
	// ErrSealedCorrupt is returned by Open for a value that is not a sealed
	// value, was altered, or was sealed for another aad (another record).
	ErrSealedCorrupt = errors.New("persistence: sealed value is corrupt or does not belong here")
	// ErrNoKeys is returned by LoadKeyring when no source holds a key.
	ErrNoKeys = errors.New("persistence: no master key configured")
	// ErrKeySyntax is returned for a key file or environment variable that is
	// not a list of "v<N>:<base64 of 32 bytes>" lines. The error names the
	// line, never its content.
	ErrKeySyntax = errors.New("persistence: malformed master key")
	// ErrInsecureKeyFile is returned for a key file that its group or other
	// users may read or write, or that is not a regular file.
	ErrInsecureKeyFile = errors.New("persistence: key file is not private")
	// ErrNoKeyFile is returned by Keyring.AddKeyVersion for a keyring that was
	// not loaded from a key file (its keys came from the environment).
	ErrNoKeyFile = errors.New("persistence: keyring has no key file")
)
