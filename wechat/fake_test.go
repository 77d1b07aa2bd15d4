package wechat

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/util"
)

// fakeWeChat is an in-memory WeChat API: token, stable_token, template
// send and oauth2 access_token. Hook fields inject faults; set them before
// the first request. Any request it does not expect fails the test.
type fakeWeChat struct {
	t      testing.TB
	srv    *httptest.Server
	appID  string
	secret string

	mu     sync.Mutex
	faults faults
	token  string // the token WeChat holds valid; "" until issued
	seq    int
	calls  map[string]int
	sends  []sentTemplate
}

// faults are the fake's hooks; the zero value is a healthy WeChat.
type faults struct {
	// StableToken, if set, returns the errcode to answer the n-th
	// stable_token call with (0: issue the token as usual).
	StableToken func(n int) int64
	// Send, if set, returns the errcode to answer the n-th template send
	// (1-based) with (0: accept it).
	Send func(n int, m templateMessage) int64
	// Status, if set, returns the HTTP status for a request to path (0:
	// 200).
	Status func(path string) int
	// Latency delays every answer (the request's cancellation ends it).
	Latency time.Duration
}

// SetFaults replaces the fake's hooks; safe while requests run.
func (f *fakeWeChat) SetFaults(fl faults) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = fl
}

// sentTemplate is a template send the fake accepted or refused.
type sentTemplate struct {
	Token string
	Msg   templateMessage
}

// newFakeWeChat starts the fake and points util.DefaultHTTPClient at it
// until the test ends. Tests using it must not run in parallel: the SDK's
// client is process-global.
func newFakeWeChat(t *testing.T) *fakeWeChat {
	t.Helper()
	f := &fakeWeChat{t: t, appID: testAppID, secret: testSecret, calls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /cgi-bin/stable_token", f.stableToken)
	mux.HandleFunc("GET /cgi-bin/token", f.plainToken)
	mux.HandleFunc("POST /cgi-bin/message/template/send", f.templateSend)
	mux.HandleFunc("GET /sns/oauth2/access_token", f.oauthToken)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("fake WeChat: unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls[r.URL.Path]++
		fl := f.faults
		f.mu.Unlock()
		if fl.Latency > 0 {
			select {
			case <-time.After(fl.Latency):
			case <-r.Context().Done():
				return
			}
		}
		if fl.Status != nil {
			if code := fl.Status(r.URL.Path); code != 0 && code != http.StatusOK {
				http.Error(w, "upstream trouble", code)
				return
			}
		}
		mux.ServeHTTP(w, r)
	}))
	target, _ := url.Parse(f.srv.URL)
	old := util.DefaultHTTPClient
	util.DefaultHTTPClient = &http.Client{Transport: rewriteTransport{t: t, target: target}}
	t.Cleanup(func() {
		util.DefaultHTTPClient = old
		f.srv.Close()
	})
	return f
}

// rewriteTransport sends requests for *.weixin.qq.com to the fake; any
// other host fails the test.
type rewriteTransport struct {
	t      testing.TB
	target *url.URL
}

func (rt rewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.URL.Hostname(), ".weixin.qq.com") {
		rt.t.Errorf("request to %s, not WeChat", req.URL.Host)
		return nil, errors.New("unexpected host")
	}
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = rt.target.Scheme, rt.target.Host, ""
	return http.DefaultTransport.RoundTrip(req)
}

// Calls returns how many requests reached path.
func (f *fakeWeChat) Calls(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[path]
}

// Sends returns the template sends seen so far.
func (f *fakeWeChat) Sends() []sentTemplate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentTemplate(nil), f.sends...)
}

// ExpireToken makes WeChat forget its token: sends carrying it get 40001
// and the next stable_token issues a new one.
func (f *fakeWeChat) ExpireToken() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.token = ""
}

// Token returns the token WeChat holds valid.
func (f *fakeWeChat) Token() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.token
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeWeChat) stableToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		GrantType    string `json:"grant_type"`
		AppID        string `json:"appid"`
		Secret       string `json:"secret"`
		ForceRefresh bool   `json:"force_refresh"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.GrantType != "client_credential" {
		f.t.Errorf("stable_token: bad request (%v, %+v)", err, req)
		writeJSON(w, map[string]any{"errcode": 40002, "errmsg": "invalid grant_type"})
		return
	}
	if req.AppID != f.appID || req.Secret != f.secret {
		writeJSON(w, map[string]any{"errcode": 40125, "errmsg": "invalid appsecret"})
		return
	}
	f.mu.Lock()
	n, fl := f.calls[r.URL.Path], f.faults
	f.mu.Unlock()
	if fl.StableToken != nil {
		if code := fl.StableToken(n); code != 0 {
			writeJSON(w, map[string]any{"errcode": code, "errmsg": "stable_token fault"})
			return
		}
	}
	f.issue(w, req.ForceRefresh)
}

// plainToken serves cgi-bin/token; with UseStableAK nothing should call it,
// which the tests check.
func (f *fakeWeChat) plainToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("appid") != f.appID || q.Get("secret") != f.secret {
		writeJSON(w, map[string]any{"errcode": 40125, "errmsg": "invalid appsecret"})
		return
	}
	f.issue(w, true)
}

// issue answers with the valid token, minting one if there is none (or on
// force). expires_in is above the SDK's margins (300 s stable, 1500 s
// plain).
func (f *fakeWeChat) issue(w http.ResponseWriter, force bool) {
	f.mu.Lock()
	if f.token == "" || force {
		f.seq++
		f.token = fmt.Sprintf("tok-%d", f.seq)
	}
	tok := f.token
	f.mu.Unlock()
	writeJSON(w, map[string]any{"access_token": tok, "expires_in": 7200})
}

func (f *fakeWeChat) templateSend(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("access_token")
	var m templateMessage
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		f.t.Errorf("template send: bad body: %v", err)
		writeJSON(w, map[string]any{"errcode": 47001, "errmsg": "data format error"})
		return
	}
	f.mu.Lock()
	f.sends = append(f.sends, sentTemplate{Token: tok, Msg: m})
	n, fl := len(f.sends), f.faults
	valid := tok != "" && tok == f.token
	f.mu.Unlock()
	if !valid {
		writeJSON(w, map[string]any{"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"})
		return
	}
	if fl.Send != nil {
		if code := fl.Send(n, m); code != 0 {
			writeJSON(w, map[string]any{"errcode": code, "errmsg": "template send fault"})
			return
		}
	}
	writeJSON(w, map[string]any{"errcode": 0, "errmsg": "ok", "msgid": 1000 + n})
}

func (f *fakeWeChat) oauthToken(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("appid") != f.appID || q.Get("secret") != f.secret || q.Get("grant_type") != "authorization_code" {
		writeJSON(w, map[string]any{"errcode": 40125, "errmsg": "invalid appsecret"})
		return
	}
	if q.Get("code") != "good-code" {
		writeJSON(w, map[string]any{"errcode": 40029, "errmsg": "invalid code"})
		return
	}
	writeJSON(w, map[string]any{"access_token": "user-tok", "expires_in": 7200, "refresh_token": "r",
		"openid": "o-from-code", "scope": "snsapi_base"})
}
