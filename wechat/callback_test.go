package wechat

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/silenceper/wechat/v2/util"
)

// recorder collects the hooks' calls.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func (r *recorder) hooks() Hooks {
	return Hooks{
		OnSubscribe:   func(o string) { r.add("subscribe " + o) },
		OnUnsubscribe: func(o string) { r.add("unsubscribe " + o) },
		OnTemplateFinished: func(id int64, status string, p SentPrompt) {
			r.add(fmt.Sprintf("finished %d %s %s", id, status, p.ID))
		},
	}
}

func eventXML(from, event string, created int64, extra string) string {
	return fmt.Sprintf("<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"+
		"<CreateTime>%d</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[%s]]></Event>%s</xml>",
		from, created, event, extra)
}

// callbackRequest signs body as WeChat would at ts; aes selects safe mode.
// The nonce and the AES random are derived from body and ts, so that the
// same arguments make the same request: WeChat's retry of a message.
func callbackRequest(t testing.TB, method, body string, ts time.Time, aes bool) *http.Request {
	t.Helper()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	sum := sha256.Sum256([]byte(stamp + "\x00" + body))
	nonce := hex.EncodeToString(sum[:5])
	q := url.Values{"timestamp": {stamp}, "nonce": {nonce}, "signature": {util.Signature(testToken, stamp, nonce)}}
	if aes {
		enc, err := util.EncryptMsg(sum[16:], []byte(body), testAppID, testAESKey)
		if err != nil {
			t.Fatal(err)
		}
		q.Set("encrypt_type", "aes")
		q.Set("msg_signature", util.Signature(testToken, stamp, nonce, string(enc)))
		body = "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><Encrypt><![CDATA[" + string(enc) + "]]></Encrypt></xml>"
	}
	var rd io.Reader
	if method == http.MethodPost {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "/wx/callback?"+q.Encode(), rd)
	req.Header.Set("Content-Type", "text/xml")
	return req
}

// withQuery changes req's query with mutate and returns req.
func withQuery(req *http.Request, mutate func(q url.Values)) *http.Request {
	q := req.URL.Query()
	mutate(q)
	req.URL.RawQuery = q.Encode()
	return req
}

func serve(h http.Handler, req *http.Request) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func TestCallbackURLVerification(t *testing.T) {
	env := newTestClient(t, nil)
	cb := env.c.Callback(Hooks{})
	req := callbackRequest(t, http.MethodGet, "", testStart, false)
	req.URL.RawQuery += "&echostr=echo-123"
	if code, body := serve(cb, req); code != 200 || body != "echo-123" {
		t.Errorf("verification = %d %q, want 200 echo-123", code, body)
	}
	if code, _ := serve(cb, callbackRequest(t, http.MethodGet, "", testStart, false)); code != http.StatusBadRequest {
		t.Errorf("GET without echostr = %d, want 400", code)
	}
	if code, _ := serve(cb, httptest.NewRequest(http.MethodPut, "/wx/callback", nil)); code != http.StatusMethodNotAllowed {
		t.Errorf("PUT = %d, want 405", code)
	}
}

func TestCallbackRefusesBadSignature(t *testing.T) {
	env := newTestClient(t, nil)
	rec := &recorder{}
	cb := env.c.Callback(rec.hooks())
	for name, mutate := range map[string]func(q url.Values){
		"wrong signature": func(q url.Values) {
			q.Set("signature", util.Signature("otherToken", q.Get("timestamp"), q.Get("nonce")))
		},
		"missing signature": func(q url.Values) { q.Del("signature") },
		"changed nonce":     func(q url.Values) { q.Set("nonce", "other") },
	} {
		req := withQuery(callbackRequest(t, http.MethodPost, eventXML("o-1", "subscribe", testStart.Unix(), ""), testStart, false), mutate)
		if code, body := serve(cb, req); code != http.StatusForbidden || body == "success" {
			t.Errorf("%s: %d %q, want 403", name, code, body)
		}
	}
	// Safe mode: a body that does not match msg_signature.
	req := withQuery(callbackRequest(t, http.MethodPost, eventXML("o-1", "subscribe", testStart.Unix(), ""), testStart, true),
		func(q url.Values) { q.Set("msg_signature", "0000") })
	if code, _ := serve(cb, req); code != http.StatusBadRequest {
		t.Errorf("bad msg_signature: %d, want 400", code)
	}
	if got := rec.all(); len(got) != 0 {
		t.Errorf("hooks called: %v", got)
	}
	if s := cb.Stats(); s.Forbidden != 3 || s.Malformed != 1 {
		t.Errorf("stats = %+v", s)
	}
}

func TestCallbackTimestampWindow(t *testing.T) {
	env := newTestClient(t, nil)
	rec := &recorder{}
	cb := env.c.Callback(rec.hooks())
	for _, tc := range []struct {
		skew time.Duration
		want int
	}{
		{-5*time.Minute - time.Second, http.StatusForbidden},
		{5*time.Minute + time.Second, http.StatusForbidden},
		{-4 * time.Minute, http.StatusOK},
		{4 * time.Minute, http.StatusOK},
	} {
		ts := testStart.Add(tc.skew)
		req := callbackRequest(t, http.MethodPost, eventXML("o-1", "subscribe", ts.Unix(), ""), ts, true)
		if code, _ := serve(cb, req); code != tc.want {
			t.Errorf("skew %v: %d, want %d", tc.skew, code, tc.want)
		}
	}
	if s := cb.Stats(); s.Stale != 2 || s.Accepted != 2 {
		t.Errorf("stats = %+v", s)
	}
}

func TestCallbackEvents(t *testing.T) {
	for _, aes := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "aes"}[aes], func(t *testing.T) {
			env := newTestClientMode(t, aes)
			env.c.msgPrompt.put(1001, SentPrompt{Tenant: "t1", Account: "a1", ID: "p-7"}, testStart)
			rec := &recorder{}
			cb := env.c.Callback(rec.hooks())
			now := testStart.Unix()
			for _, body := range []string{
				eventXML("o-1", "subscribe", now, ""),
				eventXML("o-2", "unsubscribe", now, ""),
				eventXML("o-1", "TEMPLATESENDJOBFINISH", now+1, "<MsgID>1001</MsgID><Status><![CDATA[success]]></Status>"),
				eventXML("o-3", "TEMPLATESENDJOBFINISH", now+1, "<MsgID>999</MsgID><Status><![CDATA[failed:user block]]></Status>"),
				"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[o-1]]></FromUserName><CreateTime>1</CreateTime>" +
					"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>42</MsgId></xml>",
			} {
				code, resp := serve(cb, callbackRequest(t, http.MethodPost, body, testStart, aes))
				if code != 200 || resp != "success" {
					t.Errorf("%d %q, want 200 success", code, resp)
				}
			}
			want := []string{"subscribe o-1", "unsubscribe o-2", "finished 1001 success p-7", "finished 999 failed:user block "}
			if got := rec.all(); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("hooks = %q, want %q", got, want)
			}
		})
	}
}

func TestCallbackDedupesRetries(t *testing.T) {
	for _, aes := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "aes"}[aes], func(t *testing.T) {
			env := newTestClientMode(t, aes)
			rec := &recorder{}
			cb := env.c.Callback(rec.hooks())
			now := testStart.Unix()
			sub := eventXML("o-1", "subscribe", now, "")
			text := "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[o-1]]></FromUserName><CreateTime>1</CreateTime>" +
				"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>42</MsgId></xml>"
			// WeChat sends each request up to three times.
			for i := range 3 {
				for _, body := range []string{sub, text} {
					if code, resp := serve(cb, callbackRequest(t, http.MethodPost, body, testStart, aes)); code != 200 || resp != "success" {
						t.Errorf("try %d: %d %q", i, code, resp)
					}
				}
			}
			// A retry WeChat signs anew (another nonce) is the same message too.
			if code, resp := serve(cb, callbackRequest(t, http.MethodPost, sub, testStart.Add(time.Second), aes)); code != 200 || resp != "success" {
				t.Errorf("re-signed retry: %d %q", code, resp)
			}
			// The same user subscribing again later is a new event.
			if code, _ := serve(cb, callbackRequest(t, http.MethodPost, eventXML("o-1", "subscribe", now+60, ""), testStart, aes)); code != 200 {
				t.Errorf("later subscribe: %d", code)
			}
			if got := rec.all(); len(got) != 2 {
				t.Errorf("hooks = %q, want two subscribes", got)
			}
			if s := cb.Stats(); s.Accepted != 3 || s.Duplicates != 5 || s.Replayed != 0 {
				t.Errorf("stats = %+v", s)
			}
		})
	}
}

func TestCallbackHookPanicLetsWeChatRetry(t *testing.T) {
	env := newPlainTestClient(t)
	calls := 0
	cb := env.c.Callback(Hooks{OnSubscribe: func(string) {
		calls++
		if calls == 1 {
			panic("store down")
		}
	}})
	body := eventXML("o-1", "subscribe", testStart.Unix(), "")
	if code, resp := serve(cb, callbackRequest(t, http.MethodPost, body, testStart, false)); code != 500 || resp == "success" {
		t.Errorf("panicking hook: %d %q, want 500", code, resp)
	}
	if code, resp := serve(cb, callbackRequest(t, http.MethodPost, body, testStart, false)); code != 200 || resp != "success" {
		t.Errorf("retry: %d %q", code, resp)
	}
	if calls != 2 {
		t.Errorf("hook calls = %d, want 2", calls)
	}
}

func TestCallbackMalformed(t *testing.T) {
	env := newPlainTestClient(t)
	cb := env.c.Callback(Hooks{})
	if code, _ := serve(cb, callbackRequest(t, http.MethodPost, "<xml><oops", testStart, false)); code != http.StatusBadRequest {
		t.Errorf("broken XML: %d, want 400", code)
	}
	big := eventXML("o-1", "subscribe", 1, strings.Repeat("<Pad>x</Pad>", 10_000))
	if code, _ := serve(cb, callbackRequest(t, http.MethodPost, big, testStart, false)); code != http.StatusBadRequest {
		t.Errorf("oversized body: %d, want 400", code)
	}
}

func TestCallbackThroughFiber(t *testing.T) {
	for _, aes := range []bool{false, true} {
		env := newTestClientMode(t, aes)
		rec := &recorder{}
		app := fiber.New()
		app.All("/wx/callback", adaptor.HTTPHandler(env.c.Callback(rec.hooks())))
		req := callbackRequest(t, http.MethodPost, eventXML("o-"+strconv.FormatBool(aes), "subscribe", 1, ""), testStart, aes)
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "success" {
			t.Errorf("aes=%v: %d %q", aes, resp.StatusCode, body)
		}
		if got := rec.all(); len(got) != 1 {
			t.Errorf("aes=%v: hooks = %q", aes, got)
		}
	}
}

func TestCallbackSafeModeRefusesPlaintext(t *testing.T) {
	env := newTestClient(t, nil)
	rec := &recorder{}
	cb := env.c.Callback(rec.hooks())
	forged := eventXML("o-demo", "unsubscribe", testStart.Unix(), "")
	// A valid plain signature covers only timestamp and nonce, never the
	// body: anyone who saw one request can sign any plaintext with it.
	plain := callbackRequest(t, http.MethodPost, forged, testStart, false)
	if code, body := serve(cb, plain); code != http.StatusForbidden || body == "success" {
		t.Errorf("plaintext in safe mode: %d %q, want 403", code, body)
	}
	// encrypt_type=aes without msg_signature is no better.
	unsigned := withQuery(callbackRequest(t, http.MethodPost, forged, testStart, true), func(q url.Values) { q.Del("msg_signature") })
	if code, body := serve(cb, unsigned); code != http.StatusForbidden || body == "success" {
		t.Errorf("no msg_signature: %d %q, want 403", code, body)
	}
	// Nor is encrypt_type in another spelling.
	other := withQuery(callbackRequest(t, http.MethodPost, forged, testStart, false), func(q url.Values) { q.Set("encrypt_type", "raw") })
	if code, _ := serve(cb, other); code != http.StatusForbidden {
		t.Errorf("encrypt_type=raw: %d, want 403", code)
	}
	if got := rec.all(); len(got) != 0 {
		t.Errorf("hooks called: %q", got)
	}
	if s := cb.Stats(); s.Forbidden != 3 || s.Accepted != 0 {
		t.Errorf("stats = %+v", s)
	}
	// The same event, encrypted and signed, is taken.
	if code, body := serve(cb, callbackRequest(t, http.MethodPost, forged, testStart, true)); code != 200 || body != "success" {
		t.Errorf("encrypted: %d %q", code, body)
	}
	if got := rec.all(); strings.Join(got, "|") != "unsubscribe o-demo" {
		t.Errorf("hooks = %q", got)
	}
}

// replayed is req's query (its signatures, timestamp and nonce) on the body
// of other.
func replayed(req, other *http.Request) *http.Request {
	r := other.Clone(other.Context())
	r.Body = other.Body
	r.URL.RawQuery = req.URL.RawQuery
	return r
}

func TestCallbackRefusesReplayedSignature(t *testing.T) {
	for _, aes := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "aes"}[aes], func(t *testing.T) {
			env := newTestClientMode(t, aes)
			rec := &recorder{}
			cb := env.c.Callback(rec.hooks())
			genuine := func() *http.Request {
				return callbackRequest(t, http.MethodPost, eventXML("o-1", "unsubscribe", testStart.Unix(), ""), testStart, aes)
			}
			if code, body := serve(cb, genuine()); code != 200 || body != "success" {
				t.Fatalf("genuine: %d %q", code, body)
			}
			// The captured signature on other bodies and openids.
			for i, openid := range []string{"o-2", "o-3", "o-4"} {
				forged := callbackRequest(t, http.MethodPost, eventXML(openid, "unsubscribe", testStart.Unix()+int64(i), ""), testStart, aes)
				if code, body := serve(cb, replayed(genuine(), forged)); code < 400 || code >= 500 || body == "success" {
					t.Errorf("replay for %s: %d %q, want 4xx", openid, code, body)
				}
			}
			// WeChat's own retry, the very same request, is answered.
			if code, body := serve(cb, genuine()); code != 200 || body != "success" {
				t.Errorf("retry: %d %q", code, body)
			}
			if got := rec.all(); strings.Join(got, "|") != "unsubscribe o-1" {
				t.Errorf("hooks = %q, want one unsubscribe o-1", got)
			}
			if s := cb.Stats(); s.Accepted != 1 || s.Duplicates != 1 {
				t.Errorf("stats = %+v", s)
			}
		})
	}
}

func TestCallbackReplayRefusedAfterRetry(t *testing.T) {
	// The body a signature was first seen with stays bound to it for the
	// whole window: a replay after WeChat's retries is still refused.
	env := newPlainTestClient(t)
	rec := &recorder{}
	cb := env.c.Callback(rec.hooks())
	genuine := func() *http.Request {
		return callbackRequest(t, http.MethodPost, eventXML("o-1", "subscribe", testStart.Unix(), ""), testStart, false)
	}
	for range 2 {
		if code, _ := serve(cb, genuine()); code != 200 {
			t.Fatalf("genuine: %d", code)
		}
	}
	env.clock.Advance(4 * time.Minute)
	forged := callbackRequest(t, http.MethodPost, eventXML("o-1", "unsubscribe", testStart.Unix(), ""), testStart, false)
	if code, _ := serve(cb, replayed(genuine(), forged)); code != http.StatusForbidden {
		t.Errorf("replay 4 min later: %d, want 403", code)
	}
	if got := rec.all(); strings.Join(got, "|") != "subscribe o-1" {
		t.Errorf("hooks = %q", got)
	}
	if s := cb.Stats(); s.Replayed != 1 {
		t.Errorf("stats = %+v", s)
	}
}
