package persistence

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// A dump is a store's content as JSON lines, to move it to another store:
// a cluster's JetStream KV store back to a single node's bbolt file
// ("etaxd cluster dump", then "etaxd store restore"). Its lines, in order:
//
//	{"etaxd_dump":1,"time":"…"}               the header
//	{"key":"tenant/t1","value":"<base64>"}    one per record, in key order
//	{"audit":{…}}                             one per audit event, per tenant, oldest first
//	{"end":{"records":N,"events":M}}          the end: a dump without it is cut short
//
// Values are copied as stored: secrets stay sealed (they are sealed with
// their key as associated data, so they open under the same key in any
// store holding the same master keys). A dump holds everything the store
// does and must be kept like the store itself.
const DumpFormat = 1

// DumpSkipped are the prefixes a dump leaves out: keys of the cluster's
// own (placement leases, the readiness probe's key, the shared rate
// limits), which a single node neither reads nor needs.
var DumpSkipped = []string{PrefixOps, PrefixRateLimit}

// DumpStats counts what a dump holds.
type DumpStats struct {
	Records int `json:"records"`
	Events  int `json:"events"`
}

type dumpLine struct {
	Format int         `json:"etaxd_dump,omitempty"`
	Time   *time.Time  `json:"time,omitempty"`
	Key    string      `json:"key,omitempty"`
	Value  []byte      `json:"value,omitempty"`
	Audit  *AuditEvent `json:"audit,omitempty"`
	End    *DumpStats  `json:"end,omitempty"`
}

// ErrDumpInvalid is returned by Restore for a dump it cannot take: not a
// dump, another format, a malformed or cut-short one.
var ErrDumpInvalid = errors.New("persistence: not a complete etaxd dump")

// ErrNotEmpty is returned by Restore when the target store holds records:
// a dump is restored into a new store only.
var ErrNotEmpty = errors.New("persistence: the target store is not empty")

// Dump writes s's records (but those under DumpSkipped) and the audit
// events of every tenant with a tenant/ record to w. It is not a snapshot
// (see Store.Scan): take it while nothing changes the store. now dates
// the header.
func Dump(ctx context.Context, s Store, w io.Writer, now time.Time) (DumpStats, error) {
	var st DumpStats
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(dumpLine{Format: DumpFormat, Time: &now}); err != nil {
		return st, err
	}
	var tenants []string
	err := s.Scan(ctx, "", func(r Record) error {
		for _, p := range DumpSkipped {
			if strings.HasPrefix(r.Key, p) {
				return nil
			}
		}
		if t, ok := strings.CutPrefix(r.Key, PrefixTenant); ok {
			tenants = append(tenants, t)
		}
		st.Records++
		return enc.Encode(dumpLine{Key: r.Key, Value: r.Value})
	})
	if err != nil {
		return st, fmt.Errorf("dump records: %w", err)
	}
	for _, t := range tenants {
		err := s.Audit(ctx, t, time.Time{}, time.Time{}, func(ev AuditEvent) error {
			st.Events++
			return enc.Encode(dumpLine{Audit: &ev})
		})
		if err != nil {
			return st, fmt.Errorf("dump the audit log of tenant %s: %w", shortKey(t), err)
		}
	}
	if err := enc.Encode(dumpLine{End: &st}); err != nil {
		return st, err
	}
	return st, bw.Flush()
}

// restoreBatch is how many records one Commit of Restore writes, and how
// many audit events it queues at once.
const restoreBatch = 512

// Restore writes a dump into b, which must hold no record (ErrNotEmpty).
// Records keep their keys and values (revisions start anew); audit events
// keep their time and order within their tenant (sequence numbers start
// anew). It checks the dump as it reads: a malformed line, another format
// or a dump without its end line (or with other counts) is ErrDumpInvalid.
// What Restore wrote before an error stays in b: restore into a new file,
// and remove it after a failure (etaxd store restore does both).
func Restore(ctx context.Context, b *Bolt, r io.Reader) (DumpStats, error) {
	var st DumpStats
	empty := errors.New("empty")
	err := b.Scan(ctx, "", func(Record) error { return empty })
	if errors.Is(err, empty) {
		return st, ErrNotEmpty
	}
	if err != nil {
		return st, err
	}
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	dec.DisallowUnknownFields()
	var head dumpLine
	if err := dec.Decode(&head); err != nil {
		return st, fmt.Errorf("%w: header: %v", ErrDumpInvalid, err)
	}
	if head.Format != DumpFormat {
		return st, fmt.Errorf("%w: format %d (this etaxd reads %d)", ErrDumpInvalid, head.Format, DumpFormat)
	}
	var ops []Op
	var evs []AuditEvent
	flush := func() error {
		if len(ops) > 0 {
			if _, err := b.Commit(ctx, ops...); err != nil {
				return err
			}
			ops = ops[:0]
		}
		if len(evs) > 0 {
			if err := b.appendAuditInOrder(ctx, evs); err != nil {
				return err
			}
			evs = evs[:0]
		}
		return nil
	}
	for line := 1; ; line++ {
		var l dumpLine
		if err := dec.Decode(&l); err != nil {
			if errors.Is(err, io.EOF) {
				return st, fmt.Errorf("%w: it ends after %d lines without its end line (cut short?)", ErrDumpInvalid, line)
			}
			return st, fmt.Errorf("%w: line %d: %v", ErrDumpInvalid, line+1, err)
		}
		switch {
		case l.End != nil:
			if err := flush(); err != nil {
				return st, err
			}
			if *l.End != st {
				return st, fmt.Errorf("%w: its end line counts %d records and %d events, it held %d and %d",
					ErrDumpInvalid, l.End.Records, l.End.Events, st.Records, st.Events)
			}
			if dec.More() {
				return st, fmt.Errorf("%w: lines after its end line", ErrDumpInvalid)
			}
			return st, nil
		case l.Audit != nil:
			if len(ops) > 0 { // records first, as dumped
				if err := flush(); err != nil {
					return st, err
				}
			}
			evs = append(evs, *l.Audit)
			st.Events++
		case l.Key != "":
			if len(evs) > 0 {
				return st, fmt.Errorf("%w: line %d: a record after the audit events", ErrDumpInvalid, line+1)
			}
			if l.Value == nil {
				l.Value = []byte{}
			}
			ops = append(ops, Op{Key: l.Key, Value: l.Value})
			st.Records++
		default:
			return st, fmt.Errorf("%w: line %d is neither a record, an audit event nor the end", ErrDumpInvalid, line+1)
		}
		if len(ops) >= restoreBatch || len(evs) >= restoreBatch {
			if err := flush(); err != nil {
				return st, err
			}
		}
	}
}

// appendAuditInOrder appends evs as AppendAudit does, in their order: all
// are queued by this one goroutine before it waits for any, so the
// committer takes them in order (and many to a transaction), and events of
// equal time keep their order in the log. It returns the first failure;
// events queued before it are still written.
func (b *Bolt) appendAuditInOrder(ctx context.Context, evs []AuditEvent) error {
	reqs := make([]*request, 0, len(evs))
	var err error
	for i := range evs {
		r := &request{done: make(chan struct{})}
		if _, err = b.prepareAudit(r, &evs[i], make([]byte, 0, auditRoom(&evs[i]))); err != nil {
			err = fmt.Errorf("append audit: %w", err)
			break
		}
		if err = b.enqueue(ctx, r); err != nil {
			break
		}
		reqs = append(reqs, r)
	}
	for _, r := range reqs {
		<-r.done
		if r.err != nil && err == nil {
			err = r.err
		}
	}
	return err
}
