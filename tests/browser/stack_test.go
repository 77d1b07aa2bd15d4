package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/sign"
	"github.com/etaxd/etaxd/internal/testutil"
)

// The system under test: one etaxd process started with --demo in dev mode,
// its in-process simulator serving /sim/v1, and the demo's description.

const (
	// opToken guards etaxd's /ops API in the suite.
	opToken = "browser-suite-operator-token"
	// personPassword is every person's password at the simulator: it meets
	// the bureau's policy.
	personPassword = "Bw@2026clerk"
)

// demoFile is what the suite reads of <data>/demo.json.
type demoFile struct {
	TenantID       string `json:"tenant_id"`
	TenantName     string `json:"tenant_name"`
	ActivationCode string `json:"activation_code"`
	OpenID         string `json:"openid"`
	APIKeyID       string `json:"api_key_id"`
	APIKeySecret   string `json:"api_key_secret"`
	Enterprises    []struct {
		TaxNo  string `json:"tax_no"`
		Name   string `json:"name"`
		Region string `json:"region"`
	} `json:"enterprises"`
}

// stack is a running etaxd.
type stack struct {
	base string // http://127.0.0.1:port
	demo demoFile
	seq  atomic.Int64 // makes usernames, phones, ids and tax numbers unique
}

// startStack builds etaxd with the race detector and runs `etaxd serve
// --demo` until the test ends; a race it reports fails the test
// (testutil.StartProcess). The suite itself, which is chromedp's driving
// of Chromium, runs without it in make test: see the package doc.
func startStack(t *testing.T) *stack {
	t.Helper()
	dir := t.TempDir()
	bin := testutil.BuildBinary(t, dir, "cmd/etaxd", true)
	addr := testutil.FreeAddr(t)
	data := filepath.Join(dir, "data")
	testutil.StartProcess(t, dir, bin, []string{
		"ETAXD_DATA=" + data,
		"ETAXD_LISTEN=" + addr,
		"ETAXD_DEV=true",
		"ETAXD_OPERATOR_TOKEN=" + opToken,
		"ETAXD_LOG_LEVEL=warn",
		// B3's 3 minutes between two codes of one account, shortened so
		// that a flow may log an account in again at once.
		"ETAXD_SMS_PER_ACCOUNT_INTERVAL=1s",
	}, "serve", "--demo")
	s := &stack{base: "http://" + addr}
	testutil.WaitReady(t, s.base+"/readyz", 90*time.Second) // the demo is seeded by then
	b, err := os.ReadFile(filepath.Join(data, "demo.json"))
	if err != nil {
		t.Fatalf("demo.json: %v", err)
	}
	if err := json.Unmarshal(b, &s.demo); err != nil {
		t.Fatalf("demo.json: %v", err)
	}
	if s.demo.ActivationCode == "" || s.demo.APIKeyID == "" || len(s.demo.Enterprises) == 0 {
		t.Fatalf("demo.json lacks the tenant, its code, API key or enterprises: %s", b)
	}
	return s
}

// HTTP surfaces besides the pages: the simulator's test endpoints, the ops
// API (setup only) and the signed client API.

type apiKind int

const (
	plain  apiKind = iota // /sim/v1: no authentication
	ops                   // /ops/v1: the operator token
	client                // /api/v1: signed with the demo API key
)

// call sends a JSON request and returns the status and the decoded answer
// (a JSON array comes back as {"items": [...]}).
func (s *stack) call(t *testing.T, kind apiKind, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	switch kind {
	case ops:
		req.Header.Set("Authorization", "Bearer "+opToken)
	case client:
		for k, v := range sign.Headers(s.demo.APIKeyID, []byte(s.demo.APIKeySecret), method, path, raw, time.Now()) {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := map[string]any{}
	switch {
	case len(b) > 0 && b[0] == '{':
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, path, b)
		}
	case len(b) > 0 && b[0] == '[':
		var list []any
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatalf("%s %s: bad JSON %q", method, path, b)
		}
		m["items"] = list
	}
	return resp.StatusCode, m
}

// must is call that fails the test unless the status is want.
func (s *stack) must(t *testing.T, want int, kind apiKind, method, path string, body any) map[string]any {
	t.Helper()
	code, m := s.call(t, kind, method, path, body)
	if code != want {
		t.Fatalf("%s %s = %d %v, want %d", method, path, code, m, want)
	}
	return m
}

// str reads a string at path in a decoded JSON object.
func str(m map[string]any, path ...string) string {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = mm[p]
	}
	s, _ := v.(string)
	return s
}

// next is a number no other caller of the suite gets.
func (s *stack) next() int { return int(s.seq.Add(1)) }

// enterprise is one the suite added to the demo tenant.
type enterprise struct {
	TaxNo  string
	Name   string
	Region string
}

// regionNames are the regions the suite uses: 北京 sends an SMS code at
// login, 广东 does not.
var regionNames = map[string]string{"11": "北京", "44": "广东"}

// newEnterprise adds an enterprise of region to the demo tenant through the
// ops API (an operator's setup step, not a page of the manual).
func (s *stack) newEnterprise(t *testing.T, region, label string) enterprise {
	t.Helper()
	n := s.next()
	e := enterprise{TaxNo: domain.MakeTaxNo(region, 700+n), Name: fmt.Sprintf("%s%s测试%03d有限公司", regionNames[region], label, n), Region: region}
	s.must(t, 201, ops, "POST", "/ops/v1/tenants/"+s.demo.TenantID+"/enterprises", map[string]any{"tax_no": e.TaxNo, "name": e.Name})
	return e
}

// person is a natural person registered at the simulator.
type person struct {
	Name     string
	Username string
	Password string
	Phone    string
	IDNumber string
}

// newPerson registers a person at the simulator whose role (a code such as
// "09") relates them to each enterprise. The username is base and a unique
// number.
func (s *stack) newPerson(t *testing.T, name, base, role string, ents ...enterprise) person {
	t.Helper()
	return s.newPersonAs(t, name, fmt.Sprintf("%s%03d", base, s.next()), role, ents...)
}

// newPersonAs is newPerson with the username as given (unique in the run).
func (s *stack) newPersonAs(t *testing.T, name, username, role string, ents ...enterprise) person {
	t.Helper()
	n := s.next()
	p := person{Name: name, Username: username, Password: personPassword,
		Phone: fmt.Sprintf("1370000%04d", n), IDNumber: residentID(fmt.Sprintf("11010119850615%03d", n))}
	rels := make([]map[string]any, 0, len(ents))
	for _, e := range ents {
		rels = append(rels, map[string]any{"tax_no": e.TaxNo, "region": e.Region, "role": role})
	}
	s.must(t, 201, plain, "POST", "/sim/v1/persons", map[string]any{"name": p.Name, "id_type": "201", "id_number": p.IDNumber,
		"phone": p.Phone, "username": p.Username, "password": p.Password, "relations": rels})
	return p
}

// residentID completes 17 digits with the GB 11643 check character.
func residentID(first17 string) string {
	c, _ := domain.IDCheckDigit(first17)
	return first17 + string(c)
}

// masked is a phone as the pages show it (138****5678).
func masked(phone string) string { return phone[:3] + "****" + phone[7:] }

// lastCode is the newest code the simulator "sent" to phone for purpose
// (login or reset).
func (s *stack) lastCode(t *testing.T, phone, purpose string) string {
	t.Helper()
	m := s.must(t, 200, plain, "GET", "/sim/v1/sms?phone="+url.QueryEscape(phone), nil)
	items, _ := m["items"].([]any)
	if len(items) == 0 {
		t.Fatalf("the simulator sent no code to %s", phone)
	}
	first, _ := items[0].(map[string]any)
	if got := str(first, "purpose"); got != purpose {
		t.Fatalf("the newest code sent to %s is for %q, want %q: %v", phone, got, purpose, first)
	}
	code := str(first, "code")
	if len(code) != 6 {
		t.Fatalf("code sent to %s = %q", phone, code)
	}
	return code
}

// wrongCode is a 6-digit code that is not code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// setBureauPassword changes a person's password at the bureau, behind
// etaxd's back (the person did it in the bureau's own app).
func (s *stack) setBureauPassword(t *testing.T, username, password string) {
	t.Helper()
	s.must(t, 200, plain, "POST", "/sim/v1/persons/"+url.PathEscape(username)+"/password", map[string]any{"password": password})
}

// session asks the client API for a session of account, waiting out the
// per-account SMS interval (429), and returns the final status and answer.
func (s *stack) session(t *testing.T, taxNo, business, accountID string) (int, map[string]any) {
	t.Helper()
	body := map[string]any{"tax_no": taxNo, "business": business, "action": "login", "account_id": accountID}
	var code int
	var m map[string]any
	testutil.Eventually(t, 30*time.Second, func() error {
		if code, m = s.call(t, client, "POST", "/api/v1/sessions", body); code == http.StatusTooManyRequests {
			return fmt.Errorf("session = %d %v, still the SMS interval", code, m)
		}
		return nil
	})
	return code, m
}

// errCode is the error code of a client API answer.
func errCode(m map[string]any) string { return str(m, "error", "code") }

// containsAll reports the first of want that text lacks.
func containsAll(text string, want ...string) (string, bool) {
	for _, w := range want {
		if !strings.Contains(text, w) {
			return w, false
		}
	}
	return "", true
}
