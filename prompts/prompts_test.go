package prompts

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestChanDeliversInOrder(t *testing.T) {
	c := NewChan()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan Prompt, 2)
	go func() {
		for i := 0; i < 2; i++ {
			p, err := c.Next(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			got <- p
		}
	}()
	for _, id := range []string{"p1", "p2"} {
		if err := c.Publish(ctx, Prompt{ID: id, Kind: KindSMSCode}); err != nil {
			t.Fatal(err)
		}
	}
	if a, b := <-got, <-got; a.ID != "p1" || b.ID != "p2" {
		t.Fatalf("order %s %s", a.ID, b.ID)
	}
	if n := len(c.All()); n != 2 {
		t.Fatalf("all = %d", n)
	}
	c.Close()
	if err := c.Publish(ctx, Prompt{ID: "p3"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close = %v", err)
	}
	if _, err := c.Next(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("next after close = %v", err)
	}
}

func TestChanNextHonoursContext(t *testing.T) {
	c := NewChan()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestChanBoundsHistory(t *testing.T) {
	c := NewChan()
	for i := 0; i < keepPublished+5; i++ {
		_ = c.Publish(context.Background(), Prompt{ID: "x"})
	}
	if n := len(c.All()); n != keepPublished {
		t.Fatalf("history = %d", n)
	}
}

func TestPromptSubject(t *testing.T) {
	if got := PromptSubject(KindSMSCode); got != "etaxd.prompts.sms_code" {
		t.Fatal(got)
	}
}

func TestPermanent(t *testing.T) {
	base := errors.New("blocked")
	if Permanent(nil) != nil {
		t.Fatal("Permanent(nil) != nil")
	}
	p := Permanent(base)
	if !IsPermanent(p) || !errors.Is(p, base) {
		t.Fatal("Permanent lost its cause or its mark")
	}
	wrapped := errors.Join(errors.New("notify"), p)
	if !IsPermanent(wrapped) || IsPermanent(base) {
		t.Fatal("IsPermanent through wrapping")
	}
}
