package h5

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// cookieName is the H5 session cookie.
const cookieName = "etaxd_h5"

// sessionTTL is how long a sign-in lasts.
const sessionTTL = 12 * time.Hour

// sign returns the cookie value for openid valid until exp:
// base64url(openid) "." unix-expiry "." base64url(HMAC-SHA256(key, openid \x00 expiry)).
func (h *H5) sign(openid string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(openid)) + "." + e + "." +
		base64.RawURLEncoding.EncodeToString(h.mac("session", openid, e))
}

// verify returns the openid of a valid, unexpired cookie value.
func (h *H5) verify(v string, now time.Time) (string, bool) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || len(raw) == 0 {
		return "", false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", false
	}
	openid := string(raw)
	if !hmac.Equal(sig, h.mac("session", openid, parts[1])) {
		return "", false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return "", false
	}
	return openid, true
}

// csrfHeader carries the CSRF token of a request sent by a script rather
// than a form.
const csrfHeader = "X-CSRF-Token"

// csrf derives the form token of a session cookie value: only a page rendered
// for that cookie carries it.
func (h *H5) csrf(cookie string) string {
	return hex.EncodeToString(h.mac("csrf", cookie)[:16])
}

// csrfToken is the token a request carries: the form body's _csrf field
// (urlencoded or multipart), else the X-CSRF-Token header. The query string
// never counts: a token there ends up in logs, history and Referer headers,
// and Fiber's FormValue would let it win over the body's.
func csrfToken(c *fiber.Ctx) string {
	if v := c.Request().PostArgs().Peek("_csrf"); len(v) > 0 {
		return string(v)
	}
	if mf, err := c.MultipartForm(); err == nil {
		if v := mf.Value["_csrf"]; len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return c.Get(csrfHeader)
}

func (h *H5) csrfOK(cookie, token string) bool {
	return token != "" && hmac.Equal([]byte(h.csrf(cookie)), []byte(token))
}

func (h *H5) mac(purpose string, parts ...string) []byte {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(purpose))
	for _, p := range parts {
		m.Write([]byte{0})
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}
