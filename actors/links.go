// links.go: signed browser login links (F16) and the keys they are signed with.

package actors

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// LoginLink is what a signed browser login link (F16) carries: which
// account's prompt it answers and until when. The H5 login page verifies it
// with Engine.VerifyLoginLink and marks it used (single use).
type LoginLink struct {
	Tenant  string    `json:"t"`
	Account string    `json:"a"`
	Prompt  string    `json:"p"`
	Expires time.Time `json:"e"`
}

// ErrBadLink is returned for a link that is malformed, forged or expired.
var ErrBadLink = errors.New("actors: invalid or expired login link")

const (
	keyLinkKey   = persistence.PrefixMeta + "link-key"
	keyCookieKey = persistence.PrefixMeta + "h5-cookie-key"
)

// loadLinkKey reads the link-signing key, creating it (sealed) on first
// start.
func loadLinkKey(d *deps) ([]byte, error) { return loadKey(d, keyLinkKey) }

// loadKey reads a random 32-byte key stored sealed under name, creating it
// on first use; every node of a store gets the same key.
func loadKey(d *deps, name string) ([]byte, error) {
	ctx, cancel := d.storeCtx()
	defer cancel()
	r, err := d.store.Get(ctx, name)
	if err == nil {
		return d.seal.Open(r.Value, name)
	}
	if !errors.Is(err, persistence.ErrNotFound) {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	sealed, err := d.seal.Seal(key, name)
	if err != nil {
		return nil, err
	}
	if _, err := persistence.Put(ctx, d.store, name, sealed, 0); err != nil {
		if errors.Is(err, persistence.ErrRevisionMismatch) {
			return loadKey(d, name) // another process created it first
		}
		return nil, err
	}
	return key, nil
}

// CookieKey returns the key that signs the H5 pages' session cookies,
// created (sealed in the store) on first use.
func (e *Engine) CookieKey() ([]byte, error) { return loadKey(e.d, keyCookieKey) }

func signLink(key []byte, l LoginLink) string {
	body, _ := json.Marshal(l)
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return base64.RawURLEncoding.EncodeToString(body) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// loginURL is the browser link for a prompt when nobody is bound (F16).
func (d *deps) loginURL(l LoginLink) string {
	if d.linkKey == nil {
		return ""
	}
	return strings.TrimRight(d.cfg.PublicURL, "/") + "/h5/login?link=" + url.QueryEscape(signLink(d.linkKey, l))
}

// VerifyLoginLink checks a link token's signature and expiry. Single use is
// the caller's to enforce (it knows when the login completed).
func (e *Engine) VerifyLoginLink(token string) (LoginLink, error) {
	var l LoginLink
	body64, sig64, found := strings.Cut(token, ".")
	if !found || e.d.linkKey == nil {
		return l, ErrBadLink
	}
	body, err1 := base64.RawURLEncoding.DecodeString(body64)
	sig, err2 := base64.RawURLEncoding.DecodeString(sig64)
	if err1 != nil || err2 != nil {
		return l, ErrBadLink
	}
	mac := hmac.New(sha256.New, e.d.linkKey)
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return l, ErrBadLink
	}
	if err := json.Unmarshal(body, &l); err != nil || !e.d.clk.Now().Before(l.Expires) {
		return LoginLink{}, ErrBadLink
	}
	return l, nil
}

var _ = domain.ErrInternal
