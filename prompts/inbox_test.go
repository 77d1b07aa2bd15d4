package prompts

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestInbox(t *testing.T) {
	ctx := context.Background()
	b := NewInbox()
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	at := func(id, openid string, minute int) Prompt {
		p := prompt(id, openid)
		p.CreatedAt = t0.Add(time.Duration(minute) * time.Minute)
		return p
	}
	for _, p := range []Prompt{at("a", "o1", 1), at("b", "o1", 3), at("c", "o1", 2), at("a", "o1", 1), at("d", "", 1), at("e", "o2", 1)} {
		if err := b.Notify(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(ps []Prompt) string {
		s := ""
		for _, p := range ps {
			s += p.ID
		}
		return s
	}
	for _, c := range []struct{ openid, want string }{{"o1", "bca"}, {"", "d"}, {"o2", "e"}, {"nobody", ""}} {
		if got := ids(b.Messages(c.openid)); got != c.want {
			t.Errorf("Messages(%q) = %q, want %q (newest first, redelivery stored once)", c.openid, got, c.want)
		}
	}
	all := b.All()
	if len(all) != 3 || ids(all["o1"]) != "bca" || ids(all[""]) != "d" {
		t.Fatalf("All = %v", all)
	}
	// The caller owns what it gets.
	all["o1"][0].ID = "changed"
	b.Messages("o1")[0].ID = "changed"
	if ids(b.Messages("o1")) != "bca" {
		t.Fatal("inbox shares its slices")
	}
}

func TestInboxBoundsEachOpenID(t *testing.T) {
	ctx := context.Background()
	b := NewInbox()
	t0 := time.Now()
	for i := range InboxPerOpenID + 20 {
		p := prompt(fmt.Sprintf("p%d", i), "o1")
		p.CreatedAt = t0.Add(time.Duration(i) * time.Second)
		_ = b.Notify(ctx, p)
	}
	got := b.Messages("o1")
	if len(got) != InboxPerOpenID {
		t.Fatalf("kept %d", len(got))
	}
	if got[0].ID != fmt.Sprintf("p%d", InboxPerOpenID+19) || got[len(got)-1].ID != "p20" {
		t.Fatalf("kept %s..%s, want the newest", got[0].ID, got[len(got)-1].ID)
	}
	// A prompt older than everything kept is not stored.
	old := prompt("old", "o1")
	old.CreatedAt = t0.Add(-time.Hour)
	_ = b.Notify(ctx, old)
	if got := b.Messages("o1"); got[len(got)-1].ID != "p20" {
		t.Fatal("an old prompt pushed out a newer one")
	}
}
