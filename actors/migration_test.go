package actors

import (
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/teststack/base"
	"github.com/etaxd/etaxd/persistence"
)

// The store fixture in testdata/store-v1 was written by the engine of
// 2026-12-03, when account records were encoding/json documents (format
// v1). TestStoreFixtureV1 opens it with today's code and reads every
// record, so a change of the record encoding cannot strand the data of a
// running installation. Regenerate it only when the old format is retired:
//
//	go test -run TestWriteStoreFixture -write-fixture ./actors/
var writeFixture = flag.Bool("write-fixture", false, "rewrite testdata/store-v1 (see migration_test.go)")

const fixtureDir = "testdata/store-v1"

// fixtureAccount is what the fixture's writer knew of one account record,
// compared field by field with what today's decoder reads.
type fixtureAccount struct {
	Key            string                            `json:"key"`
	Password       string                            `json:"password"` // the simulator's test password
	PhoneMasked    string                            `json:"phone_masked"`
	Lock           domain.LockState                  `json:"lock"`
	CertifiedUntil time.Time                         `json:"certified_until"`
	LastCodeAt     time.Time                         `json:"last_code_at"`
	Channels       map[domain.Channel]fixtureChannel `json:"channels"`
	Logged         map[domain.Channel]bool           `json:"logged_in"` // a live session at base.T0
}

type fixtureChannel struct {
	Token      string    `json:"token"` // the simulator's token, a test value
	ObtainedAt time.Time `json:"obtained_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

func fixtureKeys(t *testing.T) *persistence.Keyring {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	k, err := persistence.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestWriteStoreFixture writes testdata/store-v1 with the engine's real
// flows: accounts logged in on one or two channels, one locked by a wrong
// password, one logged out. It runs only with -write-fixture.
func TestWriteStoreFixture(t *testing.T) {
	if !*writeFixture {
		t.Skip("writes the fixture only with -write-fixture")
	}
	if err := os.MkdirAll(fixtureDir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := newKeyedHarness(t, fixtureKeys(t))
	h.lockableAccount() // links wxAlice
	h.person("fx1", "13911110001", pwA, rel(h.gd, "44", domain.RoleInvoicer))
	h.addAccount(wxAlice, h.gd, "issue", "fx1", pwA, "13911110001", domain.LoginManual)
	h.person("fx2", "13911110002", pwA, rel(h.bj, "11", domain.RoleInvoicer))
	h.addAccount(wxAlice, h.bj, "issue", "fx2", pwA, "13911110002", domain.LoginManual)
	locked := ""
	for _, v := range h.mustAccounts() {
		if v.Username == "qx" {
			locked = v.ID
		}
	}
	if _, err := h.session(locked, domain.ChannelIssue, ActionLogin); err == nil {
		t.Fatal("the lockable account logged in")
	}
	h.stop()
	want := readAccounts(t, h.store, h.keys)
	if len(want) < 3 {
		t.Fatalf("%d account records", len(want))
	}
	h.ok(h.store.Close())
	copyFile(t, filepath.Join(h.dir, "etaxd.db"), filepath.Join(fixtureDir, "etaxd.db"))
	b, err := json.MarshalIndent(want, "", "  ")
	h.ok(err)
	h.ok(os.WriteFile(filepath.Join(fixtureDir, "accounts.json"), append(b, '\n'), 0o644))
}

// TestStoreFixtureV1 opens the store written by the previous version's code
// and reads every account record with today's decoder; the engine then
// serves its sessions and lists its accounts, and a change rewrites a
// record in today's encoding, which reads back after a restart.
func TestStoreFixtureV1(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, filepath.Join(fixtureDir, "etaxd.db"), filepath.Join(dir, "etaxd.db"))
	b, err := os.ReadFile(filepath.Join(fixtureDir, "accounts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want []fixtureAccount
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	s := base.New(t, base.Options{Dir: dir, Keys: fixtureKeys(t)})
	got := readAccounts(t, s.Store, s.Keys)
	if len(got) != len(want) || len(want) < 3 {
		t.Fatalf("read %d account records, the fixture holds %d", len(got), len(want))
	}
	for i := range want {
		compareFixture(t, got[i], want[i])
	}

	h := &harness{t: t, dir: dir, store: s.Store, keys: s.Keys, sim: s.Sim, sms: s.SMS, pub: s.Prompts, events: s.Events,
		clk: s.Fake, logBuf: s.Logs, logger: s.Logger, tenant: "t1", cfg: DefaultConfig()}
	h.start()
	t.Cleanup(func() {
		if h.eng != nil {
			h.eng.Stop()
		}
	})
	views := map[string]AccountView{}
	for _, v := range h.mustAccounts() {
		views[v.ID] = v
	}
	var locked string
	served := 0
	for _, w := range want {
		id := w.Key[strings.LastIndexByte(w.Key, '/')+1:]
		v, ok := views[id]
		if !ok {
			t.Fatalf("account %s is not listed", id)
		}
		if v.Locked != (w.Lock.Lock != nil) || v.PhoneMasked != w.PhoneMasked {
			t.Errorf("view of %s = %+v, fixture %+v", id, v, w)
		}
		if w.Lock.Lock != nil {
			locked = id
		}
		for ch, live := range w.Logged {
			if !live {
				continue
			}
			r, err := h.session(id, ch, "")
			if err != nil || r.State != RequestReady || r.Session == nil || r.Session.Token != w.Channels[ch].Token {
				t.Fatalf("session %s/%s = %+v, %v; want the stored token", id, ch, r, err)
			}
			served++
		}
	}
	if served == 0 || locked == "" {
		t.Fatalf("fixture without a live session (%d) or a locked account (%q)", served, locked)
	}

	// A change rewrites the record in today's encoding.
	h.ok(h.eng.Unlock(h.ctx(), h.tenant, locked, ""))
	h.restart()
	if v := h.account(locked); v.Locked {
		t.Fatalf("unlocked account reads back locked: %+v", v)
	}
	for _, a := range readAccounts(t, s.Store, s.Keys) {
		if strings.HasSuffix(a.Key, "/"+locked) && a.Lock.Lock != nil {
			t.Fatalf("rewritten record still locked: %+v", a)
		}
	}
}

// readAccounts decodes every account record of the store, in key order.
func readAccounts(t *testing.T, st persistence.Store, keys *persistence.Keyring) []fixtureAccount {
	t.Helper()
	var out []fixtureAccount
	err := st.Scan(t.Context(), persistence.PrefixAccount, func(r persistence.Record) error {
		rest := strings.TrimPrefix(r.Key, persistence.PrefixAccount)
		tenant, id, _ := strings.Cut(rest, "/")
		s, err := decodeAccount(keys, tenant, id, r.Value)
		if err != nil {
			return err
		}
		a := fixtureAccount{Key: r.Key, Password: s.password.Reveal(), PhoneMasked: s.phoneMasked, Lock: s.lock,
			CertifiedUntil: s.certifiedUntil, LastCodeAt: s.lastCodeAt,
			Channels: map[domain.Channel]fixtureChannel{}, Logged: map[domain.Channel]bool{}}
		for ch, ss := range s.sessions.all() {
			a.Channels[ch] = fixtureChannel{Token: ss.token.Reveal(), ObtainedAt: ss.obtainedAt, ExpiresAt: ss.expiresAt}
			a.Logged[ch] = ss.alive(base.T0)
		}
		out = append(out, a)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func compareFixture(t *testing.T, got, want fixtureAccount) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("account record %s reads as\n%s\nthe fixture's writer had\n%s", want.Key, g, w)
	}
}

func (h *harness) mustAccounts() []AccountView {
	h.t.Helper()
	vs, err := h.eng.Accounts(h.ctx(), h.tenant, "", "")
	h.ok(err)
	return vs
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
