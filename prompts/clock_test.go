package prompts

import (
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/testutil"
)

// TestConsumerExpiresByItsClock: the consumer judges ExpiresAt by its
// Clock, not the wall clock. A prompt that expires in five minutes of real
// time is dropped by a consumer whose clock stands an hour ahead.
func TestConsumerExpiresByItsClock(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, QueueOptions{})
	inbox := NewInbox()
	o := fastConsumer()
	o.Clock = clock.NewFake(time.Now().Add(time.Hour))
	c := consume(t, b, "inbox", inbox, o)
	old := prompt("old", "o1") // expires five minutes from now
	fresh := prompt("fresh", "o1")
	fresh.ExpiresAt = time.Time{} // zero: never expires
	for _, p := range []Prompt{old, fresh} {
		if err := q.Publish(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, queueSettled(q, 2))
	testutil.Eventually(t, 10*time.Second, inboxHas(inbox, "o1", 1))
	testutil.Eventually(t, 10*time.Second, consumerIdle(ctx, c))
	if got := inbox.Messages("o1"); got[0].ID != "fresh" {
		t.Fatalf("inbox %v", got)
	}
	if st, _ := c.Stats(ctx); st.Expired != 1 || st.Delivered != 1 {
		t.Fatalf("stats %+v", st)
	}
}
