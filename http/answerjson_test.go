package httpapi

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestSessionAnswerJSONIsEncodingJSONs: appendJSON writes what
// encoding/json writes for every shape of answer it takes, and leaves the
// others (an error, a time encoding/json refuses) to it.
func TestSessionAnswerJSONIsEncodingJSONs(t *testing.T) {
	// A field added to these types must be written by appendJSON too:
	// this count fails until the cases below cover it.
	for typ, n := range map[reflect.Type]int{
		reflect.TypeFor[SessionAnswer](): 7, reflect.TypeFor[SessionJSON](): 3, reflect.TypeFor[PromptJSON](): 6,
	} {
		if typ.NumField() != n {
			t.Errorf("%s has %d fields, appendJSON writes %d: write the new ones there and here", typ, typ.NumField(), n)
		}
	}
	cst := time.FixedZone("CST", 8*3600)
	odd := time.FixedZone("LMT", 8*3600+343) // an offset with seconds, which RFC 3339 cannot write
	at := time.Date(2026, 12, 7, 23, 59, 1, 123456789, cst)
	round := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		a    SessionAnswer
		ok   bool
	}{
		{"ready", SessionAnswer{State: "ready", RequestID: "r_t1_1", AccountID: "acc_1",
			Session: &SessionJSON{Channel: "issue", Token: "tok-abc", ExpiresAt: at}}, true},
		{"ready, certified", SessionAnswer{State: "ready", RequestID: "r", AccountID: "a",
			Session: &SessionJSON{Channel: "receive", Token: "t", ExpiresAt: round}, CertifiedUntil: &at}, true},
		{"empty", SessionAnswer{}, true},
		{"awaiting, sms", SessionAnswer{State: "awaiting_user", RequestID: "r", AccountID: "a",
			Prompt: &PromptJSON{ID: "p1", Kind: "sms_code", Message: "请输入短信验证码 <6位> & \"确认\"", ExpiresAt: at}}, true},
		{"awaiting, qr", SessionAnswer{State: "awaiting_user", Prompt: &PromptJSON{ID: "p2", Kind: "qr_scan",
			Message: "扫码", ExpiresAt: round, LoginURL: "https://etaxd.example/h5/login?x=1&y=2", QRContent: "etax://qr\u2028x"}}, true},
		{"odd strings", SessionAnswer{State: "\x00\x1f\xff", RequestID: `back\slash`, AccountID: "中文"}, true},
		{"zero times", SessionAnswer{Session: &SessionJSON{}, CertifiedUntil: &time.Time{}, Prompt: &PromptJSON{}}, true},
		{"an error", SessionAnswer{State: "failed", Error: &ErrorDetail{Code: "internal", Message: "内部错误"}}, false},
		{"a zone with seconds", SessionAnswer{Session: &SessionJSON{ExpiresAt: time.Date(2026, 1, 1, 0, 0, 0, 0, odd)}}, true},
		{"year 10000", SessionAnswer{CertifiedUntil: &[]time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}[0]}, false},
	}
	for _, c := range cases {
		got, ok := c.a.appendJSON([]byte("x"))
		if ok != c.ok {
			t.Errorf("%s: appendJSON took it: %v, want %v", c.name, ok, c.ok)
			continue
		}
		if !ok {
			if string(got) != "x" {
				t.Errorf("%s: appendJSON gave up but left %q", c.name, got)
			}
			continue
		}
		want, err := json.Marshal(c.a)
		if err != nil {
			t.Errorf("%s: encoding/json refuses what appendJSON wrote (%v): %s", c.name, err, got)
			continue
		}
		if string(got[1:]) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got[1:], want)
		}
	}
}

// FuzzSessionAnswerJSON: for any strings and times, appendJSON writes what
// encoding/json writes, or gives up where encoding/json fails.
func FuzzSessionAnswerJSON(f *testing.F) {
	f.Add("ready", "tok", "请输入", "https://x/?a=1&b=2", int64(1796685734), int64(123456789), 8*3600, true)
	f.Add("\x00\xff", `"\`, "\u2028", "", int64(-62135596800), int64(0), -3600-7, false)
	f.Add("a", "b", "c", "d", int64(253402300800), int64(1), 0, true)
	f.Fuzz(func(t *testing.T, state, token, msg, url string, sec, nsec int64, offset int, session bool) {
		at := time.Unix(sec, nsec).In(time.FixedZone("Z", offset%(24*3600)))
		a := SessionAnswer{State: state, RequestID: token, AccountID: msg}
		if session {
			a.Session = &SessionJSON{Channel: state, Token: token, ExpiresAt: at}
			a.CertifiedUntil = &at
		} else {
			a.Prompt = &PromptJSON{ID: token, Kind: state, Message: msg, ExpiresAt: at, LoginURL: url, QRContent: url}
		}
		got, ok := a.appendJSON(nil)
		want, err := json.Marshal(a)
		if ok != (err == nil) || ok && string(got) != string(want) {
			t.Fatalf("appendJSON %s (%v); encoding/json %s (%v)", got, ok, want, err)
		}
	})
}
