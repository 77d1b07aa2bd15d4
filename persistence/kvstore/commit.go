package kvstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/etaxd/etaxd/persistence"
)

// Headers of JetStream publishing that the store sets.
const (
	hdrExpectedLastSubjSeq = "Nats-Expected-Last-Subject-Sequence"
	hdrExpectedLastSeq     = "Nats-Expected-Last-Sequence"
	hdrBatchID             = "Nats-Batch-Id"
	hdrBatchSeq            = "Nats-Batch-Sequence"
	hdrBatchCommit         = "Nats-Batch-Commit"
)

// message is one message of a commit: a put, a delete marker or an audit
// event.
type message struct {
	subject string
	header  nats.Header
	data    []byte
}

// chain is what a commit knows of one key while it plans the commit's ops in
// order.
type chain struct {
	subject string
	// pending is the Nats-Expected-Last-Subject-Sequence the key's first
	// message must carry: the last sequence read (checked == true), or the
	// first op's expected revision.
	pending uint64
	checked bool // pending holds a check to make
	written bool // a message of this commit already wrote the key
	// The key's state after the ops planned so far: absent (stored 0 and
	// at < 0), holding a known revision (stored), or holding the value of
	// this commit's message at (at >= 0), whose revision is not known yet.
	stored uint64
	at     int
}

// Commit applies ops atomically; see persistence.Store and the package
// documentation for how.
func (s *Store) Commit(ctx context.Context, ops ...persistence.Op) ([]uint64, error) {
	defer s.lat.ObserveCommit(len(ops), time.Now())
	return s.commit(ctx, nil, ops)
}

// CommitAudited is Commit plus ev appended to the audit log in the same
// atomic batch, only when the commit succeeds.
func (s *Store) CommitAudited(ctx context.Context, ev persistence.AuditEvent, ops ...persistence.Op) ([]uint64, error) {
	defer s.lat.ObserveCommit(len(ops)+1, time.Now())
	return s.commit(ctx, &ev, ops)
}

// AppendAudit durably appends ev to the audit log; see persistence.Store.
func (s *Store) AppendAudit(ctx context.Context, ev persistence.AuditEvent) error {
	defer s.lat.ObserveCommit(1, time.Now())
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.calls.Done()
	m, err := s.auditMessage(ev)
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	_, err = s.publish(ctx, []message{m})
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return nil
}

// auditMessage encodes ev as the message of a new audit event.
func (s *Store) auditMessage(ev persistence.AuditEvent) (message, error) {
	if err := checkTenant(ev.Tenant); err != nil {
		return message{}, err
	}
	if ev.Time.IsZero() {
		ev.Time = s.now()
	}
	ev.Seq = 0 // the stream sequence is the seq
	data, err := json.Marshal(ev)
	if err != nil {
		return message{}, err
	}
	if len(data) > persistence.MaxValueLen {
		return message{}, fmt.Errorf("%w: event of %d bytes (limit %d)", persistence.ErrValueTooLarge, len(data), persistence.MaxValueLen)
	}
	return message{subject: s.auditSubject(ev.Tenant, nuid.Next()), data: data}, nil
}

// validate checks ops before anything is read or written.
func validate(ops []persistence.Op) error {
	if len(ops) > MaxOps {
		return fmt.Errorf("commit: %w: %d ops (limit %d per commit)", persistence.ErrValueTooLarge, len(ops), MaxOps)
	}
	size := 0
	for i := range ops {
		op := &ops[i]
		if err := checkKey(op.Key); err != nil {
			return fmt.Errorf("commit op %d: %w", i, err)
		}
		size += len(op.Key)
		if !op.Delete {
			if len(op.Value) > persistence.MaxValueLen {
				return fmt.Errorf("commit op %d: %w: key %s, %d bytes (limit %d)", i, persistence.ErrValueTooLarge,
					shortKey(op.Key), len(op.Value), persistence.MaxValueLen)
			}
			size += len(op.Value)
		}
	}
	if size > maxCommitBytes {
		return fmt.Errorf("commit: %w: %d ops of %d bytes in all (limit %d)", persistence.ErrValueTooLarge, len(ops), size, maxCommitBytes)
	}
	return nil
}

func (s *Store) commit(ctx context.Context, ev *persistence.AuditEvent, ops []persistence.Op) ([]uint64, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.calls.Done()
	if err := validate(ops); err != nil {
		return nil, err
	}
	var audit message
	if ev != nil {
		var err error
		if audit, err = s.auditMessage(*ev); err != nil {
			return nil, fmt.Errorf("commit audit: %w", err)
		}
	}
	if len(ops) == 0 && ev == nil {
		return []uint64{}, nil
	}

	msgs, at, err := s.plan(ctx, ops)
	if err != nil {
		return nil, err
	}
	if ev != nil {
		msgs = append(msgs, audit)
	}
	revs := make([]uint64, len(ops))
	if len(msgs) == 0 {
		return revs, nil // only deletes of absent keys
	}
	first, err := s.publish(ctx, msgs)
	if err != nil {
		return nil, err
	}
	for i, p := range at {
		if p >= 0 {
			revs[i] = first + uint64(p)
		}
	}
	return revs, nil
}

// plan turns ops into messages. It returns them and the message index of
// each put op (-1 for a delete). When an op expects the revision an earlier
// op of the commit produces, the first message states the stream's last
// sequence the batch must follow for that revision to be right. A revision
// that cannot match fails the plan with ErrRevisionMismatch, before
// anything is written.
func (s *Store) plan(ctx context.Context, ops []persistence.Op) ([]message, []int, error) {
	chains := make(map[string]*chain, len(ops))
	msgs := make([]message, 0, len(ops)+1)
	at := make([]int, len(ops))
	var base uint64 // stream last sequence the batch must follow
	hasBase := false
	mismatch := func(i int, op *persistence.Op, holds string) error {
		return fmt.Errorf("%w: commit op %d: key %s holds %s, expected %d",
			persistence.ErrRevisionMismatch, i, shortKey(op.Key), holds, op.Expected)
	}
	for i := range ops {
		op := &ops[i]
		at[i] = -1
		c := chains[op.Key]
		if c == nil {
			c = &chain{subject: s.keySubject(op.Key), at: -1}
			chains[op.Key] = c
			// Read the key when the op's outcome depends on whether it
			// exists: a create must know the sequence of a delete marker
			// to check against, a delete without a revision whether there
			// is anything to delete.
			if (op.Expected == 0 && !op.AnyRevision) || (op.Delete && op.AnyRevision) {
				st, err := s.readKey(ctx, op.Key)
				if err != nil {
					return nil, nil, fmt.Errorf("commit op %d: read %s: %w", i, shortKey(op.Key), err)
				}
				c.stored, c.pending, c.checked = st.stored, st.last, true
			} else if !op.AnyRevision {
				// Expected revision, not read: the server checks it.
				c.stored, c.pending, c.checked = op.Expected, op.Expected, true
			}
			// Else a put of any revision: nothing to check.
		}
		if !op.AnyRevision {
			switch {
			case c.at >= 0 && op.Expected == 0:
				return nil, nil, mismatch(i, op, "the revision an earlier op of this commit produces")
			case c.at >= 0:
				// The revision of message c.at is the batch's first
				// sequence plus c.at: it matches only if the stream's last
				// sequence is op.Expected-c.at-1 when the batch commits.
				want := op.Expected - uint64(c.at) - 1
				if op.Expected < uint64(c.at)+1 || (hasBase && base != want) {
					return nil, nil, mismatch(i, op, "another revision")
				}
				base, hasBase = want, true
			case c.stored != op.Expected:
				return nil, nil, mismatch(i, op, "revision "+strconv.FormatUint(c.stored, 10))
			}
		}
		if op.Delete && c.at < 0 && c.stored == 0 {
			continue // absent: nothing to delete
		}
		m := message{subject: c.subject, header: nats.Header{}}
		if !c.written && c.checked {
			m.header.Set(hdrExpectedLastSubjSeq, strconv.FormatUint(c.pending, 10))
		}
		c.written = true
		if op.Delete {
			m.header.Set(hdrOperation, opDelete)
			c.stored, c.at = 0, -1
		} else {
			m.data = op.Value
			at[i] = len(msgs)
			c.stored, c.at = 0, len(msgs)
		}
		msgs = append(msgs, m)
	}
	if hasBase {
		msgs[0].header.Set(hdrExpectedLastSeq, strconv.FormatUint(base, 10))
	}
	return msgs, at, nil
}

// pubAck is JetStream's answer to a publish or to a batch commit.
type pubAck struct {
	Error  *jetstream.APIError `json:"error,omitempty"`
	Stream string              `json:"stream"`
	Seq    uint64              `json:"seq"`
	Batch  string              `json:"batch,omitempty"`
	Count  int                 `json:"count,omitempty"`
}

// errUncertain marks a write whose outcome is unknown: its acknowledgement
// did not come.
var errUncertain = errors.New("kvstore: no acknowledgement, the write may or may not be stored")

// Error codes of nats-server for a batch it refused as a whole, before
// writing any of it: incomplete (a message of it was refused, or it timed
// out) and too many batches in flight on the stream.
const (
	errCodeBatchIncomplete jetstream.ErrorCode = 10176
	errCodeBatchInflight   jetstream.ErrorCode = 10210
)

// errRetry marks a publish that wrote nothing and may be sent again.
var errRetry = errors.New("kvstore: nothing written, try again")

// publish writes msgs: one message alone, several as one atomic batch. It
// returns the stream sequence of the first message; the others follow it
// one by one. A publish that nobody took (no responders: the stream has no
// leader for a moment) or a batch refused as a whole is sent again, within
// the context's deadline (RequestTimeout when it has none).
func (s *Store) publish(ctx context.Context, msgs []message) (uint64, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	for {
		seq, err := s.publishOnce(ctx, msgs)
		if !errors.Is(err, errRetry) {
			return seq, err
		}
		if s.testHookRefused != nil {
			s.testHookRefused()
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("kvstore: commit: %w (%w)", err, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// publishOnce sends msgs once.
func (s *Store) publishOnce(ctx context.Context, msgs []message) (uint64, error) {
	id := ""
	if len(msgs) > 1 {
		id = nuid.Next()
	}
	var last *nats.Msg
	for i, m := range msgs {
		nm := &nats.Msg{Subject: m.subject, Header: m.header, Data: m.data}
		if nm.Header == nil {
			nm.Header = nats.Header{}
		}
		if id != "" {
			nm.Header.Set(hdrBatchID, id)
			nm.Header.Set(hdrBatchSeq, strconv.Itoa(i+1))
		}
		if i < len(msgs)-1 {
			if err := s.nc.PublishMsg(nm); err != nil {
				return 0, fmt.Errorf("kvstore: commit: %w", err)
			}
			continue
		}
		if id != "" {
			nm.Header.Set(hdrBatchCommit, "1")
		}
		last = nm
	}
	reply, err := s.nc.RequestMsgWithContext(ctx, last)
	if errors.Is(err, nats.ErrNoResponders) {
		// Nobody took the commit, so nobody took the batch before it:
		// nothing is written, and sending it all again is safe.
		return 0, fmt.Errorf("%w: no JetStream server answers for the bucket: %w", errRetry, err)
	}
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errUncertain, err)
	}
	var ack pubAck
	if err := json.Unmarshal(reply.Data, &ack); err != nil {
		return 0, fmt.Errorf("%w: unreadable acknowledgement: %w", errUncertain, err)
	}
	if ack.Error != nil {
		switch ack.Error.ErrorCode {
		case jetstream.JSErrCodeStreamWrongLastSequence, jetstream.JSErrCodeStreamWrongLastSequenceConstant:
			return 0, fmt.Errorf("%w: %s", persistence.ErrRevisionMismatch, ack.Error.Description)
		case errCodeBatchIncomplete, errCodeBatchInflight, errCodeClusterNotAvail, errCodeClusterNotLeader:
			return 0, fmt.Errorf("%w: %w", errRetry, ack.Error)
		}
		return 0, fmt.Errorf("kvstore: commit: %w", ack.Error)
	}
	if id != "" && (ack.Batch != id || ack.Count != len(msgs)) {
		return 0, fmt.Errorf("%w: batch %s acknowledged as %q of %d messages, %d sent", errUncertain, id, ack.Batch, ack.Count, len(msgs))
	}
	if ack.Seq < uint64(len(msgs)) {
		return 0, fmt.Errorf("%w: acknowledged sequence %d", errUncertain, ack.Seq)
	}
	return ack.Seq - uint64(len(msgs)) + 1, nil
}
