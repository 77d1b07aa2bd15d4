// engine_accounts.go: the Engine's operations on accounts: adding, binding, defaults, admins, deletion and passwords (F3-F13).

package actors

import (
	"context"
	"strings"

	"github.com/etaxd/etaxd/domain"
)

// AddAccount is F3. The reply is done (AccountID set) or awaiting_code:
// then SubmitFlowCode finishes it.
func (e *Engine) AddAccount(ctx context.Context, tenant string, cmd AddAccount) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &startAddAccount{Cmd: cmd})
}

func flowAsk(e *Engine, ctx context.Context, tenant string, msg any) (FlowReply, error) {
	v, err := askAs[*FlowReply](e, ctx, tenant, msg)
	if err != nil {
		return FlowReply{}, err
	}
	return *v, nil
}

// PollFlow reports a 扫码登录 add flow (F3): still awaiting the scan (with
// the QR's state), or done once the person confirmed in the app.
func (e *Engine) PollFlow(ctx context.Context, tenant, flowID, openid string) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &pollFlow{FlowID: flowID, OpenID: openid})
}

// SubmitFlowCode passes the SMS code of a verification flow (F3, F8, F9, F11).
func (e *Engine) SubmitFlowCode(ctx context.Context, tenant, flowID, openid, code string) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &submitFlowCode{FlowID: flowID, OpenID: openid, Code: strings.TrimSpace(code)})
}

// CompleteReset sets the new password of a reset flow (F11) and propagates
// it; the reply's Updated counts the accounts that got it.
func (e *Engine) CompleteReset(ctx context.Context, tenant, flowID, openid string, password, confirm domain.Secret) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &setFlowPassword{FlowID: flowID, OpenID: openid, Password: password, Confirm: confirm})
}

// Bind is F4.
func (e *Engine) Bind(ctx context.Context, tenant, accountID, openid string) error {
	_, err := e.ask(ctx, tenant, &bindAccount{AccountID: accountID, OpenID: openid})
	return err
}

// Unbind is F7 for one account.
func (e *Engine) Unbind(ctx context.Context, tenant, accountID, openid string) error {
	_, err := e.ask(ctx, tenant, &unbindAccount{AccountID: accountID, OpenID: openid})
	return err
}

// UnbindEnterprise is F7 for every account of an enterprise bound to openid.
func (e *Engine) UnbindEnterprise(ctx context.Context, tenant, taxNo, openid string) (int, error) {
	return askAs[int](e, ctx, tenant, &unbindEnterprise{TaxNo: domain.NormalizeTaxNo(taxNo), OpenID: openid})
}

// ChangeBinding is F8: openid proves with the account's credentials (and
// SMS code, through SubmitFlowCode) and the binding moves to them.
func (e *Engine) ChangeBinding(ctx context.Context, tenant, accountID, openid, username string, password domain.Secret) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &changeBinding{AccountID: accountID, OpenID: openid, Username: strings.TrimSpace(username), Password: password})
}

// SetDefault is F5; which is issue, receive or both.
func (e *Engine) SetDefault(ctx context.Context, tenant, accountID, openid string, which domain.Business) error {
	_, err := e.ask(ctx, tenant, &setDefault{AccountID: accountID, OpenID: openid, Which: which})
	return err
}

// ApplyAdmin is F9; SubmitFlowCode finishes it.
func (e *Engine) ApplyAdmin(ctx context.Context, tenant, taxNo, openid, username string, password domain.Secret) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &applyAdmin{TaxNo: domain.NormalizeTaxNo(taxNo), OpenID: openid, Username: strings.TrimSpace(username), Password: password})
}

// StepDownAdmin ends openid's admin grant on an enterprise.
func (e *Engine) StepDownAdmin(ctx context.Context, tenant, taxNo, openid string) error {
	_, err := e.ask(ctx, tenant, &stepDown{TaxNo: domain.NormalizeTaxNo(taxNo), OpenID: openid})
	return err
}

// DeleteAccount is F10.
func (e *Engine) DeleteAccount(ctx context.Context, tenant, accountID, openid string) error {
	_, err := e.ask(ctx, tenant, &deleteAccount{AccountID: accountID, OpenID: openid})
	return err
}

// Unlock is F13.
func (e *Engine) Unlock(ctx context.Context, tenant, accountID, openid string) error {
	_, err := e.ask(ctx, tenant, &unlockAccount{AccountID: accountID, OpenID: openid})
	return err
}

// StartPasswordReset is F11's first step (identity document). The reply is
// awaiting_code; for hosted login types the code is read automatically and
// the reply becomes awaiting_password on the next SubmitFlowCode or poll.
func (e *Engine) StartPasswordReset(ctx context.Context, tenant, accountID, openid, idType, idNumber string) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &startReset{AccountID: accountID, OpenID: openid, IdType: strings.TrimSpace(idType), IdNumber: strings.TrimSpace(idNumber)})
}

// UpdatePassword is F12: the password changed at the bureau is checked there
// and then stored for every account of the same person.
func (e *Engine) UpdatePassword(ctx context.Context, tenant, accountID, openid string, password domain.Secret) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &updatePassword{AccountID: accountID, OpenID: openid, Password: password})
}

// Accounts lists a tenant's accounts (of one enterprise when taxNo is set).
func (e *Engine) Accounts(ctx context.Context, tenant, taxNo, openid string) ([]AccountView, error) {
	return askAs[[]AccountView](e, ctx, tenant, &listAccounts{TaxNo: domain.NormalizeTaxNo(taxNo), OpenID: openid})
}
