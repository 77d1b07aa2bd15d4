package errbody_test

import (
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	_ "github.com/etaxd/etaxd/http" // its transport errors join the catalogue
	"github.com/etaxd/etaxd/internal/errbody"
)

// statusRow is one code's answer on every surface: the client API's status
// and Retry-After, the ops API's status bare and with a known wait, the H5
// pages' and the gateway wire's. The rows were taken from the status
// tables as they stood before kinds (http/errors.go, opsapi and h5
// statusOf, taxbureau/wire.go); they pin that nothing moved.
type statusRow struct {
	code                      string
	api                       int
	apiRetry                  string
	ops, opsWait, h5, gateway int
}

var statusRows = []statusRow{
	{"invalid_input", 400, "", 400, 429, 400, 400},
	{"invalid_tax_no", 400, "", 400, 429, 400, 400},
	{"invalid_region", 400, "", 400, 429, 400, 400},
	{"invalid_role", 400, "", 400, 429, 400, 400},
	{"invalid_business", 400, "", 400, 429, 400, 400},
	{"invalid_login_type", 400, "", 400, 429, 400, 400},
	{"login_type_withdrawn", 400, "", 400, 429, 400, 400},
	{"invalid_phone", 400, "", 400, 429, 400, 400},
	{"role_business_not_allowed", 400, "", 400, 429, 400, 403},
	{"no_relation", 422, "", 400, 429, 400, 403},
	{"account_exists", 409, "", 409, 409, 400, 422},
	{"account_not_found", 404, "", 404, 404, 404, 422},
	{"enterprise_not_found", 404, "", 404, 404, 404, 422},
	{"enterprise_exists", 409, "", 409, 409, 400, 422},
	{"tenant_not_found", 404, "", 404, 404, 404, 422},
	{"tenant_exists", 409, "", 409, 409, 400, 422},
	{"activation_code_taken", 409, "", 409, 409, 400, 422},
	{"prompt_closed", 410, "", 400, 429, 400, 422},
	{"prompt_undeliverable", 409, "", 400, 429, 400, 422},
	{"api_key_not_found", 401, "", 404, 404, 404, 422},
	{"activation_code_wrong", 422, "", 400, 429, 400, 422},
	{"activation_rate_limited", 429, "600", 400, 429, 429, 422},
	{"tenant_already_linked", 409, "", 400, 429, 400, 422},
	{"tenant_not_linked", 403, "", 400, 429, 403, 422},
	{"not_permitted", 403, "", 400, 429, 403, 422},
	{"already_bound", 409, "", 400, 429, 400, 422},
	{"not_bound", 409, "", 400, 429, 400, 422},
	{"same_wechat", 409, "", 400, 429, 400, 422},
	{"default_no_issue_permission", 409, "", 400, 429, 400, 422},
	{"default_no_receive_permission", 409, "", 400, 429, 400, 422},
	{"default_single_account_both", 409, "", 400, 429, 400, 422},
	{"no_default_account", 409, "", 400, 429, 400, 422},
	{"business_not_allowed", 409, "", 400, 429, 400, 422},
	{"not_admin_role", 403, "", 400, 429, 400, 422},
	{"not_admin", 403, "", 400, 429, 403, 422},
	{"already_admin", 409, "", 400, 429, 400, 422},
	{"password_tries_exhausted", 429, "", 400, 429, 429, 422},
	{"password_rate_limited", 429, "", 400, 429, 429, 422},
	{"wrong_password", 422, "", 400, 429, 400, 403},
	{"password_invalid", 409, "", 400, 429, 400, 422},
	{"bureau_password_locked", 423, "", 400, 429, 400, 423},
	{"locked", 423, "", 400, 429, 400, 423},
	{"wrong_code", 422, "", 400, 429, 400, 422},
	{"code_expired", 410, "", 400, 429, 400, 410},
	{"no_challenge", 409, "", 400, 429, 400, 404},
	{"sms_budget_exhausted", 429, "3600", 400, 429, 429, 429},
	{"sms_too_frequent", 429, "180", 400, 429, 429, 429},
	{"password_policy", 400, "", 400, 429, 400, 422},
	{"password_mismatch", 400, "", 400, 429, 400, 422},
	{"identity_mismatch", 422, "", 400, 429, 400, 403},
	{"qr_expired", 410, "", 400, 429, 400, 410},
	{"not_logged_in", 409, "", 400, 429, 400, 403},
	{"session_mismatch", 409, "", 400, 429, 400, 422},
	{"hosted_code_timeout", 504, "", 400, 429, 400, 404},
	{"account_deleted", 409, "", 400, 429, 400, 422},
	{"request_not_found", 404, "", 404, 404, 404, 422},
	{"bureau_unavailable", 503, "30", 503, 503, 503, 503},
	{"busy", 503, "1", 503, 503, 503, 503},
	{"internal", 500, "", 500, 500, 500, 500},
	{"auth_required", 401, "", 400, 429, 400, 422},
	{"signature_invalid", 401, "", 400, 429, 400, 422},
	{"timestamp_out_of_window", 401, "", 400, 429, 400, 422},
	{"nonce_reused", 401, "", 400, 429, 400, 422},
	{"idempotency_key_reused", 422, "", 400, 429, 400, 422},
	{"body_too_large", 413, "", 400, 429, 400, 422},
	{"ambiguous_framing", 400, "", 400, 429, 400, 422},
	{"unsupported_media_type", 415, "", 400, 429, 400, 422},
	{"not_found", 404, "", 400, 429, 400, 404},
	{"method_not_allowed", 405, "", 400, 429, 400, 405},
	{"not_implemented", 501, "", 400, 429, 400, 422},
	{"operator_token_required", 401, "", 400, 429, 400, 422},
	{"operator_loopback_only", 403, "", 400, 429, 400, 422},
	{"dev_loopback_only", 403, "", 400, 429, 400, 422},
	{"local_host_required", 403, "", 400, 429, 400, 422},
	{"cross_site_refused", 403, "", 400, 429, 400, 422},
	{"webhook_not_found", 404, "", 404, 404, 404, 422},
	{"webhook_url_forbidden", 400, "", 400, 429, 400, 422},
	{"too_many_webhooks", 409, "", 400, 429, 400, 422},
	{"unauthorized", 422, "", 400, 429, 400, 401},
	{"person_exists", 422, "", 409, 409, 400, 409},
	{"unknown_person", 422, "", 400, 429, 400, 404},
	{"mystery", 422, "", 400, 429, 400, 422},
}

// TestStatusesPinned: every catalogue entry has a row, and every row's
// code gets its pinned status and Retry-After on each surface; the last
// rows are codes outside the catalogue (the gateway contract's, rebuilt
// from the wire, and one nobody declared).
func TestStatusesPinned(t *testing.T) {
	byCode := map[string]statusRow{}
	for _, r := range statusRows {
		byCode[r.code] = r
	}
	for _, e := range domain.Catalogue() {
		if _, ok := byCode[e.Code]; !ok {
			t.Errorf("catalogue entry %s (%v) has no row: give it its statuses deliberately", e.Code, e.Kind)
		}
	}
	for _, r := range statusRows {
		e, ok := domain.Entry(r.code)
		if !ok {
			e = &domain.Error{Code: r.code, Message: "消息", MessageEN: "message"}
		}
		waited := e.RetryIn(7 * time.Second)
		for _, c := range []struct {
			surface errbody.Surface
			err     *domain.Error
			want    int
		}{
			{errbody.API, e, r.api}, {errbody.API, waited, r.api},
			{errbody.Ops, e, r.ops}, {errbody.Ops, waited, r.opsWait},
			{errbody.H5, e, r.h5}, {errbody.H5, waited, r.h5},
			{errbody.Gateway, e, r.gateway}, {errbody.Gateway, waited, r.gateway},
		} {
			if got := errbody.Status(c.surface, c.err); got != c.want {
				t.Errorf("%s on surface %d (wait %v): status %d, want %d", r.code, c.surface, c.err.RetryAfter, got, c.want)
			}
		}
		if got := errbody.RetryAfter(errbody.API, e); got != r.apiRetry {
			t.Errorf("%s: API Retry-After %q, want %q", r.code, got, r.apiRetry)
		}
		for _, s := range []errbody.Surface{errbody.API, errbody.Ops, errbody.H5} {
			if got := errbody.RetryAfter(s, waited); got != "7" {
				t.Errorf("%s with a 7 s wait on surface %d: Retry-After %q", r.code, s, got)
			}
		}
		if got := errbody.RetryAfter(errbody.Gateway, waited); got != "" {
			t.Errorf("%s on the wire: Retry-After %q", r.code, got)
		}
		for _, s := range []errbody.Surface{errbody.Ops, errbody.H5} {
			if got := errbody.RetryAfter(s, e); got != "" {
				t.Errorf("%s without a wait on surface %d: Retry-After %q", r.code, s, got)
			}
		}
	}
}

// TestPublic: what a client sees of a 5xx: never a cause or a detail of an
// internal error; on the ops API, the catalogue's entry itself.
func TestPublic(t *testing.T) {
	busy := domain.ErrBusy.With("细节", "detail")
	internal := domain.ErrInternal.With("磁盘", "disk")
	for _, c := range []struct {
		s    errbody.Surface
		in   *domain.Error
		want *domain.Error
	}{
		{errbody.API, internal, domain.ErrInternal},
		{errbody.API, busy, busy},
		{errbody.Ops, internal, domain.ErrInternal},
		{errbody.Ops, busy, domain.ErrBusy},
		{errbody.Ops, domain.ErrBureauUnavailable.With("超时", "timeout"), domain.ErrBureauUnavailable},
		{errbody.Ops, domain.ErrLocked, domain.ErrLocked},
	} {
		if got := errbody.Public(c.s, c.in); got != c.want {
			t.Errorf("Public(%d, %v) = %v, want %v", c.s, c.in, got, c.want)
		}
	}
	if b := errbody.BodyOf(domain.ErrLocked); b.Error.Code != "locked" || b.Error.Message != domain.ErrLocked.Message ||
		b.Error.MessageEN != domain.ErrLocked.MessageEN {
		t.Errorf("BodyOf = %+v", b)
	}
}
