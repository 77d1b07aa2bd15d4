package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etaxd/etaxd/persistence"
)

// TestDumpThenRestore is the way back from a cluster to a single node, on
// a single node's engine: etaxd cluster dump writes the store of the node
// at --server, etaxd store restore makes a new store of it, and an engine
// on that store has the tenants, their API keys (secrets still opening)
// and their audit logs. A restore with other master keys, into a data
// directory that has a store, or of a cut-short dump is refused and
// leaves no store behind.
func TestDumpThenRestore(t *testing.T) {
	clearEnv(t)
	url, st := startOpsServer(t)
	t.Setenv("ETAXD_OPERATOR_TOKEN", testOperatorToken)
	s := "--server=" + url
	ctx := context.Background()
	cli(t, 0, "tenant", "create", s, "--name", "某某集团", "--id", "acme")
	out, _ := cli(t, 0, "apikey", "create", s, "--tenant", "acme")
	secret := secretLine.FindStringSubmatch(out)
	if secret == nil {
		t.Fatalf("apikey create printed:\n%s", out)
	}
	before, events := storeSnapshot(t, st.store, "acme")

	work := t.TempDir()
	dump := filepath.Join(work, "cluster.jsonl")
	out, _ = cli(t, 0, "cluster", "dump", s, "-o", dump)
	if !strings.Contains(out, "wrote the store's dump") {
		t.Fatalf("cluster dump printed:\n%s", out)
	}
	if fi, err := os.Stat(dump); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the dump file: %v %v", fi, err)
	}
	raw, _ := os.ReadFile(dump)
	if strings.Contains(string(raw), secret[1]) {
		t.Fatal("the dump holds an API key secret in the clear")
	}

	keyFile := filepath.Join(st.opts.DataDir, "master.keys")
	single := filepath.Join(work, "single")
	out, _ = cli(t, 0, "store", "restore", dump, "--data", single, "--key-file", keyFile)
	if !strings.Contains(out, "restored ") {
		t.Fatalf("store restore printed:\n%s", out)
	}
	// The same again: the data directory has a store now.
	_, errOut := cli(t, 1, "store", "restore", dump, "--data", single, "--key-file", keyFile)
	if !strings.Contains(errOut, "a store exists") {
		t.Fatalf("a second restore said: %s", errOut)
	}
	// Other master keys: refused, no store left.
	other := filepath.Join(work, "other")
	cli(t, 0, "keys", "init", "--data", other)
	_, errOut = cli(t, 1, "store", "restore", dump, "--data", other)
	if !strings.Contains(errOut, "not the cluster's") {
		t.Fatalf("a restore with other keys said: %s", errOut)
	}
	if _, err := os.Stat(filepath.Join(other, "etaxd.db")); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left a store: %v", err)
	}
	// A dump cut short (its end line gone): refused, no store left.
	cut := filepath.Join(work, "cut.jsonl")
	lines := strings.SplitAfter(string(raw), "\n")
	_ = os.WriteFile(cut, []byte(strings.Join(lines[:len(lines)-2], "")), 0o600)
	empty := filepath.Join(work, "empty")
	_, errOut = cli(t, 1, "store", "restore", cut, "--data", empty, "--key-file", keyFile)
	if !strings.Contains(errOut, "not a complete etaxd dump") {
		t.Fatalf("a restore of a cut-short dump said: %s", errOut)
	}
	if _, err := os.Stat(filepath.Join(empty, "etaxd.db")); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left a store: %v", err)
	}

	// A single node on the restored store: the same keys, audit events and
	// tenant; the API key's sealed secret opens there.
	key, _ := os.ReadFile(keyFile)
	if err := os.WriteFile(filepath.Join(single, "master.keys"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	restored := openTestStack(t, single, nil)
	after, afterEvents := storeSnapshot(t, restored.store, "acme")
	for k := range before {
		if _, ok := after[k]; !ok && !strings.HasPrefix(k, persistence.PrefixOps) {
			t.Errorf("%s was not restored", k)
		}
	}
	if afterEvents != events {
		t.Errorf("%d audit events restored, %d dumped", afterEvents, events)
	}
	info, err := restored.engine.Tenant(ctx, "acme")
	if err != nil || info.Name != "某某集团" {
		t.Fatalf("the restored tenant: %+v %v", info, err)
	}
	keys, err := restored.engine.APIKeys(ctx, "acme")
	if err != nil || len(keys) != 1 {
		t.Fatalf("the restored API keys: %+v %v", keys, err)
	}
	tenant, sec, err := restored.engine.LookupAPIKey(ctx, keys[0].ID)
	if err != nil || tenant != "acme" || string(sec) != secret[1] {
		t.Fatalf("the restored API key's secret does not open: tenant %q, %v", tenant, err)
	}
}

// TestSingleNodeRefusesOtherKeys: a single node started on a store with
// master keys that did not seal it stops at once, naming the cause; with
// its own keys it starts again.
func TestSingleNodeRefusesOtherKeys(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	closeStack(t, openTestStack(t, dir, nil)) // the first start writes the canary
	keyFile := filepath.Join(dir, "master.keys")
	own, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	cli(t, 0, "keys", "init", "--data", dir) // other keys where the store's were
	_, err = openStack(testOptions(dir), slog.New(slog.DiscardHandler))
	if !errors.Is(err, persistence.ErrKeyMismatch) || !strings.Contains(err.Error(), "not the ones this store was sealed with") {
		t.Fatalf("start with other keys: %v", err)
	}
	if err := os.WriteFile(keyFile, own, 0o600); err != nil {
		t.Fatal(err)
	}
	closeStack(t, openTestStack(t, dir, nil))
}

// TestClusterDumpRefusesACutShortDump: a dump whose stream stops before
// its end line (the node failed midway) leaves no file.
func TestClusterDumpRefusesACutShortDump(t *testing.T) {
	clearEnv(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"etaxd_dump":1,"time":"2026-12-04T00:00:00Z"}` + "\n" + `{"key":"tenant/t1","value":"e30="}` + "\n"))
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "cut.dump")
	_, errOut := cli(t, 1, "cluster", "dump", "--server", srv.URL, "--token", testOperatorToken, "-o", out)
	if !strings.Contains(errOut, "stopped before its end") {
		t.Fatalf("cluster dump said: %s", errOut)
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 0 {
		t.Fatalf("a cut-short dump left %v", entries)
	}
}
