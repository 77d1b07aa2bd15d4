package natsbus

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/testutil"
)

// followedCreation is the creation time of the stream n follows.
func followedCreation(n *NonceLog) time.Time {
	n.follower.Lock()
	defer n.follower.Unlock()
	return n.created
}

// TestNonceLogFollowsAStreamMadeAnew: the stream is lost (all of an
// external NATS's servers restarted, or an operator removed it) while two
// nodes follow it. The first node to append makes it again; the other one,
// whose noted sequences belong to the old stream, finds out when its
// append is refused, follows the new stream from its start, and refuses
// the nonce the first one used on it.
func TestNonceLogFollowsAStreamMadeAnew(t *testing.T) {
	b := startBus(t, t.TempDir())
	node1, node2 := openNonceLog(t, b, 0), openNonceLog(t, b, 0)
	now := time.Now()
	for i := range 10 {
		mustUse(t, node2, "key", fmt.Sprintf("old-%d", i), now, true)
	}
	before := followedCreation(node1)
	if err := b.JetStream().DeleteStream(context.Background(), NonceLogStream); err != nil {
		t.Fatal(err)
	}
	mustUse(t, node1, "key", "new", now, true)
	if !followedCreation(node1).After(before) {
		t.Fatal("node1 appended without following the new stream")
	}
	mustUse(t, node2, "key", "new", now, false)
	mustUse(t, node2, "key", "old-3", now, false) // remembered from before
	mustUse(t, node2, "key", "newer", now, true)
	mustUse(t, node1, "key", "newer", now, false)
}

// TestNonceLogNoticesAStreamMadeAnewElsewhere: when another process makes
// the stream again, a node that has not appended since notices it on its
// own within remadeCheck and follows the new stream.
func TestNonceLogNoticesAStreamMadeAnewElsewhere(t *testing.T) {
	defer func(d time.Duration) { remadeCheck = d }(remadeCheck)
	remadeCheck = 50 * time.Millisecond
	b := startBus(t, t.TempDir())
	n := openNonceLog(t, b, 0)
	before := followedCreation(n)
	if err := b.JetStream().DeleteStream(context.Background(), NonceLogStream); err != nil {
		t.Fatal(err)
	}
	other := openNonceLog(t, b, 0) // makes the stream again
	now := time.Now()
	mustUse(t, other, "key2", "x", now, true)
	testutil.Eventually(t, 10*time.Second, func() error {
		if !followedCreation(n).After(before) {
			return fmt.Errorf("still following the stream of %v", before)
		}
		return nil
	})
	mustUse(t, n, "key2", "x", now, false)
}
