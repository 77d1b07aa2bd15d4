package actors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/teststack/base"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

// harness is a real engine on the parts of teststack/base: bbolt in a temp
// dir, sealed secrets, the simulator on a fake clock, prompts in a channel.
type harness struct {
	t      *testing.T
	dir    string
	store  *persistence.Bolt
	fs     *faultStore
	keys   *persistence.Keyring
	sim    *taxbureau.Simulator
	gw     taxbureau.Gateway // the engine's gateway; nil: sim
	sms    *taxbureau.SimSMSProvider
	pub    *prompts.Chan
	events *events.EventLog
	clk    *clock.Fake
	eng    *Engine
	cfg    Config
	logBuf *syncBuffer // what logger wrote
	logger *slog.Logger
	tenant string
	code   string
	// enterprises
	bj, gd string // 北京 (SMS), 广东 (no SMS)
}

// syncBuffer collects log output written from many goroutines.
type syncBuffer = testutil.SyncBuffer

var t0 = time.Date(2026, 11, 27, 9, 0, 0, 0, domain.ChinaTime)

func newHarness(t *testing.T) *harness {
	t.Helper()
	return buildHarness(t, nil)
}

// buildHarness starts the engine on the parts of teststack/base (keys nil:
// a fresh keyring) with tenant t1 and its two enterprises. The engine may
// be stopped and set to nil by the test; cleanup stops it if it runs.
func buildHarness(t *testing.T, keys *persistence.Keyring) *harness {
	t.Helper()
	s := base.New(t, base.Options{Keys: keys})
	h := &harness{t: t, dir: s.Dir, store: s.Store, keys: s.Keys, sim: s.Sim, sms: s.SMS, pub: s.Prompts, events: s.Events,
		clk: s.Fake, logBuf: s.Logs, logger: s.Logger}
	h.cfg = DefaultConfig()
	h.cfg.HostedCodeTimeout = 5 * time.Second
	h.cfg.AskTimeout = 10 * time.Second
	h.start()
	t.Cleanup(func() {
		if h.eng != nil {
			h.eng.Stop()
		}
	})
	h.bj = domain.MakeTaxNo("11", 1)
	h.gd = domain.MakeTaxNo("44", 2)
	info, err := h.eng.CreateTenant(h.ctx(), "t1", "测试租户", "ACT-CODE-1")
	if err != nil {
		t.Fatal(err)
	}
	h.tenant, h.code = info.ID, info.ActivationCode
	h.must(h.eng.AddEnterprise(h.ctx(), h.tenant, h.bj, "北京测试有限公司", ""))
	h.must(h.eng.AddEnterprise(h.ctx(), h.tenant, h.gd, "广东测试有限公司", ""))
	return h
}

func (h *harness) start() {
	var err error
	if h.fs == nil {
		h.fs = &faultStore{Store: h.store}
	}
	var gw taxbureau.Gateway = h.sim
	if h.gw != nil {
		gw = h.gw
	}
	h.eng, err = Start(h.cfg, Deps{Store: h.fs, Sealer: h.keys, Gateway: gw, SMS: h.sms, Prompts: h.pub, Events: h.events,
		Clock: h.clk, Logger: h.logger})
	if err != nil {
		h.t.Fatal(err)
	}
}

// restart stops the engine and starts a fresh one on the same store.
func (h *harness) restart() {
	h.eng.Stop()
	h.start()
}

func (h *harness) ctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	h.t.Cleanup(cancel)
	return c
}

func (h *harness) must(_ any, err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) ok(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}

// person adds a natural person to the simulator.
func (h *harness) person(user, phone, pw string, rels ...taxbureau.Relation) {
	h.t.Helper()
	if err := h.sim.AddPerson(taxbureau.Person{Name: user, IDNumber: idNumber(phone), Phone: phone, Username: user,
		Password: pw, Relations: rels}); err != nil {
		h.t.Fatal(err)
	}
}

// idNumber makes a distinct valid-looking resident id per phone.
func idNumber(phone string) string {
	base := "110101199001" + phone[len(phone)-5:]
	c, _ := domain.IDCheckDigit(base)
	return base + string(c)
}

func rel(taxNo, region string, role domain.Role) taxbureau.Relation {
	return taxbureau.Relation{TaxNo: taxNo, Region: region, Role: role}
}

func (h *harness) link(openid string) {
	h.t.Helper()
	h.must(h.eng.LinkTenant(h.ctx(), openid, h.code))
}

// addAccount runs F3 to the end, entering the SMS code when one is asked.
func (h *harness) addAccount(openid, taxNo, business, user, pw, phone string, lt domain.LoginType) string {
	h.t.Helper()
	r, err := h.eng.AddAccount(h.ctx(), h.tenant, AddAccount{OpenID: openid, TaxNo: taxNo, Business: business,
		Username: user, Password: domain.NewSecret(pw), LoginType: string(lt)})
	if err != nil {
		h.t.Fatalf("add account %s: %v", user, err)
	}
	if r.State == FlowAwaitingCode {
		r, err = h.eng.SubmitFlowCode(h.ctx(), h.tenant, r.FlowID, openid, h.sim.LastCode(phone))
		if err != nil {
			h.t.Fatalf("submit code for %s: %v", user, err)
		}
	}
	if r.State != FlowDone || r.AccountID == "" {
		h.t.Fatalf("add account %s: state %s", user, r.State)
	}
	return r.AccountID
}

func (h *harness) account(id string) AccountView {
	h.t.Helper()
	vs, err := h.eng.Accounts(h.ctx(), h.tenant, "", "")
	if err != nil {
		h.t.Fatal(err)
	}
	for _, v := range vs {
		if v.ID == id {
			return v
		}
	}
	h.t.Fatalf("account %s not listed", id)
	return AccountView{}
}

// session asks for a session as an API client.
func (h *harness) session(acct string, ch domain.Channel, action Action) (*SessionReply, error) {
	return h.eng.RequestSession(h.ctx(), h.tenant, SessionRequest{AccountID: acct, Business: ch, Action: action})
}

func wantErr(t *testing.T, err error, want *domain.Error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %s", err, want.Code)
	}
}

func promptsOf(c *prompts.Chan, kind prompts.Kind) []prompts.Prompt {
	var out []prompts.Prompt
	for _, p := range c.All() {
		if p.Kind == kind {
			out = append(out, p)
		}
	}
	return out
}

var _ = fmt.Sprintf

// faultStore wraps the real store with injected failures for keys that
// start with a prefix, or for the Nth write. A failed commit writes nothing;
// an uncertain one is applied and then fails, as a commit whose fsync
// failed after bbolt wrote its pages.
type faultStore struct {
	persistence.Store
	mu         sync.Mutex
	getFails   map[string]int // prefix → failures left
	commitFail map[string]int
	uncertain  map[string]int // prefix → uncertain failures left
	// writes counts Commit, CommitAudited and AppendAudit calls; the one numbered
	// failAt fails (uncertainly when failAfter is set).
	writes, failAt int
	failAfter      bool
	injected       int // failures injected so far
}

var errInjected = errors.New("injected store failure")

func (f *faultStore) take(m map[string]int, key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p, n := range m {
		if n > 0 && strings.HasPrefix(key, p) {
			m[p] = n - 1
			return true
		}
	}
	return false
}

func (f *faultStore) failGets(prefix string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.getFails == nil {
		f.getFails = map[string]int{}
	}
	f.getFails[prefix] = n
}

func (f *faultStore) failCommits(prefix string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.commitFail == nil {
		f.commitFail = map[string]int{}
	}
	f.commitFail[prefix] = n
}

// uncertainCommits makes the next n commits touching prefix land and then
// fail.
func (f *faultStore) uncertainCommits(prefix string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.uncertain == nil {
		f.uncertain = map[string]int{}
	}
	f.uncertain[prefix] = n
}

// failNth makes the nth write from now fail; after: it lands first.
func (f *faultStore) failNth(n int, after bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes, f.failAt, f.failAfter = 0, n, after
}

// writeCount is the number of writes since the last failNth.
func (f *faultStore) writeCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writes
}

// injectedCount is the number of failures injected so far.
func (f *faultStore) injectedCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

// fault decides the fate of a write: fail before, fail after, or pass.
func (f *faultStore) fault(ops []persistence.Op) (before, after bool) {
	f.mu.Lock()
	f.writes++
	nth := f.failAt > 0 && f.writes == f.failAt
	nthAfter := f.failAfter
	f.mu.Unlock()
	switch {
	case nth && !nthAfter:
		before = true
	case nth:
		after = true
	}
	for _, op := range ops {
		if f.take(f.commitFail, op.Key) {
			before = true
		}
		if f.take(f.uncertain, op.Key) {
			after = true
		}
	}
	if before || after {
		f.mu.Lock()
		f.injected++
		f.mu.Unlock()
	}
	return before, after
}

func (f *faultStore) AppendAudit(ctx context.Context, ev persistence.AuditEvent) error {
	before, after := f.fault(nil)
	if before {
		return errInjected
	}
	err := f.Store.AppendAudit(ctx, ev)
	if after && err == nil {
		return errInjected
	}
	return err
}

func (f *faultStore) Get(ctx context.Context, key string) (persistence.Record, error) {
	if f.take(f.getFails, key) {
		return persistence.Record{}, errInjected
	}
	return f.Store.Get(ctx, key)
}

func (f *faultStore) Commit(ctx context.Context, ops ...persistence.Op) ([]uint64, error) {
	before, after := f.fault(ops)
	if before {
		return nil, errInjected
	}
	revs, err := f.Store.Commit(ctx, ops...)
	if after && err == nil {
		return nil, errInjected
	}
	return revs, err
}

func (f *faultStore) CommitAudited(ctx context.Context, ev persistence.AuditEvent, ops ...persistence.Op) ([]uint64, error) {
	before, after := f.fault(ops)
	if before {
		return nil, errInjected
	}
	revs, err := f.Store.CommitAudited(ctx, ev, ops...)
	if after && err == nil {
		return nil, errInjected
	}
	return revs, err
}

// logout ends the account's session on ch as a client would (B4) and moves
// the clock past the SMS interval, so the next request logs in anew.
func (h *harness) logout(id string, ch domain.Channel) {
	h.t.Helper()
	r, err := h.session(id, ch, ActionLogin)
	h.ok(err)
	if r.Session == nil {
		h.t.Fatalf("logout: %s is not logged in: %+v", id, r)
	}
	h.ok(h.eng.ReportInvalid(h.ctx(), h.tenant, id, ch, r.Session.Token))
	h.clk.Advance(h.cfg.SMSPolicy.PerAccountInterval + time.Minute)
}
