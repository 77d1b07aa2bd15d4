package kvstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/persistence"
)

// readPage is how many messages one fetch of a Scan or an Audit asks for.
const readPage = 256

// Scan calls fn for every record whose key starts with prefix, in key order;
// see persistence.Store. It reads the last message of every subject under
// the prefix's filter with a short-lived consumer, sorts the records by key
// and then calls fn, outside any read, so fn may call the store. It holds
// the prefix's records in memory while fn runs.
func (s *Store) Scan(ctx context.Context, prefix string, fn func(persistence.Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	filter, exact := s.scanFilter(prefix)
	var recs []persistence.Record
	err := s.read(ctx, filter, jetstream.DeliverLastPerSubjectPolicy, func(m jetstream.Msg) error {
		if op := m.Headers().Get(hdrOperation); op == opDelete || op == opPurge {
			return nil
		}
		key, err := s.subjectKey(m.Subject())
		if err != nil {
			return err
		}
		if !exact && !strings.HasPrefix(key, prefix) {
			return nil
		}
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("kvstore: scan: %w", err)
		}
		value := m.Data()
		if value == nil {
			value = []byte{}
		}
		recs = append(recs, persistence.Record{Key: key, Value: value, Revision: meta.Sequence.Stream})
		return nil
	})
	s.calls.Done()
	if err != nil {
		return fmt.Errorf("scan %s: %w", shortKey(prefix), err)
	}
	slices.SortFunc(recs, func(a, b persistence.Record) int { return strings.Compare(a.Key, b.Key) })
	for _, r := range recs {
		if err := fn(r); err != nil {
			return err
		}
	}
	return nil
}

// Audit calls fn for the tenant's events with from <= Time < to, oldest
// first (by time, then by seq); see persistence.Store. It reads every event
// of the tenant (their subjects hold the tenant, not the time: a caller may
// date an event at any time, so the stream's own timestamps cannot bound
// the read), keeps those in range, sorts them, then calls fn.
func (s *Store) Audit(ctx context.Context, tenant string, from, to time.Time, fn func(persistence.AuditEvent) error) error {
	if err := checkTenant(tenant); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	var evs []persistence.AuditEvent
	err := s.read(ctx, s.auditFilter(tenant), jetstream.DeliverAllPolicy, func(m jetstream.Msg) error {
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("kvstore: audit: %w", err)
		}
		var ev persistence.AuditEvent
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			return fmt.Errorf("kvstore: corrupt audit event %d: %w", meta.Sequence.Stream, err)
		}
		ev.Seq, ev.Tenant = meta.Sequence.Stream, tenant // the stream is authoritative
		if (from.IsZero() || !ev.Time.Before(from)) && (to.IsZero() || ev.Time.Before(to)) {
			evs = append(evs, ev)
		}
		return nil
	})
	s.calls.Done()
	if err != nil {
		return fmt.Errorf("audit %s: %w", shortKey(tenant), err)
	}
	slices.SortFunc(evs, func(a, b persistence.AuditEvent) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Seq, b.Seq))
	})
	for _, ev := range evs {
		if err := fn(ev); err != nil {
			return err
		}
	}
	return nil
}

// read feeds take every message under filter that deliver selects, with an
// ephemeral pull consumer (memory, no acks) that it deletes when done.
func (s *Store) read(ctx context.Context, filter string, deliver jetstream.DeliverPolicy, take func(jetstream.Msg) error) error {
	cctx, cancel := s.withTimeout(ctx)
	var cons jetstream.Consumer
	err := retry(cctx, s.opts.AttemptTimeout, func(actx context.Context) error {
		var err error
		cons, err = s.stream.CreateConsumer(actx, jetstream.ConsumerConfig{
			FilterSubject:     filter,
			DeliverPolicy:     deliver,
			AckPolicy:         jetstream.AckNonePolicy,
			MemoryStorage:     true,
			Replicas:          1,
			InactiveThreshold: time.Minute,
			MaxRequestBatch:   readPage,
		})
		return err
	})
	cancel()
	if err != nil {
		return fmt.Errorf("kvstore: read %s: %w", filter, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.AttemptTimeout)
		defer cancel()
		// The inactive threshold removes a consumer left behind.
		_ = s.stream.DeleteConsumer(dctx, cons.CachedInfo().Name)
	}()
	pending := cons.CachedInfo().NumPending
	// A consumer just created on a cluster may not take pull requests for
	// a moment (no responders): such fetches are tried again, within
	// RequestTimeout.
	var wait <-chan time.Time
	var deadline time.Time
	for pending > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		if wait != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-wait:
			}
		}
		// Asking for no more than is pending ends the fetch as soon as
		// the last message arrives, without waiting out MaxWait.
		batch, err := cons.Fetch(int(min(pending, readPage)), jetstream.FetchMaxWait(s.opts.RequestTimeout))
		if err != nil {
			return fmt.Errorf("kvstore: read %s: %w", filter, err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("kvstore: read %s: %w", filter, err)
			}
			pending = meta.NumPending
			if err := take(m); err != nil {
				return err
			}
		}
		err = batch.Error()
		if n == 0 && transient(err) {
			if wait == nil {
				deadline = time.Now().Add(s.opts.RequestTimeout)
			}
			if time.Now().Before(deadline) {
				wait = time.After(20 * time.Millisecond)
				continue
			}
		}
		if err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("kvstore: read %s: %w", filter, err)
		}
		wait = nil
		if n == 0 {
			return fmt.Errorf("kvstore: read %s: %d messages announced, none delivered within %s", filter, pending, s.opts.RequestTimeout)
		}
	}
	return nil
}
