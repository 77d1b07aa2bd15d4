package natsbus

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestAttemptRetriesOnlyWhatIsTransient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	calls := 0
	err := Attempt(ctx, func(actx context.Context) error {
		calls++
		if calls < 3 {
			<-actx.Done() // an attempt that gets no answer
			return actx.Err()
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("timeouts: %d calls, %v", calls, err)
	}
	calls = 0
	refused := &jetstream.APIError{Code: 400, ErrorCode: 10148, Description: "consumer config conflict"}
	err = Attempt(ctx, func(context.Context) error { calls++; return refused })
	if !errors.Is(err, refused) || calls != 1 {
		t.Fatalf("a refusal was tried %d times: %v", calls, err)
	}
	calls = 0
	busy := &jetstream.APIError{Code: 503, Description: "JetStream system temporarily unavailable"}
	err = Attempt(ctx, func(context.Context) error {
		calls++
		if calls == 1 {
			return busy
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("a 503 was tried %d times: %v", calls, err)
	}
	// The caller's context ends the attempts.
	short, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if err := Attempt(short, func(actx context.Context) error { <-actx.Done(); return actx.Err() }); err == nil {
		t.Fatal("no error after the caller's deadline")
	}
}
