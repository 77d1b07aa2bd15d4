package prompts

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/natsbus"
)

// fastConsumer are consumer options that retry within milliseconds.
func fastConsumer() ConsumerOptions {
	return ConsumerOptions{RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond,
		NotifyTimeout: 2 * time.Second, Logger: quietLogger()}
}

// queueSettled returns nil once the queue has nothing pending and has
// published want prompts.
func queueSettled(q *Queue, want uint64) func() error {
	return func() error {
		if s := q.Stats(); s.Pending != 0 || s.Published != want {
			return fmt.Errorf("queue stats %+v, want %d published", s, want)
		}
		return nil
	}
}

// consumerIdle returns nil once the server has nothing pending for c.
func consumerIdle(ctx context.Context, c *Consumer) func() error {
	return func() error {
		s, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		if s.Pending != 0 || s.AckPending != 0 {
			return fmt.Errorf("consumer stats %+v", s)
		}
		return nil
	}
}

func newQueue(t *testing.T, b *natsbus.Bus, o QueueOptions) *Queue {
	t.Helper()
	o.Logger = quietLogger()
	q, err := NewQueue(testCtx(t), b, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = q.Close(context.Background()) })
	return q
}

func consume(t *testing.T, b *natsbus.Bus, name string, n Notifier, o ConsumerOptions) *Consumer {
	t.Helper()
	c, err := Consume(testCtx(t), b, name, n, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// The NATS test: prompts published while the consumer side is
// stopped are all delivered once it starts again, each exactly once, even
// when a prompt is published twice.
func TestPromptsPublishedWhileConsumerStoppedAreDeliveredExactlyOnce(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, QueueOptions{})
	inbox := NewInbox()
	counted := newCounting(inbox)
	c := consume(t, b, "inbox", counted, fastConsumer())
	c.Stop()
	if c.Running() {
		t.Fatal("running after Stop")
	}

	const n = 60
	openids := []string{"o1", "o2", ""} // "": nobody bound
	var sent []Prompt
	for i := range n {
		p := prompt(fmt.Sprintf("p%03d", i), openids[i%len(openids)])
		sent = append(sent, p)
		if err := q.Publish(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range sent[:10] { // published again: the server drops them
		if err := q.Publish(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, queueSettled(q, n+10))
	if s := q.Stats(); s.Duplicates != 10 || s.Failed != 0 {
		t.Fatalf("queue stats %+v", s)
	}
	// The consumer's pending count follows the stream a moment after the
	// publish acks (seen at 59 of 60 on a loaded machine): wait for it.
	testutil.Eventually(t, 10*time.Second, func() error {
		st, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		if st.Pending != n || st.Delivered != 0 || counted.all.Load() != 0 {
			return fmt.Errorf("while stopped: stats %+v, %d Notify calls", st, counted.all.Load())
		}
		return nil
	})

	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for _, o := range openids {
		testutil.Eventually(t, 10*time.Second, inboxHas(inbox, o, n/len(openids)))
	}
	testutil.Eventually(t, 10*time.Second, consumerIdle(ctx, c))
	for _, p := range sent {
		if k := counted.calls(p.ID); k != 1 {
			t.Errorf("prompt %s notified %d times", p.ID, k)
		}
	}
	if st, _ := c.Stats(ctx); st.Delivered != n || st.Redelivered != 0 || st.Terminated != 0 {
		t.Fatalf("stats %+v", st)
	}

	// Newest first, each stored once, for the right openid.
	got := inbox.Messages("o1")
	for i := 1; i < len(got); i++ {
		if got[i].CreatedAt.After(got[i-1].CreatedAt) {
			t.Fatalf("inbox not newest first at %d", i)
		}
	}
	for _, p := range got {
		if p.OpenID != "o1" {
			t.Fatalf("prompt %s for %q in o1's inbox", p.ID, p.OpenID)
		}
	}

	// A prompt published again after it was delivered, within the dedupe
	// window, is dropped by the server too.
	if err := q.Publish(ctx, sent[20]); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, queueSettled(q, n+11))
	if s := q.Stats(); s.Duplicates != 11 {
		t.Fatalf("queue stats %+v", s)
	}
	testutil.Eventually(t, 10*time.Second, consumerIdle(ctx, c))
	if k := counted.calls(sent[20].ID); k != 1 {
		t.Fatalf("republished prompt notified %d times", k)
	}
}

// flaky fails the first n Notify calls of each prompt with err.
type flaky struct {
	mu    sync.Mutex
	n     int
	err   error
	calls map[string]int
	next  Notifier
}

func (f *flaky) Notify(ctx context.Context, p Prompt) error {
	f.mu.Lock()
	f.calls[p.ID]++
	k := f.calls[p.ID]
	f.mu.Unlock()
	if k <= f.n {
		return f.err
	}
	return f.next.Notify(ctx, p)
}

func (f *flaky) count(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[id]
}

func TestTransientErrorIsRetriedThenDeliveredOnce(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, QueueOptions{})
	inbox := NewInbox()
	f := &flaky{n: 2, err: errors.New("wechat: 503"), calls: map[string]int{}, next: inbox}
	var undeliverable []Prompt
	var mu sync.Mutex
	o := fastConsumer()
	o.OnUndeliverable = func(p Prompt, _ error) { mu.Lock(); undeliverable = append(undeliverable, p); mu.Unlock() }
	c := consume(t, b, "inbox", f, o)

	if err := q.Publish(ctx, prompt("p1", "o1")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, inboxHas(inbox, "o1", 1))
	testutil.Eventually(t, 10*time.Second, consumerIdle(ctx, c))
	if k := f.count("p1"); k != 3 {
		t.Fatalf("Notify called %d times, want 3", k)
	}
	st, _ := c.Stats(ctx)
	if st.Delivered != 1 || st.Retried != 2 || st.Redelivered != 2 || st.Terminated != 0 {
		t.Fatalf("stats %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(undeliverable) != 0 {
		t.Fatalf("undeliverable %v", undeliverable)
	}
}

func TestPermanentErrorTerminatesAndReports(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, QueueOptions{})
	type report struct {
		p   Prompt
		err error
	}
	reports := make(chan report, 10)
	blocked := errors.New("wechat: 43004 user unsubscribed")
	notifier := NotifierFunc(func(_ context.Context, p Prompt) error {
		if p.ID == "always-failing" {
			return errors.New("wechat: timeout")
		}
		return Permanent(blocked)
	})
	o := fastConsumer()
	o.MaxDeliver = 3
	o.OnUndeliverable = func(p Prompt, err error) { reports <- report{p, err} }
	c := consume(t, b, "wechat", notifier, o)

	if err := q.Publish(ctx, prompt("blocked-user", "o1")); err != nil {
		t.Fatal(err)
	}
	r := <-reports
	if r.p.ID != "blocked-user" || r.p.Tenant != "t1" || !IsPermanent(r.err) || !errors.Is(r.err, blocked) {
		t.Fatalf("report %+v", r)
	}
	testutil.Eventually(t, 10*time.Second, consumerIdle(ctx, c))
	if st, _ := c.Stats(ctx); st.Terminated != 1 || st.Redelivered != 0 || st.Delivered != 0 {
		t.Fatalf("stats %+v", st)
	}

	// Transient failures on every attempt end the same way, after MaxDeliver.
	if err := q.Publish(ctx, prompt("always-failing", "o1")); err != nil {
		t.Fatal(err)
	}
	r = <-reports
	if r.p.ID != "always-failing" || !errors.Is(r.err, ErrGaveUp) || IsPermanent(r.err) {
		t.Fatalf("report %+v", r)
	}
	testutil.Eventually(t, 10*time.Second, consumerIdle(ctx, c))
	if st, _ := c.Stats(ctx); st.Terminated != 2 || st.Redelivered != 2 || st.Retried != 2 {
		t.Fatalf("stats %+v", st)
	}

	// A message that is not a prompt is terminated and reported too.
	if _, err := b.JetStream().Publish(ctx, PromptSubject(KindSMSCode), []byte("{not json"), jetstream.WithMsgID("junk")); err != nil {
		t.Fatal(err)
	}
	r = <-reports
	if r.p.ID != "junk" || !errors.Is(r.err, ErrUndecodable) {
		t.Fatalf("report %+v", r)
	}

	// Terminated prompts leave the work queue.
	testutil.Eventually(t, 10*time.Second, func() error {
		s, err := b.JetStream().Stream(ctx, PromptStream)
		if err != nil {
			return err
		}
		if n := s.CachedInfo().State.Msgs; n != 0 {
			return fmt.Errorf("%d messages left in %s", n, PromptStream)
		}
		return nil
	})
}

func TestExpiredPromptIsNotDelivered(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, QueueOptions{})
	inbox := NewInbox()
	c := consume(t, b, "inbox", inbox, fastConsumer())
	old := prompt("old", "o1")
	old.ExpiresAt = time.Now().Add(-time.Second)
	fresh := prompt("fresh", "o1")
	fresh.ExpiresAt = time.Time{} // zero: never expires
	for _, p := range []Prompt{old, fresh} {
		if err := q.Publish(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, inboxHas(inbox, "o1", 1))
	testutil.Eventually(t, 10*time.Second, consumerIdle(ctx, c))
	if got := inbox.Messages("o1"); got[0].ID != "fresh" {
		t.Fatalf("inbox %v", got)
	}
	if st, _ := c.Stats(ctx); st.Expired != 1 || st.Delivered != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// Restarting etaxd loses nothing: prompts that were never delivered, and
// prompts whose delivery failed and waits for a retry, are all delivered
// after the bus restarts on the same store directory.
func TestPendingPromptsSurviveBusRestart(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()

	b1 := startBus(t, dir)
	q1, err := NewQueue(ctx, b1, QueueOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	failing := &flaky{n: 1 << 30, err: errors.New("wechat down"), calls: map[string]int{}, next: NewInbox()}
	o := fastConsumer()
	o.NotifyTimeout = 300 * time.Millisecond // AckWait 900ms
	o.RetryBase, o.RetryMax = 200*time.Millisecond, 200*time.Millisecond
	o.MaxDeliver = 1000
	c1, err := Consume(ctx, b1, "inbox", failing, o)
	if err != nil {
		t.Fatal(err)
	}
	const tried, untried = 10, 10
	for i := range tried {
		if err := q1.Publish(ctx, prompt(fmt.Sprintf("tried-%d", i), "o1")); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		for i := range tried {
			if failing.count(fmt.Sprintf("tried-%d", i)) == 0 {
				return fmt.Errorf("tried-%d not attempted yet", i)
			}
		}
		return nil
	})
	c1.Stop()
	for i := range untried {
		if err := q1.Publish(ctx, prompt(fmt.Sprintf("untried-%d", i), "o2")); err != nil {
			t.Fatal(err)
		}
	}
	// Close flushes the buffer: every accepted prompt is stored.
	if err := q1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := q1.Stats(); s.Published != tried+untried || s.Pending != 0 {
		t.Fatalf("queue stats after Close %+v", s)
	}
	if err := b1.Close(); err != nil {
		t.Fatal(err)
	}

	b2 := startBus(t, dir)
	q2 := newQueue(t, b2, QueueOptions{}) // updates the existing stream
	inbox := NewInbox()
	c2 := consume(t, b2, "inbox", inbox, fastConsumer())
	testutil.Eventually(t, 15*time.Second, inboxHas(inbox, "o1", tried))
	testutil.Eventually(t, 15*time.Second, inboxHas(inbox, "o2", untried))
	testutil.Eventually(t, 10*time.Second, consumerIdle(ctx, c2))
	if s := q2.Stats(); s.Published != 0 {
		t.Fatalf("second queue published %d", s.Published)
	}
}

func TestQueuePublishDoesNotBlockWhenJetStreamIsDown(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, QueueOptions{Buffer: 1, Workers: 1, MaxBlock: 20 * time.Millisecond,
		RetryBase: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond, PublishTimeout: 200 * time.Millisecond})
	// Without its stream, every publish fails and is retried: the one worker
	// is stuck on the first prompt and the buffer fills.
	if err := b.JetStream().DeleteStream(ctx, PromptStream); err != nil {
		t.Fatal(err)
	}
	var full int
	accepted := 0
	for i := range 5 {
		start := time.Now()
		err := q.Publish(ctx, prompt(fmt.Sprintf("p%d", i), "o1"))
		if d := time.Since(start); d > time.Second {
			t.Fatalf("Publish blocked %s", d)
		}
		switch {
		case err == nil:
			accepted++
		case errors.Is(err, ErrQueueFull):
			full++
		default:
			t.Fatal(err)
		}
	}
	if full == 0 || accepted < 1 || accepted > 2 {
		t.Fatalf("accepted %d, full %d", accepted, full)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if q.Stats().Retried == 0 {
			return errors.New("no retry yet")
		}
		return nil
	})

	// JetStream is back: the retries succeed and nothing accepted is lost.
	inbox := NewInbox()
	consume(t, b, "inbox", inbox, fastConsumer()) // recreates the stream
	testutil.Eventually(t, 10*time.Second, queueSettled(q, uint64(accepted)))
	testutil.Eventually(t, 10*time.Second, inboxHas(inbox, "o1", accepted))
	if s := q.Stats(); s.Rejected != uint64(full) || s.Failed != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestQueueRefuses(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, QueueOptions{})
	for name, p := range map[string]Prompt{
		"no id":      {Kind: KindSMSCode},
		"no kind":    {ID: "p1"},
		"bad kind":   {ID: "p1", Kind: "sms.code"},
		"wildcard":   {ID: "p1", Kind: "*"},
		"whitespace": {ID: "p1", Kind: "a b"},
	} {
		if err := q.Publish(ctx, p); !errors.Is(err, ErrInvalidPrompt) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := q.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.Publish(ctx, prompt("late", "")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if s := q.Stats(); s.Rejected != 6 || s.Pending != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConsumersSplitKinds(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, QueueOptions{})
	codes, faces := NewInbox(), NewInbox()
	o := fastConsumer()
	o.Kinds = []Kind{KindSMSCode, KindNotice}
	consume(t, b, "codes", codes, o)
	o.Kinds = []Kind{KindFace}
	consume(t, b, "faces", faces, o)
	// A work-queue stream refuses a consumer that overlaps another.
	if c, err := Consume(ctx, b, "everything", NewInbox(), fastConsumer()); err == nil {
		c.Stop()
		t.Fatal("overlapping consumer accepted")
	}
	if _, err := Consume(ctx, b, "bad.name", NewInbox(), fastConsumer()); err == nil {
		t.Fatal("bad consumer name accepted")
	}
	p1, p2 := prompt("p1", "o1"), prompt("p2", "o1")
	p2.Kind = KindFace
	for _, p := range []Prompt{p1, p2} {
		if err := q.Publish(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 10*time.Second, inboxHas(codes, "o1", 1))
	testutil.Eventually(t, 10*time.Second, inboxHas(faces, "o1", 1))
	if codes.Messages("o1")[0].ID != "p1" || faces.Messages("o1")[0].ID != "p2" {
		t.Fatal("kinds went to the wrong consumer")
	}
}

func TestNotifierPanicIsTransient(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, QueueOptions{})
	inbox := NewInbox()
	var once sync.Once
	n := NotifierFunc(func(ctx context.Context, p Prompt) error {
		once.Do(func() { panic("boom") })
		return inbox.Notify(ctx, p)
	})
	c := consume(t, b, "inbox", n, fastConsumer())
	if err := q.Publish(ctx, prompt("p1", "o1")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, inboxHas(inbox, "o1", 1))
	testutil.Eventually(t, 10*time.Second, consumerIdle(ctx, c))
	if st, _ := c.Stats(ctx); st.Retried != 1 || st.Delivered != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSwitchingNotifierKindKeepsPendingPrompts(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	q := newQueue(t, b, QueueOptions{})
	old := consume(t, b, "inbox", NewInbox(), fastConsumer())
	old.Stop()
	if err := q.Publish(ctx, prompt("p1", "o1")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, queueSettled(q, 1))
	if _, err := Consume(ctx, b, "wechat", NewInbox(), fastConsumer()); err == nil {
		t.Fatal("a second consumer overlapping the first was accepted")
	}
	if err := RemoveConsumer(ctx, b, "inbox"); err != nil {
		t.Fatal(err)
	}
	if err := RemoveConsumer(ctx, b, "inbox"); err != nil {
		t.Fatalf("removing a missing consumer: %v", err)
	}
	next := NewInbox()
	consume(t, b, "wechat", next, fastConsumer())
	testutil.Eventually(t, 10*time.Second, inboxHas(next, "o1", 1))
}
