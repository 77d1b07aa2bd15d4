package taxbureau_test

import (
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/taxbureau"
)

// fuzzRoutes are the endpoints FuzzServer sends bodies to.
var fuzzRoutes = []struct{ method, path string }{
	{"POST", "/gateway/v1/login"},
	{"POST", "/gateway/v1/submit_code"},
	{"POST", "/gateway/v1/qr/start"},
	{"POST", "/gateway/v1/qr/poll"},
	{"POST", "/gateway/v1/certification/start"},
	{"POST", "/gateway/v1/certification/poll"},
	{"POST", "/gateway/v1/relations"},
	{"POST", "/gateway/v1/verify_password"},
	{"POST", "/gateway/v1/reset/start"},
	{"POST", "/gateway/v1/reset/complete"},
	{"POST", "/gateway/v1/session/check"},
	{"POST", "/gateway/v1/sms/fetch"},
	{"POST", "/sim/v1/persons"},
	{"GET", "/sim/v1/sms"},
	{"POST", "/sim/v1/qr/{id}/scan"},
	{"POST", "/sim/v1/face/{id}/pass"},
	{"GET", "/gateway/v1/login"},
	{"POST", "/gateway/v1/{id}"},
}

// FuzzServer sends any body to every endpoint: the server must never panic
// and never answer 5xx, and every answer must be JSON; every refusal must
// be the contract's error body.
func FuzzServer(f *testing.F) {
	seeds := []string{
		`{"region":"11","tax_no":"` + taxBJ + `","username":"alice","password":"` + alicePwd + `","channel":"issue"}`,
		`{"region":"44","tax_no":"` + taxGD + `","username":"bob","password":"B0b-secret","channel":"receive"}`,
		`{"challenge_id":"ch_x","code":"123456"}`,
		`{"region":"11","tax_no":"` + taxBJ + `","channel":"issue","app":"iit"}`,
		`{"qr_id":"qr_x"}`, `{"token":"x"}`, `{"cert_id":"fc_x"}`,
		`{"region":"11","username":"alice","password":"x"}`,
		`{"region":"11","username":"alice","id_type":"201","id_number":"` + aliceID + `"}`,
		`{"challenge_id":"ch_x","code":"1","new_password":"N3w-Passw0rd"}`,
		`{"login_type":"huameng","username":"alice","since":"2025-06-02T10:00:00+08:00","wait_ms":5}`,
		`{"name":"x","username":"u1","phone":"13900000009","password":"p","relations":[{"tax_no":"T","region":"11","role":"01"}]}`,
		`{"username":"alice","confirm":false}`,
		`{}`, `null`, `[]`, `"x"`, `{"a":`, "", `{"wait_ms":1e99}`, `{"relations":[null]}`,
		"\xff\xfe", `{"username":"\u0000"}`,
	}
	for i, s := range seeds {
		f.Add(uint8(i), s, "qr_x")
	}
	sim := taxbureau.NewSimulator(taxbureau.DefaultSimConfig(), clock.NewFake(t0))
	for _, p := range []taxbureau.Person{alice(), bob()} {
		if err := sim.AddPerson(p); err != nil {
			f.Fatal(err)
		}
	}
	h := taxbureau.NewServer(sim, taxbureau.ServerOptions{TestEndpoints: true, MaxFetchWait: 5 * time.Millisecond})
	f.Fuzz(func(t *testing.T, route uint8, body, id string) {
		r := fuzzRoutes[int(route)%len(fuzzRoutes)]
		path := strings.ReplaceAll(r.path, "{id}", url.PathEscape(id))
		if r.method == "GET" && strings.HasSuffix(path, "/sms") {
			path += "?phone=" + url.QueryEscape(body)
		}
		if _, err := url.ParseRequestURI(path); err != nil {
			t.Skip()
		}
		req := httptest.NewRequest(r.method, path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q = %d %s", r.method, path, body, rec.Code, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s %q: body is not JSON: %q", r.method, path, body, rec.Body)
		}
		if rec.Code >= 300 {
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			if json.Unmarshal(rec.Body.Bytes(), &e); e.Error.Code == "" {
				t.Fatalf("%s %s %q = %d without an error code: %s", r.method, path, body, rec.Code, rec.Body)
			}
		}
	})
}
