package jsonenc

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// flatProbe has string fields named as FlatStrings' callers name theirs.
type flatProbe struct {
	A  string `json:"a"`
	BC string `json:"b_c"`
}

// readFlat reads b into a flatProbe with FlatStrings, giving up on other
// keys as a caller does.
func readFlat(b []byte) (flatProbe, bool) {
	var p flatProbe
	ok := FlatStrings(b, func(k, v []byte) bool {
		switch string(k) {
		case "a":
			p.A = string(v)
		case "b_c":
			p.BC = string(v)
		default:
			return false
		}
		return true
	})
	return p, ok
}

// readStrict is encoding/json's reading of the same: one value, unknown
// fields refused, nothing but whitespace after it.
func readStrict(b []byte) (flatProbe, bool) {
	var p flatProbe
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return p, false
	}
	return p, true
}

func TestFlatStrings(t *testing.T) {
	for _, c := range []struct {
		in   string
		want flatProbe
		ok   bool
	}{
		{`{}`, flatProbe{}, true},
		{" \t\r\n{ } \n", flatProbe{}, true},
		{`{"a":"x","b_c":"y"}`, flatProbe{"x", "y"}, true},
		{`{ "a" : "中文" , "b_c" : "" }`, flatProbe{"中文", ""}, true},
		{`{"a":"1","a":"2"}`, flatProbe{A: "2"}, true},
		{`{"a":"x",}`, flatProbe{}, false},
		{`{"a":"x"} {}`, flatProbe{}, false},
		{`{"a":"x\"y"}`, flatProbe{}, false},
		{`{"a":"\u0041"}`, flatProbe{}, false},
		{`{"a":1}`, flatProbe{}, false},
		{`{"a":null}`, flatProbe{}, false},
		{`{"A":"x"}`, flatProbe{}, false},
		{`{"z":"x"}`, flatProbe{}, false},
		{"{\"a\":\"\xff\"}", flatProbe{}, false},
		{"{\"a\":\"x\ty\"}", flatProbe{}, false},
		{`{"a":"x"`, flatProbe{}, false},
		{`{"a"`, flatProbe{}, false},
		{`[]`, flatProbe{}, false},
		{``, flatProbe{}, false},
		{"\v{}", flatProbe{}, false},
	} {
		got, ok := readFlat([]byte(c.in))
		if ok != c.ok || ok && got != c.want {
			t.Errorf("%q: %+v %v, want %+v %v", c.in, got, ok, c.want, c.ok)
		}
		if ok {
			if strict, sok := readStrict([]byte(c.in)); !sok || strict != got {
				t.Errorf("%q: encoding/json reads %+v (%v), FlatStrings %+v", c.in, strict, sok, got)
			}
		}
	}
}

// FuzzFlatStrings: whatever FlatStrings takes, encoding/json takes too and
// reads the same.
func FuzzFlatStrings(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":"x","b_c":"y"}`, `{"a":"中文"}`, `{"a":"1","a":"2"}`, `{"a":"x\"y"}`, " {\"b_c\" :\"\" } "} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := readFlat(b)
		if !ok {
			return
		}
		want, wok := readStrict(b)
		if !wok || want != got {
			t.Fatalf("%q: FlatStrings read %+v, encoding/json %+v (%v)", b, got, want, wok)
		}
	})
}
