package httpapi

import (
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/errbody"
)

// The API's own catalogue entries: failures of the transport (signature,
// idempotency, body, routing) rather than of the domain's rules, so they live
// here and not in domain/errors.go. Like the domain's, their codes are
// stable: clients match on them.
var (
	ErrAuthRequired = domain.Declare(domain.KindUnauthenticated, "auth_required",
		"请求未签名：需要X-Etaxd-Key、X-Etaxd-Timestamp、X-Etaxd-Nonce和X-Etaxd-Signature",
		"the request is not signed: X-Etaxd-Key, X-Etaxd-Timestamp, X-Etaxd-Nonce and X-Etaxd-Signature are required")
	ErrSignatureInvalid = domain.Declare(domain.KindUnauthenticated, "signature_invalid",
		"请求签名不正确",
		"the request signature does not match")
	ErrTimestampSkew = domain.Declare(domain.KindUnauthenticated, "timestamp_out_of_window",
		"请求时间戳与服务器时间相差超过300秒",
		"the timestamp is more than 300 seconds from the server's clock")
	ErrNonceReused = domain.Declare(domain.KindUnauthenticated, "nonce_reused",
		"该随机数(nonce)已使用过，请勿重放请求",
		"this nonce was already used: the request looks replayed")
	ErrIdempotencyMismatch = domain.Declare(domain.KindRejected, "idempotency_key_reused",
		"该Idempotency-Key已用于另一个不同的请求",
		"this Idempotency-Key was already used for a different request")
	ErrBodyTooLarge = domain.Declare(domain.KindInvalid, "body_too_large",
		"请求体过大",
		"the request body is too large")
	ErrAmbiguousFraming = domain.Declare(domain.KindInvalid, "ambiguous_framing",
		"请求的Content-Length或Transfer-Encoding有歧义：只能有一个Content-Length，且不能与Transfer-Encoding同时出现",
		"ambiguous body framing: one Content-Length at most, and never together with Transfer-Encoding")
	ErrUnsupportedMedia = domain.Declare(domain.KindInvalid, "unsupported_media_type",
		"请求体须为JSON（Content-Type: application/json）",
		"the body must be JSON (Content-Type: application/json)")
	ErrRouteNotFound = domain.Declare(domain.KindNotFound, "not_found",
		"接口不存在",
		"no such endpoint")
	ErrMethodNotAllowed = domain.Declare(domain.KindInvalid, "method_not_allowed",
		"接口不支持该请求方法",
		"the endpoint does not support this method")
	ErrNotImplemented = domain.Declare(domain.KindUnavailable, "not_implemented",
		"该功能未启用",
		"this feature is not enabled on this node")
	ErrOperatorToken = domain.Declare(domain.KindUnauthenticated, "operator_token_required",
		"需要运维令牌（Authorization: Bearer …）",
		"a valid operator token is required (Authorization: Bearer …)")
	ErrOperatorLoopback = domain.Declare(domain.KindForbidden, "operator_loopback_only",
		"未配置运维令牌，仅允许本机访问",
		"no operator token is configured: only loopback clients are allowed")
	ErrDevLoopback = domain.Declare(domain.KindForbidden, "dev_loopback_only",
		"开发模式功能仅允许本机访问",
		"dev-mode endpoints answer clients on this machine only")
	ErrLocalHost = domain.Declare(domain.KindForbidden, "local_host_required",
		"请求的主机名不是本机地址，请用localhost或127.0.0.1访问",
		"the Host header is not a loopback name: reach this endpoint as localhost or 127.0.0.1")
	ErrCrossSite = domain.Declare(domain.KindForbidden, "cross_site_refused",
		"拒绝跨站请求：本机接口不接受其他网页发起的请求",
		"cross-site request refused: a web page of another origin may not call this endpoint")
	ErrWebhookNotFound = domain.Declare(domain.KindNotFound, "webhook_not_found",
		"Webhook不存在",
		"webhook not found")
	ErrWebhookURLForbidden = domain.Declare(domain.KindInvalid, "webhook_url_forbidden",
		"Webhook接收地址指向本机、内网或其他非公网地址，本节点不允许；请使用公网可达的地址",
		"the webhook URL is or resolves to a loopback, private, link-local or otherwise non-public address, which this node does not allow")
)

// StatusOf returns the client API's HTTP status of a code (see
// internal/errbody).
func StatusOf(code string) int {
	return errbody.Status(errbody.API, &domain.Error{Code: code})
}

// ErrorBody is every error response: {"error":{"code","message","message_en"}}.
type ErrorBody = errbody.Body

// ErrorDetail is a catalogue entry as the client sees it.
type ErrorDetail = errbody.Detail

// publicError turns any error into what a client may see and its status.
// A 5xx logs its cause with the logger's request id; an internal error's
// body is always the catalogue's generic one, whatever err carried.
func publicError(log *reqLog, err error) (int, ErrorDetail) {
	e := domain.AsError(err)
	status := errbody.Status(errbody.API, e)
	if status >= 500 {
		log.logger().Error("request failed", "code", e.Code, "err", err)
	}
	return status, errbody.DetailOf(errbody.Public(errbody.API, e))
}
