package events

import (
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/clock"
)

// TestWebhookRegistrationUsesItsClock: a webhook's CreatedAt is its
// Clock's time, in UTC.
func TestWebhookRegistrationUsesItsClock(t *testing.T) {
	ctx := testCtx(t)
	at := time.Date(2030, 1, 2, 11, 4, 5, 0, time.FixedZone("CST", 8*3600))
	w := newWebhooks(t, openStore(t), nil, WebhookOptions{Clock: clock.NewFake(at)})
	wh, err := w.Register(ctx, "t1", "https://hooks.example.com/etaxd", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !wh.CreatedAt.Equal(at) || wh.CreatedAt.Location() != time.UTC {
		t.Fatalf("created at %v, want %v in UTC", wh.CreatedAt, at)
	}
	list, err := w.List(ctx, "t1")
	if err != nil || len(list) != 1 || !list[0].CreatedAt.Equal(at) {
		t.Fatalf("list %+v, %v", list, err)
	}
}
