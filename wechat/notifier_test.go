package wechat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etaxd/etaxd/prompts"
)

const (
	pathStable = "/cgi-bin/stable_token"
	pathToken  = "/cgi-bin/token"
	pathSend   = "/cgi-bin/message/template/send"
)

func TestNotifySendsTemplate(t *testing.T) {
	f := newFakeWeChat(t)
	env := newTestClient(t, nil)
	p := testPrompt("p-1")
	if err := env.c.Notifier().Notify(context.Background(), p); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	sends := f.Sends()
	if len(sends) != 1 {
		t.Fatalf("sends = %d, want 1", len(sends))
	}
	m := sends[0].Msg
	if m.ToUser != "o-user-1" || m.TemplateID != "tpl-login-prompt" || m.ClientMsgID != "p-1" ||
		m.URL != "https://etaxd.example.com/h5/prompt/t1/a1/p-1" {
		t.Errorf("message = %+v", m)
	}
	want := map[string]string{
		"thing1": "短信验证码", "character_string2": "91310000MA1FL0AB1C", "thing3": "张会计",
		"character_string4": "138****5678", "time5": "2025年3月14日 17:35",
	}
	for k, v := range want {
		if got := m.Data[k]; got == nil || got.Value != v {
			t.Errorf("data[%s] = %+v, want %q", k, got, v)
		}
	}
	if len(m.Data) != len(want) {
		t.Errorf("data has %d items, want %d", len(m.Data), len(want))
	}
	if n := f.Calls(pathToken); n != 0 {
		t.Errorf("cgi-bin/token called %d times: UseStableAK must be on", n)
	}
	if s := env.c.Notifier().Stats(); s.Sent != 1 {
		t.Errorf("stats = %+v", s)
	}
}

func TestNotifyActions(t *testing.T) {
	f := newFakeWeChat(t)
	env := newTestClient(t, nil)
	for i, tc := range []struct {
		kind prompts.Kind
		want string
	}{
		{prompts.KindSMSCode, "短信验证码"},
		{prompts.KindQRScan, "扫码登录"},
		{prompts.KindFace, "人脸认证"},
	} {
		p := testPrompt(fmt.Sprintf("p-%d", i))
		p.Kind = tc.kind
		p.PhoneMasked = ""
		p.Username = strings.Repeat("长", 30)
		if err := env.c.Notifier().Notify(context.Background(), p); err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		m := f.Sends()[i].Msg
		if got := m.Data["thing1"].Value; got != tc.want {
			t.Errorf("%s: action = %q, want %q", tc.kind, got, tc.want)
		}
		if got := m.Data["character_string4"].Value; got != "-" {
			t.Errorf("%s: empty phone = %q, want -", tc.kind, got)
		}
		if got := m.Data["thing3"].Value; got != strings.Repeat("长", 20) {
			t.Errorf("%s: long username = %q, want 20 runes", tc.kind, got)
		}
	}
}

func TestNotifyRefreshesRejectedToken(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(f *fakeWeChat)
	}{
		{"40001 after WeChat dropped the token", func(f *fakeWeChat) { f.ExpireToken() }},
		{"42001 once", func(f *fakeWeChat) {
			f.SetFaults(faults{Send: func(n int, _ templateMessage) int64 {
				if n == 2 {
					return CodeAccessTokenExpired
				}
				return 0
			}})
		}},
		{"40014 once", func(f *fakeWeChat) {
			f.SetFaults(faults{Send: func(n int, _ templateMessage) int64 {
				if n == 2 {
					return CodeInvalidAccessToken
				}
				return 0
			}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeWeChat(t)
			env := newTestClient(t, nil)
			n := env.c.Notifier()
			if err := n.Notify(context.Background(), testPrompt("warm-up")); err != nil {
				t.Fatalf("first Notify: %v", err)
			}
			tc.setup(f)
			if err := n.Notify(context.Background(), testPrompt("p-2")); err != nil {
				t.Fatalf("Notify after token trouble: %v", err)
			}
			if got := f.Calls(pathSend); got != 3 {
				t.Errorf("sends = %d, want 3 (warm-up, rejected, retry)", got)
			}
			if got := f.Calls(pathStable); got != 2 {
				t.Errorf("stable_token calls = %d, want 2", got)
			}
			sends := f.Sends()
			if last := sends[len(sends)-1]; last.Token != f.Token() {
				t.Errorf("retry used %q, want the fresh token %q", last.Token, f.Token())
			}
			if s := n.Stats(); s.Refreshed != 1 || s.Sent != 2 {
				t.Errorf("stats = %+v", s)
			}
		})
	}
}

func TestNotifyRetriesTokenOnlyOnce(t *testing.T) {
	f := newFakeWeChat(t)
	f.SetFaults(faults{Send: func(int, templateMessage) int64 { return CodeInvalidCredential }})
	env := newTestClient(t, nil)
	err := env.c.Notifier().Notify(context.Background(), testPrompt("p-1"))
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != CodeInvalidCredential || prompts.IsPermanent(err) {
		t.Fatalf("Notify = %v, want a transient 40001", err)
	}
	if got := f.Calls(pathSend); got != 2 {
		t.Errorf("sends = %d, want 2", got)
	}
}

func TestNotifyPermanentErrors(t *testing.T) {
	for _, code := range []int64{CodeRequireSubscribe, CodeUserRefused, CodeInvalidOpenID, CodeInvalidTemplateID, CodeArgumentInvalid} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			f := newFakeWeChat(t)
			f.SetFaults(faults{Send: func(int, templateMessage) int64 { return code }})
			env := newTestClient(t, nil)
			err := env.c.Notifier().Notify(context.Background(), testPrompt("p-1"))
			var ae *APIError
			if !prompts.IsPermanent(err) || !errors.As(err, &ae) || ae.Code != code {
				t.Fatalf("Notify = %v, want permanent %d", err, code)
			}
			if got := f.Calls(pathSend); got != 1 {
				t.Errorf("sends = %d, want 1", got)
			}
			if s := env.c.Notifier().Stats(); s.Permanent != 1 {
				t.Errorf("stats = %+v", s)
			}
		})
	}
}

func TestNotifyTransientErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		faults faults
		is     error
	}{
		{"system busy", faults{Send: func(int, templateMessage) int64 { return CodeSystemBusy }}, nil},
		{"quota", faults{Send: func(int, templateMessage) int64 { return 45009 }}, nil},
		{"send 502", faults{Status: func(p string) int {
			if p == pathSend {
				return 502
			}
			return 0
		}}, ErrHTTPStatus},
		{"token 503", faults{Status: func(string) int { return 503 }}, nil},
		{"ip not whitelisted", faults{StableToken: func(int) int64 { return 40164 }}, nil},
		{"slow", faults{Latency: time.Second}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeWeChat(t)
			f.SetFaults(tc.faults)
			env := newTestClient(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			err := env.c.Notifier().Notify(ctx, testPrompt("p-1"))
			if err == nil || prompts.IsPermanent(err) {
				t.Fatalf("Notify = %v, want a transient error", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("Notify = %v, want it to wrap %v", err, tc.is)
			}
			// A transient failure is not remembered: the retry sends.
			f.SetFaults(faults{})
			if err := env.c.Notifier().Notify(context.Background(), testPrompt("p-1")); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if s := env.c.Notifier().Stats(); s.Transient != 1 || s.Sent != 1 {
				t.Errorf("stats = %+v", s)
			}
		})
	}
}

func TestNotifyDedupesByPromptID(t *testing.T) {
	f := newFakeWeChat(t)
	env := newTestClient(t, func(o *Options) { o.SentTTL = time.Hour })
	n := env.c.Notifier()
	for range 3 {
		if err := n.Notify(context.Background(), testPrompt("p-1")); err != nil {
			t.Fatalf("Notify: %v", err)
		}
	}
	if got := f.Calls(pathSend); got != 1 {
		t.Errorf("sends = %d, want 1", got)
	}
	if s := n.Stats(); s.Sent != 1 || s.Deduped != 2 {
		t.Errorf("stats = %+v", s)
	}
	// After SentTTL the id is forgotten (the stream no longer holds it).
	env.clock.Advance(time.Hour)
	if err := n.Notify(context.Background(), testPrompt("p-1")); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if got := f.Calls(pathSend); got != 2 {
		t.Errorf("sends after the TTL = %d, want 2", got)
	}
}

func TestNotifyInFlightIsTransient(t *testing.T) {
	f := newFakeWeChat(t)
	env := newTestClient(t, nil)
	n := env.c.Notifier()
	release, entered := make(chan struct{}), make(chan struct{})
	f.SetFaults(faults{Send: func(int, templateMessage) int64 {
		close(entered)
		<-release
		return 0
	}})
	done := make(chan error)
	go func() { done <- n.Notify(context.Background(), testPrompt("p-1")) }()
	<-entered
	err := n.Notify(context.Background(), testPrompt("p-1"))
	if !errors.Is(err, ErrInFlight) || prompts.IsPermanent(err) {
		t.Errorf("second Notify = %v, want transient ErrInFlight", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first Notify: %v", err)
	}
	if err := n.Notify(context.Background(), testPrompt("p-1")); err != nil {
		t.Errorf("third Notify = %v, want nil (deduped)", err)
	}
	if got := f.Calls(pathSend); got != 1 {
		t.Errorf("sends = %d, want 1", got)
	}
}

func TestNotifySkips(t *testing.T) {
	f := newFakeWeChat(t)
	env := newTestClient(t, nil)
	unbound := testPrompt("p-unbound")
	unbound.OpenID = ""
	notice := testPrompt("p-notice")
	notice.Kind = prompts.KindNotice
	locked := testPrompt("p-locked")
	locked.Kind = prompts.KindLocked
	for _, p := range []prompts.Prompt{unbound, notice, locked} {
		if err := env.c.Notifier().Notify(context.Background(), p); err != nil {
			t.Errorf("Notify(%s) = %v, want nil", p.ID, err)
		}
	}
	if s := env.c.Notifier().Stats(); s.Skipped != 3 || s.Sent != 0 {
		t.Errorf("stats = %+v", s)
	}
	if got := f.Calls(pathSend) + f.Calls(pathStable); got != 0 {
		t.Errorf("%d requests to WeChat, want none", got)
	}
	noID := testPrompt("")
	if err := env.c.Notifier().Notify(context.Background(), noID); !prompts.IsPermanent(err) || !errors.Is(err, ErrInvalidPrompt) {
		t.Errorf("Notify(no id) = %v, want permanent ErrInvalidPrompt", err)
	}
}

func TestNotifyConcurrentFetchesTokenOnce(t *testing.T) {
	f := newFakeWeChat(t)
	f.SetFaults(faults{Latency: 5 * time.Millisecond})
	env := newTestClient(t, nil)
	n := env.c.Notifier()
	const prompts = 40
	var wg sync.WaitGroup
	errs := make(chan error, 2*prompts)
	for i := range 2 * prompts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each prompt twice, concurrently: one push each.
			err := n.Notify(context.Background(), testPrompt(fmt.Sprintf("p-%d", i%prompts)))
			if err != nil && !errors.Is(err, ErrInFlight) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := f.Calls(pathStable); got != 1 {
		t.Errorf("stable_token calls = %d, want 1", got)
	}
	if got := f.Calls(pathSend); got != prompts {
		t.Errorf("sends = %d, want %d", got, prompts)
	}
}

func TestConcurrentTokenRejectionRefetchesOnce(t *testing.T) {
	f := newFakeWeChat(t)
	env := newTestClient(t, nil)
	n := env.c.Notifier()
	if err := n.Notify(context.Background(), testPrompt("warm-up")); err != nil {
		t.Fatal(err)
	}
	f.ExpireToken()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Notify(context.Background(), testPrompt(fmt.Sprintf("p-%d", i))); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Every sender saw 40001 with the old token, but only the first drop
	// emptied the cache: the others' retries find the new token.
	if got := f.Calls(pathStable); got != 2 {
		t.Errorf("stable_token calls = %d, want 2", got)
	}
}

func TestNoSecretInErrorsOrLogs(t *testing.T) {
	f := newFakeWeChat(t)
	env := newTestClient(t, nil)
	n := env.c.Notifier()
	if err := n.Notify(context.Background(), testPrompt("warm-up")); err != nil {
		t.Fatal(err)
	}
	tok := f.Token()
	var errs []error
	f.SetFaults(faults{Latency: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	errs = append(errs, n.Notify(ctx, testPrompt("p-slow")))
	cancel()
	f.SetFaults(faults{Status: func(string) int { return 500 }})
	errs = append(errs, n.Notify(context.Background(), testPrompt("p-500")))
	_, err := env.c.OpenIDFromCode(context.Background(), "secret-code")
	errs = append(errs, err)
	for _, err := range errs {
		if err == nil {
			t.Fatal("want an error")
		}
		env.c.log.Warn("failure", "err", err)
		for _, secret := range []string{tok, testSecret, "secret-code"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q shows a secret", err)
			}
		}
	}
	for _, secret := range []string{tok, testSecret, testToken, testAESKey, "secret-code"} {
		if strings.Contains(env.logs.String(), secret) {
			t.Errorf("log shows secret %q:\n%s", secret, env.logs.String())
		}
	}
}

func TestOpenIDFromCode(t *testing.T) {
	newFakeWeChat(t)
	env := newTestClient(t, nil)
	openid, err := env.c.OpenIDFromCode(context.Background(), "good-code")
	if err != nil || openid != "o-from-code" {
		t.Errorf("OpenIDFromCode = %q, %v", openid, err)
	}
	_, err = env.c.OpenIDFromCode(context.Background(), "bad-code")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != 40029 {
		t.Errorf("OpenIDFromCode(bad) = %v, want errcode 40029", err)
	}
	u := env.c.AuthCodeURL("https://etaxd.example.com/h5/auth", "nonce 1")
	for _, want := range []string{"appid=" + testAppID, "scope=snsapi_base", "state=nonce+1",
		"redirect_uri=https%3A%2F%2Fetaxd.example.com%2Fh5%2Fauth"} {
		if !strings.Contains(u, want) {
			t.Errorf("AuthCodeURL = %s, missing %s", u, want)
		}
	}
}

// TestNotifyReminderCopies: a reminder and an escalated copy (B5) are
// messages of their own that open the original prompt's page.
func TestNotifyReminderCopies(t *testing.T) {
	f := newFakeWeChat(t)
	env := newTestClient(t, nil)
	orig := testPrompt("porig")
	r := orig
	r.ID, r.Of, r.Reminder = "porigr", "porig", true
	e := orig
	e.ID, e.Of, e.Escalated, e.OpenID = "porige0", "porig", true, "o-admin"
	for _, p := range []prompts.Prompt{orig, r, e} {
		if err := env.c.Notifier().Notify(context.Background(), p); err != nil {
			t.Fatalf("Notify %s: %v", p.ID, err)
		}
	}
	sends := f.Sends()
	if len(sends) != 3 {
		t.Fatalf("sends = %d, want 3", len(sends))
	}
	for i, want := range []struct{ to, id, action string }{
		{"o-user-1", "porig", "短信验证码"}, {"o-user-1", "porigr", "提醒：短信验证码"}, {"o-admin", "porige0", "待代办：短信验证码"},
	} {
		m := sends[i].Msg
		if m.ToUser != want.to || m.ClientMsgID != want.id || m.URL != "https://etaxd.example.com/h5/prompt/t1/a1/porig" ||
			m.Data["thing1"].Value != want.action {
			t.Errorf("send %d = %+v (thing1 %q)", i, m, m.Data["thing1"].Value)
		}
	}
}
