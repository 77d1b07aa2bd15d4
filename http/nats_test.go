package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/etaxd/etaxd/internal/sign"
	"github.com/etaxd/etaxd/internal/testutil"
)

// runNATS starts a NATS server on 127.0.0.1 with a random port and
// connects to it; both end with the test.
func runNATS(t *testing.T) *nats.Conn {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		nc.Close()
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return nc
}

// natsReq is one signed NATS request; zero fields take defaults.
type natsReq struct {
	subject  string
	body     any
	keyID    string
	secret   string
	unsigned bool
	headers  map[string]string // override after signing
	idem     string
	lower    bool // send the header names in lower case
}

// natsReply is a decoded reply: the status and the rest of the body.
type natsReply struct {
	Status int `json:"status"`
	SessionAnswer
	raw    string
	header nats.Header
}

// code returns the error code of the reply, or "".
func (r natsReply) code() string {
	if r.Error == nil {
		return ""
	}
	return r.Error.Code
}

func (e *env) natsDo(nc *nats.Conn, r natsReq) natsReply {
	e.t.Helper()
	body, err := json.Marshal(r.body)
	if err != nil {
		e.t.Fatal(err)
	}
	m := nats.NewMsg(r.subject)
	m.Data = body
	if !r.unsigned {
		keyID, secret := r.keyID, r.secret
		if keyID == "" {
			keyID, secret = key1, secret1
		}
		for k, v := range sign.Headers(keyID, []byte(secret), NATSMethod, r.subject, body, e.clk.Now()) {
			m.Header.Set(k, v)
		}
	}
	if r.idem != "" {
		m.Header.Set(sign.HeaderIdem, r.idem)
	}
	for k, v := range r.headers {
		m.Header.Set(k, v)
	}
	if r.lower {
		h := nats.Header{}
		for k, v := range m.Header {
			h[strings.ToLower(k)] = v
		}
		m.Header = h
	}
	res, err := nc.RequestMsg(m, 15*time.Second)
	if err != nil {
		e.t.Fatalf("request %s: %v", r.subject, err)
	}
	var out natsReply
	if err := json.Unmarshal(res.Data, &out); err != nil {
		e.t.Fatalf("reply %q: %v", res.Data, err)
	}
	out.raw, out.header = string(res.Data), res.Header
	return out
}

func TestNATSRequestReply(t *testing.T) {
	e := newEnv(t)
	nc := runNATS(t)
	reg := prometheus.NewRegistry()
	d := e.deps
	d.Registry = reg
	stop, err := ServeNATS(context.Background(), nc, d)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	id := e.boundAccount()

	r := e.natsDo(nc, natsReq{subject: SubjectSessions, body: sessionBody(id)})
	if r.Status != 200 || r.State != "ready" || r.Session == nil || r.header.Get("X-Request-ID") == "" || !strings.HasPrefix(r.raw, `{"status":200,"state":"ready"`) {
		t.Fatalf("ready = %s", r.raw)
	}
	if r := e.natsDo(nc, natsReq{subject: SubjectSessions, body: sessionBody(id), lower: true}); r.Status != 200 {
		t.Fatalf("lower-case header names = %s", r.raw)
	}
	e.loggedOut(id)
	w := e.natsDo(nc, natsReq{subject: SubjectSessions, body: sessionBody(id), idem: "n-1"})
	if w.Status != 202 || w.State != "awaiting_user" || w.Prompt == nil || w.Prompt.Kind != "sms_code" {
		t.Fatalf("awaiting = %s", w.raw)
	}
	if again := e.natsDo(nc, natsReq{subject: SubjectSessions, body: sessionBody(id), idem: "n-1"}); again.raw != w.raw ||
		again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("idempotent replay = %s", again.raw)
	}
	g := e.natsDo(nc, natsReq{subject: SubjectGetRequest, body: NATSGetRequest{RequestID: w.RequestID}})
	if g.Status != 202 || g.RequestID != w.RequestID {
		t.Fatalf("get = %s", g.raw)
	}
	if x := e.natsDo(nc, natsReq{subject: SubjectGetRequest, body: NATSGetRequest{RequestID: w.RequestID}, keyID: key2, secret: secret2}); x.Status != 404 ||
		x.code() != "request_not_found" {
		t.Fatalf("cross-tenant get = %s", x.raw)
	}
	bad := e.natsDo(nc, natsReq{subject: SubjectAnswer, body: NATSAnswerRequest{RequestID: w.RequestID, SMSCode: "000000"}})
	if bad.Status != 422 || bad.code() != "wrong_code" {
		t.Fatalf("wrong code = %s", bad.raw)
	}

	// a long poll over NATS returns when the code arrives over NATS
	polled := make(chan natsReply, 1)
	go func() {
		polled <- e.natsDo(nc, natsReq{subject: SubjectGetRequest, body: NATSGetRequest{RequestID: w.RequestID, Wait: 20}})
	}()
	a := e.natsDo(nc, natsReq{subject: SubjectAnswer, body: NATSAnswerRequest{RequestID: w.RequestID, SMSCode: e.sim.LastCode(phoneH)}})
	if a.Status != 200 || a.State != "ready" || a.Session == nil {
		t.Fatalf("answer = %s", a.raw)
	}
	if p := <-polled; p.Status != 200 || p.Session == nil || p.Session.Token != a.Session.Token {
		t.Fatalf("long poll = %s", p.raw)
	}

	// refusals
	for name, tc := range map[string]struct {
		r    natsReq
		code string
	}{
		"unsigned":      {natsReq{subject: SubjectSessions, body: sessionBody(id), unsigned: true}, "auth_required"},
		"bad signature": {natsReq{subject: SubjectSessions, body: sessionBody(id), headers: map[string]string{sign.HeaderSignature: strings.Repeat("0", 64)}}, "signature_invalid"},
		"unknown field": {natsReq{subject: SubjectAnswer, body: map[string]string{"request_id": w.RequestID, "code": "1"}}, "invalid_input"},
		"wait too long": {natsReq{subject: SubjectGetRequest, body: NATSGetRequest{RequestID: w.RequestID, Wait: 61}}, "invalid_input"},
	} {
		got := e.natsDo(nc, tc.r)
		if got.code() != tc.code || got.Status != StatusOf(tc.code) {
			t.Errorf("%s = %s", name, got.raw)
		}
	}
	// An HTTP signature is no NATS signature, and a nonce is single use.
	body, _ := json.Marshal(sessionBody(id))
	hs := sign.Headers(key1, []byte(secret1), "POST", "/api/v1/sessions", body, e.clk.Now())
	m := nats.NewMsg(SubjectSessions)
	m.Data = body
	for k, v := range hs {
		m.Header.Set(k, v)
	}
	if res, err := nc.RequestMsg(m, 5*time.Second); err != nil || !strings.Contains(string(res.Data), `"signature_invalid"`) {
		t.Fatalf("HTTP-signed = %s %v", res.Data, err)
	}
	m = nats.NewMsg(SubjectSessions)
	m.Data = body
	for k, v := range sign.Headers(key1, []byte(secret1), NATSMethod, SubjectSessions, body, e.clk.Now()) {
		m.Header.Set(k, v)
	}
	first, _ := nc.RequestMsg(m, 5*time.Second)
	second, _ := nc.RequestMsg(m, 5*time.Second)
	if !strings.HasPrefix(string(first.Data), `{"status":200`) || !strings.Contains(string(second.Data), `"nonce_reused"`) {
		t.Fatalf("replay: first %s, second %s", first.Data, second.Data)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var counted bool
	for _, mf := range mfs {
		counted = counted || mf.GetName() == "etaxd_nats_api_requests_total"
	}
	if !counted {
		t.Fatal("NATS requests are not counted")
	}

	stop()
	stop() // twice is fine
	m = nats.NewMsg(SubjectSessions)
	m.Data = body
	if _, err := nc.RequestMsg(m, time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("after stop: %v", err)
	}
}

// TestNATSStopsWithContext: ending ctx unsubscribes.
func TestNATSStopsWithContext(t *testing.T) {
	e := newEnv(t)
	nc := runNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	stop, err := ServeNATS(ctx, nc, e.deps)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cancel()
	testutil.Eventually(t, 5*time.Second, func() error {
		m := nats.NewMsg(SubjectGetRequest)
		m.Data = []byte(`{}`)
		if _, err := nc.RequestMsg(m, 200*time.Millisecond); !errors.Is(err, nats.ErrNoResponders) {
			return errors.New("still subscribed")
		}
		return nil
	})
	if _, err := ServeNATS(context.Background(), nil, e.deps); err == nil {
		t.Fatal("nil connection accepted")
	}
}

func TestWithStatus(t *testing.T) {
	for _, tc := range []struct {
		r    result
		want string
	}{
		{result{status: 204}, `{"status":204}`},
		{result{status: 200, body: []byte(`{}`)}, `{"status":200}`},
		{result{status: 202, body: []byte(`{"a":1}`)}, `{"status":202,"a":1}`},
	} {
		if got := string(withStatus(tc.r)); got != tc.want {
			t.Errorf("withStatus(%d %s) = %s", tc.r.status, tc.r.body, got)
		}
	}
}
