package jsonenc

import (
	"encoding/json"
	"testing"
)

func TestAppendStringIsEncodingJSONs(t *testing.T) {
	for _, s := range []string{"", "acc_01", "a\"b", `back\slash`, "<tag>&", "中文", "\x00\x1f", "\u2028", "\xff"} {
		want, _ := json.Marshal(s)
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("%q: %s, want %s", s, got[1:], want)
		}
	}
}
