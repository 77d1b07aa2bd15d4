package domain

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSecretCrossesGobButNotJSON(t *testing.T) {
	type frame struct {
		Password Secret
		Empty    Secret
	}
	in := frame{Password: NewSecret("s3cret-pass")}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(in); err != nil {
		t.Fatal(err)
	}
	var out frame
	if err := gob.NewDecoder(&buf).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if !out.Password.Equal(in.Password) || !out.Empty.IsZero() {
		t.Fatalf("gob round trip lost the secret: %q / %q", out.Password.Reveal(), out.Empty.Reveal())
	}
	j, _ := json.Marshal(in)
	if strings.Contains(string(j), "s3cret") {
		t.Fatalf("JSON shows the secret: %s", j)
	}
}

func TestErrorCrossesGobWithoutItsCause(t *testing.T) {
	in := ErrSMSBudget.RetryIn(90 * time.Second).Wrap(errors.New("bolt: disk detail"))
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(struct{ E *Error }{in}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "disk detail") {
		t.Fatal("the cause crossed")
	}
	var out struct{ E *Error }
	if err := gob.NewDecoder(&buf).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(out.E, ErrSMSBudget) || out.E.RetryAfter != 90*time.Second || out.E.Kind != ErrSMSBudget.Kind ||
		out.E.Message != ErrSMSBudget.Message || out.E.Cause != nil {
		t.Fatalf("crossed as %#v", out.E)
	}
}
