package kvstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/persistence"
)

// lastSeq returns the bucket stream's last sequence.
func lastSeq(t *testing.T, s *Store) uint64 {
	t.Helper()
	info, err := s.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// TestChainedRevisions: an op expecting the revision an earlier op of the
// same Commit produces succeeds exactly when the expectation is right,
// which the store has the server check with the batch's expected last
// sequence.
func TestChainedRevisions(t *testing.T) {
	ctx := context.Background()
	ns := startServer(t, nil)
	s := openStore(t, connect(t, ns.ClientURL()), Options{})
	mustPutKV := func(key string, expected uint64) uint64 {
		t.Helper()
		rev, err := persistence.Put(ctx, s, key, []byte("x"), expected)
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	mustPutKV("other", 0)

	l := lastSeq(t, s)
	bad := []persistence.Op{
		{Key: "a", Value: []byte("1")},
		{Key: "a", Value: []byte("2"), Expected: l + 2}, // the first op gets l+1
	}
	if _, err := s.Commit(ctx, bad...); !errors.Is(err, persistence.ErrRevisionMismatch) {
		t.Fatalf("wrong chained revision: %v", err)
	}
	if _, err := s.Get(ctx, "a"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("a refused commit wrote: %v", err)
	}

	l = lastSeq(t, s)
	ops := []persistence.Op{
		{Key: "a", Value: []byte("1")},
		{Key: "b", Value: []byte("b")},
		{Key: "a", Value: []byte("2"), Expected: l + 1},
		{Key: "a", Delete: true, Expected: l + 3},
		{Key: "a", Value: []byte("4")},
	}
	revs, err := s.Commit(ctx, ops...)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint([]uint64{l + 1, l + 2, l + 3, 0, l + 5}); fmt.Sprint(revs) != want {
		t.Fatalf("revs = %v, want %v", revs, want)
	}
	if rec, err := s.Get(ctx, "a"); err != nil || string(rec.Value) != "4" || rec.Revision != l+5 {
		t.Fatalf("a = %+v, %v", rec, err)
	}

	// Two chained expectations that disagree on where the batch starts.
	l = lastSeq(t, s)
	disagree := []persistence.Op{
		{Key: "c", Value: []byte("1")},
		{Key: "d", Value: []byte("1")},
		{Key: "c", Value: []byte("2"), Expected: l + 1},
		{Key: "d", Value: []byte("2"), Expected: l + 3},
	}
	if _, err := s.Commit(ctx, disagree...); !errors.Is(err, persistence.ErrRevisionMismatch) {
		t.Fatalf("disagreeing chains: %v", err)
	}
	// A write by another client between planning and commit moves the
	// stream: the expectation fails at the server, and nothing is written.
	l = lastSeq(t, s)
	mustPutKV("other2", 0)
	late := []persistence.Op{
		{Key: "e", Value: []byte("1")},
		{Key: "e", Value: []byte("2"), Expected: l + 1},
	}
	if _, err := s.Commit(ctx, late...); !errors.Is(err, persistence.ErrRevisionMismatch) {
		t.Fatalf("stream moved: %v", err)
	}
	if _, err := s.Get(ctx, "e"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("a refused commit wrote: %v", err)
	}
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	ns := startServer(t, nil)
	s := openStore(t, connect(t, ns.ClientURL()), Options{})
	ops := make([]persistence.Op, MaxOps+1)
	for i := range ops {
		ops[i] = persistence.Op{Key: fmt.Sprint("k", i)}
	}
	if _, err := s.Commit(ctx, ops...); !errors.Is(err, persistence.ErrValueTooLarge) {
		t.Fatalf("%d ops: %v", len(ops), err)
	}
	// The most a commit takes: MaxOps ops and an audit event, one batch.
	revs, err := s.CommitAudited(ctx, persistence.AuditEvent{Tenant: "T", Action: "bulk"}, ops[:MaxOps]...)
	if err != nil || len(revs) != MaxOps || revs[MaxOps-1] != revs[0]+MaxOps-1 {
		t.Fatalf("%d ops: %d revisions, %v", MaxOps, len(revs), err)
	}
	big := []persistence.Op{
		{Key: "big1", Value: bytes.Repeat([]byte{1}, persistence.MaxValueLen)},
		{Key: "big2", Value: bytes.Repeat([]byte{2}, persistence.MaxValueLen)},
	}
	if _, err := s.Commit(ctx, big...); err != nil {
		t.Fatalf("two values of MaxValueLen: %v", err)
	}
	if rec, err := s.Get(ctx, "big2"); err != nil || !bytes.Equal(rec.Value, big[1].Value) {
		t.Fatalf("big2: %d bytes, %v", len(rec.Value), err)
	}
}

// TestNewRefusesSmallPayload: a server whose max_payload cannot carry a
// value of MaxValueLen is refused up front, with what to set.
func TestNewRefusesSmallPayload(t *testing.T) {
	ns := startServer(t, func(o *server.Options) { o.MaxPayload = 1 << 20 })
	_, err := New(context.Background(), connect(t, ns.ClientURL()), Options{})
	if !errors.Is(err, ErrPayloadTooSmall) || !strings.Contains(err.Error(), "max_payload") {
		t.Fatalf("New = %v, want ErrPayloadTooSmall", err)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	ns := startServer(t, nil)
	js := connect(t, ns.ClientURL())
	for _, o := range []Options{{Bucket: "a.b"}, {Bucket: "a b"}, {Replicas: -1}, {AttemptTimeout: -1}, {RequestTimeout: -1}} {
		if s, err := New(context.Background(), js, o); err == nil {
			_ = s.Close()
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

// TestClusterStart: three nodes that open one new R3 bucket together, as
// soon as their servers listen (before a meta leader exists), all open it;
// each sees the others' writes; and a node whose master keys differ refuses
// to start with ErrKeyMismatch.
func TestClusterStart(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-server cluster takes seconds to form")
	}
	urls := startCluster(t, 3)
	ctx := context.Background()
	stores := make([]*Store, len(urls))
	errs := make([]error, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		js := connect(t, u)
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = New(ctx, js, Options{Bucket: "shared", Replicas: 3})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	for i, s := range stores {
		if _, err := persistence.Put(ctx, s, fmt.Sprint("node/", i), []byte("up"), 0); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	for i, s := range stores {
		n := 0
		if err := s.Scan(ctx, "node/", func(persistence.Record) error { n++; return nil }); err != nil || n != len(stores) {
			t.Fatalf("node %d sees %d nodes, %v", i, n, err)
		}
	}

	keys := func(b byte) *persistence.Keyring {
		k, err := persistence.NewKeyring(map[uint32][]byte{1: bytes.Repeat([]byte{b}, persistence.KeyLen)})
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	if err := persistence.CheckKeys(ctx, stores[0], keys(1)); err != nil {
		t.Fatal(err)
	}
	if err := persistence.CheckKeys(ctx, stores[1], keys(1)); err != nil {
		t.Fatalf("same keys on another node: %v", err)
	}
	if err := persistence.CheckKeys(ctx, stores[2], keys(2)); !errors.Is(err, persistence.ErrKeyMismatch) {
		t.Fatalf("other keys on another node: %v, want ErrKeyMismatch", err)
	}
}

// FuzzKeyEncoding: every key maps to a subject of valid KV tokens and back,
// and the scan filter of any prefix covers every key that starts with it.
func FuzzKeyEncoding(f *testing.F) {
	for _, seed := range [][2]string{{"account/T1/A1", "account/T1/"}, {"a//b", "a/"}, {"/", ""}, {"a.b_c=d", "a."}, {"é/\x00", "é"}} {
		f.Add(seed[0], seed[1])
	}
	s := &Store{prefix: "$KV.b."}
	f.Fuzz(func(t *testing.T, key, prefix string) {
		if checkKey(key) != nil {
			return
		}
		subj := s.keySubject(key)
		for _, tok := range strings.Split(strings.TrimPrefix(subj, "$KV.b."), ".") {
			if tok == "" || strings.Trim(tok, "-_=abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
				t.Fatalf("key %q: bad token %q in %q", key, tok, subj)
			}
		}
		back, err := s.subjectKey(subj)
		if err != nil || back != key {
			t.Fatalf("key %q → %q → %q, %v", key, subj, back, err)
		}
		filter, exact := s.scanFilter(prefix)
		matches := server.SubjectMatchesFilter(subj, filter)
		if strings.HasPrefix(key, prefix) && !matches {
			t.Fatalf("key %q starts with %q but %q is not under %q", key, prefix, subj, filter)
		}
		if exact && matches && !strings.HasPrefix(key, prefix) {
			t.Fatalf("filter %q of %q is called exact but holds %q", filter, prefix, key)
		}
	})
}

// TestBatchesBeyondTheInflightLimit: a batch the server refuses as a whole
// (here: while another client holds the stream's only batch slot) wrote
// nothing and is sent again, until the slot frees (the other batch times
// out, never committed).
func TestBatchesBeyondTheInflightLimit(t *testing.T) {
	ctx := context.Background()
	ns := startServer(t, func(o *server.Options) {
		o.JetStreamLimits.MaxBatchInflightPerStream = 1
		o.JetStreamLimits.MaxBatchTimeout = 300 * time.Millisecond
	})
	js := connect(t, ns.ClientURL())
	s := openStore(t, js, Options{})
	// Another client opens a batch and never commits it.
	dangling := &nats.Msg{Subject: s.keySubject("x"), Header: nats.Header{}, Data: []byte("never")}
	dangling.Header.Set(hdrBatchID, "dangling")
	dangling.Header.Set(hdrBatchSeq, "1")
	if err := js.Conn().PublishMsg(dangling); err != nil {
		t.Fatal(err)
	}
	if err := js.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	ops := []persistence.Op{{Key: "a", Value: []byte("a")}, {Key: "b", Value: []byte("b")}}
	attempts := 0
	s.testHookRefused = func() { attempts++ }
	revs, err := s.CommitAudited(ctx, persistence.AuditEvent{Tenant: "T", Action: "x"}, ops...)
	if err != nil {
		t.Fatal(err)
	}
	if attempts == 0 {
		t.Fatal("the batch was never refused: the test did not hold the slot")
	}
	for i, o := range ops {
		if rec, err := s.Get(ctx, o.Key); err != nil || rec.Revision != revs[i] {
			t.Fatalf("%s = %+v, %v", o.Key, rec, err)
		}
	}
	if _, err := s.Get(ctx, "x"); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("the uncommitted batch was stored: %v", err)
	}
}

// TestQuorumLost: with two of three servers down the bucket has no
// quorum. A multi-key audited commit then fails with an error within its
// deadline (never acknowledged, never half-done); once the servers are
// back, the store has either all of it or none of it, and takes writes
// again.
func TestQuorumLost(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-server cluster takes seconds to form")
	}
	servers := startClusterServers(t, 3, true)
	ctx := context.Background()
	js := connect(t, servers[0].ClientURL())
	var s *Store
	testutil.Eventually(t, time.Minute, func() error { // until the meta leader knows all three servers
		var err error
		s, err = New(ctx, js, Options{Bucket: "quorum", Replicas: 3, RequestTimeout: 2 * time.Second})
		return err
	})
	t.Cleanup(func() { _ = s.Close() })
	revs, err := s.Commit(ctx, persistence.Op{Key: "a", Value: []byte("1")}, persistence.Op{Key: "b", Value: []byte("1")})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range servers[1:] {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
	ev := persistence.AuditEvent{Tenant: "t1", Actor: "cli", Action: "quorum.lost", Target: "x", Outcome: "ok"}
	cctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	_, err = s.CommitAudited(cctx, ev,
		persistence.Op{Key: "a", Value: []byte("2"), Expected: revs[0]}, persistence.Op{Key: "b", Value: []byte("2"), Expected: revs[1]})
	cancel()
	if err == nil {
		t.Fatal("a commit without a quorum was acknowledged")
	}
	if errors.Is(err, persistence.ErrRevisionMismatch) {
		t.Fatalf("a commit without a quorum failed as a conflict: %v", err)
	}
	t.Logf("commit without a quorum: %v", err)

	for _, ns := range servers[1:] {
		ns.restart()
	}
	// The failed commit may still be in flight on the stream's leader,
	// undecided: until it is, the leader checks a write's expected
	// revision against it ("wrong last sequence") while a read still
	// shows the stored value. Wait until a write of a's stored revision
	// is taken, or refused with a newer revision stored (the failed
	// commit came through).
	var a, b persistence.Record
	events := 0
	start := time.Now()
	testutil.Eventually(t, 2*time.Minute, func() error {
		var err error
		if a, err = s.Get(ctx, "a"); err != nil {
			return err
		}
		if string(a.Value) == "2" {
			return nil // the failed commit was stored after all
		}
		_, err = s.Commit(ctx, persistence.Op{Key: "a", Value: a.Value, Expected: a.Revision})
		return err
	})
	t.Logf("the commit without a quorum was decided %s after the servers came back", time.Since(start))
	// Both keys as they were, or both as the failed commit would have had
	// them, and its audit event with them or not at all. (Reads may time
	// out while the restarted replicas catch up: again.)
	testutil.Eventually(t, time.Minute, func() error {
		var err error
		if a, err = s.Get(ctx, "a"); err != nil {
			return err
		}
		if b, err = s.Get(ctx, "b"); err != nil {
			return err
		}
		events = 0
		return s.Audit(ctx, "t1", time.Time{}, time.Time{}, func(persistence.AuditEvent) error { events++; return nil })
	})
	if string(b.Value) != string(a.Value) {
		t.Fatalf("half a commit: a=%q b=%q", a.Value, b.Value)
	}
	if (string(a.Value) == "2") != (events == 1) {
		t.Fatalf("the commit's keys say %q but its audit event is there %d times", a.Value, events)
	}
	if _, err := s.Commit(ctx, persistence.Op{Key: "a", Value: []byte("3"), Expected: a.Revision}); err != nil {
		t.Fatalf("a write after the servers came back: %v", err)
	}
}
