package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/prompts"
)

// TestPromptStatesWired checks that the stack gives /ops/status and the
// etaxd_prompts gauge the prompts by state: a prompt published through
// the stack's queue is counted delivered once the dev inbox has it, and
// nothing is left publishing or queued.
func TestPromptStatesWired(t *testing.T) {
	st := openTestStack(t, t.TempDir(), nil)
	d := st.httpDeps(context.Background(), func() bool { return true }, time.Now())
	if d.PromptStates == nil {
		t.Fatal("httpDeps sets no PromptStates: /ops/status has no prompts section and etaxd_prompts no series")
	}
	before := d.PromptStates()
	for _, k := range []string{"publishing", "queued", "delivering", "delivered", "expired", "failed"} {
		if _, ok := before[k]; !ok {
			t.Errorf("PromptStates() = %v lacks the state %q", before, k)
		}
	}
	now := time.Now()
	p := prompts.Prompt{ID: "p-status-1", Tenant: "t1", Account: "a1", Kind: prompts.KindSMSCode, OpenID: "o_status",
		Message: "请输入验证码", CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
	if err := st.queue.Publish(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		s := d.PromptStates()
		if s["delivered"] != before["delivered"]+1 || s["publishing"] != 0 || s["queued"] != 0 || s["delivering"] != 0 {
			return fmt.Errorf("PromptStates() = %v, want one more delivered and nothing under way", s)
		}
		return nil
	})
	if got := st.inbox.Messages("o_status"); len(got) != 1 || got[0].ID != p.ID {
		t.Errorf("dev inbox of o_status = %+v", got)
	}
}
