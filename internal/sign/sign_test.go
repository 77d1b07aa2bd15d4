package sign

import (
	"strconv"
	"testing"
	"time"
)

func TestSignatureRoundTrip(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	h := Headers("k1", secret, "POST", "/api/v1/sessions", []byte(`{"a":1}`), now)
	if !Valid(secret, h[HeaderSignature], "POST", "/api/v1/sessions", h[HeaderTimestamp], h[HeaderNonce], []byte(`{"a":1}`)) {
		t.Fatal("own signature refused")
	}
	for name, mut := range map[string]func() bool{
		"body": func() bool {
			return Valid(secret, h[HeaderSignature], "POST", "/api/v1/sessions", h[HeaderTimestamp], h[HeaderNonce], []byte(`{"a":2}`))
		},
		"path": func() bool {
			return Valid(secret, h[HeaderSignature], "POST", "/api/v1/sessions?x=1", h[HeaderTimestamp], h[HeaderNonce], []byte(`{"a":1}`))
		},
		"method": func() bool {
			return Valid(secret, h[HeaderSignature], "GET", "/api/v1/sessions", h[HeaderTimestamp], h[HeaderNonce], []byte(`{"a":1}`))
		},
		"secret": func() bool {
			return Valid([]byte("other"), h[HeaderSignature], "POST", "/api/v1/sessions", h[HeaderTimestamp], h[HeaderNonce], []byte(`{"a":1}`))
		},
		"nonce": func() bool {
			return Valid(secret, h[HeaderSignature], "POST", "/api/v1/sessions", h[HeaderTimestamp], "n", []byte(`{"a":1}`))
		},
	} {
		if mut() {
			t.Errorf("a changed %s still validates", name)
		}
	}
}

func TestFresh(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		ts   string
		want bool
	}{
		{strconv.FormatInt(now.Unix(), 10), true},
		{strconv.FormatInt(now.Unix()-300, 10), true},
		{strconv.FormatInt(now.Unix()-301, 10), false},
		{strconv.FormatInt(now.Unix()+301, 10), false},
		{"", false},
		{"12ab", false},
	} {
		if got := Fresh(tc.ts, now); got != tc.want {
			t.Errorf("Fresh(%q) = %v", tc.ts, got)
		}
	}
}
