package kvstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/persistence"
)

// readPage is how many messages one fetch of a Scan or an Audit asks for.
const readPage = 256

// Scan calls fn for every record whose key starts with prefix, in key order;
// see persistence.Store. It asks the stream leader for the subjects under
// the prefix's filter, sorts their keys, and reads them from the leader a
// page at a time (readPage keys, readWorkers at once); fn runs between
// pages, outside any read, so fn may call the store. Reading through the
// leader is what makes a Scan see every write acknowledged before it
// started: a consumer may be placed on a follower that lags behind.
func (s *Store) Scan(ctx context.Context, prefix string, fn func(persistence.Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	keys, err := s.listKeys(ctx, prefix)
	s.calls.Done()
	if err != nil {
		return fmt.Errorf("scan %s: %w", shortKey(prefix), err)
	}
	for len(keys) > 0 {
		page := keys[:min(len(keys), readPage)]
		keys = keys[len(page):]
		recs, err := s.readKeys(ctx, page)
		if err != nil {
			return fmt.Errorf("scan %s: %w", shortKey(prefix), err)
		}
		for _, r := range recs {
			if r.Revision == 0 {
				continue // deleted since it was listed, or a delete marker
			}
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// listKeys returns, sorted, the keys under prefix that have a subject in
// the stream (deleted keys included: their delete marker is a message).
func (s *Store) listKeys(ctx context.Context, prefix string) ([]string, error) {
	filter, exact := s.scanFilter(prefix)
	subjects, err := s.subjects(ctx, filter)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(subjects))
	for subj := range subjects {
		key, err := s.subjectKey(subj)
		if err != nil {
			return nil, err
		}
		if exact || strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// subjects asks the stream leader for the subjects under filter, with their
// message counts.
func (s *Store) subjects(ctx context.Context, filter string) (map[string]uint64, error) {
	ctx, cancel := s.withTimeout(ctx)
	defer cancel()
	var subjects map[string]uint64
	err := retry(ctx, s.opts.RequestTimeout, func(actx context.Context) error {
		info, err := s.stream.Info(actx, jetstream.WithSubjectFilter(filter))
		if err == nil {
			subjects = info.State.Subjects
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kvstore: list %s: %w", filter, err)
	}
	return subjects, nil
}

// readWorkers bounds the reads one Scan has in flight.
const readWorkers = 8

// readKeys reads keys, readWorkers at a time. A key that holds nothing
// comes back with Revision 0.
func (s *Store) readKeys(ctx context.Context, keys []string) ([]persistence.Record, error) {
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.calls.Done()
	recs := make([]persistence.Record, len(keys))
	errs := make([]error, len(keys))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(readWorkers, len(keys)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				st, err := s.readKey(ctx, keys[i])
				if st.value == nil {
					st.value = []byte{}
				}
				recs[i], errs[i] = persistence.Record{Key: keys[i], Value: st.value, Revision: st.stored}, err
			}
		}()
	}
	for i := range keys {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", shortKey(keys[i]), err)
		}
	}
	return recs, nil
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
	evs, err := s.readAudit(ctx, tenant, from, to)
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

// errBehind marks a read from a replica that had not yet stored every event
// the leader had.
var errBehind = errors.New("kvstore: the consumer's replica is behind the stream leader")

// readAudit reads the tenant's events in [from, to). The consumer that
// reads them may sit on a follower that lags: the leader's count of the
// tenant's events (one subject each), taken first, is the fence. A read
// that delivers fewer is made again, within RequestTimeout.
func (s *Store) readAudit(ctx context.Context, tenant string, from, to time.Time) ([]persistence.AuditEvent, error) {
	filter := s.auditFilter(tenant)
	subjects, err := s.subjects(ctx, filter)
	if err != nil {
		return nil, err
	}
	fence := len(subjects)
	deadline := time.Now().Add(s.opts.RequestTimeout)
	for {
		evs, n, err := s.readEvents(ctx, filter, from, to)
		if err == nil && n < fence {
			err = fmt.Errorf("%w: %d events read, the leader holds %d", errBehind, n, fence)
			if time.Now().Before(deadline) {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
				continue
			}
		}
		return evs, err
	}
}

// readEvents reads the events under filter in [from, to), and counts every
// event read.
func (s *Store) readEvents(ctx context.Context, filter string, from, to time.Time) ([]persistence.AuditEvent, int, error) {
	var evs []persistence.AuditEvent
	n := 0
	err := s.read(ctx, filter, jetstream.DeliverAllPolicy, func(m jetstream.Msg) error {
		n++
		meta, err := m.Metadata()
		if err != nil {
			return fmt.Errorf("kvstore: audit: %w", err)
		}
		var ev persistence.AuditEvent
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			return fmt.Errorf("kvstore: corrupt audit event %d: %w", meta.Sequence.Stream, err)
		}
		ev.Seq = meta.Sequence.Stream // the stream is authoritative
		if (from.IsZero() || !ev.Time.Before(from)) && (to.IsZero() || ev.Time.Before(to)) {
			evs = append(evs, ev)
		}
		return nil
	})
	return evs, n, err
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
