package actors

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/prompts"
)

// b5Harness: alice's account in 北京 bound to her, bob the enterprise's
// admin, and a reminder 2 min into the code's 5.
func b5Harness(t *testing.T, escalate bool) (*harness, string) {
	t.Helper()
	h := newHarness(t)
	h.eng.Stop()
	h.cfg.PromptReminder = 2 * time.Minute
	h.cfg.PromptEscalate = escalate
	h.start()
	h.link(wxAlice)
	h.link(wxBob)
	h.person("boss", phoneA, pwA, rel(h.bj, "11", domain.RoleLegalRep))
	h.person("clerk", phoneB, pwA, rel(h.bj, "11", domain.RoleTaxClerk))
	id := h.addAccount(wxAlice, h.bj, "receive", "clerk", pwA, phoneB, domain.LoginManual)
	h.ok(h.eng.Bind(h.ctx(), h.tenant, id, wxAlice))
	h.clk.Advance(4 * time.Minute)
	r, err := h.eng.ApplyAdmin(h.ctx(), h.tenant, h.bj, wxBob, "boss", domain.NewSecret(pwA))
	h.ok(err)
	_, err = h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, wxBob, h.sim.LastCode(phoneA))
	h.ok(err)
	h.logout(id, domain.ChannelReceive)
	return h, id
}

func copiesOf(c *prompts.Chan, id string) []prompts.Prompt {
	var out []prompts.Prompt
	for _, p := range c.All() {
		if p.Of == id {
			out = append(out, p)
		}
	}
	return out
}

// TestB5ReminderAndEscalation: an unanswered prompt is re-sent to the bound
// user after the delay and escalated to the enterprise's admin, whose copy
// opens the same prompt; answering it completes the client's request.
func TestB5ReminderAndEscalation(t *testing.T) {
	h, id := b5Harness(t, true)
	r, err := h.session(id, domain.ChannelReceive, ActionLogin)
	h.ok(err)
	pid := r.Prompt.ID
	h.clk.Advance(time.Minute)
	if got := copiesOf(h.pub, pid); len(got) != 0 {
		t.Fatalf("reminded early: %+v", got)
	}
	h.clk.Advance(time.Minute)
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := copiesOf(h.pub, pid); len(got) != 2 {
			return fmt.Errorf("copies = %+v", got)
		}
		return nil
	})
	got := copiesOf(h.pub, pid)
	var reminder, escalated prompts.Prompt
	for _, p := range got {
		if p.Reminder {
			reminder = p
		}
		if p.Escalated {
			escalated = p
		}
	}
	if reminder.OpenID != wxAlice || reminder.ID == pid || reminder.PageID() != pid || reminder.Kind != prompts.KindSMSCode {
		t.Fatalf("reminder = %+v", reminder)
	}
	if escalated.OpenID != wxBob || escalated.ID == reminder.ID || escalated.PageID() != pid {
		t.Fatalf("escalation = %+v", escalated)
	}
	// the admin answers on the prompt's page
	st, err := h.eng.Prompt(h.ctx(), h.tenant, id, escalated.PageID(), wxBob)
	h.ok(err)
	if st.State != PromptPending {
		t.Fatalf("admin sees %+v", st)
	}
	_, err = h.eng.AnswerPrompt(h.ctx(), h.tenant, id, escalated.PageID(), wxBob, h.sim.LastCode(phoneB))
	h.ok(err)
	final, err := h.eng.AwaitRequest(h.ctx(), h.tenant, r.RequestID, time.Second)
	h.ok(err)
	if final.State != RequestReady {
		t.Fatalf("request = %+v", final)
	}
	// no second reminder for an answered prompt
	h.clk.Advance(time.Hour)
	if got := copiesOf(h.pub, pid); len(got) != 2 {
		t.Fatalf("copies after the answer = %d", len(got))
	}
}

// TestB5AnsweredPromptNotReminded: a prompt answered in time is not re-sent,
// and without escalation the admin hears nothing.
func TestB5AnsweredPromptNotReminded(t *testing.T) {
	h, id := b5Harness(t, false)
	r, err := h.session(id, domain.ChannelReceive, ActionLogin)
	h.ok(err)
	_, err = h.eng.AnswerPrompt(h.ctx(), h.tenant, id, r.Prompt.ID, wxAlice, h.sim.LastCode(phoneB))
	h.ok(err)
	h.clk.Advance(3 * time.Minute)
	// a second, unanswered prompt is reminded to alice only
	h.logout(id, domain.ChannelReceive)
	r2, err := h.session(id, domain.ChannelReceive, ActionLogin)
	h.ok(err)
	h.clk.Advance(2 * time.Minute)
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := copiesOf(h.pub, r2.Prompt.ID); len(got) != 1 || !got[0].Reminder || got[0].OpenID != wxAlice {
			return fmt.Errorf("copies = %+v", got)
		}
		return nil
	})
	if got := copiesOf(h.pub, r.Prompt.ID); len(got) != 0 {
		t.Fatalf("answered prompt reminded: %+v", got)
	}
}

// TestUnsubscribeFallsBackToLinks: after the bound user unfollows the
// official account, prompts carry a login link, the tenant hears
// binding.unreachable, and following again restores WeChat delivery.
func TestUnsubscribeFallsBackToLinks(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneH, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneH, domain.LoginManual)
	h.ok(h.eng.Bind(h.ctx(), h.tenant, id, wxAlice))
	h.ok(h.eng.WeChatSubscription(h.ctx(), "o_never_linked", false)) // nothing bound: nothing to do
	h.ok(h.eng.WeChatSubscription(h.ctx(), wxAlice, false))

	var unreachable int
	for _, ev := range h.events.Events() {
		if ev.Type == events.EventBindingUnreachable && ev.Account == id {
			unreachable++
		}
	}
	if unreachable != 1 {
		t.Fatalf("binding.unreachable events = %d", unreachable)
	}
	h.logout(id, domain.ChannelIssue)
	r, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if r.Prompt == nil || r.Prompt.LoginURL == "" || !strings.Contains(r.Prompt.Message, "取消关注") {
		t.Fatalf("prompt while unfollowed = %+v", r.Prompt)
	}
	last := h.pub.All()
	if p := last[len(last)-1]; p.ID != r.Prompt.ID || p.OpenID != "" {
		t.Fatalf("published to %q while unfollowed", p.OpenID)
	}
	if v := h.account(id); !v.Bound {
		t.Fatal("the binding itself stays")
	}
	// the link works like any F16 link
	if _, err := h.eng.AnswerPrompt(h.ctx(), h.tenant, id, r.Prompt.ID, "", h.sim.LastCode(phoneH)); err != nil {
		t.Fatal(err)
	}
	// following again: WeChat messages again, survives a restart
	h.ok(h.eng.WeChatSubscription(h.ctx(), wxAlice, true))
	h.eng.Stop()
	h.start()
	h.logout(id, domain.ChannelIssue)
	r, err = h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if r.Prompt.LoginURL != "" || !strings.Contains(r.Prompt.Message, "公众号点击收到的登录通知") {
		t.Fatalf("prompt after following again = %+v", r.Prompt)
	}
	wantErr(t, h.eng.WeChatSubscription(h.ctx(), "", false), domain.ErrInvalidInput)
}

// TestPromptDeliveredAudited: WeChat's delivery report lands in the audit
// log, a failure with its reason; bad ids are ignored.
func TestPromptDeliveredAudited(t *testing.T) {
	h := newHarness(t)
	h.eng.PromptDelivered(h.tenant, "aaccount1", "p1", "success")
	h.eng.PromptDelivered(h.tenant, "aaccount1", "p2", "failed:user block")
	h.eng.PromptDelivered("../x", "aaccount1", "p3", "success")
	var got []string
	h.ok(h.eng.Audit(h.ctx(), h.tenant, t0.Add(-time.Hour), t0.Add(time.Hour), func(ev AuditEvent) error {
		if ev.Action == "prompt.delivered" {
			got = append(got, ev.Target+" "+ev.Outcome+" "+ev.Detail)
		}
		return nil
	}))
	if len(got) != 2 || !strings.HasPrefix(got[0], "account/aaccount1 ok") ||
		!strings.Contains(got[1], domain.ErrPromptUndeliverable.Code) || !strings.Contains(got[1], "user block") {
		t.Fatalf("audit = %q", got)
	}
}
