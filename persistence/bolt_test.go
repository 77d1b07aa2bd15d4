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

func TestCommitCAS(t *testing.T) {
	ctx := context.Background()
	type step struct {
		ops      []Op
		wantRevs []uint64
		wantErr  error
	}
	tests := []struct {
		name  string
		steps []step
		// want is the final content: key → "value@revision"; absent keys
		// are listed in gone.
		want map[string]string
		gone []string
	}{
		{
			name:  "create with expected 0",
			steps: []step{{ops: []Op{{Key: "a", Value: []byte("1")}}, wantRevs: []uint64{1}}},
			want:  map[string]string{"a": "1@1"},
		},
		{
			name: "create twice conflicts",
			steps: []step{
				{ops: []Op{{Key: "a", Value: []byte("1")}}, wantRevs: []uint64{1}},
				{ops: []Op{{Key: "a", Value: []byte("2")}}, wantErr: ErrRevisionMismatch},
			},
			want: map[string]string{"a": "1@1"},
		},
		{
			name: "update with the current revision",
			steps: []step{
				{ops: []Op{{Key: "a", Value: []byte("1")}}, wantRevs: []uint64{1}},
				{ops: []Op{{Key: "a", Value: []byte("2"), Expected: 1}}, wantRevs: []uint64{2}},
				{ops: []Op{{Key: "a", Value: []byte("3"), Expected: 2}}, wantRevs: []uint64{3}},
			},
			want: map[string]string{"a": "3@3"},
		},
		{
			name: "stale revision writes nothing",
			steps: []step{
				{ops: []Op{{Key: "a", Value: []byte("1")}}, wantRevs: []uint64{1}},
				{ops: []Op{{Key: "a", Value: []byte("2"), Expected: 1}}, wantRevs: []uint64{2}},
				{ops: []Op{{Key: "a", Value: []byte("stale"), Expected: 1}}, wantErr: ErrRevisionMismatch},
			},
			want: map[string]string{"a": "2@2"},
		},
		{
			name: "update of an absent key conflicts",
			steps: []step{
				{ops: []Op{{Key: "a", Value: []byte("1"), Expected: 1}}, wantErr: ErrRevisionMismatch},
			},
			gone: []string{"a"},
		},
		{
			name: "delete with its revision",
			steps: []step{
				{ops: []Op{{Key: "a", Value: []byte("1")}}, wantRevs: []uint64{1}},
				{ops: []Op{{Key: "a", Delete: true, Expected: 1}}, wantRevs: []uint64{0}},
			},
			gone: []string{"a"},
		},
		{
			name: "delete with a wrong revision writes nothing",
			steps: []step{
				{ops: []Op{{Key: "a", Value: []byte("1")}}, wantRevs: []uint64{1}},
				{ops: []Op{{Key: "a", Delete: true, Expected: 2}}, wantErr: ErrRevisionMismatch},
				{ops: []Op{{Key: "a", Delete: true}}, wantErr: ErrRevisionMismatch},
			},
			want: map[string]string{"a": "1@1"},
		},
		{
			name: "delete of an absent key with expected 0 is a no-op",
			steps: []step{
				{ops: []Op{{Key: "a", Delete: true}}, wantRevs: []uint64{0}},
			},
			gone: []string{"a"},
		},
		{
			name: "re-create after delete continues the revisions",
			steps: []step{
				{ops: []Op{{Key: "a", Value: []byte("1")}}, wantRevs: []uint64{1}},
				{ops: []Op{{Key: "a", Value: []byte("2"), Expected: 1}}, wantRevs: []uint64{2}},
				{ops: []Op{{Key: "a", Delete: true, Expected: 2}}, wantRevs: []uint64{0}},
				// A writer still holding revision 2 (or 1) cannot write.
				{ops: []Op{{Key: "a", Value: []byte("stale"), Expected: 2}}, wantErr: ErrRevisionMismatch},
				{ops: []Op{{Key: "a", Value: []byte("new")}}, wantRevs: []uint64{3}},
			},
			want: map[string]string{"a": "new@3"},
		},
		{
			name: "any revision skips the check",
			steps: []step{
				{ops: []Op{{Key: "i", Value: []byte("1"), AnyRevision: true}}, wantRevs: []uint64{1}},
				{ops: []Op{{Key: "i", Value: []byte("2"), Expected: 7, AnyRevision: true}}, wantRevs: []uint64{2}},
			},
			want: map[string]string{"i": "2@2"},
		},
		{
			name: "multi-op commit is all or nothing",
			steps: []step{
				{ops: []Op{{Key: "a", Value: []byte("1")}}, wantRevs: []uint64{1}},
				{ops: []Op{
					{Key: "b", Value: []byte("x")},
					{Key: "c", Value: []byte("x")},
					{Key: "a", Delete: true, Expected: 1},
					{Key: "a2", Value: []byte("x"), Expected: 5}, // fails
					{Key: "d", Value: []byte("x")},
				}, wantErr: ErrRevisionMismatch},
			},
			want: map[string]string{"a": "1@1"},
			gone: []string{"b", "c", "a2", "d"},
		},
		{
			name: "multi-op commit applies every op",
			steps: []step{
				{ops: []Op{{Key: "a", Value: []byte("1")}}, wantRevs: []uint64{1}},
				{ops: []Op{
					{Key: "b", Value: []byte("b")},
					{Key: "a", Value: []byte("2"), Expected: 1},
					{Key: "c", Value: []byte("c")},
				}, wantRevs: []uint64{1, 2, 1}},
			},
			want: map[string]string{"a": "2@2", "b": "b@1", "c": "c@1"},
		},
		{
			name: "ops on one key apply in order",
			steps: []step{
				{ops: []Op{
					{Key: "a", Value: []byte("1")},
					{Key: "a", Value: []byte("2"), Expected: 1},
					{Key: "a", Delete: true, Expected: 2},
					{Key: "a", Value: []byte("4")},
				}, wantRevs: []uint64{1, 2, 0, 3}},
			},
			want: map[string]string{"a": "4@3"},
		},
		{
			name: "a later op of one key checks the earlier op's revision",
			steps: []step{
				{ops: []Op{
					{Key: "a", Value: []byte("1")},
					{Key: "a", Value: []byte("2")}, // expects 0, but the first op made 1
				}, wantErr: ErrRevisionMismatch},
			},
			gone: []string{"a"},
		},
		{
			name: "empty value",
			steps: []step{
				{ops: []Op{{Key: "e", Value: nil}}, wantRevs: []uint64{1}},
			},
			want: map[string]string{"e": "@1"},
		},
		{
			name: "many ops, with repeated keys",
			steps: []step{{
				ops: func() []Op {
					var ops []Op
					for i := range 20 {
						ops = append(ops, Op{Key: fmt.Sprintf("k%d", i%10), Value: []byte("v"), Expected: uint64(i / 10)})
					}
					return ops
				}(),
				wantRevs: []uint64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2},
			}},
			want: map[string]string{"k0": "v@2", "k9": "v@2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := openTest(t, BoltOptions{})
			for i, st := range tt.steps {
				revs, err := b.Commit(ctx, st.ops...)
				if st.wantErr != nil {
					if !errors.Is(err, st.wantErr) {
						t.Fatalf("step %d: err = %v, want %v", i, err, st.wantErr)
					}
					if revs != nil {
						t.Fatalf("step %d: revs = %v on error", i, revs)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if fmt.Sprint(revs) != fmt.Sprint(st.wantRevs) {
					t.Fatalf("step %d: revs = %v, want %v", i, revs, st.wantRevs)
				}
			}
			for k, want := range tt.want {
				rec := mustGet(t, b, k)
				if got := fmt.Sprintf("%s@%d", rec.Value, rec.Revision); got != want || rec.Key != k {
					t.Errorf("Get(%q) = %s (key %q), want %s", k, got, rec.Key, want)
				}
			}
			for _, k := range tt.gone {
				wantAbsent(t, b, k)
			}
		})
	}
}

func TestInvalidInput(t *testing.T) {
	ctx := context.Background()
	b, _ := openTest(t, BoltOptions{})
	long := strings.Repeat("k", MaxKeyLen+1)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"commit empty key", func() error { _, err := b.Commit(ctx, Op{Key: "", Value: []byte("v")}); return err }, ErrInvalidKey},
		{"commit long key", func() error { _, err := b.Commit(ctx, Op{Key: long, Value: []byte("v")}); return err }, ErrInvalidKey},
		{"commit long key after a good one", func() error {
			_, err := b.Commit(ctx, Op{Key: "good", Value: []byte("v")}, Op{Key: long})
			return err
		}, ErrInvalidKey},
		{"commit huge value", func() error {
			_, err := b.Commit(ctx, Op{Key: "big", Value: make([]byte, MaxValueLen+1)})
			return err
		}, ErrValueTooLarge},
		{"get empty key", func() error { _, err := b.Get(ctx, ""); return err }, ErrInvalidKey},
		{"get long key", func() error { _, err := b.Get(ctx, long); return err }, ErrInvalidKey},
		{"get missing key", func() error { _, err := b.Get(ctx, "missing"); return err }, ErrNotFound},
		{"audit tenant with NUL", func() error { return b.AppendAudit(ctx, AuditEvent{Tenant: "a\x00b"}) }, ErrInvalidKey},
		{"audit long tenant", func() error { return b.AppendAudit(ctx, AuditEvent{Tenant: long}) }, ErrInvalidKey},
		{"audit read of a tenant with NUL", func() error {
			return b.Audit(ctx, "a\x00", zeroTime, zeroTime, func(AuditEvent) error { return nil })
		}, ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	wantAbsent(t, b, "good")
	wantAbsent(t, b, "big")
	if s := b.Stats(); s.Transactions != 0 {
		t.Errorf("invalid input reached the committer: %+v", s)
	}
	// A key of exactly MaxKeyLen is fine.
	mustPut(t, b, strings.Repeat("k", MaxKeyLen), "v", 0)
}

func TestCommitWithoutOps(t *testing.T) {
	b, _ := openTest(t, BoltOptions{})
	revs, err := b.Commit(context.Background())
	if err != nil || len(revs) != 0 {
		t.Fatalf("Commit() = %v, %v", revs, err)
	}
	if s := b.Stats(); s.Transactions != 0 {
		t.Errorf("an empty commit made a transaction: %+v", s)
	}
}

func TestValuesAreCopies(t *testing.T) {
	ctx := context.Background()
	b, _ := openTest(t, BoltOptions{})
	v := []byte("original")
	mustPut(t, b, "k", string(v), 0)
	if _, err := b.Commit(ctx, Op{Key: "k2", Value: v}); err != nil {
		t.Fatal(err)
	}
	copy(v, "CHANGED!") // the caller may reuse its buffer after Commit
	rec := mustGet(t, b, "k2")
	if string(rec.Value) != "original" {
		t.Fatalf("stored value changed with the caller's buffer: %q", rec.Value)
	}
	rec.Value[0] = 'X' // and may modify what Get returned
	if got := mustGet(t, b, "k2"); string(got.Value) != "original" {
		t.Fatalf("stored value changed with Get's result: %q", got.Value)
	}
}

func TestScan(t *testing.T) {
	ctx := context.Background()
	b, _ := openTest(t, BoltOptions{})
	keys := []string{
		"account/T1/A2", "account/T1/A1", "account/T10/A1", "account/T2/A1",
		"tenant/T1", "tenant/T2", "account/T1/A10", "account/T1/", "accounts",
	}
	for _, k := range keys {
		mustPut(t, b, k, "v:"+k, 0)
	}
	mustPut(t, b, "account/T1/A1", "v:account/T1/A1", 1) // revision 2
	if _, err := b.Commit(ctx, Op{Key: "account/T1/A2", Delete: true, Expected: 1}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		prefix string
		want   []string
	}{
		{"account/T1/", []string{"account/T1/", "account/T1/A1", "account/T1/A10"}},
		{"account/T1", []string{"account/T1/", "account/T1/A1", "account/T1/A10", "account/T10/A1"}},
		{"tenant/", []string{"tenant/T1", "tenant/T2"}},
		{"account", []string{"account/T1/", "account/T1/A1", "account/T1/A10", "account/T10/A1", "account/T2/A1", "accounts"}},
		{"nothing/", nil},
		{"", []string{"account/T1/", "account/T1/A1", "account/T1/A10", "account/T10/A1", "account/T2/A1", "accounts", "tenant/T1", "tenant/T2"}},
	}
	for _, tt := range tests {
		t.Run("prefix "+tt.prefix, func(t *testing.T) {
			var got []string
			err := b.Scan(ctx, tt.prefix, func(r Record) error {
				if string(r.Value) != "v:"+r.Key {
					t.Errorf("record %q holds %q", r.Key, r.Value)
				}
				wantRev := uint64(1)
				if r.Key == "account/T1/A1" {
					wantRev = 2
				}
				if r.Revision != wantRev {
					t.Errorf("record %q revision %d, want %d", r.Key, r.Revision, wantRev)
				}
				got = append(got, r.Key)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("Scan(%q) = %v, want %v", tt.prefix, got, tt.want)
			}
		})
	}

	t.Run("fn error stops the scan", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := b.Scan(ctx, "", func(Record) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("Scan = %v after %d calls", err, n)
		}
	})
}

func TestScanPagesAndWritesFromFn(t *testing.T) {
	ctx := context.Background()
	b, _ := openTest(t, BoltOptions{})
	const n = 3*readPage + 17
	ops := make([]Op, 0, n)
	for i := range n {
		ops = append(ops, Op{Key: fmt.Sprintf("p/%05d", i), Value: bytes.Repeat([]byte{'x'}, 100)})
	}
	if _, err := b.Commit(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	// fn writes to the store, growing the file: this must not deadlock
	// against the scan's read transaction.
	i := 0
	err := b.Scan(ctx, "p/", func(r Record) error {
		if want := fmt.Sprintf("p/%05d", i); r.Key != want {
			return fmt.Errorf("record %d is %q, want %q", i, r.Key, want)
		}
		i++
		_, err := b.Commit(ctx, Op{Key: "q/" + r.Key, Value: bytes.Repeat([]byte{'y'}, 4096)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != n {
		t.Fatalf("scanned %d records, want %d", i, n)
	}
}

func TestScanContextCancelled(t *testing.T) {
	b, _ := openTest(t, BoltOptions{})
	mustPut(t, b, "a", "v", 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Scan(ctx, "", func(Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan = %v, want context.Canceled", err)
	}
}

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

func TestCloseThenErrClosed(t *testing.T) {
	ctx := context.Background()
	b, _ := openTest(t, BoltOptions{})
	mustPut(t, b, "a", "1", 0)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Get":    func() error { _, err := b.Get(ctx, "a"); return err },
		"Commit": func() error { _, err := b.Commit(ctx, Op{Key: "a", Expected: 1}); return err },
		"Empty commit": func() error {
			_, err := b.Commit(ctx)
			return err
		},
		"Scan":        func() error { return b.Scan(ctx, "", func(Record) error { return nil }) },
		"AppendAudit": func() error { return b.AppendAudit(ctx, AuditEvent{Tenant: "T"}) },
		"Audit":       func() error { return b.Audit(ctx, "T", zeroTime, zeroTime, func(AuditEvent) error { return nil }) },
		"Check":       b.Check,
		"Close":       b.Close,
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
	_ = b.Stats() // still fine
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
