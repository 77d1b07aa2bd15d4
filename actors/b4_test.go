package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/taxbureau"
)

// bureauRestarted is an account whose stored session the bureau forgot (a
// restarted simulator, a session the bureau kicked): etaxd still shows it
// logged in. The clock is past the SMS interval, so a new login may start.
func bureauRestarted(t *testing.T, taxNo, region string) (*harness, string, string) {
	t.Helper()
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(taxNo, region, domain.RoleLegalRep))
	id := h.addAccount(wxAlice, taxNo, "issue", "alice", pwA, phoneA, domain.LoginManual)
	old, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if h.sim.DropSessions() != 1 {
		t.Fatal("the simulator held no session")
	}
	h.clk.Advance(h.cfg.SMSPolicy.PerAccountInterval + time.Minute)
	if v := h.account(id); v.Channels[domain.ChannelIssue].State != domain.StateLoggedIn {
		t.Fatalf("before: channels = %+v", v.Channels)
	}
	h.sim.ResetCalls()
	return h, id, old.Session.Token
}

// lostEvents are the session.lost events of the account.
func lostEvents(h *harness, id string) []events.Event {
	var out []events.Event
	for _, e := range h.events.Events() {
		if e.Type == events.EventSessionLost && e.Account == id {
			out = append(out, e)
		}
	}
	return out
}

// certifyAwaits asks to certify the issue channel as an ERP and wants the
// request to wait for a person, with a prompt of kind.
func certifyAwaits(h *harness, id string, kind PromptKind) *SessionReply {
	h.t.Helper()
	c, err := h.session(id, domain.ChannelIssue, ActionCertify)
	if err != nil {
		h.t.Fatalf("certify after the bureau dropped the session: %v", err)
	}
	if c.State != RequestAwaitingUser || c.Prompt == nil || c.Prompt.Kind != kind {
		h.t.Fatalf("certify = %+v", c)
	}
	return c
}

// TestB4ExplicitLoginChecksTheBureau: the ERP's login answers from the
// cached session without asking the bureau; a person's 登录 in the personal
// center asks the bureau first and, the session being dead, logs in again
// instead of saying 登录成功.
func TestB4ExplicitLoginChecksTheBureau(t *testing.T) {
	h, id, old := bureauRestarted(t, domain.MakeTaxNo("11", 1), "11")

	erp, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if erp.State != RequestReady || erp.Session.Token != old {
		t.Fatalf("ERP login = %+v", erp)
	}
	if n := h.sim.Calls(taxbureau.MethodCheckSession) + h.sim.Calls(taxbureau.MethodLogin); n != 0 {
		t.Fatalf("the ERP's cached login called the bureau %d times", n)
	}

	r, err := h.eng.RequestSession(h.ctx(), h.tenant, SessionRequest{AccountID: id, Business: domain.ChannelIssue,
		Action: ActionLogin, OpenID: wxAlice, Origin: "wx:" + wxAlice})
	h.ok(err)
	if r.State != RequestAwaitingUser || r.Prompt == nil || r.Prompt.Kind != KindSMSCode {
		t.Fatalf("explicit login with a dead session = %+v", r)
	}
	if h.sim.Calls(taxbureau.MethodCheckSession) != 1 || h.sim.Calls(taxbureau.MethodLogin) != 1 {
		t.Fatalf("bureau calls: check %d, login %d; want 1 and 1",
			h.sim.Calls(taxbureau.MethodCheckSession), h.sim.Calls(taxbureau.MethodLogin))
	}
	if ev := lostEvents(h, id); len(ev) != 1 || ev[0].Channel != string(domain.ChannelIssue) || ev[0].Reason != "bureau_invalid" {
		t.Fatalf("session.lost events = %+v", ev)
	}
	if v := h.account(id); v.Channels[domain.ChannelIssue].State != domain.StateLoggingIn {
		t.Fatalf("while logging in: channels = %+v", v.Channels)
	}
	// The ERP no longer gets the dead token: it joins the login (B1).
	erp, err = h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if erp.State != RequestAwaitingUser || erp.Prompt.ID != r.Prompt.ID {
		t.Fatalf("ERP during the re-login = %+v", erp)
	}
	done, err := h.eng.Answer(h.ctx(), h.tenant, r.RequestID, "", wxAlice, h.sim.LastCode(phoneA))
	h.ok(err)
	if done.State != RequestReady || done.Session == nil || done.Session.Token == old {
		t.Fatalf("answer = %+v", done)
	}
	st, err := h.sim.CheckSession(h.ctx(), done.Session.Token)
	h.ok(err)
	if !st.Alive {
		t.Fatal("the new session is not alive at the bureau")
	}

	// Alive at the bureau: 登录 checks once more and answers ready at once.
	h.sim.ResetCalls()
	again, err := h.eng.RequestSession(h.ctx(), h.tenant, SessionRequest{AccountID: id, Business: domain.ChannelIssue,
		OpenID: wxAlice})
	h.ok(err)
	if again.State != RequestReady || again.Session.Token != done.Session.Token ||
		h.sim.Calls(taxbureau.MethodCheckSession) != 1 || h.sim.Calls(taxbureau.MethodLogin) != 0 {
		t.Fatalf("explicit login with a live session = %+v (check %d, login %d)", again,
			h.sim.Calls(taxbureau.MethodCheckSession), h.sim.Calls(taxbureau.MethodLogin))
	}
}

// TestB4ExplicitLoginBureauDown: when the bureau cannot say, 登录 says so
// rather than 登录成功, and the stored session stays.
func TestB4ExplicitLoginBureauDown(t *testing.T) {
	h, id, old := bureauRestarted(t, domain.MakeTaxNo("11", 1), "11")
	h.sim.FailNext(taxbureau.MethodCheckSession, domain.ErrBureauUnavailable)
	_, err := h.eng.RequestSession(h.ctx(), h.tenant, SessionRequest{AccountID: id, Business: domain.ChannelIssue, OpenID: wxAlice})
	wantErr(t, err, domain.ErrBureauUnavailable)
	erp, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if erp.State != RequestReady || erp.Session.Token != old || len(lostEvents(h, id)) != 0 {
		t.Fatalf("after a failed check: %+v, lost %v", erp, lostEvents(h, id))
	}
}

// TestB4CertifyAfterBureauDroppedSession: 认证 with a session the bureau
// forgot drops it (session.lost), logs in again in the same request and,
// once the code is in, goes on to the face certification.
func TestB4CertifyAfterBureauDroppedSession(t *testing.T) {
	h, id, old := bureauRestarted(t, domain.MakeTaxNo("11", 1), "11")

	c := certifyAwaits(h, id, KindSMSCode)
	if h.sim.Calls(taxbureau.MethodStartCertification) != 1 || h.sim.Calls(taxbureau.MethodLogin) != 1 {
		t.Fatalf("bureau calls: certification %d, login %d", h.sim.Calls(taxbureau.MethodStartCertification), h.sim.Calls(taxbureau.MethodLogin))
	}
	if ev := lostEvents(h, id); len(ev) != 1 || ev[0].Reason != "bureau_invalid" {
		t.Fatalf("session.lost events = %+v", ev)
	}
	// The dead token is gone from the hot path too.
	erp, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if erp.State != RequestAwaitingUser || erp.Session != nil {
		t.Fatalf("ERP login after the loss = %+v", erp)
	}
	if _, err := h.eng.Answer(h.ctx(), h.tenant, c.RequestID, "", "", h.sim.LastCode(phoneA)); err != nil {
		t.Fatal(err)
	}
	// The certification starts once the login is stored.
	var face *SessionReply
	testutil.Eventually(t, 5*time.Second, func() error {
		face, err = h.eng.AwaitRequest(h.ctx(), h.tenant, c.RequestID, 0)
		if err != nil {
			return err
		}
		if face.State != RequestAwaitingUser || face.Prompt == nil || face.Prompt.Kind != KindFace {
			return fmt.Errorf("after the code = %+v", face)
		}
		return nil
	})
	h.ok(h.passFace(face.Prompt.QRContent))
	_, err = h.eng.ConfirmCertification(h.ctx(), h.tenant, id, wxAlice)
	h.ok(err)
	final, err := h.eng.AwaitRequest(h.ctx(), h.tenant, c.RequestID, 5*time.Second)
	h.ok(err)
	if final.State != RequestReady || final.CertifiedUntil == nil || final.Session == nil || final.Session.Token == old {
		t.Fatalf("certified = %+v", final)
	}
	found := false
	h.ok(h.store.Audit(h.ctx(), h.tenant, time.Time{}, time.Time{}, func(e persistence.AuditEvent) error {
		found = found || (e.Action == "session.lost" && e.Actor == "system" && e.Target == "account/"+id)
		return nil
	}))
	if !found {
		t.Fatal("the loss is not in the audit log")
	}
}

// TestB4CertifyNoSMSRegion: where the login needs no code the same request
// logs in again and goes straight to the face prompt.
func TestB4CertifyNoSMSRegion(t *testing.T) {
	h, id, old := bureauRestarted(t, domain.MakeTaxNo("44", 2), "44")
	certifyAwaits(h, id, KindFace)
	if h.sim.Calls(taxbureau.MethodStartCertification) != 2 || h.sim.Calls(taxbureau.MethodLogin) != 1 || len(lostEvents(h, id)) != 1 {
		t.Fatalf("bureau calls: certification %d, login %d; lost %d", h.sim.Calls(taxbureau.MethodStartCertification),
			h.sim.Calls(taxbureau.MethodLogin), len(lostEvents(h, id)))
	}
	erp, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if erp.State != RequestReady || erp.Session.Token == old {
		t.Fatalf("ERP login after the re-login = %+v", erp)
	}
}

// TestB4CertifyRefusedTwice: a bureau that refuses even the fresh session
// ends the request with not_logged_in instead of logging in forever.
func TestB4CertifyRefusedTwice(t *testing.T) {
	h, id, _ := bureauRestarted(t, domain.MakeTaxNo("44", 2), "44")
	h.sim.SetFault(taxbureau.MethodStartCertification, domain.ErrNotLoggedIn)
	_, err := h.session(id, domain.ChannelIssue, ActionCertify)
	wantErr(t, err, domain.ErrNotLoggedIn)
	if h.sim.Calls(taxbureau.MethodLogin) != 1 || h.sim.Calls(taxbureau.MethodStartCertification) != 2 {
		t.Fatalf("bureau calls: certification %d, login %d", h.sim.Calls(taxbureau.MethodStartCertification), h.sim.Calls(taxbureau.MethodLogin))
	}
}

// TestB4DropFailsToCommit: when the store refuses to drop the session the
// request fails with busy, nothing is announced, and the session stays as
// stored (the next try drops it).
func TestB4DropFailsToCommit(t *testing.T) {
	h, id, old := bureauRestarted(t, domain.MakeTaxNo("44", 2), "44")
	h.fs.failCommits(keyAccount(h.tenant, id), 1)
	_, err := h.session(id, domain.ChannelIssue, ActionCertify)
	wantErr(t, err, domain.ErrBusy)
	if n := len(lostEvents(h, id)); n != 0 || h.sim.Calls(taxbureau.MethodLogin) != 0 {
		t.Fatalf("after a failed drop: %d session.lost, %d logins", n, h.sim.Calls(taxbureau.MethodLogin))
	}
	erp, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if erp.State != RequestReady || erp.Session.Token != old {
		t.Fatalf("stored session after a failed drop = %+v", erp)
	}
	c, err := h.session(id, domain.ChannelIssue, ActionCertify)
	h.ok(err)
	if c.State != RequestAwaitingUser || c.Prompt.Kind != KindFace || len(lostEvents(h, id)) != 1 {
		t.Fatalf("second certify = %+v", c)
	}
}
