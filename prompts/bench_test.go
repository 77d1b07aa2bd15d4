package prompts

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// benchPipeline starts a bus, a queue and a consumer notifying n.
func benchPipeline(b *testing.B, n Notifier) *Queue {
	b.Helper()
	bus := startBus(b, b.TempDir())
	ctx := context.Background()
	// With the buffer full Publish waits for room (MaxBlock) instead of
	// refusing: the throughput benchmark's back-pressure, with no retry.
	q, err := NewQueue(ctx, bus, QueueOptions{Logger: quietLogger(), MaxBlock: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = q.Close(ctx) })
	c, err := Consume(ctx, bus, "bench", n, ConsumerOptions{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Stop)
	return q
}

// BenchmarkPromptLatency measures one prompt at a time from Queue.Publish
// to the notifier through the embedded JetStream (SyncAlways on), and
// reports the p50 and p99.
func BenchmarkPromptLatency(b *testing.B) {
	got := make(chan Prompt, 1)
	q := benchPipeline(b, NotifierFunc(func(_ context.Context, p Prompt) error {
		select {
		case got <- p:
		default: // a redelivery: never block a worker
		}
		return nil
	}))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if err := q.Publish(context.Background(), Prompt{ID: fmt.Sprintf("p%d", i), Kind: KindSMSCode, CreatedAt: start}); err != nil {
			b.Fatal(err)
		}
		<-got
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkPromptThroughput publishes as fast as the queue accepts and
// waits until every prompt reached the notifier: ns/op is the sustained
// cost per prompt.
func BenchmarkPromptThroughput(b *testing.B) {
	var seen atomic.Int64
	done := make(chan struct{})
	q := benchPipeline(b, NotifierFunc(func(context.Context, Prompt) error {
		if seen.Add(1) == int64(b.N) {
			close(done)
		}
		return nil
	}))
	b.ResetTimer()
	for i := range b.N {
		p := Prompt{ID: fmt.Sprintf("p%d", i), Kind: KindSMSCode}
		if err := q.Publish(context.Background(), p); err != nil {
			b.Fatal(err)
		}
	}
	<-done
}
