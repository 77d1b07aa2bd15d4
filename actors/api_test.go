package actors

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/persistence"
)

func TestAPIKeys(t *testing.T) {
	h := newHarness(t)
	k, err := h.eng.CreateAPIKey(h.ctx(), h.tenant, "", "")
	h.ok(err)
	if len(k.Secret) != 64 || k.Tenant != h.tenant {
		t.Fatalf("key = %+v", k)
	}
	tenant, secret, err := h.eng.LookupAPIKey(h.ctx(), k.ID)
	h.ok(err)
	if tenant != h.tenant || string(secret) != k.Secret {
		t.Fatal("lookup does not give the secret back")
	}
	var leaked bool
	h.ok(h.store.Scan(h.ctx(), "", func(r persistence.Record) error {
		leaked = leaked || strings.Contains(string(r.Value), k.Secret)
		return nil
	}))
	if leaked {
		t.Fatal("API secret stored in clear")
	}
	ks, err := h.eng.APIKeys(h.ctx(), h.tenant)
	h.ok(err)
	if len(ks) != 1 || ks[0].Secret != "" {
		t.Fatalf("list = %+v", ks)
	}
	h.ok(h.eng.RevokeAPIKey(h.ctx(), k.ID))
	_, _, err = h.eng.LookupAPIKey(h.ctx(), k.ID)
	wantErr(t, err, domain.ErrAPIKeyNotFound)
	_, err = h.eng.CreateAPIKey(h.ctx(), "nobody", "", "")
	wantErr(t, err, domain.ErrTenantNotFound)
	_, err = h.eng.CreateAPIKey(h.ctx(), h.tenant, k.ID, strings.Repeat("s", 40))
	wantErr(t, err, domain.ErrInvalidInput)
	wantErr(t, h.eng.RevokeAPIKey(h.ctx(), "k-none"), domain.ErrAPIKeyNotFound)
	ts, err := h.eng.Tenants(h.ctx())
	h.ok(err)
	if len(ts) != 1 || ts[0].ID != h.tenant {
		t.Fatalf("tenants = %+v", ts)
	}
}

// TestEventsAndLoginLink: B6 events for a login, and the F16 link for an
// account nobody is bound to.
func TestEventsAndLoginLink(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneA, domain.LoginManual)
	h.logout(id, domain.ChannelIssue)
	r, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if r.Prompt.LoginURL == "" || !strings.Contains(r.Prompt.Message, "浏览器") {
		t.Fatalf("unbound account's prompt = %+v", r.Prompt)
	}
	u, err := url.Parse(r.Prompt.LoginURL)
	h.ok(err)
	link, err := h.eng.VerifyLoginLink(u.Query().Get("link"))
	h.ok(err)
	if link.Account != id || link.Tenant != h.tenant || link.Prompt != r.Prompt.ID {
		t.Fatalf("link = %+v", link)
	}
	if _, err := h.eng.VerifyLoginLink(u.Query().Get("link") + "x"); err == nil {
		t.Fatal("forged link accepted")
	}
	h.clk.Advance(6 * time.Minute)
	if _, err := h.eng.VerifyLoginLink(u.Query().Get("link")); err == nil {
		t.Fatal("expired link accepted")
	}
	var types []string
	for _, e := range h.events.Events() {
		if e.Account == id {
			types = append(types, string(e.Type))
		}
	}
	got := strings.Join(types, ",")
	if got != "session.lost,auth.required" {
		t.Fatalf("events = %s", got)
	}
	// a bound account's prompt has no link
	h.ok(h.eng.Bind(context.Background(), h.tenant, id, wxAlice))
	r, err = h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if r.Prompt == nil || r.Prompt.LoginURL != "" {
		t.Fatalf("bound prompt = %+v", r.Prompt)
	}
	_ = events.EventAccountLocked
}

func TestPromptUndeliverableAudited(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.gd, "44", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.gd, "issue", "alice", pwA, phoneA, domain.LoginManual)
	h.eng.PromptUndeliverable(h.tenant, id, "p-1", "user unsubscribed")
	testutil.Eventually(t, 5*time.Second, func() error {
		found := false
		_ = h.store.Audit(h.ctx(), h.tenant, time.Time{}, time.Time{}, func(e persistence.AuditEvent) error {
			found = found || (e.Action == "prompt.undeliverable" && e.Outcome == domain.ErrPromptUndeliverable.Code)
			return nil
		})
		if !found {
			return fmt.Errorf("not audited")
		}
		return nil
	})
}

func TestCookieKeyIsStableAndSealed(t *testing.T) {
	h := newHarness(t)
	k1, err := h.eng.CookieKey()
	h.ok(err)
	h.restart()
	k2, err := h.eng.CookieKey()
	h.ok(err)
	if len(k1) != 32 || string(k1) != string(k2) {
		t.Fatal("the cookie key changed across a restart")
	}
	r, err := h.store.Get(h.ctx(), keyCookieKey)
	h.ok(err)
	if strings.Contains(string(r.Value), string(k1)) {
		t.Fatal("cookie key stored in clear")
	}
}

// TestLoginLinksOnly: with no notifier that reaches people (production
// without WeChat) a bound account's prompt is a login link too, addressed
// to nobody, and the client is not told a WeChat message went out.
func TestLoginLinksOnly(t *testing.T) {
	h := newHarness(t)
	h.link(wxAlice)
	h.person("alice", phoneA, pwA, rel(h.bj, "11", domain.RoleInvoicer))
	id := h.addAccount(wxAlice, h.bj, "issue", "alice", pwA, phoneA, domain.LoginManual)
	h.ok(h.eng.Bind(context.Background(), h.tenant, id, wxAlice))
	h.cfg.LoginLinksOnly = true
	h.restart()
	h.logout(id, domain.ChannelIssue)
	r, err := h.session(id, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if r.Prompt == nil || r.Prompt.LoginURL == "" || r.Prompt.Message != noWeChatMessage(domain.MaskPhone(phoneA)) {
		t.Fatalf("prompt = %+v, want a login link and the no-WeChat message", r.Prompt)
	}
	for _, p := range h.pub.All() {
		if p.ID == r.Prompt.ID && p.OpenID != "" {
			t.Fatalf("prompt %s addressed to %q", p.ID, p.OpenID)
		}
	}
}
