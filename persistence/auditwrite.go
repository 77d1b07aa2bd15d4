package persistence

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"
)

// The audit side of the group commit: an audit event travels in the same
// request (hence transaction) as the records it explains, appended to the
// audit log (one Put at the end of a B-tree); Audit has the committer move
// the log into the time-ordered index before it reads (layout.go).

// AppendAudit durably appends ev to the audit log; see Store.AppendAudit.
// The context works as for Commit. It returns an error wrapping
// ErrInvalidKey for a tenant longer than MaxKeyLen or holding a NUL byte.
func (b *Bolt) AppendAudit(ctx context.Context, ev AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if b.closed.Load() {
		return ErrClosed
	}
	r := &request{done: make(chan struct{})}
	if _, err := b.prepareAudit(r, &ev, make([]byte, 0, auditRoom(&ev))); err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	if err := b.submit(ctx, r); err != nil {
		return err
	}
	return r.err
}

// CommitAudited is Commit plus ev appended to the audit log in the same
// transaction, only when the commit succeeds: a state change and its audit
// record share one fsync and are durable together.
func (b *Bolt) CommitAudited(ctx context.Context, ev AuditEvent, ops ...Op) ([]uint64, error) {
	return b.commit(ctx, &ev, ops)
}

// prepareAudit appends ev's audit key and JSON to buf, points r's
// auditKey and auditVal at them, and returns buf. ev is not changed.
func (b *Bolt) prepareAudit(r *request, ev *AuditEvent, buf []byte) ([]byte, error) {
	if err := checkTenant(ev.Tenant); err != nil {
		return buf, err
	}
	e := *ev
	if e.Time.IsZero() {
		e.Time = b.now()
	}
	e.Seq = 0 // the key holds it
	start := len(buf)
	buf = append(buf, make([]byte, 8)...) // seq, set by the committer
	buf = append(buf, e.Tenant...)
	buf = append(buf, 0)
	buf = binary.BigEndian.AppendUint64(buf, auditTimeKey(e.Time))
	buf = append(buf, make([]byte, 8)...) // seq again, the key's last bytes
	jsonStart := len(buf)
	buf, err := appendAuditEvent(buf, &e)
	if err != nil {
		return buf, err
	}
	if n := len(buf) - jsonStart; n > MaxValueLen {
		return buf, fmt.Errorf("%w: event of %d bytes (limit %d)", ErrValueTooLarge, n, MaxValueLen)
	}
	r.auditSeq = buf[start : start+8 : start+8]
	r.auditLogged = buf[start+8 : len(buf) : len(buf)]
	return buf, nil
}

// indexAudit has the committer move the audit log into the index, so that
// a read of the index sees every event appended before it.
func (b *Bolt) indexAudit(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{done: make(chan struct{}), indexAudit: true}
	if err := b.submit(ctx, r); err != nil {
		return err
	}
	return r.err
}

// auditRoom is about the size of ev's audit key and JSON: the JSON's names
// and time, and its strings unescaped.
func auditRoom(ev *AuditEvent) int {
	return 8 + 2*len(ev.Tenant) + 1 + auditSuffixLen + 128 +
		len(ev.Actor) + len(ev.Action) + len(ev.Target) + len(ev.Outcome) + len(ev.Detail)
}

// applyAudit appends r's audit event to the audit log, numbering it from
// the audit bucket's sequence.
func applyAudit(audit, auditLog *bbolt.Bucket, r *request) (int, error) {
	seq, err := audit.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("audit sequence: %w", err)
	}
	binary.BigEndian.PutUint64(r.auditSeq, seq)
	i := bytes.IndexByte(r.auditLogged, 0) + 1 + auditSuffixLen
	binary.BigEndian.PutUint64(r.auditLogged[i-8:i], seq)
	if err := auditLog.Put(r.auditSeq, r.auditLogged); err != nil {
		return 0, fmt.Errorf("audit append: %w", err)
	}
	return 1, nil
}

// indexAuditLog moves every event of the audit log into the audit index,
// and empties the log.
func indexAuditLog(tx *bbolt.Tx) error {
	audit, auditLog := tx.Bucket(bucketAudit), tx.Bucket(bucketAuditLog)
	// The values stay valid until the transaction ends (bbolt copies them
	// out of the file's map before it remaps), the log's deletion included.
	err := auditLog.ForEach(func(k, v []byte) error {
		key, val, ok := splitLogged(v)
		if !ok {
			return fmt.Errorf("corrupt audit log entry %x", k)
		}
		return audit.Put(key, val)
	})
	if err != nil {
		return fmt.Errorf("audit index: %w", err)
	}
	if err := tx.DeleteBucket(bucketAuditLog); err != nil {
		return fmt.Errorf("audit index: %w", err)
	}
	if _, err := tx.CreateBucket(bucketAuditLog); err != nil {
		return fmt.Errorf("audit index: %w", err)
	}
	return nil
}
