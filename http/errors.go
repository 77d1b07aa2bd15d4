package httpapi

import (
	"net/http"
	"strconv"

	"github.com/etaxd/etaxd/domain"
)

// The API's own catalogue entries: failures of the transport (signature,
// idempotency, body, routing) rather than of the domain's rules, so they live
// here and not in domain/errors.go. Like the domain's, their codes are
// stable: clients match on them.
var (
	ErrAuthRequired = &domain.Error{Code: "auth_required",
		Message:   "请求未签名：需要X-Etaxd-Key、X-Etaxd-Timestamp、X-Etaxd-Nonce和X-Etaxd-Signature",
		MessageEN: "the request is not signed: X-Etaxd-Key, X-Etaxd-Timestamp, X-Etaxd-Nonce and X-Etaxd-Signature are required"}
	ErrSignatureInvalid = &domain.Error{Code: "signature_invalid",
		Message: "请求签名不正确", MessageEN: "the request signature does not match"}
	ErrTimestampSkew = &domain.Error{Code: "timestamp_out_of_window",
		Message: "请求时间戳与服务器时间相差超过300秒", MessageEN: "the timestamp is more than 300 seconds from the server's clock"}
	ErrNonceReused = &domain.Error{Code: "nonce_reused",
		Message: "该随机数(nonce)已使用过，请勿重放请求", MessageEN: "this nonce was already used: the request looks replayed"}
	ErrIdempotencyMismatch = &domain.Error{Code: "idempotency_key_reused",
		Message:   "该Idempotency-Key已用于另一个不同的请求",
		MessageEN: "this Idempotency-Key was already used for a different request"}
	ErrBodyTooLarge = &domain.Error{Code: "body_too_large",
		Message: "请求体过大", MessageEN: "the request body is too large"}
	ErrAmbiguousFraming = &domain.Error{Code: "ambiguous_framing",
		Message:   "请求的Content-Length或Transfer-Encoding有歧义：只能有一个Content-Length，且不能与Transfer-Encoding同时出现",
		MessageEN: "ambiguous body framing: one Content-Length at most, and never together with Transfer-Encoding"}
	ErrUnsupportedMedia = &domain.Error{Code: "unsupported_media_type",
		Message: "请求体须为JSON（Content-Type: application/json）", MessageEN: "the body must be JSON (Content-Type: application/json)"}
	ErrRouteNotFound = &domain.Error{Code: "not_found",
		Message: "接口不存在", MessageEN: "no such endpoint"}
	ErrMethodNotAllowed = &domain.Error{Code: "method_not_allowed",
		Message: "接口不支持该请求方法", MessageEN: "the endpoint does not support this method"}
	ErrNotImplemented = &domain.Error{Code: "not_implemented",
		Message: "该功能未启用", MessageEN: "this feature is not enabled on this node"}
	ErrOperatorToken = &domain.Error{Code: "operator_token_required",
		Message: "需要运维令牌（Authorization: Bearer …）", MessageEN: "a valid operator token is required (Authorization: Bearer …)"}
	ErrOperatorLoopback = &domain.Error{Code: "operator_loopback_only",
		Message: "未配置运维令牌，仅允许本机访问", MessageEN: "no operator token is configured: only loopback clients are allowed"}
	ErrDevLoopback = &domain.Error{Code: "dev_loopback_only",
		Message: "开发模式功能仅允许本机访问", MessageEN: "dev-mode endpoints answer clients on this machine only"}
	ErrLocalHost = &domain.Error{Code: "local_host_required",
		Message:   "请求的主机名不是本机地址，请用localhost或127.0.0.1访问",
		MessageEN: "the Host header is not a loopback name: reach this endpoint as localhost or 127.0.0.1"}
	ErrCrossSite = &domain.Error{Code: "cross_site_refused",
		Message:   "拒绝跨站请求：本机接口不接受其他网页发起的请求",
		MessageEN: "cross-site request refused: a web page of another origin may not call this endpoint"}
	ErrWebhookNotFound = &domain.Error{Code: "webhook_not_found",
		Message: "Webhook不存在", MessageEN: "webhook not found"}
	ErrWebhookURLForbidden = &domain.Error{Code: "webhook_url_forbidden",
		Message:   "Webhook接收地址指向本机、内网或其他非公网地址，本节点不允许；请使用公网可达的地址",
		MessageEN: "the webhook URL is or resolves to a loopback, private, link-local or otherwise non-public address, which this node does not allow"}
)

// statusOf maps every catalogue code to its HTTP status. A code missing here
// is answered 422 (a well-formed request the rules refused) and the test
// TestStatusTableCoversCatalogue fails, so a new domain code gets a
// deliberate status.
var statusOf = map[string]int{
	// 400: the request itself is wrong.
	"invalid_input":             http.StatusBadRequest,
	"ambiguous_framing":         http.StatusBadRequest,
	"invalid_tax_no":            http.StatusBadRequest,
	"invalid_region":            http.StatusBadRequest,
	"invalid_role":              http.StatusBadRequest,
	"invalid_business":          http.StatusBadRequest,
	"invalid_login_type":        http.StatusBadRequest,
	"invalid_phone":             http.StatusBadRequest,
	"login_type_withdrawn":      http.StatusBadRequest,
	"role_business_not_allowed": http.StatusBadRequest,
	"password_policy":           http.StatusBadRequest,
	"password_mismatch":         http.StatusBadRequest,
	"webhook_url_forbidden":     http.StatusBadRequest,

	// 401: the request is not authenticated.
	"auth_required":           http.StatusUnauthorized,
	"signature_invalid":       http.StatusUnauthorized,
	"timestamp_out_of_window": http.StatusUnauthorized,
	"nonce_reused":            http.StatusUnauthorized,
	"api_key_not_found":       http.StatusUnauthorized,
	"operator_token_required": http.StatusUnauthorized,

	// 403: only for the operator surface (never for another tenant's data).
	"operator_loopback_only": http.StatusForbidden,
	"dev_loopback_only":      http.StatusForbidden,
	"local_host_required":    http.StatusForbidden,
	"cross_site_refused":     http.StatusForbidden,
	"not_permitted":          http.StatusForbidden,
	"not_admin":              http.StatusForbidden,
	"not_admin_role":         http.StatusForbidden,
	"tenant_not_linked":      http.StatusForbidden,

	// 404: absent, or of another tenant.
	"not_found":            http.StatusNotFound,
	"account_not_found":    http.StatusNotFound,
	"enterprise_not_found": http.StatusNotFound,
	"tenant_not_found":     http.StatusNotFound,
	"request_not_found":    http.StatusNotFound,
	"webhook_not_found":    http.StatusNotFound,

	"method_not_allowed": http.StatusMethodNotAllowed,

	// 409: the account's state forbids it until someone acts.
	"password_invalid":              http.StatusConflict,
	"no_default_account":            http.StatusConflict,
	"business_not_allowed":          http.StatusConflict,
	"account_exists":                http.StatusConflict,
	"enterprise_exists":             http.StatusConflict,
	"tenant_exists":                 http.StatusConflict,
	"tenant_already_linked":         http.StatusConflict,
	"already_bound":                 http.StatusConflict,
	"not_bound":                     http.StatusConflict,
	"same_wechat":                   http.StatusConflict,
	"default_no_issue_permission":   http.StatusConflict,
	"default_no_receive_permission": http.StatusConflict,
	"default_single_account_both":   http.StatusConflict,
	"already_admin":                 http.StatusConflict,
	"not_logged_in":                 http.StatusConflict,
	"session_mismatch":              http.StatusConflict,
	"no_challenge":                  http.StatusConflict,
	"account_deleted":               http.StatusConflict,
	"prompt_closed":                 http.StatusGone,
	"prompt_undeliverable":          http.StatusConflict, // nobody can be reached until the binding is fixed
	"too_many_webhooks":             http.StatusConflict,

	// 410: something the client refers to ran out.
	"code_expired": http.StatusGone,
	"qr_expired":   http.StatusGone,

	"body_too_large": http.StatusRequestEntityTooLarge,

	"unsupported_media_type": http.StatusUnsupportedMediaType,

	// 422: well-formed, but the tax bureau or the rules refused the content.
	"idempotency_key_reused": http.StatusUnprocessableEntity,
	"no_relation":            http.StatusUnprocessableEntity,
	"wrong_password":         http.StatusUnprocessableEntity,
	"wrong_code":             http.StatusUnprocessableEntity,
	"identity_mismatch":      http.StatusUnprocessableEntity,
	"activation_code_wrong":  http.StatusUnprocessableEntity,

	// 423: the account is locked (by etaxd's counters or by the bureau).
	"locked":                 http.StatusLocked,
	"bureau_password_locked": http.StatusLocked,

	// 429: a rate or budget is spent; Retry-After says when to come back.
	"sms_budget_exhausted":    http.StatusTooManyRequests,
	"sms_too_frequent":        http.StatusTooManyRequests,
	"activation_rate_limited": http.StatusTooManyRequests,
	// The password guard: etaxd stops before the bureau locks a password.
	"password_tries_exhausted": http.StatusTooManyRequests,
	"password_rate_limited":    http.StatusTooManyRequests,

	// 5xx: etaxd or the bureau cannot serve now.
	"internal":            http.StatusInternalServerError,
	"not_implemented":     http.StatusNotImplemented,
	"bureau_unavailable":  http.StatusServiceUnavailable,
	"busy":                http.StatusServiceUnavailable,
	"hosted_code_timeout": http.StatusGatewayTimeout,
}

// retryAfter is the Retry-After header (seconds) sent with some codes. An
// error that knows its own wait (domain.Error.RetryAfter) sends that instead.
var retryAfter = map[string]string{
	"sms_too_frequent":        "180",
	"sms_budget_exhausted":    "3600",
	"activation_rate_limited": "600",
	"busy":                    "1",
	"bureau_unavailable":      "30",
}

// StatusOf returns the HTTP status of a catalogue code.
func StatusOf(code string) int {
	if s, has := statusOf[code]; has {
		return s
	}
	return http.StatusUnprocessableEntity
}

// ErrorBody is every error response: {"error":{"code","message","message_en"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// retryAfterOf is the Retry-After value for e: its own wait, else the
// code's entry in retryAfter, else "".
func retryAfterOf(e *domain.Error) string {
	if s := e.RetryAfterSeconds(); s > 0 {
		return strconv.Itoa(s)
	}
	return retryAfter[e.Code]
}

// ErrorDetail is a catalogue entry as the client sees it.
type ErrorDetail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
}

// publicError turns any error into what a client may see and its status.
// A 5xx logs its cause with the logger's request id; an internal error's
// body is always the catalogue's generic one, whatever err carried.
func publicError(log *reqLog, err error) (int, ErrorDetail) {
	e := domain.AsError(err)
	status := StatusOf(e.Code)
	if status >= 500 {
		log.logger().Error("request failed", "code", e.Code, "err", err)
	}
	if e.Code == domain.ErrInternal.Code {
		e = domain.ErrInternal
	}
	return status, ErrorDetail{Code: e.Code, Message: e.Message, MessageEN: e.MessageEN}
}
