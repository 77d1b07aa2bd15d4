package persistence

import (
	"context"
	"time"
)

// MaxKeyLen bounds keys so they fit every backend (JetStream KV included).
const MaxKeyLen = 512

// MaxValueLen bounds values. State records are small (a sealed account record
// is a few hundred bytes); the bound keeps one runaway record from bloating a
// group commit, and fits JetStream's default message size.
const MaxValueLen = 1 << 20

// Record is one stored value with its revision. Revisions start at 1 and grow
// by one on every write of the key; 0 means "absent". A deleted key keeps its
// last revision: writing it again continues from there, so a writer that
// still holds a revision from before the delete can never succeed. Callers
// treat revisions as opaque, increasing tokens (JetStream KV revisions are
// stream sequences, not consecutive per key).
type Record struct {
	Key      string
	Value    []byte
	Revision uint64
}

// Op is one write of a Commit: a put when Delete is false, a delete otherwise.
// Expected is the revision the key must hold (0: it must not exist). An op with
// AnyRevision set skips the check (used only for idempotent index records).
// Deleting an absent key with Expected 0 (or AnyRevision) succeeds and writes
// nothing.
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
	// deletes). Ops apply in order: an op on a key that an earlier op of the
	// same Commit wrote expects the revision that op produced. A Commit
	// without ops writes nothing and returns no revisions.
	Commit(ctx context.Context, ops ...Op) ([]uint64, error)
	// Scan calls fn for every record whose key starts with prefix, in key
	// order, until fn returns an error (which Scan returns). Scan is not a
	// snapshot: a record written while Scan runs may or may not be seen, but
	// each record is seen whole. fn may call the Store.
	Scan(ctx context.Context, prefix string, fn func(Record) error) error
	// CommitAudited is Commit that also appends ev to the audit log, in the
	// same transaction and only when the commit succeeds.
	CommitAudited(ctx context.Context, ev AuditEvent, ops ...Op) ([]uint64, error)
	// AppendAudit durably appends an event to the audit log. A zero Time is
	// set to the store's clock; Seq is assigned by the store.
	AppendAudit(ctx context.Context, ev AuditEvent) error
	// Audit calls fn for the tenant's events with from <= Time < to, oldest
	// first, until fn returns an error (which Audit returns). A zero from or
	// to is unbounded.
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
