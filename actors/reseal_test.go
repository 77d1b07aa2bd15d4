package actors

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/taxbureau"
)

// newKeyedHarness is newHarness with the given keyring: the key rotation
// tests need to know (and later drop) the keys the engine sealed with. The
// engine may be stopped and set to nil by the test; cleanup stops it if it
// runs.
func newKeyedHarness(t *testing.T, keys *persistence.Keyring) *harness {
	t.Helper()
	return buildHarness(t, keys)
}

// stop stops the engine, as "etaxd keys rotate" requires.
func (h *harness) stop() {
	h.eng.Stop()
	h.eng = nil
}

// devKeyFile creates a key file with v1 in dir and returns its path and
// the keyring loaded from it.
func devKeyFile(t *testing.T) (string, *persistence.Keyring) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.keys")
	keys, err := persistence.LoadKeyring(persistence.KeyringOptions{File: path, CreateIfMissing: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return path, keys
}

// onlyVersion returns a keyring holding only version v of the key file:
// whatever opens with it cannot need another version.
func onlyVersion(t *testing.T, path string, v uint32) *persistence.Keyring {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if b64, ok := strings.CutPrefix(line, fmt.Sprintf("v%d:", v)); ok {
			key, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				t.Fatal(err)
			}
			k, err := persistence.NewKeyring(map[uint32][]byte{v: key})
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
	}
	t.Fatalf("no v%d in %s", v, path)
	return nil
}

// sealedRecords returns every record Reseal is responsible for, by key.
func sealedRecords(t *testing.T, s persistence.Store) map[string]persistence.Record {
	t.Helper()
	out := map[string]persistence.Record{}
	for _, prefix := range []string{"account/", "apikey/", keyLinkKey} {
		err := s.Scan(context.Background(), prefix, func(r persistence.Record) error {
			out[r.Key] = r
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// sealedValue is one sealed value of a record with its aad.
type sealedValue struct {
	aad    string
	sealed []byte
}

// openRecord splits a record into its sealed values and the rest (the
// record with the sealed values blanked), to compare before and after.
func openRecord(t *testing.T, r persistence.Record) (vals []sealedValue, rest any) {
	t.Helper()
	switch {
	case strings.HasPrefix(r.Key, "account/"):
		var rec accountRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		vals = append(vals, sealedValue{r.Key, rec.SealedPassword})
		rec.SealedPassword = nil
		for ch, c := range rec.Channels {
			vals = append(vals, sealedValue{r.Key + "#" + string(ch), c.SealedToken})
			c.SealedToken = nil
		}
		slices.SortFunc(vals, func(a, b sealedValue) int { return strings.Compare(a.aad, b.aad) })
		return vals, rec
	case strings.HasPrefix(r.Key, "apikey/"):
		var rec apiKeyRecord
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		vals = append(vals, sealedValue{r.Key, rec.Secret})
		rec.Secret = nil
		return vals, rec
	default:
		return []sealedValue{{r.Key, r.Value}}, nil
	}
}

// resealFixture is an engine's store with every kind of sealed value, all
// under v1: two accounts (one with sessions on both channels), two API keys
// (one revoked) and the link key. The engine is stopped.
type resealFixture struct {
	h                *harness
	keyFile          string
	acct             string // 广东, logged in on both channels
	tokens           map[domain.Channel]string
	liveKey, revoked APIKey
}

func newResealFixture(t *testing.T) *resealFixture {
	t.Helper()
	keyFile, v1 := devKeyFile(t)
	h := newKeyedHarness(t, v1)
	f := &resealFixture{h: h, keyFile: keyFile, tokens: map[domain.Channel]string{}}
	h.link(wxAlice)
	h.person("boss", phoneA, pwA, rel(h.bj, "11", domain.RoleLegalRep), rel(h.gd, "44", domain.RoleLegalRep))
	f.acct = h.addAccount(wxAlice, h.gd, "both", "boss", pwA, phoneA, domain.LoginManual)
	h.addAccount(wxAlice, h.bj, "both", "boss", pwA, phoneA, domain.LoginManual)
	for _, ch := range []domain.Channel{domain.ChannelIssue, domain.ChannelReceive} {
		r, err := h.session(f.acct, ch, ActionLogin)
		h.ok(err)
		if r.State != RequestReady || r.Session == nil {
			t.Fatalf("session on %s: %+v", ch, r)
		}
		f.tokens[ch] = r.Session.Token
	}
	var err error
	f.liveKey, err = h.eng.CreateAPIKey(h.ctx(), h.tenant, "", "")
	h.ok(err)
	f.revoked, err = h.eng.CreateAPIKey(h.ctx(), h.tenant, "", "")
	h.ok(err)
	h.ok(h.eng.RevokeAPIKey(h.ctx(), f.revoked.ID))
	h.stop()
	return f
}

// TestResealAfterKeyRotation writes records under key v1, adds v2, reseals,
// and checks that every value is now under v2 alone, that nothing else of
// a record changed, that a second run finds nothing to do, and that an
// engine holding only v2 serves the accounts and API keys as before.
func TestResealAfterKeyRotation(t *testing.T) {
	f := newResealFixture(t)
	h := f.h
	before := sealedRecords(t, h.store)
	if len(before) != 5 {
		t.Fatalf("%d sealed records, want 2 accounts, 2 API keys and the link key: %v", len(before), before)
	}

	if v, err := persistence.AppendKeyVersion(f.keyFile); err != nil || v != 2 {
		t.Fatalf("AppendKeyVersion = %d, %v", v, err)
	}
	both, err := persistence.LoadKeyring(persistence.KeyringOptions{File: f.keyFile, Logger: slog.New(slog.DiscardHandler)})
	h.ok(err)
	n, err := Reseal(h.ctx(), h.store, both)
	if err != nil || n != len(before) {
		t.Fatalf("Reseal = %d, %v; want %d records rewritten", n, err, len(before))
	}

	v2 := onlyVersion(t, f.keyFile, 2)
	after := sealedRecords(t, h.store)
	for key, old := range before {
		now, has := after[key]
		if !has {
			t.Fatalf("%s is gone", key)
		}
		if now.Revision <= old.Revision {
			t.Errorf("%s: revision %d after %d: not rewritten", key, now.Revision, old.Revision)
		}
		oldVals, oldRest := openRecord(t, old)
		newVals, newRest := openRecord(t, now)
		if !reflect.DeepEqual(oldRest, newRest) {
			t.Errorf("%s: fields besides the sealed values changed:\n%+v\n%+v", key, oldRest, newRest)
		}
		if len(oldVals) != len(newVals) {
			t.Fatalf("%s: %d sealed values, then %d", key, len(oldVals), len(newVals))
		}
		for i := range oldVals {
			if both.NeedsReseal(newVals[i].sealed) {
				t.Errorf("%s (%s): not under the current version", key, newVals[i].aad)
			}
			was, err := both.Open(oldVals[i].sealed, oldVals[i].aad)
			h.ok(err)
			is, err := v2.Open(newVals[i].sealed, newVals[i].aad)
			if err != nil {
				t.Fatalf("%s (%s) does not open with v2 alone: %v", key, newVals[i].aad, err)
			}
			if !bytes.Equal(was, is) {
				t.Errorf("%s (%s): the plaintext changed", key, newVals[i].aad)
			}
		}
	}

	if n, err := Reseal(h.ctx(), h.store, both); err != nil || n != 0 {
		t.Errorf("second Reseal = %d, %v; want nothing to do", n, err)
	}

	// An engine that holds only v2 works on the resealed store.
	h.keys = v2
	h.start()
	tenant, secret, err := h.eng.LookupAPIKey(h.ctx(), f.liveKey.ID)
	if err != nil || tenant != h.tenant || string(secret) != f.liveKey.Secret {
		t.Errorf("LookupAPIKey = %q, secret equal %v, %v", tenant, string(secret) == f.liveKey.Secret, err)
	}
	if _, _, err := h.eng.LookupAPIKey(h.ctx(), f.revoked.ID); !errors.Is(err, domain.ErrAPIKeyNotFound) {
		t.Errorf("revoked key: %v", err)
	}
	r, err := h.session(f.acct, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if r.State != RequestReady || r.Session.Token != f.tokens[domain.ChannelIssue] {
		t.Fatalf("session after reseal: %+v, want the stored token", r)
	}
	// A fresh login proves the resealed password.
	h.ok(h.eng.ReportInvalid(h.ctx(), h.tenant, f.acct, domain.ChannelIssue, r.Session.Token))
	h.sim.ResetCalls()
	r, err = h.session(f.acct, domain.ChannelIssue, ActionLogin)
	h.ok(err)
	if r.State != RequestReady || h.sim.Calls(taxbureau.MethodLogin) != 1 {
		t.Fatalf("login after reseal: %+v, bureau logins %d", r, h.sim.Calls(taxbureau.MethodLogin))
	}
	if r.Session.Token == f.tokens[domain.ChannelIssue] {
		t.Error("the login returned the old token")
	}
}

// TestResealRefusesValuesItCannotOpen: a value under a version the
// keyring lacks fails the call, naming the record and no secret, and
// nothing is rewritten.
func TestResealRefusesValuesItCannotOpen(t *testing.T) {
	f := newResealFixture(t)
	h := f.h
	if _, err := persistence.AppendKeyVersion(f.keyFile); err != nil {
		t.Fatal(err)
	}
	before := sealedRecords(t, h.store)
	n, err := Reseal(h.ctx(), h.store, onlyVersion(t, f.keyFile, 2))
	if n != 0 || !errors.Is(err, persistence.ErrUnknownKeyVersion) || !strings.Contains(err.Error(), "account/"+h.tenant+"/") {
		t.Fatalf("Reseal without v1 = %d, %v; want ErrUnknownKeyVersion naming an account record", n, err)
	}
	if strings.Contains(err.Error(), pwA) || strings.Contains(err.Error(), f.liveKey.Secret) {
		t.Errorf("the error shows a secret: %v", err)
	}
	if after := sealedRecords(t, h.store); !reflect.DeepEqual(before, after) {
		t.Error("a failed Reseal rewrote records")
	}

	// A sealed value moved to another record does not open there either.
	var rec apiKeyRecord
	h.ok(json.Unmarshal(before[keyAPIKey(f.revoked.ID)].Value, &rec))
	rec.Secret = before[keyLinkKey].Value
	_, err = persistence.Put(h.ctx(), h.store, keyAPIKey(f.revoked.ID), jsonMarshal(rec), before[keyAPIKey(f.revoked.ID)].Revision)
	h.ok(err)
	both, err := persistence.LoadKeyring(persistence.KeyringOptions{File: f.keyFile, Logger: slog.New(slog.DiscardHandler)})
	h.ok(err)
	if _, err := Reseal(h.ctx(), h.store, both); !errors.Is(err, persistence.ErrSealedCorrupt) || !strings.Contains(err.Error(), keyAPIKey(f.revoked.ID)) {
		t.Fatalf("Reseal of a moved value = %v, want ErrSealedCorrupt naming %s", err, keyAPIKey(f.revoked.ID))
	}
}

// racingStore writes each record once more, itself, just before Reseal's
// first write of it: Reseal's revision check fails and it must read the
// record again.
type racingStore struct {
	persistence.Store
	mu    sync.Mutex
	raced map[string]bool
}

func (s *racingStore) Commit(ctx context.Context, ops ...persistence.Op) ([]uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		if s.raced[op.Key] {
			continue
		}
		s.raced[op.Key] = true
		r, err := s.Store.Get(ctx, op.Key)
		if err != nil {
			return nil, err
		}
		if _, err := persistence.Put(ctx, s.Store, op.Key, r.Value, r.Revision); err != nil {
			return nil, err
		}
	}
	return s.Store.Commit(ctx, ops...)
}

func TestResealRetriesAfterAConcurrentWrite(t *testing.T) {
	f := newResealFixture(t)
	h := f.h
	if _, err := persistence.AppendKeyVersion(f.keyFile); err != nil {
		t.Fatal(err)
	}
	both, err := persistence.LoadKeyring(persistence.KeyringOptions{File: f.keyFile, Logger: slog.New(slog.DiscardHandler)})
	h.ok(err)
	rs := &racingStore{Store: h.store, raced: map[string]bool{}}
	n, err := Reseal(h.ctx(), rs, both)
	if err != nil || n != 5 {
		t.Fatalf("Reseal = %d, %v; want 5", n, err)
	}
	if len(rs.raced) != 5 {
		t.Fatalf("raced %d records, want 5", len(rs.raced))
	}
	for key, r := range sealedRecords(t, h.store) {
		vals, _ := openRecord(t, r)
		for _, v := range vals {
			if both.NeedsReseal(v.sealed) {
				t.Errorf("%s (%s) is not under v2", key, v.aad)
			}
		}
	}
}

// TestResealManyRecords reseals more records than one batch holds.
func TestResealManyRecords(t *testing.T) {
	f := newResealFixture(t)
	h := f.h
	const extra = 2*resealBatch + 44
	ops := make([]persistence.Op, 0, extra)
	for i := 0; i < extra; i++ {
		id := fmt.Sprintf("bulk-%03d", i)
		sealed, err := h.keys.Seal([]byte(fmt.Sprintf("secret-%03d-0123456789abcdef0123456789", i)), keyAPIKey(id))
		h.ok(err)
		ops = append(ops, persistence.Op{Key: keyAPIKey(id), Value: jsonMarshal(apiKeyRecord{ID: id, Tenant: h.tenant, Secret: sealed, CreatedAt: t0})})
	}
	_, err := h.store.Commit(h.ctx(), ops...)
	h.ok(err)
	if _, err := persistence.AppendKeyVersion(f.keyFile); err != nil {
		t.Fatal(err)
	}
	both, err := persistence.LoadKeyring(persistence.KeyringOptions{File: f.keyFile, Logger: slog.New(slog.DiscardHandler)})
	h.ok(err)
	if n, err := Reseal(h.ctx(), h.store, both); err != nil || n != extra+5 {
		t.Fatalf("Reseal = %d, %v; want %d", n, err, extra+5)
	}
	v2 := onlyVersion(t, f.keyFile, 2)
	for key, r := range sealedRecords(t, h.store) {
		vals, _ := openRecord(t, r)
		for _, v := range vals {
			if _, err := v2.Open(v.sealed, v.aad); err != nil {
				t.Fatalf("%s (%s) does not open with v2 alone: %v", key, v.aad, err)
			}
		}
	}
}
