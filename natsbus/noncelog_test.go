package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/internal/sign"
)

// openNonceLog opens a nonce log on b, closed at cleanup.
func openNonceLog(t *testing.T, b *Bus, capacity int) *NonceLog {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := b.OpenNonceLog(ctx, capacity)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// nonceMessages returns how many batches the log's stream holds.
func nonceMessages(t *testing.T, b *Bus) uint64 {
	t.Helper()
	s, err := b.JetStream().Stream(context.Background(), NonceLogStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func mustUse(t *testing.T, n *NonceLog, key, nonce string, now time.Time, want bool) {
	t.Helper()
	fresh, err := n.Use(key, nonce, now.Add(sign.Skew), now)
	if err != nil || fresh != want {
		t.Fatalf("Use(%s, %s) = %v, %v; want %v", key, nonce, fresh, err, want)
	}
}

// TestNonceLogGenerationCoversTheWindow: an entry lives at least
// nonceGeneration, and a signature check lets through nonces whose until is
// up to 2 × sign.Skew ahead.
func TestNonceLogGenerationCoversTheWindow(t *testing.T) {
	if nonceGeneration < 2*sign.Skew || NonceLogMaxAge < 2*sign.Skew {
		t.Fatalf("generation %v, max age %v: both must be ≥ 2 × %v", nonceGeneration, NonceLogMaxAge, sign.Skew)
	}
}

// TestNonceLogRefusesAReplayOnAnotherNode: a nonce used on one node is
// refused at once on another (which has not followed the first one's batch
// yet when it appends: its append is refused and it catches up), and on the
// first; another key's equal nonce is fresh.
func TestNonceLogRefusesAReplayOnAnotherNode(t *testing.T) {
	b := startBus(t, t.TempDir())
	node1, node2 := openNonceLog(t, b, 0), openNonceLog(t, b, 0)
	now := time.Now()
	for i := range 20 {
		nonce := fmt.Sprintf("nonce-%d", i)
		first, second := node1, node2
		if i%2 == 1 {
			first, second = node2, node1
		}
		mustUse(t, first, "key1", nonce, now, true)
		mustUse(t, second, "key1", nonce, now, false)
		mustUse(t, first, "key1", nonce, now, false)
		mustUse(t, second, "key2", nonce, now, true)
	}
}

// TestNonceLogOneWinnerAcrossNodes: three nodes on three routed servers
// (the stream replicated three times), each nonce tried at once by two
// goroutines on every node: exactly one use of each is fresh, none fails.
func TestNonceLogOneWinnerAcrossNodes(t *testing.T) {
	buses, _ := startRouted(t, 3, "route-secret")
	var nodes []*NonceLog
	for _, b := range buses {
		nodes = append(nodes, openNonceLog(t, b, 0))
	}
	const nonces = 150
	var fresh [nonces]atomic.Int32
	var failures atomic.Int32
	var wg sync.WaitGroup
	now := time.Now()
	for _, n := range nodes {
		for range 2 {
			wg.Go(func() {
				for i := range nonces {
					ok, err := n.Use("key", fmt.Sprintf("n%d", i), now.Add(sign.Skew), now)
					if err != nil {
						t.Errorf("Use n%d: %v", i, err)
						failures.Add(1)
					}
					if ok {
						fresh[i].Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	for i := range nonces {
		if got := fresh[i].Load(); got != 1 && failures.Load() == 0 {
			t.Errorf("nonce n%d fresh %d times, want once", i, got)
		}
	}
	// Batches: fewer appends than nonces when uses of a key meet.
	t.Logf("%d nonces in %d batches", nonces, nonceMessages(t, buses[0]))
}

// TestNonceLogBatchesConcurrentUses: uses of one key that arrive while an
// append is under way go out together, in fewer appends than uses.
func TestNonceLogBatchesConcurrentUses(t *testing.T) {
	b := startBus(t, t.TempDir())
	n := openNonceLog(t, b, 0)
	now := time.Now()
	var wg sync.WaitGroup
	const users, each = 32, 20
	for u := range users {
		wg.Go(func() {
			for i := range each {
				if ok, err := n.Use("key", fmt.Sprintf("%d-%d", u, i), now.Add(sign.Skew), now); !ok || err != nil {
					t.Errorf("Use: %v %v", ok, err)
				}
			}
		})
	}
	wg.Wait()
	if got := nonceMessages(t, b); got >= users*each {
		t.Fatalf("%d uses made %d appends, want fewer", users*each, got)
	} else {
		t.Logf("%d uses in %d appends", users*each, got)
	}
}

// TestNonceLogCatchesUpAtOpen: a node opened on a log that holds batches
// knows their nonces when OpenNonceLog returns: it refuses them without
// an append.
func TestNonceLogCatchesUpAtOpen(t *testing.T) {
	b := startBus(t, t.TempDir())
	first := openNonceLog(t, b, 0)
	now := time.Now()
	for i := range 50 {
		mustUse(t, first, fmt.Sprintf("key%d", i%5), fmt.Sprintf("nonce-%d", i), now, true)
	}
	first.Close()
	before := nonceMessages(t, b)
	later := openNonceLog(t, b, 0)
	for i := range 50 {
		mustUse(t, later, fmt.Sprintf("key%d", i%5), fmt.Sprintf("nonce-%d", i), now, false)
	}
	if after := nonceMessages(t, b); after != before {
		t.Fatalf("refusing known nonces appended: %d → %d messages", before, after)
	}
}

// TestNonceLogForgetsAfterUntil: a nonce is used until its until; later
// (the signature check refuses its timestamp by then) it is fresh again.
func TestNonceLogForgetsAfterUntil(t *testing.T) {
	b := startBus(t, t.TempDir())
	n := openNonceLog(t, b, 0)
	now := time.Now()
	until := now.Add(time.Minute)
	if ok, err := n.Use("key", "nonce", until, now); !ok || err != nil {
		t.Fatalf("first use: %v %v", ok, err)
	}
	if ok, err := n.Use("key", "nonce", until, now.Add(time.Minute)); ok || err != nil {
		t.Fatalf("use at until: %v %v, want refused", ok, err)
	}
	if ok, err := n.Use("key", "nonce", until.Add(time.Minute), now.Add(time.Minute+time.Second)); !ok || err != nil {
		t.Fatalf("use after until: %v %v, want fresh", ok, err)
	}
}

// TestNonceLogFull: at its capacity of live nonces a node refuses new ones
// with ErrNonceLogFull (it does not let them through); once they are past
// their until there is room again.
func TestNonceLogFull(t *testing.T) {
	b := startBus(t, t.TempDir())
	n := openNonceLog(t, b, 3)
	now := time.Now()
	for i := range 3 {
		mustUse(t, n, "key", fmt.Sprintf("nonce-%d", i), now, true)
	}
	if ok, err := n.Use("key", "nonce-3", now.Add(sign.Skew), now); ok || !errors.Is(err, ErrNonceLogFull) {
		t.Fatalf("use beyond capacity: %v %v, want ErrNonceLogFull", ok, err)
	}
	later := now.Add(sign.Skew + time.Second)
	if ok, err := n.Use("key", "nonce-3", later.Add(sign.Skew), later); !ok || err != nil {
		t.Fatalf("use after the others expired: %v %v", ok, err)
	}
}

// TestNonceLogSkipsAMalformedBatch: a message on a key's subject that is
// not a batch is skipped (logged) and the key goes on: the next append
// comes after it.
func TestNonceLogSkipsAMalformedBatch(t *testing.T) {
	b := startBus(t, t.TempDir())
	n := openNonceLog(t, b, 0)
	now := time.Now()
	mustUse(t, n, "key", "before", now, true)
	if got := n.Len(); got != 1 {
		t.Fatalf("Len %d after one use", got)
	}
	for _, junk := range [][]byte{nil, []byte("not a batch"), {nonceBatchV1, 1, 2, 3}} {
		if _, err := b.JetStream().Publish(context.Background(), nonceSubject("key"), junk); err != nil {
			t.Fatal(err)
		}
	}
	mustUse(t, n, "key", "after", now, true)
	mustUse(t, n, "key", "before", now, false)
}

// TestNonceLogAfterTheKeysMessagesExpired: when a key's messages are gone
// from the stream (expired; deleted here), its next append, which expects
// the last one it saw, is refused; the node appends after the stream's
// last instead and the nonces it remembers stay refused.
func TestNonceLogAfterTheKeysMessagesExpired(t *testing.T) {
	b := startBus(t, t.TempDir())
	n := openNonceLog(t, b, 0)
	now := time.Now()
	mustUse(t, n, "key", "old", now, true)
	s, err := b.JetStream().Stream(context.Background(), NonceLogStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), nonceSubject("key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(context.Background(), m.Sequence); err != nil {
		t.Fatal(err)
	}
	mustUse(t, n, "key", "new", now, true)
	mustUse(t, n, "key", "old", now, false)
	if got := nonceMessages(t, b); got != 1 {
		t.Fatalf("%d messages, want the new batch only", got)
	}
}

// TestNonceLogWithoutNATS: with the server gone a use fails (the request
// is refused), within the log's timeout, and is not fresh.
func TestNonceLogWithoutNATS(t *testing.T) {
	b := startBus(t, t.TempDir())
	n := openNonceLog(t, b, 0)
	_ = b.Close()
	now := time.Now()
	ok, err := n.Use("key", "nonce", now.Add(sign.Skew), now)
	if ok || err == nil {
		t.Fatalf("use without NATS: %v %v, want an error", ok, err)
	}
}

// TestNonceLogStreamConfig: the stream is in memory with the bus's
// replicas, never drops a batch to make room, reserves no memory up front,
// keeps messages NonceLogMaxAge, and answers reads from its leader only.
func TestNonceLogStreamConfig(t *testing.T) {
	b := startBus(t, t.TempDir())
	openNonceLog(t, b, 0)
	s, err := b.JetStream().Stream(context.Background(), NonceLogStream)
	if err != nil {
		t.Fatal(err)
	}
	c := s.CachedInfo().Config
	if c.Storage != jetstream.MemoryStorage || c.Discard != jetstream.DiscardNew || c.MaxAge != NonceLogMaxAge ||
		c.MaxBytes > 0 || c.Replicas != b.Replicas() || c.AllowDirect {
		t.Fatalf("stream config %+v", c)
	}
}

// TestNonceLogOpensWhenTheLastMessagesAreGone: a node opens on a log whose
// last messages (or all of them) are gone, expired or deleted, without
// waiting for sequences that will never come, and knows what is left.
func TestNonceLogOpensWhenTheLastMessagesAreGone(t *testing.T) {
	b := startBus(t, t.TempDir())
	first := openNonceLog(t, b, 0)
	now := time.Now()
	mustUse(t, first, "key1", "kept", now, true)
	mustUse(t, first, "key2", "gone", now, true)
	first.Close()
	s, err := b.JetStream().Stream(context.Background(), NonceLogStream)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []uint64{1, 0} {
		// The batches are sequences 1 and 2: delete 2, then 1.
		if err := s.DeleteMsg(context.Background(), want+1); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		n, err := b.OpenNonceLog(ctx, 0)
		cancel()
		if err != nil {
			t.Fatalf("open with %d messages left: %v", want, err)
		}
		if got := n.Len(); got != int(want) {
			t.Errorf("%d nonces known with %d messages left", got, want)
		}
		n.Close()
	}
}

// TestNonceLogCatchesUpWithoutItsFollower: a node whose follower has
// stopped (its server died and the ordered consumer is resetting) still
// refuses, at once, a nonce another node used: its refused append reads
// the key's new messages from the stream itself.
func TestNonceLogCatchesUpWithoutItsFollower(t *testing.T) {
	b := startBus(t, t.TempDir())
	node1, node2 := openNonceLog(t, b, 0), openNonceLog(t, b, 0)
	now := time.Now()
	mustUse(t, node2, "key", "before", now, true)
	node2.follower.Lock()
	node2.cc.Stop()
	<-node2.cc.Closed()
	node2.follower.Unlock()
	for i := range 5 {
		mustUse(t, node1, "key", fmt.Sprintf("n%d", i), now, true)
	}
	for i := range 5 {
		mustUse(t, node2, "key", fmt.Sprintf("n%d", i), now, false)
	}
	mustUse(t, node2, "key", "after", now, true)
	mustUse(t, node1, "key", "after", now, false)
}
