package persistence

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every Store.
var (
	// ErrNotFound is returned by Get for a key that holds nothing.
	ErrNotFound = errors.New("persistence: key not found")
	// ErrRevisionMismatch is returned by a write whose expected revision is not
	// the stored one: another writer won. Nothing was written.
	ErrRevisionMismatch = errors.New("persistence: revision mismatch")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("persistence: store closed")
	// ErrInvalidKey is returned for an empty key, or one longer than MaxKeyLen.
	ErrInvalidKey = errors.New("persistence: invalid key")
)

// MaxKeyLen bounds keys so they fit every backend (JetStream KV included).
const MaxKeyLen = 512

// Record is one stored value with its revision. Revisions start at 1 and grow
// by one on every write of the key; 0 means "absent".
type Record struct {
	Key      string
	Value    []byte
	Revision uint64
}

// Op is one write of a Commit: a put when Delete is false, a delete otherwise.
// Expected is the revision the key must hold (0: it must not exist). A put with
// AnyRevision set skips the check (used only for idempotent index records).
type Op struct {
	Key         string
	Value       []byte
	Expected    uint64
	Delete      bool
	AnyRevision bool
}

// Store is etaxd's durable state: a key-value map with compare-and-set writes,
// plus an append-only audit log. A write returns only after it is durable
// (fsynced); callers acknowledge a state change only after its write returned.
//
// Implementations are safe for concurrent use. Keys are "/"-separated paths
// (tenant/T1, account/T1/A1); values are opaque bytes (the caller seals secrets
// before they get here).
type Store interface {
	// Get returns the record at key, or ErrNotFound.
	Get(ctx context.Context, key string) (Record, error)
	// Commit applies ops atomically: all of them or none. Each op's revision is
	// checked first; on any mismatch nothing is written and the error wraps
	// ErrRevisionMismatch. It returns the new revision of each op's key (0 for
	// deletes).
	Commit(ctx context.Context, ops ...Op) ([]uint64, error)
	// Scan calls fn for every record whose key starts with prefix, in key
	// order, until fn returns an error (which Scan returns).
	Scan(ctx context.Context, prefix string, fn func(Record) error) error
	// AppendAudit durably appends an event to the audit log.
	AppendAudit(ctx context.Context, ev AuditEvent) error
	// Audit calls fn for the tenant's events with from <= Time < to, oldest
	// first. A zero from or to is unbounded.
	Audit(ctx context.Context, tenant string, from, to time.Time, fn func(AuditEvent) error) error
	// Close flushes pending writes and releases the store.
	Close() error
}

// AuditEvent is one line of the audit log (B7): who did what to which target,
// and how it ended. It never carries a secret: callers put identifiers and
// outcomes here, never passwords, codes or tokens.
type AuditEvent struct {
	Seq     uint64    `json:"seq"` // assigned by the store
	Time    time.Time `json:"time"`
	Tenant  string    `json:"tenant"`
	Actor   string    `json:"actor"`   // "wx:<openid>", "key:<id>", "system", "cli"
	Action  string    `json:"action"`  // "account.add", "account.bind", ...
	Target  string    `json:"target"`  // "account/<id>", "enterprise/<tax_no>", ...
	Outcome string    `json:"outcome"` // "ok" or an error code
	Detail  string    `json:"detail,omitempty"`
}

// Put is a convenience for a single compare-and-set put.
func Put(ctx context.Context, s Store, key string, value []byte, expected uint64) (uint64, error) {
	revs, err := s.Commit(ctx, Op{Key: key, Value: value, Expected: expected})
	if err != nil {
		return 0, err
	}
	return revs[0], nil
}
