package h5

import (
	"crypto/hmac"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
)

// The flash: a POST that changed something redirects (post/redirect/get) and
// leaves its success text in a signed, short-lived cookie; the next page a
// GET renders shows it once and clears the cookie. A reload, or the back
// button, shows nothing again, which a ?ok= in the URL could not promise.

// flashCookie carries the notice of the next page.
const flashCookie = "etaxd_h5_flash"

// flashTTL is how long a flash waits for its page: the redirect is followed
// at once, so a minute is ample, and a stale one is never shown later.
const flashTTL = time.Minute

// maxFlash bounds the notice text a flash carries (bytes, before encoding).
const maxFlash = 512

// signFlash returns the cookie value of text for openid until exp:
// base64url(text) "." unix-expiry "." base64url(MAC). The MAC binds the text
// to the user it was set for, so a flash never shows on another's page.
func (h *H5) signFlash(openid, text string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(text)) + "." + e + "." +
		base64.RawURLEncoding.EncodeToString(h.mac("flash", openid, text, e))
}

// verifyFlash returns the text of a valid, unexpired flash of openid.
func (h *H5) verifyFlash(v, openid string, now time.Time) (string, bool) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || len(raw) == 0 || len(raw) > maxFlash {
		return "", false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, h.mac("flash", openid, string(raw), parts[1])) {
		return "", false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return "", false
	}
	return string(raw), true
}

// seeOther redirects to target after a change, with notice as the flash of
// the page it lands on. target may end in a fragment (#a-<id>) that brings
// the changed card into view.
func (h *H5) seeOther(c *fiber.Ctx, target, notice string) error {
	h.setFlash(c, notice)
	return c.Redirect(target, fiber.StatusSeeOther)
}

// setFlash makes notice the flash of the next page the user loads: after a
// redirect (seeOther), or where a page's script navigates on its own (the
// QR pages, whose poll answers "confirmed" with it).
func (h *H5) setFlash(c *fiber.Ctx, notice string) {
	if notice == "" || len(notice) > maxFlash {
		return
	}
	exp := h.now().Add(flashTTL)
	c.Cookie(&fiber.Cookie{Name: flashCookie, Value: h.signFlash(openidOf(c), notice, exp), Path: h.prefix,
		Expires: exp, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: c.Protocol() == "https"})
}

// takeFlash returns the flash a GET brings and clears its cookie, valid or
// not; "" when there is none.
func (h *H5) takeFlash(c *fiber.Ctx) string {
	v := c.Cookies(flashCookie)
	if v == "" || c.Method() != fiber.MethodGet {
		return ""
	}
	c.Cookie(&fiber.Cookie{Name: flashCookie, Value: "", Path: h.prefix, Expires: time.Unix(0, 0), MaxAge: -1,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: c.Protocol() == "https"})
	text, _ := h.verifyFlash(v, openidOf(c), h.now())
	return text
}

// cardAnchor is the fragment of an account's card on its enterprise page.
func cardAnchor(accountID string) string {
	if accountID == "" {
		return ""
	}
	return "#a-" + url.PathEscape(accountID)
}

// entAnchor is the fragment of an enterprise's card in the personal center.
func entAnchor(t actors.TenantInfo, ent *actors.EnterpriseView) string {
	return "#e-" + url.PathEscape(t.ID) + "-" + url.PathEscape(ent.TaxNo)
}
