package actors

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestStoreCtx: a store call's context ends StoreTimeout after the call, or
// at most a tenth of it earlier; calls close together share one context,
// and an ended one is never handed out.
func TestStoreCtx(t *testing.T) {
	d := &deps{cfg: Config{StoreTimeout: 200 * time.Millisecond}}
	start := time.Now()
	ctx, cancel := d.storeCtx()
	cancel() // does not end the shared context
	if ctx.Err() != nil {
		t.Fatal("cancel ended the shared context")
	}
	dl, ok := ctx.Deadline()
	if !ok || dl.Before(start.Add(180*time.Millisecond)) || dl.After(time.Now().Add(200*time.Millisecond)) {
		t.Fatalf("deadline %v after the call, want 180-200 ms", dl.Sub(start))
	}
	if again, _ := d.storeCtx(); again != ctx {
		t.Fatal("a call right after got another context")
	}
	// Past the slack, a call gets a new context with its own full bound.
	time.Sleep(30 * time.Millisecond)
	later := time.Now()
	next, _ := d.storeCtx()
	if next == ctx {
		t.Fatal("a call 30 ms later (slack 20 ms) got the old context")
	}
	if dl, _ := next.Deadline(); dl.Before(later.Add(180 * time.Millisecond)) {
		t.Fatalf("the new context ends %v after its call", dl.Sub(later))
	}
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("the first context ended with %v", ctx.Err())
	}
	for range 50 {
		if c, _ := d.storeCtx(); c.Err() != nil {
			t.Fatal("storeCtx handed out an ended context")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
