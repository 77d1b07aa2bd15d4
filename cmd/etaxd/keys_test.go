package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// countSealed counts the records that hold sealed values: accounts, API
// keys and the link key.
func countSealed(t *testing.T, s persistence.Store) int {
	t.Helper()
	revs, _ := storeSnapshot(t, s, demoTenantID)
	n := 0
	for k := range revs {
		if strings.HasPrefix(k, "account/") || strings.HasPrefix(k, "apikey/") || k == "meta/link-key" {
			n++
		}
	}
	return n
}

var resealedLine = regexp.MustCompile(`re-encrypted (\d+) records? under master key v(\d+)`)

// TestKeysRotate rotates the master key of a demo data directory offline:
// v2 is added to the key file, every sealed record is rewritten under it,
// and etaxd started again serves the demo's accounts and API key.
func TestKeysRotate(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := openTestStack(t, dir, nil)
	df, err := seedDemo(ctx, st, filepath.Join(dir, "demo.json"))
	if err != nil {
		t.Fatal(err)
	}
	sealed := countSealed(t, st.store)
	keyFile := filepath.Join(dir, "master.keys")

	// While etaxd runs on the directory, the command refuses and changes
	// nothing.
	before, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	_, stderr := cli(t, 1, "keys", "rotate", "--data", dir)
	if !strings.Contains(stderr, "in use by a running etaxd: stop it first") {
		t.Errorf("stderr: %s", stderr)
	}
	if after, _ := os.ReadFile(keyFile); !bytes.Equal(before, after) {
		t.Error("a refused rotation changed the key file")
	}
	closeStack(t, st)

	out, _ := cli(t, 0, "keys", "rotate", "--data", dir)
	m := resealedLine.FindStringSubmatch(out)
	if !strings.Contains(out, "added master key v2 to "+keyFile) || m == nil || m[1] != strconv.Itoa(sealed) || m[2] != "2" {
		t.Fatalf("keys rotate printed:\n%s\nwant v2 added and %d records re-encrypted", out, sealed)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v (%v)", fi.Mode().Perm(), err)
	}
	out, _ = cli(t, 0, "keys", "rotate", "--data", dir, "--reseal-only")
	if m := resealedLine.FindStringSubmatch(out); m == nil || m[1] != "0" || strings.Contains(out, "added") {
		t.Errorf("a second reseal printed:\n%s", out)
	}
	// Nothing needs v1 now, the store's key canary included: etaxd starts
	// with v2 alone (then v1 goes back, for the checks below).
	withV1, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var onlyV2 []string
	for _, l := range strings.Split(string(withV1), "\n") {
		if !strings.HasPrefix(l, "v1:") {
			onlyV2 = append(onlyV2, l)
		}
	}
	if err := os.WriteFile(keyFile, []byte(strings.Join(onlyV2, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := openStack(testOptions(dir), slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("start with v2 alone after the rotation: %v", err)
	} else {
		closeStack(t, st)
	}
	if err := os.WriteFile(keyFile, withV1, 0o600); err != nil {
		t.Fatal(err)
	}

	// etaxd starts again with v1 and v2, and nothing needs v1 any more.
	st = openTestStack(t, dir, nil)
	if v := st.keys.CurrentVersion(); v != 2 {
		t.Fatalf("current key version %d, want 2", v)
	}
	if n, err := actors.Reseal(ctx, st.store, st.keys); err != nil || n != 0 {
		t.Errorf("records left under v1: %d (%v)", n, err)
	}
	if tenant, secret, err := st.engine.LookupAPIKey(ctx, df.APIKeyID); err != nil || tenant != df.TenantID || string(secret) != df.APIKeySecret {
		t.Errorf("the demo API key after rotation: %q, %v", tenant, err)
	}
	if err := addDemoPersons(st.sim, df.Persons); err != nil { // the simulator lives in memory
		t.Fatal(err)
	}
	gd := df.Enterprises[1].TaxNo // 广东: no SMS step, so a login needs only the password
	r, err := st.engine.RequestSession(ctx, df.TenantID, actors.SessionRequest{TaxNo: gd, Business: domain.ChannelIssue, Action: actors.ActionLogin})
	if err != nil || r.State != actors.RequestReady {
		t.Fatalf("session after rotation: %+v, %v", r, err)
	}
	if err := st.engine.ReportInvalid(ctx, df.TenantID, r.AccountID, domain.ChannelIssue, r.Session.Token); err != nil {
		t.Fatal(err)
	}
	r2, err := st.engine.RequestSession(ctx, df.TenantID, actors.SessionRequest{TaxNo: gd, Business: domain.ChannelIssue, Action: actors.ActionLogin})
	if err != nil || r2.State != actors.RequestReady || r2.Session.Token == r.Session.Token {
		t.Fatalf("a fresh login with the resealed password: %+v, %v", r2, err)
	}
	closeStack(t, st)
}

func TestKeysRotateRefusals(t *testing.T) {
	clearEnv(t)
	t.Run("no store", func(t *testing.T) {
		_, stderr := cli(t, 1, "keys", "rotate", "--data", t.TempDir())
		if !strings.Contains(stderr, "no store at") {
			t.Errorf("stderr: %s", stderr)
		}
	})
	t.Run("keys only in the environment", func(t *testing.T) {
		t.Setenv("ETAXD_MASTER_KEYS", "v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
		dir := t.TempDir()
		o := testOptions(dir)
		o.Dev = false
		st, err := openStack(o, newLogger(o, &syncBuffer{}))
		if err != nil {
			t.Fatal(err)
		}
		closeStack(t, st)
		_, stderr := cli(t, 1, "keys", "rotate", "--data", dir, "--dev=false")
		if !strings.Contains(stderr, "come from ETAXD_MASTER_KEYS only") || !strings.Contains(stderr, "add a v2 entry there yourself") {
			t.Errorf("stderr: %s", stderr)
		}
		if _, err := os.Stat(filepath.Join(dir, "master.keys")); !os.IsNotExist(err) {
			t.Errorf("a key file was created (%v)", err)
		}
		// The operator adds v2 to the environment; --reseal-only does
		// the rest.
		t.Setenv("ETAXD_MASTER_KEYS", "v1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=;v2:HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=")
		out, _ := cli(t, 0, "keys", "rotate", "--data", dir, "--dev=false", "--reseal-only")
		if m := resealedLine.FindStringSubmatch(out); m == nil || m[1] != "1" || m[2] != "2" {
			t.Errorf("printed %q, want the link key re-encrypted under v2", out)
		}
	})
	t.Run("bad configuration", func(t *testing.T) {
		_, stderr := cli(t, 1, "keys", "rotate", "--data", t.TempDir(), "--log-level", "loud")
		if !strings.Contains(stderr, "invalid configuration") {
			t.Errorf("stderr: %s", stderr)
		}
	})
	t.Run("stray argument", func(t *testing.T) {
		cli(t, 2, "keys", "rotate", "now")
	})
	t.Run("unknown command", func(t *testing.T) {
		cli(t, 2, "keys", "drop")
	})
}
