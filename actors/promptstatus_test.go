package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/testutil"
)

// TestPromptPageStatus: the prompt page's view of a prompt follows it from
// pending to done, answers only that prompt, and refuses strangers.
func TestPromptPageStatus(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.link(wxBob)
	h.person("alice", phoneH, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneH, domain.LoginManual)
	h.ok(h.eng.Bind(h.ctx(), h.tenant, id, wxAlice))
	h.logout(id, domain.ChannelIssue)
	h.clk.Advance(4 * time.Minute)

	r, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if r.State != RequestAwaitingUser || r.Prompt == nil {
		t.Fatalf("session = %+v", r)
	}
	pid := r.Prompt.ID

	st, err := h.eng.Prompt(h.ctx(), h.tenant, id, pid, wxAlice)
	h.ok(err)
	if st.State != PromptPending || st.Kind != KindSMSCode || st.Channel != domain.ChannelIssue ||
		st.Account.ID != id || st.Account.PhoneMasked == "" || !st.ExpiresAt.After(t0) {
		t.Fatalf("pending status = %+v", st)
	}
	// bob is linked but neither bound nor admin: 已绑定的税局账号仅可以被绑定的微信用户操作
	_, err = h.eng.Prompt(h.ctx(), h.tenant, id, pid, wxBob)
	wantErr(t, err, domain.ErrNotPermitted)
	_, err = h.eng.AnswerPrompt(h.ctx(), h.tenant, id, pid, wxBob, h.sim.LastCode(phoneH))
	wantErr(t, err, domain.ErrNotPermitted)
	// another prompt id is not this login's
	_, err = h.eng.AnswerPrompt(h.ctx(), h.tenant, id, "pzzzzzzzzzzzzzzzz", wxAlice, h.sim.LastCode(phoneH))
	wantErr(t, err, domain.ErrPromptClosed)
	_, err = h.eng.Prompt(h.ctx(), h.tenant, id, "bad id!", wxAlice)
	wantErr(t, err, domain.ErrPromptClosed)

	ans, err := h.eng.AnswerPrompt(h.ctx(), h.tenant, id, pid, wxAlice, h.sim.LastCode(phoneH))
	h.ok(err)
	if ans.State != RequestReady {
		t.Fatalf("answer = %+v", ans)
	}
	final, err := h.eng.AwaitRequest(h.ctx(), h.tenant, r.RequestID, time.Second)
	h.ok(err)
	if final.State != RequestReady || final.Session == nil {
		t.Fatalf("client's request = %+v", final)
	}
	st, err = h.eng.Prompt(h.ctx(), h.tenant, id, pid, wxAlice)
	h.ok(err)
	if st.State != PromptDone || st.Channel != domain.ChannelIssue {
		t.Fatalf("done status = %+v", st)
	}
	// a second code for the same prompt is refused, not a new login
	_, err = h.eng.AnswerPrompt(h.ctx(), h.tenant, id, pid, wxAlice, "123456")
	wantErr(t, err, domain.ErrPromptClosed)

	// a prompt whose code expired reads as failed, with the reason
	h.logout(id, domain.ChannelIssue)
	h.clk.Advance(4 * time.Minute)
	r2, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	h.clk.Advance(h.cfg.CodeTTL + time.Second)
	testutil.Eventually(t, 5*time.Second, func() error {
		st, err := h.eng.Prompt(h.ctx(), h.tenant, id, r2.Prompt.ID, wxAlice)
		if err != nil {
			return err
		}
		if st.State != PromptFailed || st.Error == nil || st.Error.Code != domain.ErrCodeExpired.Code {
			return fmt.Errorf("expired status = %+v", st)
		}
		return nil
	})
	// an unknown (or forgotten) prompt is closed
	st, err = h.eng.Prompt(h.ctx(), h.tenant, id, "pqqqqqqqqqqqqqqqq", wxAlice)
	h.ok(err)
	if st.State != PromptClosed {
		t.Fatalf("unknown prompt = %+v", st)
	}
}

// TestPromptPageFace: a face prompt shows its QR while pending.
func TestPromptPageFace(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("boss", phoneA, pwA, rel(h.gd, "44", domain.RoleLegalRep))
	id := h.addAccount(wxAlice, h.gd, "issue", "boss", pwA, phoneA, domain.LoginManual)
	c, err := h.session(id, domain.ChannelIssue, ActionCertify)
	h.ok(err)
	st, err := h.eng.Prompt(h.ctx(), h.tenant, id, c.Prompt.ID, "")
	h.ok(err)
	if st.State != PromptPending || st.Kind != KindFace || st.QRContent != c.Prompt.QRContent {
		t.Fatalf("face status = %+v", st)
	}
	h.ok(h.passFace(c.Prompt.QRContent))
	_, err = h.eng.ConfirmCertification(h.ctx(), h.tenant, id, "")
	h.ok(err)
	st, err = h.eng.Prompt(h.ctx(), h.tenant, id, c.Prompt.ID, "")
	h.ok(err)
	if st.State != PromptDone || st.Account.CertifiedUntil == nil {
		t.Fatalf("certified status = %+v", st)
	}
}
