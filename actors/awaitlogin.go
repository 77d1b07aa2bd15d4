// awaitlogin.go: adding a manual account that waits for its first login, without a verification flow.

package actors

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
)

// addAwaitingAccount asks the tenant to create a manual account without a
// verification flow (reply: the account id as a string).
type addAwaitingAccount struct{ Cmd AddAccount }

// AddAccountAwaitingLogin creates a 人工登录 (manual) account as F3's form
// describes it, without asking the tax bureau: the bulk import (etaxd import
// accounts) onboards hundreds of accounts whose people are not at hand to
// type an SMS code now. The password is sealed and stored unverified; the
// account has no session, so its first login (a client's request or the
// person's own) asks the bureau and sends the usual SMS prompt, and a wrong
// password shows there. The role is required, as nothing else tells it
// before that login. It returns the new account's id; the same tax number
// and username again is ErrAccountExists. Hosted login types are refused
// (ErrInvalidLoginType): their code needs no person, so AddAccount finishes
// them at once.
func (e *Engine) AddAccountAwaitingLogin(ctx context.Context, tenant string, cmd AddAccount) (string, error) {
	return askAs[string](e, ctx, tenant, &addAwaitingAccount{Cmd: cmd})
}

func (t *tenantActor) onAddAwaiting(ctx actor.Context, m *addAwaitingAccount) {
	c := m.Cmd
	c.QRApp = ""
	if lt, err := domain.ParseLoginType(c.LoginType); err == nil && lt.Hosted() {
		ctx.Respond(domain.ErrInvalidLoginType.With("托管号码请直接添加（验证码自动获取）", "hosted login types are added with AddAccount"))
		return
	}
	if c.Role == "" {
		ctx.Respond(domain.ErrInvalidRole.With("请选择身份", "role required"))
		return
	}
	spec, err := t.validateAdd(c)
	if err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	id, err := t.createAccount(ctx, &flowVerified{spec: spec, role: spec.role})
	if err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	ctx.Respond(id)
}
