package wechat

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/etaxd/etaxd/internal/clock"
)

// Config is what etaxd needs from a WeChat official account. AppSecret,
// Token and EncodingAESKey are secrets: nothing logs them. The zero value
// is not valid; see Validate and docs/WECHAT.md.
type Config struct {
	// AppID is the official account's 开发者ID (wx…).
	AppID string
	// AppSecret is its 开发者密码.
	AppSecret string
	// Token is the 令牌 of 服务器配置, used to sign callbacks: 3–32
	// letters or digits.
	Token string
	// EncodingAESKey is the 消息加解密密钥 of 服务器配置: 43 characters, or
	// empty for plain mode (明文模式). Safe mode (安全模式) needs it.
	EncodingAESKey string
	// TemplateID is the template message used for prompts (see
	// TemplateFields and docs/WECHAT.md).
	TemplateID string
	// PublicURL is where WeChat's built-in browser reaches etaxd; the
	// prompt page is PublicURL + "/h5/prompt/" + prompt id. Its host must
	// be the account's 网页授权域名 and JS接口安全域名.
	PublicURL string
	// ServiceName is the official account's display name, for pages that
	// ask a person to follow it (ServiceName returns it); optional.
	ServiceName string
}

// Validate reports every problem of c at once, each wrapping
// ErrInvalidConfig; nil means c is usable.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.AppID == "" {
		bad("app id is empty")
	} else if strings.ContainsAny(c.AppID, " \t\r\n") {
		bad("app id contains white space")
	}
	if c.AppSecret == "" {
		bad("app secret is empty")
	}
	if n := len(c.Token); n < 3 || n > 32 || !alnum(c.Token) {
		bad("token must be 3 to 32 letters or digits")
	}
	if c.EncodingAESKey != "" {
		if key, err := base64.StdEncoding.DecodeString(c.EncodingAESKey + "="); len(c.EncodingAESKey) != 43 || err != nil || len(key) != 32 {
			bad("encoding AES key must be 43 base64 characters (or empty for plain mode)")
		}
	}
	if c.TemplateID == "" {
		bad("template id is empty")
	}
	if c.PublicURL == "" {
		bad("public url is empty")
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		bad("public url must be an absolute http(s) URL without user, query or fragment")
	}
	return errors.Join(errs...)
}

// alnum reports whether s holds only ASCII letters and digits.
func alnum(s string) bool {
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			return false
		}
	}
	return true
}

// TemplateFields name the keys of the template message's data. WeChat's
// category templates (类目模板) type their keywords by prefix: thing (text,
// ≤ 20 characters), character_string (≤ 32 letters, digits, symbols), time.
// An empty key leaves that item out.
type TemplateFields struct {
	Action   string // what is asked: 短信验证码, 扫码登录, 人脸认证
	TaxNo    string // the enterprise's tax number
	Username string // the e-tax account's user name
	Phone    string // the masked phone the code went to; "-" when none
	Expiry   string // when the prompt expires, China time
}

// DefaultTemplateFields are the keys of the template docs/WECHAT.md asks an
// operator to apply for.
func DefaultTemplateFields() TemplateFields {
	return TemplateFields{
		Action:   "thing1",
		TaxNo:    "character_string2",
		Username: "thing3",
		Phone:    "character_string4",
		Expiry:   "time5",
	}
}

// Options tune a Client. The zero value is usable.
type Options struct {
	// Fields are the template's data keys; nil means DefaultTemplateFields.
	Fields *TemplateFields
	// Clock tells the time (timestamp window, dedupe, token expiry); nil
	// means the wall clock.
	Clock clock.Clock
	// Logger; nil means slog.Default.
	Logger *slog.Logger
	// SentTTL is how long a sent prompt id (and its msgid) is remembered
	// against redeliveries; default 24h, the prompt stream's MaxAge.
	SentTTL time.Duration
	// MaxRemembered bounds each dedupe map (sent prompts, callback
	// messages, msgid → prompt); default 100,000. The oldest are forgotten
	// first.
	MaxRemembered int
	// CallbackWindow is how far a callback's timestamp may be from now;
	// default 5 min.
	CallbackWindow time.Duration
	// MaxCallbackBody bounds a callback request's body; default 64 KiB.
	MaxCallbackBody int64
}

func (o *Options) setDefaults() {
	if o.Fields == nil {
		f := DefaultTemplateFields()
		o.Fields = &f
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.SentTTL <= 0 {
		o.SentTTL = 24 * time.Hour
	}
	if o.MaxRemembered <= 0 {
		o.MaxRemembered = 100_000
	}
	if o.CallbackWindow <= 0 {
		o.CallbackWindow = 5 * time.Minute
	}
	if o.MaxCallbackBody <= 0 {
		o.MaxCallbackBody = 64 << 10
	}
}
