package taxbureau_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

// errBody is the contract's error body.
type errBody struct {
	Error struct {
		Code      string          `json:"code"`
		Message   string          `json:"message"`
		MessageEN string          `json:"message_en"`
		Cause     json.RawMessage `json:"cause"`
	} `json:"error"`
}

// serve sends one request to h and returns the status, the headers and the
// body.
func serve(t *testing.T, h http.Handler, method, target, body string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Header(), rec.Body.Bytes()
}

func decodeErr(t *testing.T, b []byte) errBody {
	t.Helper()
	var e errBody
	if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" {
		t.Fatalf("body %q is not the contract's error: %v", b, err)
	}
	return e
}

func TestServerRefusesBadRequests(t *testing.T) {
	sim, _ := newSim(t)
	h := taxbureau.NewServer(sim, taxbureau.ServerOptions{TestEndpoints: true, MaxBodyBytes: 1024})
	login := "/gateway/v1/login"
	tests := []struct {
		name   string
		method string
		target string
		body   string
		ctype  string
		status int
		code   string
	}{
		{"unknown field", "POST", login, `{"username":"alice","extra":1}`, "", 400, "invalid_input"},
		{"trailing data", "POST", login, `{"username":"alice"} {}`, "", 400, "invalid_input"},
		{"not JSON", "POST", login, `username=alice`, "", 400, "invalid_input"},
		{"wrong type", "POST", login, `{"username":42}`, "", 400, "invalid_input"},
		{"truncated", "POST", login, `{"username":"ali`, "", 400, "invalid_input"},
		{"empty body", "POST", login, ``, "", 400, "invalid_input"},
		{"too large", "POST", login, `{"username":"` + strings.Repeat("a", 2000) + `"}`, "", 413, "invalid_input"},
		{"form content type", "POST", login, `{}`, "application/x-www-form-urlencoded", 415, "invalid_input"},
		{"GET on a POST route", "GET", login, ``, "", 405, "method_not_allowed"},
		{"unknown gateway route", "POST", "/gateway/v1/nope", `{}`, "", 404, "not_found"},
		{"unknown sim route", "GET", "/sim/v1/nope", ``, "", 404, "not_found"},
		{"sms without phone", "GET", "/sim/v1/sms", ``, "", 400, "invalid_input"},
		{"negative wait", "POST", "/gateway/v1/sms/fetch", `{"login_type":"huameng","username":"alice","wait_ms":-1}`, "", 400, "invalid_input"},
		{"bad since", "POST", "/gateway/v1/sms/fetch", `{"since":"yesterday"}`, "", 400, "invalid_input"},
		{"pass with a body", "POST", "/sim/v1/face/fc_x/pass", `{"x":1}`, "", 400, "invalid_input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			e := decodeErr(t, rec.Body.Bytes())
			if e.Error.Code != tt.code || e.Error.Message == "" || e.Error.MessageEN == "" {
				t.Errorf("error = %+v, want code %s with both messages", e.Error, tt.code)
			}
		})
	}
	if n := sim.Calls(taxbureau.MethodLogin); n != 0 {
		t.Errorf("bad requests reached the bureau %d times", n)
	}
}

func TestServerErrorStatuses(t *testing.T) {
	sim, _ := newSim(t, func(c *taxbureau.SimConfig) { c.SMSPerPhonePerDay = 1 })
	h := taxbureau.NewServer(sim, taxbureau.ServerOptions{})
	post := func(path string, v any) (int, errBody) {
		b, _ := json.Marshal(v)
		status, _, body := serve(t, h, "POST", path, string(b))
		var e errBody
		json.Unmarshal(body, &e)
		return status, e
	}
	login := map[string]string{"region": "11", "tax_no": taxBJ, "username": "alice", "password": alicePwd, "channel": "issue"}
	if st, _ := post("/gateway/v1/login", login); st != 200 {
		t.Fatalf("login = %d", st)
	}
	tests := []struct {
		name   string
		path   string
		body   map[string]string
		status int
		code   string
	}{
		{"budget", "/gateway/v1/login", login, 429, "sms_budget_exhausted"},
		{"wrong password", "/gateway/v1/verify_password", map[string]string{"username": "bob", "password": "x"}, 403, "wrong_password"},
		{"no challenge", "/gateway/v1/submit_code", map[string]string{"challenge_id": "ch_x", "code": "1"}, 404, "no_challenge"},
		{"bad channel", "/gateway/v1/qr/start", map[string]string{"tax_no": taxBJ, "channel": "x"}, 400, "invalid_business"},
		{"not logged in", "/gateway/v1/certification/start", map[string]string{"token": "x"}, 403, "not_logged_in"},
		{"identity", "/gateway/v1/reset/start", map[string]string{"username": "bob", "id_number": "1"}, 403, "identity_mismatch"},
		{"hosted timeout", "/gateway/v1/sms/fetch", map[string]string{"login_type": "huameng", "username": "bob"}, 404, "hosted_code_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, e := post(tt.path, tt.body)
			if st != tt.status || e.Error.Code != tt.code {
				t.Errorf("= %d %+v, want %d %s", st, e.Error, tt.status, tt.code)
			}
		})
	}

	t.Run("lock carries its cause", func(t *testing.T) {
		var e errBody
		for range 5 { // the first answer that locks; bob has one wrong try already
			if _, e = post("/gateway/v1/verify_password", map[string]string{"username": "bob", "password": "x"}); e.Error.Code != "wrong_password" {
				break
			}
		}
		var cause struct{ Code string }
		json.Unmarshal(e.Error.Cause, &cause)
		if e.Error.Code != "bureau_password_locked" || cause.Code != "wrong_password" {
			t.Errorf("fifth wrong password = %+v", e.Error)
		}
	})
}

func TestServerHidesInternalFailures(t *testing.T) {
	sim, _ := newSim(t)
	var logs bytes.Buffer
	h := taxbureau.NewServer(sim, taxbureau.ServerOptions{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	sim.SetFault(taxbureau.MethodLogin, errors.New("connection reset by 10.0.0.7"))
	status, _, body := serve(t, h, "POST", "/gateway/v1/login",
		`{"region":"11","tax_no":"`+taxBJ+`","username":"alice","password":"`+alicePwd+`","channel":"issue"}`)
	if status != http.StatusServiceUnavailable || decodeErr(t, body).Error.Code != "bureau_unavailable" {
		t.Errorf("= %d %s", status, body)
	}
	if bytes.Contains(body, []byte("10.0.0.7")) {
		t.Errorf("the body leaks the internal cause: %s", body)
	}
	if !strings.Contains(logs.String(), "10.0.0.7") {
		t.Errorf("the cause is not in the log: %q", logs.String())
	}
	if strings.Contains(logs.String(), alicePwd) {
		t.Error("the log holds a password")
	}
}

func TestServerToken(t *testing.T) {
	sim, _ := newSim(t)
	h := taxbureau.NewServer(sim, taxbureau.ServerOptions{Token: testToken, TestEndpoints: true})
	body := `{"token":"x"}`
	tests := []struct {
		name   string
		auth   string
		status int
	}{
		{"none", "", 401},
		{"wrong", "Bearer nope", 401},
		{"other scheme", "Basic " + testToken, 401},
		{"right", "Bearer " + testToken, 200},
		{"scheme without case", "bearer " + testToken, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, hdr, b := serve(t, h, "POST", "/gateway/v1/session/check", body, "Authorization", tt.auth)
			if status != tt.status {
				t.Errorf("status = %d, want %d (%s)", status, tt.status, b)
			}
			if status == 401 && (decodeErr(t, b).Error.Code != "unauthorized" || hdr.Get("WWW-Authenticate") == "") {
				t.Errorf("401 = %s, %v", b, hdr)
			}
		})
	}
	// Unknown gateway routes are behind the token too; /sim/v1 is not.
	if status, _, _ := serve(t, h, "POST", "/gateway/v1/nope", "{}"); status != 401 {
		t.Errorf("unknown route without token = %d, want 401", status)
	}
	if status, _, _ := serve(t, h, "GET", "/sim/v1/sms?phone="+alicePhone, ""); status != 200 {
		t.Errorf("/sim/v1/sms without token = %d, want 200", status)
	}
}

func TestServerTestEndpointsOff(t *testing.T) {
	sim, _ := newSim(t)
	h := taxbureau.NewServer(sim, taxbureau.ServerOptions{})
	for _, target := range []string{"/sim/v1/sms?phone=" + alicePhone, "/sim/v1/persons"} {
		if status, _, _ := serve(t, h, "GET", target, ""); status != 404 {
			t.Errorf("GET %s = %d, want 404", target, status)
		}
	}
}

func TestSimPersons(t *testing.T) {
	sim, _ := newSim(t)
	h := taxbureau.NewServer(sim, taxbureau.ServerOptions{TestEndpoints: true})
	carol := `{"name":"王芳","id_type":"201","id_number":"110105199001010022","phone":"13900000003",` +
		`"username":"carol","password":"C4rol!pw","relations":[{"tax_no":"` + taxBJ + `","region":"11","role":"财务负责人"}]}`

	status, _, body := serve(t, h, "POST", "/sim/v1/persons", carol)
	if status != http.StatusCreated {
		t.Fatalf("POST persons = %d %s", status, body)
	}
	var reply struct{ ID string }
	json.Unmarshal(body, &reply)
	p, ok := sim.FindPerson("carol")
	if !ok || reply.ID == "" || p.ID != reply.ID || p.Relations[0].Role != domain.RoleFinanceManager {
		t.Fatalf("reply %s, person %+v", body, p)
	}
	res, err := sim.Login(context.Background(), taxbureau.LoginRequest{Region: "11", TaxNo: taxBJ, Username: "carol",
		Password: "C4rol!pw", Channel: domain.ChannelIssue})
	if err != nil || res.PersonID != reply.ID {
		t.Fatalf("carol's login = %+v, %v", res, err)
	}

	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"same username", strings.Replace(carol, "13900000003", "13900000004", 1), 409, "person_exists"},
		{"no username", `{"phone":"13900000005","password":"x"}`, 400, "invalid_input"},
		{"bad phone", `{"username":"dave","phone":"123","password":"x"}`, 400, "invalid_phone"},
		{"bad role", `{"username":"dave","phone":"13900000005","password":"x","relations":[{"tax_no":"1","role":"boss"}]}`, 400, "invalid_role"},
		{"bad region", `{"username":"dave","phone":"13900000005","password":"x","relations":[{"tax_no":"1","region":"99","role":"01"}]}`, 400, "invalid_region"},
		{"unknown field", `{"username":"dave","age":3}`, 400, "invalid_input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := serve(t, h, "POST", "/sim/v1/persons", tt.body)
			e := decodeErr(t, body)
			if status != tt.status || e.Error.Code != tt.code {
				t.Errorf("= %d %+v, want %d %s", status, e.Error, tt.status, tt.code)
			}
			if e.Error.Message == "" || e.Error.MessageEN == "" {
				t.Errorf("error lacks a message: %+v", e.Error)
			}
		})
	}
}

func TestSimSMSNewestFirst(t *testing.T) {
	sim, clk := newSim(t)
	h := taxbureau.NewServer(sim, taxbureau.ServerOptions{TestEndpoints: true})
	ctx := context.Background()
	first, _ := sim.Login(ctx, loginReq(taxBJ, "11", domain.ChannelIssue))
	clk.Advance(time.Minute)
	reset, _ := sim.StartReset(ctx, taxbureau.ResetRequest{Region: "11", Username: "alice", IDNumber: aliceID})

	status, _, body := serve(t, h, "GET", "/sim/v1/sms?phone="+alicePhone, "")
	var codes []taxbureau.SMS
	if err := json.Unmarshal(body, &codes); status != 200 || err != nil {
		t.Fatalf("= %d %s", status, body)
	}
	if len(codes) != 2 || codes[0].ChallengeID != reset.ID || codes[0].Purpose != taxbureau.PurposeReset ||
		codes[1].ChallengeID != first.Challenge.ID || !codes[0].SentAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("codes = %+v", codes)
	}
	if !bytes.Contains(body, []byte(`"challenge_id"`)) || !bytes.Contains(body, []byte(`"sent_at"`)) {
		t.Errorf("field names: %s", body)
	}
	_, _, body = serve(t, h, "GET", "/sim/v1/sms?phone=13000000000", "")
	if strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("unknown phone = %s, want []", body)
	}
}

func TestDecodePersons(t *testing.T) {
	ps, err := taxbureau.DecodePersons(strings.NewReader(`[{"name":"甲","username":"a","phone":"13900000001","password":"p",` +
		`"relations":[{"tax_no":"T","region":"44","role":"办税员"}]}]`))
	if err != nil || len(ps) != 1 || ps[0].Relations[0].Role != domain.RoleTaxClerk {
		t.Fatalf("DecodePersons = %+v, %v", ps, err)
	}
	for _, bad := range []string{`{}`, `[{"nick":"x"}]`, `[{"relations":[{"role":"x"}]}]`} {
		if _, err := taxbureau.DecodePersons(strings.NewReader(bad)); err == nil {
			t.Errorf("DecodePersons(%s) accepted it", bad)
		}
	}
}

// TestServerUnderFiber mounts the handler the way etaxd does, through
// Fiber's adaptor on both prefixes, and logs in through it.
func TestServerUnderFiber(t *testing.T) {
	sim, _ := newSim(t)
	h := adaptor.HTTPHandler(taxbureau.NewServer(sim, taxbureau.ServerOptions{Token: testToken, TestEndpoints: true}))
	app := fiber.New()
	app.All("/gateway/v1/*", h)
	app.All("/sim/v1/*", h)

	req := httptest.NewRequest("POST", "/gateway/v1/login", strings.NewReader(
		`{"region":"11","tax_no":"`+taxBJ+`","username":"alice","password":"`+alicePwd+`","channel":"issue"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"challenge"`)) {
		t.Fatalf("login through Fiber = %d %s", resp.StatusCode, body)
	}

	resp, err = app.Test(httptest.NewRequest("GET", "/sim/v1/sms?phone="+alicePhone, nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	var codes []taxbureau.SMS
	json.NewDecoder(resp.Body).Decode(&codes)
	resp.Body.Close()
	if len(codes) != 1 || codes[0].Code != sim.LastCode(alicePhone) {
		t.Errorf("codes through Fiber = %+v", codes)
	}
}

// TestSimSetPassword: the person changes the password at the bureau.
func TestSimSetPassword(t *testing.T) {
	sim, _ := newSim(t)
	h := taxbureau.NewServer(sim, taxbureau.ServerOptions{TestEndpoints: true})
	carol := `{"name":"王芳","id_type":"201","id_number":"110105199001010022","phone":"13900000003",` +
		`"username":"carol","password":"C4rol!pw","relations":[{"tax_no":"` + taxBJ + `","region":"11","role":"01"}]}`
	if status, _, body := serve(t, h, "POST", "/sim/v1/persons", carol); status != http.StatusCreated {
		t.Fatalf("POST persons = %d %s", status, body)
	}
	if status, _, body := serve(t, h, "POST", "/sim/v1/persons/carol/password", `{"password":"N3w!passwd"}`); status != http.StatusOK {
		t.Fatalf("set password = %d %s", status, body)
	}
	if err := sim.VerifyPassword(context.Background(), "11", "carol", "N3w!passwd"); err != nil {
		t.Fatalf("new password refused: %v", err)
	}
	if status, _, _ := serve(t, h, "POST", "/sim/v1/persons/nobody/password", `{"password":"N3w!passwd"}`); status != http.StatusNotFound {
		t.Fatalf("unknown person = %d", status)
	}
	if status, _, _ := serve(t, h, "POST", "/sim/v1/persons/carol/password", `{}`); status != http.StatusBadRequest {
		t.Fatalf("empty password = %d", status)
	}
}
