package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/etaxd/etaxd/persistence"
)

// Option changes what Run checks.
type Option func(*config)

type config struct {
	exact bool
}

// ExactRevisions says that the store numbers a key's revisions 1, 2, 3...
// and its audit seqs 1, 2, 3... in append order: Run then checks the
// numbers too, and the cases that need a caller to predict a revision.
func ExactRevisions() Option { return func(c *config) { c.exact = true } }

// Opener opens a fresh, empty store for t, closed at t's cleanup.
type Opener func(t *testing.T) persistence.Store

// Run runs the conformance suite against the stores open returns.
func Run(t *testing.T, open func(t *testing.T) persistence.Store, opts ...Option) {
	var c config
	for _, o := range opts {
		o(&c)
	}
	s := suite{open: open, exact: c.exact}
	t.Run("CommitCAS", s.testCommitCAS)
	t.Run("InvalidInput", s.testInvalidInput)
	t.Run("CommitWithoutOps", s.testCommitWithoutOps)
	t.Run("ValuesAreCopies", s.testValuesAreCopies)
	t.Run("Scan", s.testScan)
	t.Run("ScanEncodedKeys", s.testScanEncodedKeys)
	t.Run("ScanPagesAndWritesFromFn", s.testScanPagesAndWritesFromFn)
	t.Run("ScanContextCancelled", s.testScanContextCancelled)
	t.Run("CloseThenErrClosed", s.testCloseThenErrClosed)
	t.Run("ConcurrentCreateOneWins", s.testConcurrentCreateOneWins)
	t.Run("UpdateConcurrentWritersLoseNothing", s.testUpdateConcurrentWritersLoseNothing)
	t.Run("UpdateUnchangedAndFailing", s.testUpdateUnchangedAndFailing)
	t.Run("UpdateGivesUpUnderContention", s.testUpdateGivesUpUnderContention)
	t.Run("UpdateAuditedAppendsWithTheWrite", s.testUpdateAuditedAppendsWithTheWrite)
	t.Run("Audit", s.testAudit)
	t.Run("AuditPages", s.testAuditPages)
	t.Run("CommitAudited", s.testCommitAudited)
	t.Run("CommitAuditedMultiKey", s.testCommitAuditedMultiKey)
	t.Run("DumpRestore", s.testDumpRestore)
}

type suite struct {
	open  func(t *testing.T) persistence.Store
	exact bool
}

var zeroTime time.Time

// readPage is larger than the read pages of the stores under test, so that
// the paging cases cross page boundaries.
const readPage = 256

// mustPut puts value at key expecting revision expected, and returns the new
// revision.
func mustPut(t testing.TB, s persistence.Store, key, value string, expected uint64) uint64 {
	t.Helper()
	rev, err := persistence.Put(context.Background(), s, key, []byte(value), expected)
	if err != nil {
		t.Fatalf("Put(%q, expected %d): %v", key, expected, err)
	}
	return rev
}

// mustGet returns the record at key.
func mustGet(t testing.TB, s persistence.Store, key string) persistence.Record {
	t.Helper()
	rec, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return rec
}

// wantAbsent fails unless key holds nothing.
func wantAbsent(t testing.TB, s persistence.Store, key string) {
	t.Helper()
	if rec, err := s.Get(context.Background(), key); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("Get(%q) = %+v, %v; want ErrNotFound", key, rec, err)
	}
}
