package jsonenc

import (
	"encoding/json"
	"testing"
	"time"
)

func TestAppendStringIsEncodingJSONs(t *testing.T) {
	for _, s := range []string{"", "acc_01", "a\"b", `back\slash`, "<tag>&", "中文", "\x00\x1f", "\u2028", "\xff"} {
		want, _ := json.Marshal(s)
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("%q: %s, want %s", s, got[1:], want)
		}
	}
}

func TestAppendTimeIsEncodingJSONs(t *testing.T) {
	for _, tm := range []time.Time{{}, time.Date(2026, 12, 8, 1, 2, 3, 456789, time.FixedZone("", 8*3600)),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("X", -90*60))} {
		want, _ := json.Marshal(tm)
		if got, err := AppendTime([]byte("x"), tm); err != nil || string(got) != "x"+string(want) {
			t.Errorf("%v: %s, %v; want %s", tm, got, err, want)
		}
	}
	far := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := json.Marshal(far); err == nil {
		t.Fatal("encoding/json took year 10000")
	}
	if got, err := AppendTime([]byte("x"), far); err == nil || string(got) != "x" {
		t.Errorf("year 10000: %q, %v; want the error and the input as given", got, err)
	}
}
