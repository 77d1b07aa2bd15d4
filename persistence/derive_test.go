package persistence

import (
	"bytes"
	"errors"
	"testing"
)

func TestDeriveAgreesAcrossProcessesAndSurvivesRotation(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, KeyLen)
	k2 := bytes.Repeat([]byte{2}, KeyLen)
	a, err := NewKeyring(map[uint32][]byte{1: k1})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKeyring(map[uint32][]byte{1: k1}) // another node, the same keys
	other, _ := NewKeyring(map[uint32][]byte{1: k2})
	rotated, _ := NewKeyring(map[uint32][]byte{1: k1, 2: k2})

	route, err := a.Derive("nats-route")
	if err != nil {
		t.Fatal(err)
	}
	if len(route) != 64 {
		t.Fatalf("secret %d hex digits, want 64", len(route))
	}
	for _, tt := range []struct {
		name string
		k    *Keyring
		same bool
	}{
		{"same keys", b, true},
		{"a key version added", rotated, true},
		{"other keys", other, false},
	} {
		got, err := tt.k.Derive("nats-route")
		if err != nil {
			t.Fatal(err)
		}
		if (got == route) != tt.same {
			t.Errorf("%s: equal %v, want %v", tt.name, got == route, tt.same)
		}
	}
	if s, _ := a.Derive("cookie"); s == route {
		t.Fatal("two purposes derive the same secret")
	}
	var empty Keyring
	if _, err := empty.Derive("x"); !errors.Is(err, ErrNoKeys) {
		t.Fatalf("empty keyring: %v", err)
	}
}
