package actors

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// TestResendFlowCode: 重新获取 on a flow's code page asks the bureau again
// under B3: refused within the interval with the real wait, after it a new
// code that spends one of the day's budget, and the new code finishes the
// flow. Only the person who started the flow may ask.
func TestResendFlowCode(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.link(wxBob)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleLegalRep))
	r, err := h.eng.AddAccount(h.ctx(), h.tenant, AddAccount{OpenID: wxAlice, TaxNo: h.bj, Business: "both",
		Username: "alice", Password: domain.NewSecret(pwA)})
	h.ok(err)
	interval := h.cfg.SMSPolicy.PerAccountInterval
	day := h.cfg.SMSPolicy.PerPhonePerDay
	if r.State != FlowAwaitingCode || !r.NextCodeAt.Equal(t0.Add(interval)) || r.SMSRemaining != day-1 {
		t.Fatalf("first reply = %+v", r)
	}
	// The code page asks where the flow stands when it renders again.
	p, err := h.eng.PollFlow(h.ctx(), h.tenant, r.FlowID, wxAlice)
	h.ok(err)
	if p.State != FlowAwaitingCode || !p.NextCodeAt.Equal(r.NextCodeAt) || p.SMSRemaining != day-1 || p.PhoneMasked != "138****0001" {
		t.Fatalf("poll = %+v", p)
	}

	h.clk.Advance(time.Minute)
	_, err = h.eng.ResendFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice)
	wantErr(t, err, domain.ErrSMSTooFrequent)
	var e *domain.Error
	if !errors.As(err, &e) || e.RetryAfter != interval-time.Minute || !strings.Contains(e.Message, "120秒") {
		t.Fatalf("too early = %#v", err)
	}
	if n := len(h.sim.SentCodes(phoneA)); n != 1 {
		t.Fatalf("codes sent = %d, want 1", n)
	}
	_, err = h.eng.ResendFlowCode(h.ctx(), h.tenant, r.FlowID, wxBob)
	wantErr(t, err, domain.ErrNotPermitted)

	h.clk.Advance(interval - time.Minute)
	r2, err := h.eng.ResendFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice)
	h.ok(err)
	now := t0.Add(interval)
	if r2.State != FlowAwaitingCode || r2.FlowID != r.FlowID || !r2.NextCodeAt.Equal(now.Add(interval)) || r2.SMSRemaining != day-2 {
		t.Fatalf("resent = %+v", r2)
	}
	sent := h.sim.SentCodes(phoneA)
	if len(sent) != 2 || sent[0].ChallengeID == sent[1].ChallengeID || h.sim.LastCode(phoneA) != sent[0].Code {
		t.Fatalf("outbox = %+v", sent)
	}
	if v := h.sim.SMSRemaining(phoneA, "11"); v != day-2 {
		t.Fatalf("bureau budget = %d", v)
	}
	_, err = h.eng.ResendFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice)
	wantErr(t, err, domain.ErrSMSTooFrequent)

	done, err := h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice, h.sim.LastCode(phoneA))
	h.ok(err)
	if done.State != FlowDone || done.AccountID == "" {
		t.Fatalf("done = %+v", done)
	}
	_, err = h.eng.ResendFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice)
	wantErr(t, err, domain.ErrNoChallenge)
}

// TestResendFlowCodeBudget: with the day's budget spent the bureau is not
// asked, and the refusal is the budget's.
func TestResendFlowCodeBudget(t *testing.T) {
	h := newHarness(t)
	h.eng.Stop()
	h.cfg.SMSPolicy.PerPhonePerDay = 2
	h.start()
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleLegalRep))
	r, err := h.eng.AddAccount(h.ctx(), h.tenant, AddAccount{OpenID: wxAlice, TaxNo: h.bj, Business: "issue",
		Username: "alice", Password: domain.NewSecret(pwA)})
	h.ok(err)
	if r.SMSRemaining != 1 {
		t.Fatalf("first reply = %+v", r)
	}
	h.clk.Advance(h.cfg.SMSPolicy.PerAccountInterval)
	r, err = h.eng.ResendFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice)
	h.ok(err)
	if r.SMSRemaining != 0 {
		t.Fatalf("resent = %+v", r)
	}
	h.clk.Advance(h.cfg.SMSPolicy.PerAccountInterval)
	_, err = h.eng.ResendFlowCode(h.ctx(), h.tenant, r.FlowID, wxAlice)
	wantErr(t, err, domain.ErrSMSBudget)
	if n := len(h.sim.SentCodes(phoneA)); n != 2 {
		t.Fatalf("codes sent = %d, want 2", n)
	}
}

// TestResendPromptCode: 重新获取 on a login prompt: refused within the
// account's interval with the real wait, then a new code that spends the
// budget and answers the prompt.
func TestResendPromptCode(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneA, domain.LoginManual)
	r, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	h.ok(h.eng.ReportInvalid(h.ctx(), h.tenant, id, domain.ChannelIssue, r.Session.Token))
	interval := h.cfg.SMSPolicy.PerAccountInterval
	h.clk.Advance(interval)
	r, err = h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if r.Prompt == nil {
		t.Fatalf("login = %+v", r)
	}
	sentAt := h.clk.Now()
	st, err := h.eng.Prompt(h.ctx(), h.tenant, id, r.Prompt.ID, wxAlice)
	h.ok(err)
	day := h.cfg.SMSPolicy.PerPhonePerDay
	if st.State != PromptPending || !st.NextCodeAt.Equal(sentAt.Add(interval)) || st.Account.SMSRemaining != day-2 {
		t.Fatalf("prompt = %+v", st)
	}

	h.clk.Advance(time.Minute)
	_, err = h.eng.ResendPromptCode(h.ctx(), h.tenant, id, r.Prompt.ID, wxAlice)
	wantErr(t, err, domain.ErrSMSTooFrequent)
	var e *domain.Error
	if !errors.As(err, &e) || e.RetryAfter != interval-time.Minute {
		t.Fatalf("too early = %#v", err)
	}
	if n := len(h.sim.SentCodes(phoneA)); n != 2 {
		t.Fatalf("codes sent = %d, want 2", n)
	}

	h.clk.Advance(interval - time.Minute)
	st, err = h.eng.ResendPromptCode(h.ctx(), h.tenant, id, r.Prompt.ID, wxAlice)
	h.ok(err)
	if st.State != PromptPending || !st.NextCodeAt.Equal(h.clk.Now().Add(interval)) || st.Account.SMSRemaining != day-3 {
		t.Fatalf("resent = %+v", st)
	}
	sent := h.sim.SentCodes(phoneA)
	if len(sent) != 3 || sent[0].ChallengeID == sent[1].ChallengeID {
		t.Fatalf("outbox = %+v", sent)
	}
	done, err := h.eng.AnswerPrompt(h.ctx(), h.tenant, id, r.Prompt.ID, wxAlice, sent[0].Code)
	h.ok(err)
	if done.State != RequestReady {
		t.Fatalf("answer = %+v", done)
	}
	_, err = h.eng.ResendPromptCode(h.ctx(), h.tenant, id, r.Prompt.ID, wxAlice)
	wantErr(t, err, domain.ErrPromptClosed)
}
