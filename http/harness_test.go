package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/sign"
	"github.com/etaxd/etaxd/internal/teststack"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

const (
	pwA     = "Passw0rd!a"
	phoneA  = "13800000001"
	phoneB  = "13900000002"
	phoneH  = "15100001832"
	wxAlice = "o_alice"

	key1, secret1 = "k-one", "0123456789abcdef0123456789abcdef-one"
	key2, secret2 = "k-two", "0123456789abcdef0123456789abcdef-two"
	opToken       = "op-token-for-tests"
)

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, domain.ChinaTime)

// env is a real engine behind the app: bbolt in a temp dir, sealed
// secrets, the simulator on a fake clock (which the app's clock follows),
// prompts in a channel. Tenant t1 (key k-one) has the enterprises bj
// (北京, SMS) and gd (广东, no SMS); tenant t2 (key k-two) has none.
type env struct {
	t      testing.TB
	store  *persistence.Bolt
	sim    *taxbureau.Simulator
	clk    *clock.Fake
	pub    *prompts.Chan
	events *events.EventLog
	eng    *actors.Engine
	deps   Deps
	app    *fiber.App
	logs   *syncBuffer
	code   string // t1's activation code
	bj, gd string
}

// syncBuffer collects log output written from many goroutines.
type syncBuffer = testutil.SyncBuffer

// newEnv builds the engine and the app; tune, when set, adjusts the Deps
// before New.
func newEnv(t testing.TB, tune ...func(*Deps)) *env {
	t.Helper()
	cfg := actors.DefaultConfig()
	cfg.AskTimeout = 10 * time.Second
	cfg.HostedCodeTimeout = 5 * time.Second
	s := teststack.New(t, teststack.Options{Engine: &cfg})
	e := &env{t: t, store: s.Store, sim: s.Sim, clk: s.Fake, pub: s.Prompts, events: s.Events, eng: s.Engine, logs: s.Logs}
	ctx := context.Background()
	info, err := e.eng.CreateTenant(ctx, "t1", "测试租户", "ACT-CODE-1")
	if err != nil {
		t.Fatal(err)
	}
	e.code = info.ActivationCode
	if _, err := e.eng.CreateTenant(ctx, "t2", "另一个租户", "ACT-CODE-2"); err != nil {
		t.Fatal(err)
	}
	for _, k := range [][3]string{{"t1", key1, secret1}, {"t2", key2, secret2}} {
		if _, err := e.eng.CreateAPIKey(ctx, k[0], k[1], k[2]); err != nil {
			t.Fatal(err)
		}
	}
	e.bj, e.gd = domain.MakeTaxNo("11", 1), domain.MakeTaxNo("44", 2)
	for _, ent := range [][2]string{{e.bj, "北京测试有限公司"}, {e.gd, "广东测试有限公司"}} {
		if _, err := e.eng.AddEnterprise(ctx, "t1", ent[0], ent[1], ""); err != nil {
			t.Fatal(err)
		}
	}
	e.deps = Deps{Engine: e.eng, Store: actors.NewStoreProbe(e.store), Node: "n-test", Version: "v-test", Clock: e.clk,
		Logger: s.Logger.With("component", "http"), OperatorToken: opToken}
	for _, f := range tune {
		f(&e.deps)
	}
	e.app = New(e.deps)
	return e
}

func (e *env) ctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	e.t.Cleanup(cancel)
	return c
}

// person adds a natural person related to taxNo as legal representative.
func (e *env) person(user, phone, taxNo, region string) {
	e.t.Helper()
	if err := e.sim.AddPerson(taxbureau.Person{Name: user, IDNumber: idNumber(phone), Phone: phone, Username: user,
		Password: pwA, Relations: []taxbureau.Relation{{TaxNo: taxNo, Region: region, Role: domain.RoleLegalRep}}}); err != nil {
		e.t.Fatal(err)
	}
}

// idNumber makes a distinct valid-looking resident id per phone.
func idNumber(phone string) string {
	base := "110101199001" + phone[len(phone)-5:]
	c, _ := domain.IDCheckDigit(base)
	return base + string(c)
}

// addAccount runs F3 to the end (entering the SMS code when asked) and
// returns the logged-in account's id.
func (e *env) addAccount(openid, taxNo, user, phone string) string {
	e.t.Helper()
	return e.addAccountFor(openid, taxNo, "issue", user, phone)
}

// addAccountFor is addAccount for a business: issue, receive or both.
func (e *env) addAccountFor(openid, taxNo, business, user, phone string) string {
	e.t.Helper()
	r, err := e.eng.AddAccount(e.ctx(), "t1", actors.AddAccount{OpenID: openid, TaxNo: taxNo, Business: business,
		Username: user, Password: domain.NewSecret(pwA), LoginType: string(domain.LoginManual)})
	if err != nil {
		e.t.Fatalf("add account %s: %v", user, err)
	}
	if r.State == actors.FlowAwaitingCode {
		if r, err = e.eng.SubmitFlowCode(e.ctx(), "t1", r.FlowID, openid, e.sim.LastCode(phone)); err != nil {
			e.t.Fatalf("submit code for %s: %v", user, err)
		}
	}
	if r.State != actors.FlowDone {
		e.t.Fatalf("add account %s: %+v", user, r)
	}
	return r.AccountID
}

// boundAccount is alice's 北京 account (issue and receive), bound to her
// WeChat user and logged in.
func (e *env) boundAccount() string {
	e.t.Helper()
	if _, err := e.eng.LinkTenant(e.ctx(), wxAlice, e.code); err != nil {
		e.t.Fatal(err)
	}
	e.person("alice", phoneH, e.bj, "11")
	id := e.addAccountFor(wxAlice, e.bj, "both", "alice", phoneH)
	if err := e.eng.Bind(e.ctx(), "t1", id, wxAlice); err != nil {
		e.t.Fatal(err)
	}
	return id
}

// loggedOut reports the account's session dead and moves past the SMS
// interval, so that the next session request needs a person.
func (e *env) loggedOut(id string) {
	e.t.Helper()
	r, err := e.eng.RequestSession(e.ctx(), "t1", actors.SessionRequest{AccountID: id, Business: domain.ChannelIssue})
	if err != nil || r.Session == nil {
		e.t.Fatalf("session of %s: %+v %v", id, r, err)
	}
	if err := e.eng.ReportInvalid(e.ctx(), "t1", id, domain.ChannelIssue, r.Session.Token); err != nil {
		e.t.Fatal(err)
	}
	e.clk.Advance(4 * time.Minute)
}

// req describes one request to the app.
type req struct {
	method, path string
	body         any    // encoded as JSON unless raw is set
	raw          []byte // sent as is
	keyID        string // default key1
	secret       string // default secret1
	unsigned     bool
	ts           string // override the timestamp
	nonce        string // override the nonce
	sig          string // override the signature
	idem         string
	contentType  string // default application/json when there is a body
	header       map[string]string
	timeout      time.Duration // default 10 s
}

// resp is the app's answer.
type resp struct {
	status int
	body   []byte
	header http.Header
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
}

// errCode returns the error code of an error answer.
func (r resp) errCode(t *testing.T) string {
	t.Helper()
	var b ErrorBody
	r.decode(t, &b)
	return b.Error.Code
}

var nonceSeq struct {
	mu sync.Mutex
	n  int
}

func nextNonce() string {
	nonceSeq.mu.Lock()
	defer nonceSeq.mu.Unlock()
	nonceSeq.n++
	return fmt.Sprintf("nonce-%08d-%d", nonceSeq.n, time.Now().UnixNano())
}

// build makes the signed *http.Request of r, signed at now.
func (r req) build(t testing.TB, base string, now time.Time) *http.Request {
	t.Helper()
	body := r.raw
	if body == nil && r.body != nil {
		var err error
		if body, err = json.Marshal(r.body); err != nil {
			t.Fatal(err)
		}
	}
	hr := httptest.NewRequest(r.method, base+r.path, bytes.NewReader(body))
	if base != "" {
		var err error
		if hr, err = http.NewRequest(r.method, base+r.path, bytes.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	if len(body) > 0 {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	if !r.unsigned {
		keyID, secret := r.keyID, r.secret
		if keyID == "" {
			keyID = key1
		}
		if secret == "" {
			secret = secret1
		}
		ts := r.ts
		if ts == "" {
			ts = strconv.FormatInt(now.Unix(), 10)
		}
		nonce := r.nonce
		if nonce == "" {
			nonce = nextNonce()
		}
		sig := r.sig
		if sig == "" {
			sig = sign.Signature([]byte(secret), r.method, r.path, ts, nonce, body)
		}
		hr.Header.Set(sign.HeaderKey, keyID)
		hr.Header.Set(sign.HeaderTimestamp, ts)
		hr.Header.Set(sign.HeaderNonce, nonce)
		hr.Header.Set(sign.HeaderSignature, sig)
	}
	if r.idem != "" {
		hr.Header.Set(sign.HeaderIdem, r.idem)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	return hr
}

// do sends r through app.Test.
func (e *env) do(r req) resp {
	e.t.Helper()
	timeout := r.timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	res, err := e.app.Test(r.build(e.t, "", e.clk.Now()), int(timeout/time.Millisecond))
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, body: b, header: res.Header}
}
