package kvstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/persistence/storetest"
)

// TestConformance runs the Store conformance suite against the KV store on
// one embedded server, a fresh bucket per case.
func TestConformance(t *testing.T) {
	ns := startServer(t, nil)
	js := connect(t, ns.ClientURL())
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) persistence.Store {
		return openStore(t, js, Options{Bucket: fmt.Sprintf("b%d", n.Add(1))})
	})
}

// TestConformanceCluster runs the suite on a bucket replicated 3 times on
// an in-process cluster of 3 routed servers, each case connected to another
// server than the one before.
func TestConformanceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3-server cluster takes seconds to form")
	}
	urls := startCluster(t, 3)
	var n atomic.Int64
	storetest.Run(t, func(t *testing.T) persistence.Store {
		i := n.Add(1)
		js := connect(t, urls[int(i)%len(urls)])
		// Under load (a whole go test ./... on two cores) a server can
		// miss its beats long enough for the meta leader to call it
		// offline: a new R3 bucket is then "no suitable peers" until it
		// is heard again. The suite is about the store, not placement.
		var s *Store
		testutil.Eventually(t, 30*time.Second, func() error {
			var err error
			s, err = New(context.Background(), js, Options{Bucket: fmt.Sprintf("c%d", i), Replicas: 3})
			return err
		})
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
