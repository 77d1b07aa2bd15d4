package domain

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"strings"
	"testing"
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
