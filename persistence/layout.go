package persistence

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"
)

// The bbolt file layout. Every change to it bumps formatVersion; OpenBolt
// refuses a file written in a format it does not know.
//
//	meta      "format" → formatVersion
//	kv        key → revision (8 bytes, big-endian) ‖ value
//	tomb      key → last revision (8 bytes, big-endian) of a deleted key
//	audit     tenant ‖ 0x00 ‖ time (8 bytes) ‖ seq (8 bytes) → JSON AuditEvent
//	auditlog  seq (8 bytes) → audit key ‖ JSON AuditEvent
//
// The audit time is the event's Unix nanoseconds with the sign bit flipped,
// big-endian, so byte order is time order (before 1970 included); times
// outside what UnixNano can hold are clamped in the key only. The seq comes
// from the audit bucket's NextSequence, so it is unique in the file and breaks
// ties between events of the same nanosecond in append order.
//
// An event is first appended to auditlog, in seq order, so that a
// transaction's events fill the last pages of one B-tree instead of one
// insertion point per tenant in audit; the committer moves the log into
// audit (its key is the value's prefix, up to and including the 16 bytes
// after the first NUL) once it holds auditIndexBatch events, and before
// every Audit read. An event is in exactly one of the two.
//
// Format etaxd-bolt-1 had no auditlog, and is otherwise the same: OpenBolt
// upgrades such a file by creating the bucket and rewriting the marker.
var (
	bucketMeta     = []byte("meta")
	bucketKV       = []byte("kv")
	bucketTomb     = []byte("tomb")
	bucketAudit    = []byte("audit")
	bucketAuditLog = []byte("auditlog")

	keyFormat = []byte("format")
)

// formatVersion names the layout above; formatV1 the one before it.
const (
	formatVersion = "etaxd-bolt-2"
	formatV1      = "etaxd-bolt-1"
)

// auditIndexBatch is how many logged events the committer lets accumulate
// before it moves them into the audit index, in the transaction of the
// group that reaches it: 16 groups of 64 changes. A larger batch spends
// fewer pages per event on the index but makes that one transaction longer.
const auditIndexBatch = 1024

// splitLogged splits an auditlog value into its audit key and JSON, and
// reports whether it is well formed.
func splitLogged(v []byte) (key, val []byte, ok bool) {
	i := bytes.IndexByte(v, 0)
	if i < 0 || len(v) < i+1+auditSuffixLen {
		return nil, nil, false
	}
	n := i + 1 + auditSuffixLen
	return v[:n:n], v[n:], true
}

// revLen is the size of the revision prefix of a kv value and of a tomb value.
const revLen = 8

// auditSuffixLen is the size of the time and seq that follow the tenant and
// its NUL separator in an audit key.
const auditSuffixLen = 16

// checkKey returns an error wrapping ErrInvalidKey for a key Store refuses.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("%w: key %s is %d bytes long (limit %d)", ErrInvalidKey, shortKey(key), len(key), MaxKeyLen)
	}
	return nil
}

// checkTenant returns an error wrapping ErrInvalidKey for an audit tenant
// that cannot be part of an audit key. The empty tenant is valid: it holds
// events that belong to no tenant.
func checkTenant(tenant string) error {
	if len(tenant) > MaxKeyLen {
		return fmt.Errorf("%w: audit tenant %s is %d bytes long (limit %d)", ErrInvalidKey, shortKey(tenant), len(tenant), MaxKeyLen)
	}
	if strings.IndexByte(tenant, 0) >= 0 {
		return fmt.Errorf("%w: audit tenant %s contains a NUL byte", ErrInvalidKey, shortKey(tenant))
	}
	return nil
}

// shortKey quotes key for an error message, cut to a readable length.
func shortKey(key string) string {
	const max = 64
	if len(key) > max {
		return fmt.Sprintf("%q...", key[:max])
	}
	return fmt.Sprintf("%q", key)
}

// decodeRecord splits a kv value into its revision and its payload. The
// payload aliases v.
func decodeRecord(key, v []byte) (uint64, []byte, error) {
	if len(v) < revLen {
		return 0, nil, fmt.Errorf("persistence: corrupt record %s: %d bytes, shorter than its revision", shortKey(string(key)), len(v))
	}
	rev := binary.BigEndian.Uint64(v)
	if rev == 0 {
		return 0, nil, fmt.Errorf("persistence: corrupt record %s: revision 0", shortKey(string(key)))
	}
	return rev, v[revLen:], nil
}

// decodeTomb returns the last revision of a deleted key.
func decodeTomb(key, v []byte) (uint64, error) {
	if len(v) != revLen || binary.BigEndian.Uint64(v) == 0 {
		return 0, fmt.Errorf("persistence: corrupt tombstone %s", shortKey(string(key)))
	}
	return binary.BigEndian.Uint64(v), nil
}

// auditTimeKey encodes t so that byte order is time order.
func auditTimeKey(t time.Time) uint64 {
	// UnixNano is undefined outside about 1678–2262: clamp there.
	var ns int64
	switch {
	case t.Before(minAuditTime):
		ns = math.MinInt64
	case t.After(maxAuditTime):
		ns = math.MaxInt64
	default:
		ns = t.UnixNano()
	}
	return uint64(ns) ^ (1 << 63)
}

var (
	minAuditTime = time.Unix(0, math.MinInt64)
	maxAuditTime = time.Unix(0, math.MaxInt64)
)

// auditPrefix returns tenant ‖ 0x00 with room for the suffix.
func auditPrefix(tenant string) []byte {
	p := make([]byte, len(tenant)+1, len(tenant)+1+auditSuffixLen)
	copy(p, tenant)
	return p
}

// auditSeek returns the first audit key of tenant at or after t.
func auditSeek(tenant string, t time.Time) []byte {
	k := auditPrefix(tenant)
	return binary.BigEndian.AppendUint64(k, auditTimeKey(t))
}

// auditKeySeq returns the seq of an audit key of the given prefix, and
// reports whether the key is well formed.
func auditKeySeq(prefix, k []byte) (uint64, bool) {
	if len(k) != len(prefix)+auditSuffixLen || !bytes.HasPrefix(k, prefix) {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[len(k)-8:]), true
}
