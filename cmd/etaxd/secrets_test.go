package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

// TestNoSecretInStoreOrLogs seeds the demo with every log level on, asks
// for sessions, then greps the bbolt file and the log for every plaintext
// secret the run handled: the demo passwords, the bureau's session tokens,
// the activation code, the API key secret and the master key itself.
func TestNoSecretInStoreOrLogs(t *testing.T) {
	dir := t.TempDir()
	logs := &syncBuffer{}
	st := openTestStack(t, dir, logs)
	ctx := seedCtx(t)
	df, err := seedDemo(ctx, st, filepath.Join(dir, "demo.json"))
	if err != nil {
		t.Fatal(err)
	}

	// Sessions through the engine, so tokens travel through the actors
	// and their replies as a client would see them.
	var tokens []string
	for _, e := range df.Enterprises {
		for _, ch := range []domain.Channel{domain.ChannelIssue, domain.ChannelReceive} {
			r, err := st.engine.RequestSession(ctx, df.TenantID, actors.SessionRequest{TaxNo: e.TaxNo, Business: ch, Action: actors.ActionLogin, Origin: "key:" + df.APIKeyID})
			if err != nil {
				t.Fatalf("session %s %s: %v", e.TaxNo, ch, err)
			}
			if r.Session != nil {
				tokens = append(tokens, r.Session.Token)
			}
		}
	}
	for _, s := range st.sim.Sessions() {
		tokens = append(tokens, s.Token)
	}
	if len(tokens) == 0 {
		t.Fatal("no session token to look for")
	}
	closeStack(t, st)

	secrets := map[string]string{
		"activation code": df.ActivationCode,
		"API key secret":  df.APIKeySecret,
	}
	for _, p := range df.Persons {
		secrets["password of "+p.Username] = p.Password
	}
	for i, tok := range tokens {
		secrets[fmt.Sprintf("session token %d", i)] = tok
	}
	keyFile, err := os.ReadFile(filepath.Join(dir, "master.keys"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(keyFile), "\n") {
		if _, key, found := strings.Cut(line, ":"); found && !strings.HasPrefix(line, "#") {
			secrets["master key "+line[:2]] = key
		}
	}

	db, err := os.ReadFile(filepath.Join(dir, "etaxd.db"))
	if err != nil {
		t.Fatal(err)
	}
	log := logs.Bytes()
	if len(log) == 0 || !bytes.Contains(log, []byte(`"level":"DEBUG"`)) && !bytes.Contains(log, []byte(`"level":"INFO"`)) {
		t.Fatalf("the log is empty or not JSON: %q", log)
	}
	for what, s := range secrets {
		if len(s) < 6 {
			t.Fatalf("%s %q is too short to grep for", what, s)
		}
		if bytes.Contains(db, []byte(s)) {
			t.Errorf("the bbolt file holds the %s in clear", what)
		}
		if bytes.Contains(log, []byte(s)) {
			t.Errorf("the log holds the %s", what)
		}
	}
}
