package h5

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// WeChat OAuth2 sign-in (snsapi_base): the production identity. A visitor
// without a session is sent to WeChat's authorize URL with a random state
// bound to a short-lived signed cookie that also remembers the page asked
// for; WeChat sends the browser back to /wx/oauth with a code, which is
// exchanged for the openid; the session cookie is set and the visitor lands
// on that page.

// OAuth is WeChat's OAuth2 snsapi_base; *wechat.Client is one.
type OAuth interface {
	// AuthCodeURL is WeChat's authorize URL that returns to redirectURI
	// with a code and state.
	AuthCodeURL(redirectURI, state string) string
	// OpenIDFromCode exchanges a code (single use, 5 minutes) for the openid.
	OpenIDFromCode(ctx context.Context, code string) (string, error)
}

const (
	// oauthCookie holds the state and the landing page during a sign-in.
	oauthCookie = "etaxd_h5_oauth"
	// oauthTTL is how long a sign-in may take from redirect to callback.
	oauthTTL = 10 * time.Minute
	// oauthPath is the callback, under the prefix.
	oauthPath = "/wx/oauth"
	// oauthExchangeTimeout bounds the code exchange with WeChat.
	oauthExchangeTimeout = 10 * time.Second
	// maxLanding bounds the remembered page (it travels in a cookie).
	maxLanding = 1024
)

// startOAuth sends the visitor to WeChat's authorize URL.
func (h *H5) startOAuth(c *fiber.Ctx) error {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		h.log.Error("h5 oauth state", "err", err)
		return h.message(c, fiber.StatusInternalServerError, "操作失败", "系统内部错误，请稍后再试")
	}
	state := hex.EncodeToString(b[:])
	landing := h.prefix + "/"
	if c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead {
		landing = h.safeLanding(strings.Clone(c.OriginalURL()))
	}
	exp := h.now().Add(oauthTTL)
	c.Cookie(&fiber.Cookie{Name: oauthCookie, Value: h.signOAuth(state, landing, exp), Path: h.prefix + oauthPath,
		Expires: exp, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: h.secure(c)})
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(h.oauth.AuthCodeURL(h.oauthRedirectURI(c), state), fiber.StatusFound)
}

// oauthRedirectURI is the callback WeChat returns to: on the public URL,
// whose host is the account's 网页授权域名.
func (h *H5) oauthRedirectURI(c *fiber.Ctx) string {
	base := h.publicURL
	if base == "" {
		base = c.BaseURL()
	}
	return base + h.prefix + oauthPath
}

// oauthCallback is GET /wx/oauth?code=&state=.
func (h *H5) oauthCallback(c *fiber.Ctx) error {
	if h.oauth == nil {
		return h.message(c, fiber.StatusNotFound, "页面不存在", "未配置微信公众号，无法使用微信授权登录。")
	}
	code, state := strings.Clone(c.Query("code")), strings.Clone(c.Query("state"))
	saved, landing, ok := h.verifyOAuth(c.Cookies(oauthCookie), h.now())
	// The cookie is single use.
	c.Cookie(&fiber.Cookie{Name: oauthCookie, Value: "", Path: h.prefix + oauthPath, Expires: time.Unix(1, 0), MaxAge: -1,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: h.secure(c)})
	if !ok {
		return h.oauthFail(c, fiber.StatusBadRequest, h.prefix+"/", "登录请求已失效，请重新进入。")
	}
	if state == "" || !hmac.Equal([]byte(state), []byte(saved)) {
		return h.oauthFail(c, fiber.StatusBadRequest, landing, "登录请求校验失败，请重新进入。")
	}
	if code == "" || len(code) > 512 {
		return h.oauthFail(c, fiber.StatusBadRequest, landing, "微信未完成授权，请重试。")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), oauthExchangeTimeout)
	defer cancel()
	openid, err := h.oauth.OpenIDFromCode(ctx, code)
	if err != nil {
		// The code is single use and short-lived, but it stays out of the
		// logs all the same.
		h.log.Warn("h5 wechat oauth: code exchange failed", "err", strings.ReplaceAll(err.Error(), code, "[code]"))
		return h.oauthFail(c, fiber.StatusBadGateway, landing, "微信授权登录失败，请稍后重试。")
	}
	if openid == "" || len(openid) > 128 {
		h.log.Warn("h5 wechat oauth: unusable openid", "len", len(openid))
		return h.oauthFail(c, fiber.StatusBadGateway, landing, "微信授权登录失败，请稍后重试。")
	}
	h.setSession(c, openid)
	return c.Redirect(landing, fiber.StatusFound)
}

// oauthFail shows a sign-in failure with a link that starts again.
func (h *H5) oauthFail(c *fiber.Ctx, status int, retry, text string) error {
	return h.render(c, status, "oauth", fiber.Map{"Title": "微信授权登录", "Text": text, "Retry": retry})
}

// setSession signs openid in.
func (h *H5) setSession(c *fiber.Ctx, openid string) {
	exp := h.now().Add(sessionTTL)
	c.Cookie(&fiber.Cookie{Name: cookieName, Value: h.sign(openid, exp), Path: h.prefix, Expires: exp,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: h.secure(c)})
}

// secure says whether cookies get the Secure flag: on https, as the
// request or the public URL says.
func (h *H5) secure(c *fiber.Ctx) bool {
	return c.Protocol() == "https" || strings.HasPrefix(h.publicURL, "https://")
}

// safeLanding returns s if it is a page of these pages to land on after
// sign-in — a relative path under the prefix, not the callback — else the
// personal center. It never lets a sign-in leave the site.
func (h *H5) safeLanding(s string) string {
	home := h.prefix + "/"
	if s == "" || len(s) > maxLanding || strings.ContainsAny(s, "\\\x00\r\n\t") || !strings.HasPrefix(s, "/") ||
		strings.HasPrefix(s, "//") {
		return home
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return home
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return home
	}
	p := path.Clean(u.Path)
	if p != h.prefix && !strings.HasPrefix(p, h.prefix+"/") || p == h.prefix+oauthPath || strings.HasPrefix(p, h.prefix+oauthPath+"/") {
		return home
	}
	return s
}

// signOAuth returns the sign-in cookie: base64url(state) "." base64url(landing)
// "." unix-expiry "." base64url(HMAC).
func (h *H5) signOAuth(state, landing string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(state)) + "." + enc([]byte(landing)) + "." + e + "." + enc(h.mac("oauth", state, landing, e))
}

// verifyOAuth returns the state and landing page of a valid, unexpired
// sign-in cookie.
func (h *H5) verifyOAuth(v string, now time.Time) (state, landing string, ok bool) {
	parts := strings.Split(v, ".")
	if len(parts) != 4 {
		return "", "", false
	}
	dec := base64.RawURLEncoding.DecodeString
	st, err1 := dec(parts[0])
	la, err2 := dec(parts[1])
	sig, err3 := dec(parts[3])
	if err1 != nil || err2 != nil || err3 != nil || len(st) == 0 {
		return "", "", false
	}
	if !hmac.Equal(sig, h.mac("oauth", string(st), string(la), parts[2])) {
		return "", "", false
	}
	exp, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil || !now.Before(time.Unix(exp, 0)) {
		return "", "", false
	}
	// Signed by us, but checked again: a landing page never leaves the site.
	return string(st), h.safeLanding(string(la)), true
}
