package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/etaxd/etaxd/persistence"
)

func (s suite) testInvalidInput(t *testing.T) {
	ctx := context.Background()
	b := s.open(t)
	long := strings.Repeat("k", persistence.MaxKeyLen+1)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"commit empty key", func() error { _, err := b.Commit(ctx, persistence.Op{Key: "", Value: []byte("v")}); return err }, persistence.ErrInvalidKey},
		{"commit long key", func() error { _, err := b.Commit(ctx, persistence.Op{Key: long, Value: []byte("v")}); return err }, persistence.ErrInvalidKey},
		{"commit long key after a good one", func() error {
			_, err := b.Commit(ctx, persistence.Op{Key: "good", Value: []byte("v")}, persistence.Op{Key: long})
			return err
		}, persistence.ErrInvalidKey},
		{"commit huge value", func() error {
			_, err := b.Commit(ctx, persistence.Op{Key: "big", Value: make([]byte, persistence.MaxValueLen+1)})
			return err
		}, persistence.ErrValueTooLarge},
		{"audited commit of a huge value", func() error {
			_, err := b.CommitAudited(ctx, persistence.AuditEvent{Tenant: "T"}, persistence.Op{Key: "big", Value: make([]byte, persistence.MaxValueLen+1)})
			return err
		}, persistence.ErrValueTooLarge},
		{"get empty key", func() error { _, err := b.Get(ctx, ""); return err }, persistence.ErrInvalidKey},
		{"get long key", func() error { _, err := b.Get(ctx, long); return err }, persistence.ErrInvalidKey},
		{"get missing key", func() error { _, err := b.Get(ctx, "missing"); return err }, persistence.ErrNotFound},
		{"audit tenant with NUL", func() error { return b.AppendAudit(ctx, persistence.AuditEvent{Tenant: "a\x00b"}) }, persistence.ErrInvalidKey},
		{"audit long tenant", func() error { return b.AppendAudit(ctx, persistence.AuditEvent{Tenant: long}) }, persistence.ErrInvalidKey},
		{"audited commit with a long tenant", func() error {
			_, err := b.CommitAudited(ctx, persistence.AuditEvent{Tenant: long}, persistence.Op{Key: "good", Value: []byte("v")})
			return err
		}, persistence.ErrInvalidKey},
		{"huge audit event", func() error {
			return b.AppendAudit(ctx, persistence.AuditEvent{Tenant: "T", Detail: strings.Repeat("d", persistence.MaxValueLen)})
		}, persistence.ErrValueTooLarge},
		{"audit read of a tenant with NUL", func() error {
			return b.Audit(ctx, "a\x00", zeroTime, zeroTime, func(persistence.AuditEvent) error { return nil })
		}, persistence.ErrInvalidKey},
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
	n := 0
	if err := b.Audit(ctx, "T", zeroTime, zeroTime, func(persistence.AuditEvent) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a refused write appended %d audit events", n)
	}
	// A key of exactly MaxKeyLen is fine, and so is a value of MaxValueLen.
	mustPut(t, b, strings.Repeat("k", persistence.MaxKeyLen), "v", 0)
	mustPut(t, b, strings.Repeat("%/", persistence.MaxKeyLen/2), "v", 0)
	big := bytes.Repeat([]byte{0xa5}, persistence.MaxValueLen)
	if _, err := b.Commit(ctx, persistence.Op{Key: "big", Value: big}); err != nil {
		t.Fatalf("value of MaxValueLen: %v", err)
	}
	if got := mustGet(t, b, "big"); !bytes.Equal(got.Value, big) {
		t.Fatalf("value of MaxValueLen read back as %d bytes", len(got.Value))
	}
}

func (s suite) testScan(t *testing.T) {
	ctx := context.Background()
	b := s.open(t)
	keys := []string{
		"account/T1/A2", "account/T1/A1", "account/T10/A1", "account/T2/A1",
		"tenant/T1", "tenant/T2", "account/T1/A10", "account/T1/", "accounts",
	}
	revs := map[string]uint64{}
	for _, k := range keys {
		revs[k] = mustPut(t, b, k, "v:"+k, 0)
	}
	revs["account/T1/A1"] = mustPut(t, b, "account/T1/A1", "v:account/T1/A1", revs["account/T1/A1"])
	if s.exact && revs["account/T1/A1"] != 2 {
		t.Fatalf("second revision %d, want 2", revs["account/T1/A1"])
	}
	if _, err := b.Commit(ctx, persistence.Op{Key: "account/T1/A2", Delete: true, Expected: revs["account/T1/A2"]}); err != nil {
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
		{"account/", []string{"account/T1/", "account/T1/A1", "account/T1/A10", "account/T10/A1", "account/T2/A1"}},
		{"account/T1/A", []string{"account/T1/A1", "account/T1/A10"}},
		{"account/T1/A1", []string{"account/T1/A1", "account/T1/A10"}},
		{"account/T1/A10", []string{"account/T1/A10"}},
		{"tenant/T1/", nil},
		{"nothing/", nil},
		{"", []string{"account/T1/", "account/T1/A1", "account/T1/A10", "account/T10/A1", "account/T2/A1", "accounts", "tenant/T1", "tenant/T2"}},
	}
	for _, tt := range tests {
		t.Run("prefix "+tt.prefix, func(t *testing.T) {
			var got []string
			err := b.Scan(ctx, tt.prefix, func(r persistence.Record) error {
				if string(r.Value) != "v:"+r.Key {
					t.Errorf("record %q holds %q", r.Key, r.Value)
				}
				if r.Revision != revs[r.Key] {
					t.Errorf("record %q revision %d, want %d", r.Key, r.Revision, revs[r.Key])
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
		err := b.Scan(ctx, "", func(persistence.Record) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("Scan = %v after %d calls", err, n)
		}
	})
}

// testScanEncodedKeys: keys of any bytes come back as written, in byte
// order, and a prefix selects exactly the keys that start with it, whatever
// characters it holds and wherever it ends.
func (s suite) testScanEncodedKeys(t *testing.T) {
	ctx := context.Background()
	b := s.open(t)
	keys := []string{
		"a", "a/", "a//", "a//b", "a/b", "a/b.c", "a/b/c", "a/b_c", "a/b=c", "a/b%2F", "a/b c", "a/b\x00",
		"a/\xff", "a/é", "a/B", "a/-", "a/.", "a/..", "a/_", "a/=", "a/*", "a/>", "/", "//", "/x", "b", "a.b", "a_2F",
	}
	for _, k := range keys {
		mustPut(t, b, k, k, 0)
	}
	sorted := slices.Sorted(slices.Values(keys))
	prefixes := []string{"", "a", "a/", "a//", "a/b", "a/b/", "a/b.", "a/b_", "a/b=", "a/=", "a/.", "/", "//", "a.", "a_", "a/\xff", "a/é", "zz", "a/b\x00"}
	for _, p := range prefixes {
		var want []string
		for _, k := range sorted {
			if strings.HasPrefix(k, p) {
				want = append(want, k)
			}
		}
		var got []string
		if err := b.Scan(ctx, p, func(r persistence.Record) error {
			if string(r.Value) != r.Key {
				t.Errorf("record %q holds %q", r.Key, r.Value)
			}
			got = append(got, r.Key)
			return nil
		}); err != nil {
			t.Fatalf("Scan(%q): %v", p, err)
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", want) {
			t.Errorf("Scan(%q) = %q, want %q", p, got, want)
		}
	}
	for _, k := range keys {
		if got := mustGet(t, b, k); string(got.Value) != k {
			t.Errorf("Get(%q) = %q", k, got.Value)
		}
	}
}

func (s suite) testScanPagesAndWritesFromFn(t *testing.T) {
	ctx := context.Background()
	b := s.open(t)
	const n = 3*readPage + 17
	ops := make([]persistence.Op, 0, n)
	for i := range n {
		ops = append(ops, persistence.Op{Key: fmt.Sprintf("p/%05d", i), Value: bytes.Repeat([]byte{'x'}, 100)})
	}
	if _, err := b.Commit(ctx, ops...); err != nil {
		t.Fatal(err)
	}
	// fn writes to the store: this must not deadlock against the scan.
	i := 0
	err := b.Scan(ctx, "p/", func(r persistence.Record) error {
		if want := fmt.Sprintf("p/%05d", i); r.Key != want {
			return fmt.Errorf("record %d is %q, want %q", i, r.Key, want)
		}
		i++
		_, err := b.Commit(ctx, persistence.Op{Key: "q/" + r.Key, Value: bytes.Repeat([]byte{'y'}, 4096)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != n {
		t.Fatalf("scanned %d records, want %d", i, n)
	}
}

func (s suite) testScanContextCancelled(t *testing.T) {
	b := s.open(t)
	mustPut(t, b, "a", "v", 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Scan(ctx, "", func(persistence.Record) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan = %v, want context.Canceled", err)
	}
}

func (s suite) testCloseThenErrClosed(t *testing.T) {
	ctx := context.Background()
	b := s.open(t)
	mustPut(t, b, "a", "1", 0)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Get":    func() error { _, err := b.Get(ctx, "a"); return err },
		"Commit": func() error { _, err := b.Commit(ctx, persistence.Op{Key: "a", Expected: 1}); return err },
		"Empty commit": func() error {
			_, err := b.Commit(ctx)
			return err
		},
		"CommitAudited": func() error {
			_, err := b.CommitAudited(ctx, persistence.AuditEvent{Tenant: "T"}, persistence.Op{Key: "a", Expected: 1})
			return err
		},
		"Scan":        func() error { return b.Scan(ctx, "", func(persistence.Record) error { return nil }) },
		"AppendAudit": func() error { return b.AppendAudit(ctx, persistence.AuditEvent{Tenant: "T"}) },
		"Audit": func() error {
			return b.Audit(ctx, "T", zeroTime, zeroTime, func(persistence.AuditEvent) error { return nil })
		},
		"Close": b.Close,
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, persistence.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}
