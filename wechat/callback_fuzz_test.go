package wechat

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/silenceper/wechat/v2/officialaccount/message"
)

// FuzzCallback sends body to /wx/callback of an account in plain or safe
// mode (safe), signed or forged (signed), plaintext or encrypted
// (encrypted), as XML or JSON (asJSON), then WeChat's retry of it, then the
// same signatures on another body. Whatever the bytes, the callback never
// panics and never answers 5xx (the hooks do not panic); a forged
// request, a plaintext one in safe mode and a replay never reach the
// hooks; a signed message reaches them at most once, with the sender its
// body names.
func FuzzCallback(f *testing.F) {
	bodies := []string{
		eventXML("o-1", "subscribe", testStart.Unix(), ""),
		eventXML("o-2", "unsubscribe", testStart.Unix(), ""),
		eventXML("o-3", "TEMPLATESENDJOBFINISH", testStart.Unix(), "<MsgID>1001</MsgID><Status><![CDATA[success]]></Status>"),
		"<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[o-1]]></FromUserName><CreateTime>1</CreateTime>" +
			"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[你好]]></Content><MsgId>42</MsgId></xml>",
		`{"ToUserName":"gh_test","FromUserName":"o-4","CreateTime":1,"MsgType":"event","Event":"subscribe"}`,
		`{"FromUserName":"o-5","MsgType":"event","Event":"subscribe_msg_popup_event","List":{"TemplateId":"x"}}`,
		"<xml><Encrypt><![CDATA[AAAA]]></Encrypt></xml>",
		"<xml><oops",
		"",
	}
	for _, b := range bodies {
		for mode := range 16 {
			f.Add(mode&1 != 0, mode&2 != 0, mode&4 != 0, mode&8 != 0, []byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, safe, signed, encrypted, asJSON bool, body []byte) {
		env := newTestClientMode(t, safe)
		var hooked []string
		cb := env.c.Callback(Hooks{
			OnSubscribe:        func(o string) { hooked = append(hooked, o) },
			OnUnsubscribe:      func(o string) { hooked = append(hooked, o) },
			OnTemplateFinished: func(int64, string, SentPrompt) { hooked = append(hooked, "") },
		})
		request := func(b string) *http.Request {
			req := callbackRequest(t, http.MethodPost, b, testStart, encrypted)
			if asJSON {
				req.Header.Set("Content-Type", "application/json")
			}
			if !signed {
				withQuery(req, func(q url.Values) { q.Set("signature", "f0r93d"+q.Get("signature")[6:]) })
			}
			return req
		}
		code, resp := serve(cb, request(string(body)))
		if code >= 500 {
			t.Fatalf("%d %q for %q", code, resp, body)
		}
		admissible := signed && encrypted == safe
		if !admissible && (code < 400 || len(hooked) != 0) {
			t.Fatalf("refusable request (signed %v, safe %v, encrypted %v): %d, hooks %q", signed, safe, encrypted, code, hooked)
		}
		if len(hooked) > 1 {
			t.Fatalf("hooks called %d times: %q", len(hooked), hooked)
		}
		if len(hooked) == 1 && hooked[0] != "" {
			if from := sender(asJSON, body); hooked[0] != from {
				t.Fatalf("hook for %q, body from %q", hooked[0], from)
			}
		}
		before := len(hooked)

		// WeChat's retry: answered as the first time, no hook again.
		if code2, _ := serve(cb, request(string(body))); code2 != code || len(hooked) != before {
			t.Fatalf("retry: %d (first %d), hooks %q", code2, code, hooked)
		}
		// The first request's signatures on another body: refused.
		first := request(string(body))
		code3, resp3 := serve(cb, replayed(first, request(string(body)+" ")))
		if code3 >= 500 || code == 200 && code3 < 400 || len(hooked) != before {
			t.Fatalf("replay: %d %q, hooks %q", code3, resp3, hooked)
		}
	})
}

// sender is the FromUserName of a callback body, parsed as the SDK does.
func sender(asJSON bool, body []byte) string {
	var m message.MixMessage
	if asJSON {
		_ = json.Unmarshal(body, &m)
	} else {
		_ = xml.Unmarshal(body, &m)
	}
	return strings.Clone(string(m.FromUserName))
}
