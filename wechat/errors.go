package wechat

import (
	"context"
	"errors"
	"fmt"
	"regexp"
)

// Errors of the package, grouped by when they happen. Callers check them
// with errors.Is or errors.As; returned errors wrap them with context.
var (
	// ErrInvalidConfig is wrapped by every problem Config.Validate (and New)
	// reports.
	ErrInvalidConfig = errors.New("wechat: invalid config")

	// ErrInFlight is returned (transient) by Notify for a prompt whose
	// template message another call is sending right now: the consumer
	// retries it later, when the first call has settled.
	ErrInFlight = errors.New("wechat: prompt is being sent")

	// ErrInvalidPrompt is returned, marked permanent, by Notify for a prompt
	// without an ID.
	ErrInvalidPrompt = errors.New("wechat: invalid prompt")

	// ErrHTTPStatus is wrapped by the errors of a WeChat API call answered
	// with an HTTP status other than 200 (transient).
	ErrHTTPStatus = errors.New("wechat: unexpected HTTP status")
)

// APIError is an error code returned by the WeChat API (errcode ≠ 0).
type APIError struct {
	API  string // which call: "template send", "oauth2 access_token"
	Code int64  // errcode
	Msg  string // errmsg, WeChat's English text
}

// Error returns the call, the code and WeChat's message.
func (e *APIError) Error() string {
	return fmt.Sprintf("wechat: %s: errcode %d: %s", e.API, e.Code, e.Msg)
}

// WeChat error codes the package acts on.
const (
	CodeSystemBusy         = -1    // 系统繁忙: transient
	CodeInvalidCredential  = 40001 // access_token invalid: drop it, retry once
	CodeInvalidOpenID      = 40003 // 不合法的 OpenID: permanent
	CodeInvalidAccessToken = 40014 // 不合法的 access_token: drop it, retry once
	CodeInvalidTemplateID  = 40037 // 不合法的 template_id: permanent
	CodeAccessTokenExpired = 42001 // access_token 超时: drop it, retry once
	CodeRequireSubscribe   = 43004 // 需要接收者关注 (unsubscribed): permanent
	CodeUserRefused        = 43101 // 用户拒绝接受消息: permanent
	CodeArgumentInvalid    = 47003 // 模板参数不准确: permanent
)

// TokenRejected reports whether WeChat refused the access token the call
// carried: the cached token must be dropped.
func (e *APIError) TokenRejected() bool {
	switch e.Code {
	case CodeInvalidCredential, CodeInvalidAccessToken, CodeAccessTokenExpired:
		return true
	}
	return false
}

// Permanent reports whether sending the same message again cannot succeed:
// the user unsubscribed or refused messages, the openid is not one of the
// account's users, or WeChat refuses the template or its data (a
// configuration error that needs an operator, not a retry).
func (e *APIError) Permanent() bool {
	switch e.Code {
	case CodeRequireSubscribe, CodeUserRefused, CodeInvalidOpenID, CodeInvalidTemplateID, CodeArgumentInvalid:
		return true
	}
	return false
}

// secretParams matches the query parameters that carry a secret in the
// URLs the SDK and we build: they end up in net/http and SDK error texts.
var secretParams = regexp.MustCompile(`(?i)((?:access_token|secret|code|refresh_token)=)[^&\s"']+`)

// redact returns err with every secret query value replaced. A context
// error stays visible to errors.Is; nothing else is wrapped, because an
// unwrapped cause would print the secret again.
func redact(err error) error {
	if err == nil {
		return nil
	}
	msg := secretParams.ReplaceAllString(err.Error(), "${1}REDACTED")
	for _, ctxErr := range []error{context.DeadlineExceeded, context.Canceled} {
		if errors.Is(err, ctxErr) {
			return &redactedError{msg: msg, cause: ctxErr}
		}
	}
	return &redactedError{msg: msg}
}

type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }
