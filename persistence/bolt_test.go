package persistence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.etcd.io/bbolt"
)

var _ Store = (*Bolt)(nil)

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sub", "dir", "etaxd.db")
	b, err := OpenBolt(path, BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, b, "a", "1", 0)
	mustPut(t, b, "a", "2", 1)
	mustPut(t, b, "b", "1", 0)
	mustPut(t, b, "gone", "1", 0)
	if _, err := b.Commit(ctx, Op{Key: "gone", Delete: true, Expected: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := b.AppendAudit(ctx, AuditEvent{Tenant: "T1", Action: fmt.Sprint("a", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v, %v", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode: %v, %v", fi.Mode(), err)
	}

	b = openAt(t, path, BoltOptions{})
	if rec := mustGet(t, b, "a"); string(rec.Value) != "2" || rec.Revision != 2 {
		t.Fatalf("a = %+v", rec)
	}
	if rec := mustGet(t, b, "b"); string(rec.Value) != "1" || rec.Revision != 1 {
		t.Fatalf("b = %+v", rec)
	}
	wantAbsent(t, b, "gone")
	// The tombstone survived: re-creating continues the revisions.
	if rev := mustPut(t, b, "gone", "again", 0); rev != 2 {
		t.Fatalf("re-created revision %d, want 2", rev)
	}
	var seqs []uint64
	if err := b.Audit(ctx, "T1", zeroTime, zeroTime, func(ev AuditEvent) error { seqs = append(seqs, ev.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs) != "[1 2 3]" {
		t.Fatalf("audit seqs after reopen = %v", seqs)
	}
	if err := b.AppendAudit(ctx, AuditEvent{Tenant: "T1"}); err != nil {
		t.Fatal(err)
	}
	var last uint64
	_ = b.Audit(ctx, "T1", zeroTime, zeroTime, func(ev AuditEvent) error { last = ev.Seq; return nil })
	if last != 4 {
		t.Fatalf("seq after reopen = %d, want 4", last)
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseDrainsQueuedCommits(t *testing.T) {
	ctx := context.Background()
	b, path := openTest(t, BoltOptions{})
	g := holdCommitter(b, hookReceived)

	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := Put(ctx, b, fmt.Sprintf("k%02d", i), []byte("v"), 0)
			errs <- err
		}()
	}
	<-g.arrived       // the committer holds one request
	queued(t, b, n-1) // and the others wait in the queue
	closed := make(chan error)
	go func() { closed <- b.Close() }()
	// Close cannot finish before the queue drains; let the committer go.
	close(g.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("a queued commit failed: %v", err)
		}
	}
	b2 := openAt(t, path, BoltOptions{})
	for i := range n {
		mustGet(t, b2, fmt.Sprintf("k%02d", i))
	}
}

func TestSecondOpenFailsClearly(t *testing.T) {
	b, path := openTest(t, BoltOptions{})
	_ = b
	_, err := OpenBolt(path, BoltOptions{LockTimeout: 50 * 1e6})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open = %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name  string
		setup func(path string) error
	}{
		{"not a bolt file", func(path string) error { return os.WriteFile(path, bytes.Repeat([]byte("junk"), 4096), 0o600) }},
		{"another program's bolt file", func(path string) error {
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				return err
			}
			err = db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err })
			return errors.Join(err, db.Close())
		}},
		{"a newer format", func(path string) error {
			b, err := OpenBolt(path, BoltOptions{})
			if err != nil {
				return err
			}
			if err := b.Close(); err != nil {
				return err
			}
			db, err := bbolt.Open(path, 0o600, nil)
			if err != nil {
				return err
			}
			err = db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyFormat, []byte("etaxd-bolt-99")) })
			return errors.Join(err, db.Close())
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, fmt.Sprint(i))
			if err := tt.setup(path); err != nil {
				t.Fatal(err)
			}
			if b, err := OpenBolt(path, BoltOptions{}); err == nil {
				_ = b.Close()
				t.Fatal("OpenBolt succeeded")
			} else {
				t.Log(err)
			}
		})
	}
}

func TestOpenRejectsNegativeOptions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	for _, o := range []BoltOptions{{MaxBatch: -1}, {MaxDelay: -1}, {LockTimeout: -1}} {
		if b, err := OpenBolt(path, o); err == nil {
			_ = b.Close()
			t.Errorf("OpenBolt(%+v) succeeded", o)
		}
	}
}

func TestCheckFindsLayoutDamage(t *testing.T) {
	b, _ := openTest(t, BoltOptions{})
	mustPut(t, b, "a", "1", 0)
	if err := b.Check(); err != nil {
		t.Fatalf("Check on a good file: %v", err)
	}
	// Damage the layout behind the store's back.
	if err := b.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketKV).Put([]byte("short"), []byte{1}); err != nil {
			return err
		}
		return tx.Bucket(bucketTomb).Put([]byte("a"), []byte{0, 0, 0, 0, 0, 0, 0, 1})
	}); err != nil {
		t.Fatal(err)
	}
	err := b.Check()
	if err == nil || !strings.Contains(err.Error(), "short") || !strings.Contains(err.Error(), "both live and deleted") {
		t.Fatalf("Check = %v", err)
	}
	// Reading the damaged record fails cleanly, without a panic.
	if _, err := b.Get(context.Background(), "short"); err == nil {
		t.Fatal("Get of a corrupt record succeeded")
	}
	if _, err := b.Commit(context.Background(), Op{Key: "short", AnyRevision: true}); err == nil {
		t.Fatal("Commit over a corrupt record succeeded")
	}
	// Repair so that the cleanup check passes.
	if err := b.db.Update(func(tx *bbolt.Tx) error {
		return errors.Join(tx.Bucket(bucketKV).Delete([]byte("short")), tx.Bucket(bucketTomb).Delete([]byte("a")))
	}); err != nil {
		t.Fatal(err)
	}
}

// TestInvalidInputNeverReachesCommitter: the input the contract refuses
// (storetest's InvalidInput) is refused before the committer, so it costs
// no transaction.
func TestInvalidInputNeverReachesCommitter(t *testing.T) {
	ctx := context.Background()
	b, _ := openTest(t, BoltOptions{})
	long := strings.Repeat("k", MaxKeyLen+1)
	calls := []func() error{
		func() error { _, err := b.Commit(ctx, Op{Key: "", Value: []byte("v")}); return err },
		func() error { _, err := b.Commit(ctx, Op{Key: long, Value: []byte("v")}); return err },
		func() error {
			_, err := b.Commit(ctx, Op{Key: "good", Value: []byte("v")}, Op{Key: long})
			return err
		},
		func() error { _, err := b.Commit(ctx, Op{Key: "big", Value: make([]byte, MaxValueLen+1)}); return err },
		func() error { return b.AppendAudit(ctx, AuditEvent{Tenant: "a\x00b"}) },
		func() error { return b.AppendAudit(ctx, AuditEvent{Tenant: long}) },
	}
	for i, call := range calls {
		if err := call(); err == nil {
			t.Fatalf("call %d succeeded", i)
		}
	}
	if s := b.Stats(); s.Transactions != 0 {
		t.Errorf("invalid input reached the committer: %+v", s)
	}
}

// TestCommitWithoutOpsMakesNoTransaction: an empty Commit (storetest's
// CommitWithoutOps) costs no transaction.
func TestCommitWithoutOpsMakesNoTransaction(t *testing.T) {
	b, _ := openTest(t, BoltOptions{})
	revs, err := b.Commit(context.Background())
	if err != nil || len(revs) != 0 {
		t.Fatalf("Commit() = %v, %v", revs, err)
	}
	if s := b.Stats(); s.Transactions != 0 {
		t.Errorf("an empty commit made a transaction: %+v", s)
	}
}

// TestCloseThenCheckAndStats: after Close, Check returns ErrClosed and
// Stats still answers (storetest's CloseThenErrClosed covers the Store
// methods).
func TestCloseThenCheckAndStats(t *testing.T) {
	b, _ := openTest(t, BoltOptions{})
	mustPut(t, b, "a", "1", 0)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(); !errors.Is(err, ErrClosed) {
		t.Errorf("Check after Close = %v, want ErrClosed", err)
	}
	if s := b.Stats(); s.Commits != 1 {
		t.Errorf("Stats after Close = %+v, want 1 commit", s)
	}
}
