// engine_sessions.go: the Engine's session requests, QR logins, certification and prompt deliveries (F14, F15, B4, B7).

package actors

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

// RequestSession asks for a session (client API, and F14 with OpenID set).
func (e *Engine) RequestSession(ctx context.Context, tenant string, req SessionRequest) (*SessionReply, error) {
	req.TaxNo = domain.NormalizeTaxNo(req.TaxNo)
	r, err := askAs[*SessionReply](e, ctx, tenant, &requestSession{Req: req})
	if err == nil && r.State == RequestFailed && r.Error != nil {
		return nil, r.Error // failed before a person could act
	}
	return r, err
}

// AwaitRequest returns the outcome of a request of tenant, waiting up to
// wait for it to finish; after that it returns the request's current state.
// A request of another tenant is not found. The wait ends early when ctx
// is cancelled.
func (e *Engine) AwaitRequest(ctx context.Context, tenant, requestID string, wait time.Duration) (*SessionReply, error) {
	t, _, valid := parseRequestID(requestID)
	if !valid || t != tenant {
		return nil, domain.ErrRequestNotFound
	}
	if wait > 0 {
		c, cancel := context.WithTimeout(ctx, wait)
		r, err := askAs[*SessionReply](e, c, tenant, &awaitRequest{RequestID: requestID, Wait: true})
		cancel()
		if err == nil || !errors.Is(err, domain.ErrBusy) {
			return r, err
		}
		if ctx.Err() != nil {
			return nil, domain.ErrBusy.Wrap(ctx.Err())
		}
	}
	return askAs[*SessionReply](e, ctx, tenant, &awaitRequest{RequestID: requestID})
}

// Answer passes an SMS code for a request (the ERP's answer call) or, with
// accountID, for the account's pending login (the H5 page).
func (e *Engine) Answer(ctx context.Context, tenant, requestID, accountID, openid, code string) (*SessionReply, error) {
	if requestID != "" {
		t, _, valid := parseRequestID(requestID)
		if !valid || t != tenant {
			return nil, domain.ErrRequestNotFound
		}
	}
	by := originOf(ctx)
	if by == "" {
		by = who(openid)
	}
	return askAs[*SessionReply](e, ctx, tenant, &answerCode{RequestID: requestID, AccountID: accountID, OpenID: openid, Code: strings.TrimSpace(code), Who: by})
}

// StartQRLogin is F15.
func (e *Engine) StartQRLogin(ctx context.Context, tenant, accountID, openid string, ch domain.Channel, app QRApp) (*QRView, error) {
	return askAs[*QRView](e, ctx, tenant, &startQRLogin{AccountID: accountID, OpenID: openid, Channel: ch, App: taxbureau.QRApp(app)})
}

// PollQRLogin reports a QR login; confirmed means the account is logged in.
func (e *Engine) PollQRLogin(ctx context.Context, tenant, accountID, openid, qrID string) (*QRView, error) {
	return askAs[*QRView](e, ctx, tenant, &pollQRLogin{AccountID: accountID, OpenID: openid, QRID: qrID})
}

// ConfirmCertification tells the account that the person finished face
// certification; it checks with the bureau.
func (e *Engine) ConfirmCertification(ctx context.Context, tenant, accountID, openid string) (*SessionReply, error) {
	return askAs[*SessionReply](e, ctx, tenant, &confirmCertification{AccountID: accountID, OpenID: openid})
}

// ReportInvalid is B4: the client saw the session die.
func (e *Engine) ReportInvalid(ctx context.Context, tenant, accountID string, ch domain.Channel, token string) error {
	by := originOf(ctx)
	if by == "" {
		by = "api"
	}
	_, err := e.ask(ctx, tenant, &reportInvalid{AccountID: accountID, Channel: ch, Token: token, Who: by})
	return err
}

// PassivateAll stops every idle account actor of a tenant now, as the idle
// timeout would; it returns how many it stopped. Operators and tests use it.
func (e *Engine) PassivateAll(ctx context.Context, tenant string) (int, error) {
	return askAs[int](e, ctx, tenant, &passivateAll{})
}

// PromptUndeliverable tells the account that a prompt reached nobody (the
// notifier gave up on it). It does not wait: notifier workers call it.
func (e *Engine) PromptUndeliverable(tenant, accountID, promptID, reason string) {
	if !validID(tenant) {
		return
	}
	e.d.bg.Go(func(context.Context) {
		msg := &reportUndeliverable{AccountID: accountID, PromptID: promptID, Reason: reason}
		if e.cl != nil {
			// The tenant lives on some node: ask its grain, never a local
			// actor beside it.
			_, _ = e.askCluster(tenant, msg, e.d.cfg.AskTimeout)
			return
		}
		pid, err := e.tenantPID(tenant, e.d.cfg.AskTimeout, false)
		if err != nil {
			return
		}
		e.sys.Root.Send(pid, msg)
	})
}

// PromptDelivered records in the audit log (B7) what WeChat reported of a
// prompt's template message: status "success", or why it failed ("failed:user
// block", "failed: system failed").
func (e *Engine) PromptDelivered(tenant, accountID, promptID, status string) {
	if !validID(tenant) || !validID(accountID) || promptID == "" {
		return
	}
	var err error
	if status != "success" {
		err = domain.ErrPromptUndeliverable
	}
	if len(status) > 64 {
		status = status[:64]
	}
	ev := e.d.event(tenant, "system", "prompt.delivered", "account/"+accountID, err)
	ev.Detail = "prompt " + promptID + ": " + status
	ctx, cancel := e.d.storeCtx()
	defer cancel()
	if err := e.d.store.AppendAudit(ctx, ev); err != nil {
		e.d.log.Error("audit append failed", "tenant", tenant, "action", ev.Action, "err", err)
	}
}
