package httpapi

import (
	"bytes"
	"context"
	"log/slog"
	"net/url"
	"strconv"
	"testing"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/sign"
)

// keyEngine knows one API key; the signature fuzz target needs nothing
// else of an engine.
type keyEngine struct{ Engine }

func (keyEngine) LookupAPIKey(_ context.Context, id string) (string, []byte, error) {
	if id == key1 {
		return "t1", []byte(secret1), nil
	}
	return "", nil, domain.ErrAPIKeyNotFound
}

// FuzzSignature feeds arbitrary signature values to the verification: it
// never panics, accepts only exactly signed fresh requests with a known key
// and a well-formed nonce, and accepts the same values once signed
// properly.
func FuzzSignature(f *testing.F) {
	now := t0
	ts := strconv.FormatInt(now.Unix(), 10)
	body := []byte(`{"business":"issue","account_id":"a1"}`)
	good := sign.Signature([]byte(secret1), "POST", "/api/v1/sessions", ts, "nonce-0001", body)
	f.Add("POST", "/api/v1/sessions", key1, ts, "nonce-0001", good, body)
	f.Add("POST", "/api/v1/sessions", key1, ts, "nonce-0001", good[:63]+"0", body)
	f.Add("GET", "/api/v1/requests/t1.a.b?wait=5", key1, strconv.FormatInt(now.Unix()-301, 10), "nonce-0002", good, []byte{})
	f.Add("NATS", "etaxd.api.v1.sessions", "k-nobody", "-1", "n", "", []byte(nil))
	f.Add("POST", "/", "", "99999999999999999999", "\x00\xff", "ZZ", []byte("\xff"))
	f.Fuzz(func(t *testing.T, method, path, keyID, ts, nonce, sig string, body []byte) {
		a := newAPI(Deps{Engine: keyEngine{}, Clock: clock.NewFake(now)})
		h := map[string]string{sign.HeaderKey: keyID, sign.HeaderTimestamp: ts, sign.HeaderNonce: nonce, sign.HeaderSignature: sig}
		get := func(k string) string { return h[k] }
		p, err := a.authenticate(context.Background(), method, path, get, body)
		valid := keyID == key1 && validNonce(nonce) && sign.Fresh(ts, now) &&
			sig == sign.Signature([]byte(secret1), method, path, ts, nonce, body)
		if err == nil && (!valid || p.tenant != "t1" || p.keyID != key1) {
			t.Fatalf("accepted %q %q key %q ts %q nonce %q sig %q", method, path, keyID, ts, nonce, sig)
		}
		if err != nil && StatusOf(domain.AsError(err).Code) != 401 {
			t.Fatalf("refused with %v, not a 401", err)
		}
		// the same values, signed properly, pass once
		if keyID == key1 && validNonce(nonce) && sign.Fresh(ts, now) {
			h[sign.HeaderSignature] = sign.Signature([]byte(secret1), method, path, ts, nonce, body)
			fresh := newAPI(Deps{Engine: keyEngine{}, Clock: clock.NewFake(now)})
			if _, err := fresh.authenticate(context.Background(), method, path, get, body); err != nil {
				t.Fatalf("properly signed request refused: %v", err)
			}
			if _, err := fresh.authenticate(context.Background(), method, path, get, body); err == nil {
				t.Fatal("replay accepted")
			}
		}
	})
}

// FuzzBodies sends arbitrary bodies, properly signed, to every endpoint
// that takes a JSON body (HTTP and NATS) against a real engine: no panic,
// never a 5xx.
func FuzzBodies(f *testing.F) {
	for _, seed := range []string{
		`{"tax_no":"91110000000000001X","business":"issue","action":"login"}`,
		`{"business":"receive","account_id":"a1","action":"certify"}`,
		`{"sms_code":"123456"}`,
		`{"request_id":"t1.a.b","sms_code":"1","wait":60}`,
		`{"account_id":"a1","channel":"issue","token":"tok"}`,
		`{"url":"https://erp.example.com/h","events":["session.ready"]}`,
		`{"url":"http://[::1]:80/%zz","events":["x"]}`,
		`{"business":null,"tax_no":{}}`,
		`[]`, `null`, `{`, "\xff\xfe", `{"a":1}{"b":2}`, `{"wait":-1,"request_id":"` + "t1.\u0000.x" + `"}`,
	} {
		f.Add([]byte(seed))
	}
	e := newEnv(f, func(d *Deps) {
		d.Webhooks = &fakeWebhooks{}
		d.Logger = slog.New(slog.DiscardHandler)
	})
	ns := &natsServer{api: newAPI(e.deps)}
	p := principal{keyID: key1, tenant: "t1"}
	paths := []string{"/api/v1/sessions", "/api/v1/sessions/invalid", "/api/v1/requests/t1.a.b/answer", "/api/v1/webhooks"}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range paths {
			r := req{method: "POST", path: path, raw: body, contentType: "application/json"}
			res, err := e.app.Test(r.build(t, "", e.clk.Now()), 10000)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode >= 500 {
				t.Fatalf("POST %s %q = %d", path, body, res.StatusCode)
			}
		}
		for name, op := range map[string]natsOp{"answer": ns.answer, "get": ns.get} {
			if r := op(context.Background(), newReqLog(slog.New(slog.DiscardHandler), ""), p, body); r.status >= 500 {
				t.Fatalf("NATS %s %q = %d %s", name, body, r.status, r.body)
			}
		}
	})
}

// FuzzQuery sends arbitrary query values to the GET endpoints: no panic,
// never a 5xx. (The request id names no account, so a wait returns at once.)
func FuzzQuery(f *testing.F) {
	f.Add("5", "2026-11-27T09:00:00Z", "2026-11-28T09:00:00+08:00", "csv", "91110000000000001X")
	f.Add("-1", "x", "", "xml", "")
	f.Add("99999999999999999999", "0000-00-00T00:00:00Z", "9999-12-31T23:59:59Z", "json", "\x00")
	e := newEnv(f, func(d *Deps) { d.Logger = slog.New(slog.DiscardHandler) })
	f.Fuzz(func(t *testing.T, wait, from, to, format, taxNo string) {
		q := func(kv ...string) string {
			var b bytes.Buffer
			for i := 0; i < len(kv); i += 2 {
				if i > 0 {
					b.WriteByte('&')
				}
				b.WriteString(kv[i] + "=" + url.QueryEscape(kv[i+1]))
			}
			return b.String()
		}
		for _, path := range []string{
			"/api/v1/requests/t1.a.b?" + q("wait", wait),
			"/api/v1/audit?" + q("from", from, "to", to, "format", format),
			"/api/v1/accounts?" + q("tax_no", taxNo),
		} {
			r := req{method: "GET", path: path}
			hr := r.build(t, "", e.clk.Now())
			res, err := e.app.Test(hr, 70000)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if res.StatusCode >= 500 {
				t.Fatalf("GET %s = %d", path, res.StatusCode)
			}
		}
	})
}

// FuzzSessionRequestDecode: decodeSessionRequest reads every body as
// decodeStrict does — the same request, or an error where decodeStrict
// gives one (its direct reading of the usual body never takes one that
// decodeStrict refuses, nor reads it otherwise).
func FuzzSessionRequestDecode(f *testing.F) {
	for _, s := range []string{
		`{"business":"issue","account_id":"acc_1"}`,
		` {"tax_no":"91310000MA1K000001","business":"receive","action":"login"} `,
		`{"business":"issue","Business":"receive"}`,
		`{"business":"issue","extra":"x"}`,
		`{"business":"is\u0073ue"}`,
		`{"business":null}`,
		`{"account_id":"中文"}`,
		`{} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := decodeSessionRequest(body)
		var want SessionRequest
		werr := decodeStrict(body, &want)
		if (err == nil) != (werr == nil) || err == nil && got != want {
			t.Fatalf("%q: decodeSessionRequest %+v, %v; decodeStrict %+v, %v", body, got, err, want, werr)
		}
	})
}
