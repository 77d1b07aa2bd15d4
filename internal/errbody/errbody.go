// Package errbody is where a catalogue error (domain.Error) meets HTTP: the
// one place that turns an error's kind into a status for each surface (the
// client API, the ops API, the H5 pages, the gateway wire), says when
// Retry-After is sent, and holds the JSON error body of the two APIs.
//
// It imports only domain and the standard library, so that taxbureau (below
// http) can use it too.
package errbody

import (
	"net/http"
	"strconv"

	"github.com/etaxd/etaxd/domain"
)

// Surface is one of etaxd's HTTP surfaces. They answer the same kind with
// different statuses for historical reasons that clients now rely on; the
// differences live in the tables below and nowhere else.
type Surface uint8

// The surfaces.
const (
	// API is the client API (/api/v1) and its NATS twin.
	API Surface = iota
	// Ops is the ops API (/ops/v1).
	Ops
	// H5 is the WeChat H5 pages and their JSON polls.
	H5
	// Gateway is the tax-bureau gateway contract (taxbureau.NewServer).
	Gateway
)

// table is one surface's statuses: by kind, then per code where a code's
// status is not its kind's, and for a code the catalogue does not know.
type table struct {
	byKind   map[domain.Kind]int
	byCode   map[string]int
	fallback int
}

// Codes declared outside domain that a table below names. They are
// httpapi's transport errors, which this package cannot import.
const (
	codeRouteNotFound    = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeBodyTooLarge     = "body_too_large"
	codeUnsupportedMedia = "unsupported_media_type"
	codeAmbiguousFraming = "ambiguous_framing"
	codeNotImplemented   = "not_implemented"
	codeIdempotency      = "idempotency_key_reused"
	codeWebhookURL       = "webhook_url_forbidden"
)

// The gateway contract's own codes (taxbureau's, which a gateway answers
// and the client rebuilds from the wire without their kinds).
const (
	codeGatewayUnauthorized = "unauthorized"
	codePersonExists        = "person_exists"
	codeUnknownPerson       = "unknown_person"
)

var tables = [...]table{
	API: {
		byKind: map[domain.Kind]int{
			domain.KindInvalid:         http.StatusBadRequest,
			domain.KindUnauthenticated: http.StatusUnauthorized,
			domain.KindForbidden:       http.StatusForbidden,
			domain.KindNotFound:        http.StatusNotFound,
			domain.KindConflict:        http.StatusConflict,
			domain.KindGone:            http.StatusGone,
			domain.KindRejected:        http.StatusUnprocessableEntity,
			domain.KindLocked:          http.StatusLocked,
			domain.KindRateLimited:     http.StatusTooManyRequests,
			domain.KindUnavailable:     http.StatusServiceUnavailable,
			domain.KindInternal:        http.StatusInternalServerError,
		},
		// The transport's own statuses, and the hosting provider's
		// timeout, which is a gateway's.
		byCode: map[string]int{
			codeMethodNotAllowed:             http.StatusMethodNotAllowed,
			codeBodyTooLarge:                 http.StatusRequestEntityTooLarge,
			codeUnsupportedMedia:             http.StatusUnsupportedMediaType,
			codeNotImplemented:               http.StatusNotImplemented,
			domain.ErrHostedCodeTimeout.Code: http.StatusGatewayTimeout,
		},
		// A well-formed request the rules refused.
		fallback: http.StatusUnprocessableEntity,
	},
	// The ops API answers 400 for most refusals; a refusal whose wait is
	// known becomes 429 (see Status).
	Ops: {
		byKind: map[domain.Kind]int{
			domain.KindInvalid:         http.StatusBadRequest,
			domain.KindUnauthenticated: http.StatusBadRequest,
			domain.KindForbidden:       http.StatusBadRequest,
			domain.KindNotFound:        http.StatusNotFound,
			domain.KindConflict:        http.StatusBadRequest,
			domain.KindGone:            http.StatusBadRequest,
			domain.KindRejected:        http.StatusBadRequest,
			domain.KindLocked:          http.StatusBadRequest,
			domain.KindRateLimited:     http.StatusBadRequest,
			domain.KindUnavailable:     http.StatusBadRequest,
			domain.KindInternal:        http.StatusInternalServerError,
		},
		byCode: map[string]int{
			domain.ErrAccountExists.Code:       http.StatusConflict,
			domain.ErrEnterpriseExists.Code:    http.StatusConflict,
			domain.ErrTenantExists.Code:        http.StatusConflict,
			domain.ErrActivationCodeTaken.Code: http.StatusConflict,
			domain.ErrAPIKeyNotFound.Code:      http.StatusNotFound,
			domain.ErrBureauUnavailable.Code:   http.StatusServiceUnavailable,
			domain.ErrBusy.Code:                http.StatusServiceUnavailable,
			codeRouteNotFound:                  http.StatusBadRequest,
			codePersonExists:                   http.StatusConflict,
		},
		fallback: http.StatusBadRequest,
	},
	H5: {
		byKind: map[domain.Kind]int{
			domain.KindInvalid:         http.StatusBadRequest,
			domain.KindUnauthenticated: http.StatusBadRequest,
			domain.KindForbidden:       http.StatusBadRequest,
			domain.KindNotFound:        http.StatusNotFound,
			domain.KindConflict:        http.StatusBadRequest,
			domain.KindGone:            http.StatusBadRequest,
			domain.KindRejected:        http.StatusBadRequest,
			domain.KindLocked:          http.StatusBadRequest,
			domain.KindRateLimited:     http.StatusTooManyRequests,
			domain.KindUnavailable:     http.StatusBadRequest,
			domain.KindInternal:        http.StatusInternalServerError,
		},
		byCode: map[string]int{
			domain.ErrNotPermitted.Code:      http.StatusForbidden,
			domain.ErrNotAdmin.Code:          http.StatusForbidden,
			domain.ErrNotLinked.Code:         http.StatusForbidden,
			domain.ErrAPIKeyNotFound.Code:    http.StatusNotFound,
			domain.ErrBureauUnavailable.Code: http.StatusServiceUnavailable,
			domain.ErrBusy.Code:              http.StatusServiceUnavailable,
			codeRouteNotFound:                http.StatusBadRequest,
		},
		fallback: http.StatusBadRequest,
	},
	// The gateway contract's statuses (docs/GATEWAY.md): what a gateway
	// answers for the bureau's refusals.
	Gateway: {
		byKind: map[domain.Kind]int{
			domain.KindInvalid:         http.StatusBadRequest,
			domain.KindUnauthenticated: http.StatusUnprocessableEntity,
			domain.KindForbidden:       http.StatusUnprocessableEntity,
			domain.KindNotFound:        http.StatusUnprocessableEntity,
			domain.KindConflict:        http.StatusUnprocessableEntity,
			domain.KindGone:            http.StatusGone,
			domain.KindRejected:        http.StatusForbidden,
			domain.KindLocked:          http.StatusLocked,
			domain.KindRateLimited:     http.StatusUnprocessableEntity,
			domain.KindUnavailable:     http.StatusServiceUnavailable,
			domain.KindInternal:        http.StatusInternalServerError,
		},
		byCode: map[string]int{
			domain.ErrRoleBusiness.Code:      http.StatusForbidden,
			domain.ErrNotLoggedIn.Code:       http.StatusForbidden,
			domain.ErrNoChallenge.Code:       http.StatusNotFound,
			domain.ErrHostedCodeTimeout.Code: http.StatusNotFound,
			codeRouteNotFound:                http.StatusNotFound,
			codeMethodNotAllowed:             http.StatusMethodNotAllowed,
			domain.ErrSMSBudget.Code:         http.StatusTooManyRequests,
			domain.ErrSMSTooFrequent.Code:    http.StatusTooManyRequests,
			domain.ErrPromptClosed.Code:      http.StatusUnprocessableEntity,
			domain.ErrActivationCode.Code:    http.StatusUnprocessableEntity,
			domain.ErrWrongCode.Code:         http.StatusUnprocessableEntity,
			domain.ErrPasswordPolicy.Code:    http.StatusUnprocessableEntity,
			domain.ErrPasswordMismatch.Code:  http.StatusUnprocessableEntity,
			codeIdempotency:                  http.StatusUnprocessableEntity,
			codeBodyTooLarge:                 http.StatusUnprocessableEntity,
			codeAmbiguousFraming:             http.StatusUnprocessableEntity,
			codeUnsupportedMedia:             http.StatusUnprocessableEntity,
			codeNotImplemented:               http.StatusUnprocessableEntity,
			codeWebhookURL:                   http.StatusUnprocessableEntity,
			codeGatewayUnauthorized:          http.StatusUnauthorized,
			codePersonExists:                 http.StatusConflict,
			codeUnknownPerson:                http.StatusNotFound,
		},
		fallback: http.StatusUnprocessableEntity,
	},
}

// Status returns the HTTP status of e on surface s: its code's own entry
// in s's table if any, else its kind's (domain.KindOf), else s's fallback
// for a code the catalogue does not know. On the ops API a 400 whose wait
// is known (e.RetryAfter) is 429.
func Status(s Surface, e *domain.Error) int {
	t := &tables[s]
	status, ok := t.byCode[e.Code]
	if !ok {
		if status, ok = t.byKind[domain.KindOf(e)]; !ok {
			status = t.fallback
		}
	}
	if s == Ops && status == http.StatusBadRequest && e.RetryAfter > 0 {
		status = http.StatusTooManyRequests
	}
	return status
}

// apiRetryAfter is the client API's Retry-After (seconds) for a refusal
// that does not know its own wait.
var apiRetryAfter = map[string]string{
	domain.ErrSMSTooFrequent.Code:      "180",
	domain.ErrSMSBudget.Code:           "3600",
	domain.ErrActivationRateLimit.Code: "600",
	domain.ErrBusy.Code:                "1",
	domain.ErrBureauUnavailable.Code:   "30",
}

// RetryAfter is the Retry-After header for e on s, "" for none: e's own
// wait (domain.Error.RetryAfter) in whole seconds; on the client API, else
// its code's usual wait. The gateway wire sends none.
func RetryAfter(s Surface, e *domain.Error) string {
	if s == Gateway {
		return ""
	}
	if n := e.RetryAfterSeconds(); n > 0 {
		return strconv.Itoa(n)
	}
	if s == API {
		return apiRetryAfter[e.Code]
	}
	return ""
}

// Public is what a client of s may see of e. The generic internal entry
// replaces any internal error, whatever it carried; on the ops API every
// 5xx shows its catalogue entry without details.
func Public(s Surface, e *domain.Error) *domain.Error {
	switch {
	case e.Code == domain.ErrInternal.Code:
		return domain.ErrInternal
	case s == Ops && Status(s, e) >= http.StatusInternalServerError:
		if c, ok := domain.Entry(e.Code); ok {
			return c
		}
		return domain.ErrInternal
	}
	return e
}

// Body is every error answer of the client and ops APIs:
// {"error":{"code","message","message_en"}}.
type Body struct {
	Error Detail `json:"error"`
}

// Detail is a catalogue entry as a client sees it.
type Detail struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	MessageEN string `json:"message_en"`
}

// DetailOf is e as a client sees it.
func DetailOf(e *domain.Error) Detail {
	return Detail{Code: e.Code, Message: e.Message, MessageEN: e.MessageEN}
}

// BodyOf is the answer's body for e.
func BodyOf(e *domain.Error) Body { return Body{Error: DetailOf(e)} }
