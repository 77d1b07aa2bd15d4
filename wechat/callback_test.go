package wechat

import (
	"crypto/rand"
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
func callbackRequest(t *testing.T, method, body string, ts time.Time, aes bool) *http.Request {
	t.Helper()
	stamp, nonce := strconv.FormatInt(ts.Unix(), 10), "n0nce"
	q := url.Values{"timestamp": {stamp}, "nonce": {nonce}, "signature": {util.Signature(testToken, stamp, nonce)}}
	if aes {
		random := make([]byte, 16)
		_, _ = rand.Read(random)
		enc, err := util.EncryptMsg(random, []byte(body), testAppID, testAESKey)
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
		req := callbackRequest(t, http.MethodPost, eventXML("o-1", "subscribe", testStart.Unix(), ""), testStart, false)
		q := req.URL.Query()
		mutate(q)
		req.URL.RawQuery = q.Encode()
		if code, body := serve(cb, req); code != http.StatusForbidden || body == "success" {
			t.Errorf("%s: %d %q, want 403", name, code, body)
		}
	}
	// Safe mode: a body that does not match msg_signature.
	req := callbackRequest(t, http.MethodPost, eventXML("o-1", "subscribe", testStart.Unix(), ""), testStart, true)
	q := req.URL.Query()
	q.Set("msg_signature", "0000")
	req.URL.RawQuery = q.Encode()
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
		req := callbackRequest(t, http.MethodPost, eventXML("o-1", "subscribe", ts.Unix(), ""), ts, false)
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
			env := newTestClient(t, nil)
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
	env := newTestClient(t, nil)
	rec := &recorder{}
	cb := env.c.Callback(rec.hooks())
	now := testStart.Unix()
	sub := eventXML("o-1", "subscribe", now, "")
	text := "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[o-1]]></FromUserName><CreateTime>1</CreateTime>" +
		"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content><MsgId>42</MsgId></xml>"
	// WeChat retries three times; the AES retry of a plain message is the same message.
	for i := range 3 {
		for _, body := range []string{sub, text} {
			if code, resp := serve(cb, callbackRequest(t, http.MethodPost, body, testStart, i == 2)); code != 200 || resp != "success" {
				t.Errorf("try %d: %d %q", i, code, resp)
			}
		}
	}
	// The same user subscribing again later is a new event.
	if code, _ := serve(cb, callbackRequest(t, http.MethodPost, eventXML("o-1", "subscribe", now+60, ""), testStart, false)); code != 200 {
		t.Errorf("later subscribe: %d", code)
	}
	if got := rec.all(); len(got) != 2 {
		t.Errorf("hooks = %q, want two subscribes", got)
	}
	if s := cb.Stats(); s.Accepted != 3 || s.Duplicates != 4 {
		t.Errorf("stats = %+v", s)
	}
}

func TestCallbackHookPanicLetsWeChatRetry(t *testing.T) {
	env := newTestClient(t, nil)
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
	env := newTestClient(t, nil)
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
	env := newTestClient(t, nil)
	rec := &recorder{}
	app := fiber.New()
	app.All("/wx/callback", adaptor.HTTPHandler(env.c.Callback(rec.hooks())))
	for _, aes := range []bool{false, true} {
		req := callbackRequest(t, http.MethodPost, eventXML("o-"+strconv.FormatBool(aes), "subscribe", 1, ""), testStart, aes)
		resp, err := app.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "success" {
			t.Errorf("aes=%v: %d %q", aes, resp.StatusCode, body)
		}
	}
	if got := rec.all(); len(got) != 2 {
		t.Errorf("hooks = %q", got)
	}
}
