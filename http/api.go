package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/errbody"
	"github.com/etaxd/etaxd/internal/jsonenc"
	"github.com/etaxd/etaxd/internal/sign"
)

// api is the client API's logic, shared by the HTTP and the NATS
// transports: authentication, idempotency, decoding, the engine call and
// the answer's shape. It holds no per-request state.
type api struct {
	eng      Engine
	webhooks Webhooks
	nonces   NonceCache
	idem     Idempotency
	now      func() time.Time
	// authFailed counts refused requests by code; nil counts nothing.
	authFailed func(code string)
}

// newAPI builds the API of d, making in-memory nonce and idempotency stores
// when d has none.
func newAPI(d Deps) *api {
	a := &api{eng: d.Engine, webhooks: d.Webhooks, nonces: d.Nonces, idem: d.Idempotency, now: d.now}
	if a.nonces == nil {
		a.nonces = NewMemoryNonces(0)
	}
	if a.idem == nil {
		a.idem = NewMemoryIdempotency(0)
	}
	return a
}

// maxAPIBody bounds a client API request body.
const maxAPIBody = 16 << 10

// MaxWait is the longest long poll, in seconds.
const MaxWait = 60

// principal is who signed a request: a key and its tenant.
type principal struct{ keyID, tenant string }

// result is an answer ready to send: a status and its JSON body, and for
// an error answer its code.
type result struct {
	status int
	body   []byte
	code   string
	// retryAfter is the Retry-After header of an error answer, "" for none.
	retryAfter string
}

// authenticate checks a request's four signature values (see package sign)
// and returns who signed it. method and pathWithQuery are what was signed:
// the HTTP method and request URI as sent, or "NATS" and the subject. The
// checks run cheapest first, and the nonce is recorded only for a request
// whose signature is valid, so that nobody without the secret can fill the
// nonce cache.
func (a *api) authenticate(ctx context.Context, method, pathWithQuery string, header func(string) string, body []byte) (principal, error) {
	key, ts, nonce, sig := header(sign.HeaderKey), header(sign.HeaderTimestamp), header(sign.HeaderNonce), header(sign.HeaderSignature)
	if key == "" || ts == "" || nonce == "" || sig == "" {
		return principal{}, a.refuse(ErrAuthRequired)
	}
	if len(key) > 64 || !validNonce(nonce) || len(sig) != sha256.Size*2 {
		return principal{}, a.refuse(ErrSignatureInvalid)
	}
	now := a.now()
	if !sign.Fresh(ts, now) {
		return principal{}, a.refuse(ErrTimestampSkew)
	}
	if a.eng == nil {
		return principal{}, domain.ErrBusy
	}
	tenant, secret, err := a.eng.LookupAPIKey(ctx, key)
	if err != nil {
		if errors.Is(err, domain.ErrAPIKeyNotFound) {
			return principal{}, a.refuse(domain.ErrAPIKeyNotFound)
		}
		return principal{}, err
	}
	if !sign.Valid(secret, sig, method, pathWithQuery, ts, nonce, body) {
		return principal{}, a.refuse(ErrSignatureInvalid)
	}
	unix, _ := strconv.ParseInt(ts, 10, 64) // Fresh parsed it already
	fresh, err := a.nonces.Use(key, nonce, time.Unix(unix, 0).Add(sign.Skew), now)
	if err != nil {
		return principal{}, domain.ErrBusy.Wrap(err)
	}
	if !fresh {
		return principal{}, a.refuse(ErrNonceReused)
	}
	return principal{keyID: strings.Clone(key), tenant: tenant}, nil
}

func (a *api) refuse(e *domain.Error) error {
	if a.authFailed != nil {
		a.authFailed(e.Code)
	}
	return e
}

// validNonce reports whether n is 8 to 64 characters of [A-Za-z0-9_-].
func validNonce(n string) bool {
	if len(n) < 8 || len(n) > 64 {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validIdempotencyKey reports whether k is 1 to 255 printable ASCII
// characters.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// idempotent runs op once per (key id, Idempotency-Key): a repeat with the
// same method, path and body gets the stored answer (replayed is true), a
// repeat with anything else ErrIdempotencyMismatch. Answers that say "come
// back later" (429 and 5xx) are not stored: they changed nothing, and the
// client's retry runs again. An empty idemKey runs op as it is.
func (a *api) idempotent(ctx context.Context, p principal, idemKey, method, path string, body []byte, op func() result) (res result, replayed bool, err error) {
	if idemKey == "" {
		return op(), false, nil
	}
	if !validIdempotencyKey(idemKey) {
		return result{}, false, domain.Invalid(sign.HeaderIdem, "Idempotency-Key须为1到255个可见ASCII字符")
	}
	sum := sha256.Sum256(body)
	fp := method + "\n" + path + "\n" + hex.EncodeToString(sum[:])
	key := p.keyID + "\x00" + idemKey
	stored, err := a.idem.Claim(ctx, key, fp, a.now())
	if err != nil {
		return result{}, false, err
	}
	if stored != nil {
		return result{status: stored.Status, body: stored.Body}, true, nil
	}
	done := false
	defer func() {
		if !done {
			a.idem.Release(key) // op panicked
		}
	}()
	res = op()
	done = true
	if res.status >= 500 || res.status == 429 {
		a.idem.Release(key)
	} else {
		a.idem.Complete(key, StoredResponse{Status: res.status, Body: res.body}, a.now())
	}
	return res, false, nil
}

// answer encodes v as the JSON body of status.
func answer(status int, v any) result {
	b, err := json.Marshal(v)
	if err != nil { // our own types always encode
		panic(fmt.Sprintf("httpapi: encode %T: %v", v, err))
	}
	return result{status: status, body: b}
}

// failure encodes err as an error answer; see publicError.
func failure(log *reqLog, err error) result {
	status, d := publicError(log, err)
	r := answer(status, ErrorBody{Error: d})
	r.code = d.Code
	r.retryAfter = errbody.RetryAfter(errbody.API, domain.AsError(err))
	return r
}

// decodeStrict decodes a JSON object into v, refusing unknown fields,
// trailing data and anything that is not one object.
func decodeStrict(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return domain.Invalid("body", "请求体须为JSON对象")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return domain.ErrInvalidInput.With("请求体不是有效的JSON或含有未知字段", jsonProblem(err))
	}
	if len(bytes.TrimSpace(body[dec.InputOffset():])) > 0 {
		return domain.Invalid("body", "请求体只能包含一个JSON对象")
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the input.
func jsonProblem(err error) string {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %s has the wrong type", typeErr.Field)
	case errors.As(err, &syntaxErr):
		return fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON"
}

// Wire shapes of the client API.

// SessionRequest is the body of POST /api/v1/sessions.
type SessionRequest struct {
	TaxNo     string `json:"tax_no"`
	Business  string `json:"business"`
	Action    string `json:"action"`
	AccountID string `json:"account_id"`
}

// decodeSessionRequest reads POST /api/v1/sessions' body as decodeStrict
// does. The usual body — a flat object of the four fields, plain strings —
// is read directly (the request's JSON decoding was the largest piece of
// the route's own CPU); anything else goes to decodeStrict, which decides
// it (FuzzSessionRequestDecode checks that both read alike).
func decodeSessionRequest(body []byte) (SessionRequest, error) {
	var req SessionRequest
	ok := jsonenc.FlatStrings(bytes.TrimSpace(body), func(k, v []byte) bool {
		switch string(k) {
		case "tax_no":
			req.TaxNo = string(v)
		case "business":
			req.Business = string(v)
		case "action":
			req.Action = string(v)
		case "account_id":
			req.AccountID = string(v)
		default:
			return false
		}
		return true
	})
	if ok {
		return req, nil
	}
	req = SessionRequest{}
	err := decodeStrict(body, &req)
	return req, err
}

// SessionAnswer is the answer of POST /api/v1/sessions, GET
// /api/v1/requests/{id} and POST /api/v1/requests/{id}/answer.
type SessionAnswer struct {
	State          string       `json:"state"` // ready, awaiting_user, failed
	RequestID      string       `json:"request_id"`
	AccountID      string       `json:"account_id"`
	Session        *SessionJSON `json:"session,omitempty"`
	CertifiedUntil *time.Time   `json:"certified_until,omitempty"`
	Prompt         *PromptJSON  `json:"prompt,omitempty"`
	Error          *ErrorDetail `json:"error,omitempty"`
}

// SessionJSON is a live session: the token is the client's to use.
type SessionJSON struct {
	Channel   string    `json:"channel"`
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PromptJSON is what the client tells its user while a person must act.
type PromptJSON struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"` // sms_code, qr_scan, face
	Message   string    `json:"message"`
	ExpiresAt time.Time `json:"expires_at"`
	LoginURL  string    `json:"login_url,omitempty"`
	QRContent string    `json:"qr_content,omitempty"`
}

// AnswerRequest is the body of POST /api/v1/requests/{id}/answer.
type AnswerRequest struct {
	SMSCode string `json:"sms_code"`
}

// InvalidRequest is the body of POST /api/v1/sessions/invalid.
type InvalidRequest struct {
	AccountID string `json:"account_id"`
	Channel   string `json:"channel"`
	Token     string `json:"token"`
}

// sessionAnswer shapes an engine reply; its status is 200 for ready and
// failed (the call worked, the request's outcome is in the body) and 202
// for awaiting_user.
func sessionAnswer(log *reqLog, r *actors.SessionReply) result {
	out := SessionAnswer{State: string(r.State), RequestID: r.RequestID, AccountID: r.AccountID, CertifiedUntil: r.CertifiedUntil}
	if r.Session != nil {
		out.Session = &SessionJSON{Channel: string(r.Session.Channel), Token: r.Session.Token, ExpiresAt: r.Session.ExpiresAt}
	}
	if p := r.Prompt; p != nil {
		out.Prompt = &PromptJSON{ID: p.ID, Kind: string(p.Kind), Message: p.Message, ExpiresAt: p.ExpiresAt, LoginURL: p.LoginURL, QRContent: p.QRContent}
	}
	status := 200
	switch r.State {
	case actors.RequestAwaitingUser:
		status = 202
	case actors.RequestFailed:
		var err error = domain.ErrInternal
		if r.Error != nil {
			err = r.Error
		}
		_, d := publicError(log, err)
		out.Error = &d
	}
	if b, ok := out.appendJSON(make([]byte, 0, 256)); ok {
		return result{status: status, body: b}
	}
	return answer(status, out)
}

// createSession is POST /api/v1/sessions: 200 ready, 202 awaiting_user, or
// an error (a request that failed before a person could act).
func (a *api) createSession(ctx context.Context, log *reqLog, p principal, body []byte) result {
	req, err := decodeSessionRequest(body)
	if err != nil {
		return failure(log, err)
	}
	ch, err := domain.ParseChannel(req.Business)
	if err != nil || req.Business != string(ch) {
		return failure(log, domain.ErrInvalidBusiness.With("", "business must be issue or receive"))
	}
	if req.Action, err = domain.ParseAction(req.Action); err != nil {
		return failure(log, err)
	}
	if req.AccountID == "" && req.TaxNo == "" {
		return failure(log, domain.Invalid("tax_no", "请填写税号或账号编号"))
	}
	if req.TaxNo != "" {
		if _, err := domain.ParseTaxNo(req.TaxNo); err != nil {
			return failure(log, err)
		}
	}
	if len(req.AccountID) > 64 {
		return failure(log, domain.ErrAccountNotFound)
	}
	r, err := a.eng.RequestSession(ctx, p.tenant, actors.SessionRequest{
		TaxNo: req.TaxNo, Business: ch, Action: actors.Action(req.Action), AccountID: req.AccountID, Origin: "key:" + p.keyID,
	})
	if err != nil {
		return failure(log, err)
	}
	if r.State == actors.RequestFailed {
		if r.Error != nil {
			return failure(log, r.Error)
		}
		return failure(log, domain.ErrInternal.Wrap(errors.New("failed reply without an error")))
	}
	return sessionAnswer(log, r)
}

// validRequestID reports whether id can be a request id of tenant
// (domain.ParseRequestID): a request of another tenant is refused here.
func validRequestID(id, tenant string) bool {
	t, _, ok := domain.ParseRequestID(id)
	return ok && t == tenant
}

// getRequest is GET /api/v1/requests/{id}?wait=N.
func (a *api) getRequest(ctx context.Context, log *reqLog, p principal, id string, wait time.Duration) result {
	if !validRequestID(id, p.tenant) {
		return failure(log, domain.ErrRequestNotFound)
	}
	r, err := a.eng.AwaitRequest(ctx, p.tenant, id, wait)
	if err != nil {
		return failure(log, err)
	}
	return sessionAnswer(log, r)
}

// parseWait reads the wait parameter: whole seconds, 0 to MaxWait.
func parseWait(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > MaxWait {
		return 0, domain.Invalid("wait", "wait须为0到60之间的整数（秒）")
	}
	return time.Duration(n) * time.Second, nil
}

// answerCode is POST /api/v1/requests/{id}/answer.
func (a *api) answerCode(ctx context.Context, log *reqLog, p principal, id string, body []byte) result {
	var req AnswerRequest
	if err := decodeStrict(body, &req); err != nil {
		return failure(log, err)
	}
	return a.answerParsed(ctx, log, p, id, req.SMSCode)
}

func (a *api) answerParsed(ctx context.Context, log *reqLog, p principal, id, code string) result {
	code = strings.TrimSpace(code)
	if code == "" || len(code) > 16 {
		return failure(log, domain.Invalid("sms_code", "请输入验证码"))
	}
	if !validRequestID(id, p.tenant) {
		return failure(log, domain.ErrRequestNotFound)
	}
	r, err := a.eng.Answer(actors.WithOrigin(ctx, "key:"+p.keyID), p.tenant, id, "", "", code)
	if err != nil {
		return failure(log, err)
	}
	return sessionAnswer(log, r)
}

// reportInvalid is POST /api/v1/sessions/invalid.
func (a *api) reportInvalid(ctx context.Context, log *reqLog, p principal, body []byte) result {
	var req InvalidRequest
	if err := decodeStrict(body, &req); err != nil {
		return failure(log, err)
	}
	ch, err := domain.ParseChannel(req.Channel)
	if err != nil || req.Channel != string(ch) {
		return failure(log, domain.Invalid("channel", "channel须为issue或receive"))
	}
	if req.AccountID == "" || len(req.AccountID) > 64 {
		return failure(log, domain.Invalid("account_id", "请填写账号编号"))
	}
	if req.Token == "" || len(req.Token) > 4096 {
		return failure(log, domain.Invalid("token", "请填写失效的会话令牌"))
	}
	if err := a.eng.ReportInvalid(actors.WithOrigin(ctx, "key:"+p.keyID), p.tenant, req.AccountID, ch, req.Token); err != nil {
		return failure(log, err)
	}
	// A token that is no longer the current one is ignored by the account
	// (the session was replaced already): the answer is the same.
	return answer(200, map[string]any{"account_id": req.AccountID, "channel": ch, "reported": true})
}

// listAccounts is GET /api/v1/accounts?tax_no=.
func (a *api) listAccounts(ctx context.Context, log *reqLog, p principal, taxNo string) result {
	if taxNo != "" {
		if _, err := domain.ParseTaxNo(taxNo); err != nil {
			return failure(log, err)
		}
	}
	vs, err := a.eng.Accounts(ctx, p.tenant, taxNo, "")
	if err != nil {
		return failure(log, err)
	}
	if vs == nil {
		vs = []actors.AccountView{}
	}
	return answer(200, map[string]any{"accounts": vs})
}

// registerWebhook is POST /api/v1/webhooks: 201 with the secret, once.
func (a *api) registerWebhook(ctx context.Context, log *reqLog, p principal, body []byte) result {
	if a.webhooks == nil {
		return failure(log, ErrNotImplemented)
	}
	var req WebhookRequest
	if err := decodeStrict(body, &req); err != nil {
		return failure(log, err)
	}
	if err := req.validate(); err != nil {
		return failure(log, err)
	}
	w, err := a.webhooks.Register(ctx, p.tenant, req.URL, req.Events)
	if err != nil {
		return failure(log, webhookError(err))
	}
	return answer(201, w)
}

// listWebhooks is GET /api/v1/webhooks: each webhook with its delivery
// state.
func (a *api) listWebhooks(ctx context.Context, log *reqLog, p principal) result {
	if a.webhooks == nil {
		return failure(log, ErrNotImplemented)
	}
	ws, err := a.webhooks.List(ctx, p.tenant)
	if err != nil {
		return failure(log, webhookError(err))
	}
	ds, err := a.webhooks.Deliveries(ctx, p.tenant)
	if err != nil {
		return failure(log, webhookError(err))
	}
	out := make([]WebhookView, len(ws))
	for i, w := range ws {
		w.Secret = ""
		out[i] = WebhookView{Webhook: w}
		for _, d := range ds {
			if d.WebhookID == w.ID {
				d := d
				out[i].Delivery = &d
			}
		}
	}
	return answer(200, map[string]any{"webhooks": out})
}

// deleteWebhook is DELETE /api/v1/webhooks/{id}.
func (a *api) deleteWebhook(ctx context.Context, log *reqLog, p principal, id string) result {
	if a.webhooks == nil {
		return failure(log, ErrNotImplemented)
	}
	if id == "" || len(id) > 128 {
		return failure(log, ErrWebhookNotFound)
	}
	if err := a.webhooks.Delete(ctx, p.tenant, id); err != nil {
		return failure(log, webhookError(err))
	}
	return result{status: 204}
}
