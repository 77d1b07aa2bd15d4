package actors

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/persistence"
)

// TestSharedLimiterCountsAcrossNodes: two engines' limiters on one store
// (two nodes of a cluster) count the same key's wrong codes together, and
// forget them after the window.
func TestSharedLimiterCountsAcrossNodes(t *testing.T) {
	store, err := persistence.OpenBolt(filepath.Join(t.TempDir(), "etaxd.db"), persistence.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	clk := clock.NewFake(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	d := &deps{cfg: DefaultConfig().withDefaults(), store: store, clk: clk, log: slog.New(slog.DiscardHandler)}
	node1 := newSharedLimiter(d, "addr", 3, 10*time.Minute)
	node2 := newSharedLimiter(d, "addr", 3, 10*time.Minute)

	node1.add("10.0.0.9")
	node2.add("10.0.0.9")
	if w := node1.wait("10.0.0.9"); w != 0 {
		t.Fatalf("two attempts of three: wait %s", w)
	}
	clk.Advance(time.Minute)
	node1.add("10.0.0.9") // the third, a minute later
	w := node2.wait("10.0.0.9")
	if w != 9*time.Minute {
		t.Fatalf("the other node waits %s, want 9m (until the first attempt leaves the window)", w)
	}
	if w := node2.wait("10.0.0.8"); w != 0 {
		t.Fatalf("another address waits %s", w)
	}
	clk.Advance(9 * time.Minute)
	if w := node1.wait("10.0.0.9"); w != 0 {
		t.Fatalf("after the window: wait %s", w)
	}
	// The record keeps only the attempts that still count, at most Limit.
	for range 10 {
		node1.add("10.0.0.9")
	}
	r, err := store.Get(t.Context(), node1.key("10.0.0.9"))
	if err != nil || len(decodeTimes(r.Value)) != 3 {
		t.Fatalf("record %s (%v): want 3 times", r.Value, err)
	}
}

// TestSharedLimiterTakeRelease: take and release of the WeChat user's
// password tries (tryPassword) counted in the store: two nodes share the
// limit, the last place goes to one of them only, and a released try frees
// its place on every node.
func TestSharedLimiterTakeRelease(t *testing.T) {
	store, err := persistence.OpenBolt(filepath.Join(t.TempDir(), "etaxd.db"), persistence.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	clk := clock.NewFake(time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC))
	d := &deps{cfg: DefaultConfig().withDefaults(), store: store, clk: clk, log: slog.New(slog.DiscardHandler)}
	var node1, node2 tokenLimiter = newSharedLimiter(d, "pwflow", 2, 10*time.Minute), newSharedLimiter(d, "pwflow", 2, 10*time.Minute)

	first, w := node1.take("o-1")
	if w != 0 || first.IsZero() {
		t.Fatalf("first try: at %v wait %s", first, w)
	}
	clk.Advance(time.Minute)
	second, w := node2.take("o-1")
	if w != 0 {
		t.Fatalf("second try on the other node: wait %s", w)
	}
	clk.Advance(time.Minute)
	if _, w := node1.take("o-1"); w != 8*time.Minute {
		t.Fatalf("third try: wait %s, want 8m (until the first leaves the window)", w)
	}
	if _, w := node2.take("o-2"); w != 0 {
		t.Fatalf("another user: wait %s", w)
	}
	// The second try's password was right: released on node1, node2 may try.
	node1.release("o-1", second)
	if _, w := node2.take("o-1"); w != 0 {
		t.Fatalf("after a release: wait %s", w)
	}
	// Releasing a time never taken changes nothing.
	key := newSharedLimiter(d, "pwflow", 2, time.Minute).key("o-1")
	r0, err := store.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	node2.release("o-1", clk.Now().Add(time.Hour))
	r1, err := store.Get(t.Context(), key)
	if err != nil || r1.Revision != r0.Revision {
		t.Fatalf("a release of nothing wrote: revision %d → %d", r0.Revision, r1.Revision)
	}
}
