package persistence_test

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/persistence/storetest"
)

// TestBoltConformance runs the Store conformance suite against Bolt, whose
// revisions and audit seqs count 1, 2, 3....
func TestBoltConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) persistence.Store {
		b, err := persistence.OpenBolt(filepath.Join(t.TempDir(), "etaxd.db"), persistence.BoltOptions{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := b.Check(); err != nil && !errors.Is(err, persistence.ErrClosed) {
				t.Errorf("Check: %v", err)
			}
			if err := b.Close(); err != nil && !errors.Is(err, persistence.ErrClosed) {
				t.Errorf("Close: %v", err)
			}
		})
		return b
	}, storetest.ExactRevisions())
}

// TestBoltConformanceOpaque runs the suite as for a store whose revisions
// are opaque tokens (the JetStream KV store), so that its revision labels
// are checked against a store whose numbers are known; with a group-commit
// delay, so that concurrent writes share transactions.
func TestBoltConformanceOpaque(t *testing.T) {
	storetest.Run(t, func(t *testing.T) persistence.Store {
		b, err := persistence.OpenBolt(filepath.Join(t.TempDir(), "etaxd.db"), persistence.BoltOptions{MaxDelay: 200 * time.Microsecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}
