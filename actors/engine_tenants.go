// engine_tenants.go: the Engine's operations on tenants, their enterprises and their WeChat users (F1, F2).

package actors

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"strings"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// NewActivationCode returns a random 12-character activation code.
func NewActivationCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var b strings.Builder
	for i := 0; i < 12; i++ {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err)
		}
		b.WriteByte(alphabet[n.Int64()])
	}
	return b.String()
}

// CreateTenant creates a tenant with the given id (empty: a new one) and
// activation code (empty: a random one). The code is returned once and
// stored only hashed.
func (e *Engine) CreateTenant(ctx context.Context, id, name, code string) (TenantInfo, error) {
	if id == "" {
		id = newID("t")
	}
	if !validID(id) {
		return TenantInfo{}, domain.Invalid("id", "租户编号只能包含小写字母、数字、-和_")
	}
	if name == "" {
		return TenantInfo{}, domain.Invalid("name", "请输入租户名称")
	}
	if code == "" {
		code = NewActivationCode()
	}
	if len(code) < 6 {
		return TenantInfo{}, domain.Invalid("activation_code", "激活码至少6位")
	}
	v, err := askAs[*TenantInfo](e, ctx, id, &createTenant{Name: name, Code: code})
	if err != nil {
		return TenantInfo{}, err
	}
	return *v, nil
}

// Tenant returns a tenant's name.
func (e *Engine) Tenant(ctx context.Context, tenant string) (TenantInfo, error) {
	v, err := askAs[*TenantInfo](e, ctx, tenant, &describeTenant{})
	if err != nil {
		return TenantInfo{}, err
	}
	return *v, nil
}

// RotateActivationCode replaces a tenant's activation code.
func (e *Engine) RotateActivationCode(ctx context.Context, tenant string) (TenantInfo, error) {
	v, err := askAs[*TenantInfo](e, ctx, tenant, &rotateCode{Code: NewActivationCode()})
	if err != nil {
		return TenantInfo{}, err
	}
	return *v, nil
}

// AddEnterprise registers an enterprise (tax number, name, region; the
// region may be derived from the tax number).
func (e *Engine) AddEnterprise(ctx context.Context, tenant, taxNo, name, region string) (EnterpriseView, error) {
	return askAs[EnterpriseView](e, ctx, tenant, &addEnterprise{TaxNo: taxNo, Name: name, Region: region})
}

// Enterprises lists a tenant's enterprises as openid sees them.
func (e *Engine) Enterprises(ctx context.Context, tenant, openid string) ([]EnterpriseView, error) {
	return askAs[[]EnterpriseView](e, ctx, tenant, &listEnterprises{OpenID: openid})
}

// LinkTenant is F1: a WeChat user links the tenant of an activation code.
// Wrong codes are limited per openid (5 per 10 minutes by default), per
// client address (WithClientAddr; 10) and across etaxd (30): a wrong code
// names no tenant, so the total is the limit that fresh openids and fresh
// addresses cannot escape. While a limit holds even the right code is
// refused, or guessing would go on.
func (e *Engine) LinkTenant(ctx context.Context, openid, code string) (TenantInfo, error) {
	return e.link(ctx, "", openid, code)
}

// LinkTenantAt is LinkTenant for a caller that names the tenant (the ops
// API's /tenants/{id}/links): a code of another tenant is a wrong code,
// and links nothing.
func (e *Engine) LinkTenantAt(ctx context.Context, tenant, openid, code string) (TenantInfo, error) {
	return e.link(ctx, tenant, openid, code)
}

func (e *Engine) link(ctx context.Context, tenant, openid, code string) (TenantInfo, error) {
	if openid == "" {
		return TenantInfo{}, domain.ErrNotLinked
	}
	addr := clientAddrOf(ctx)
	wait := max(e.limiter.wait(openid), e.total.wait(""))
	if addr != "" {
		wait = max(wait, e.byAddr.wait(addr))
	}
	if wait > 0 {
		return TenantInfo{}, domain.ErrActivationRateLimit.RetryIn(wait)
	}
	code = strings.TrimSpace(code)
	c, cancel := e.d.storeCtx()
	rec, err := e.d.store.Get(c, keyActivation(hashCode(code)))
	cancel()
	if errors.Is(err, persistence.ErrNotFound) || code == "" || err == nil && tenant != "" && string(rec.Value) != tenant {
		e.limiter.add(openid)
		e.total.add("")
		if addr != "" {
			e.byAddr.add(addr)
		}
		e.d.audit("", "wx:"+openid, "tenant.link", "tenant/?", domain.ErrActivationCode)
		return TenantInfo{}, domain.ErrActivationCode
	}
	if err != nil {
		return TenantInfo{}, domain.ErrBusy.Wrap(err)
	}
	v, err := askAs[*TenantInfo](e, ctx, string(rec.Value), &linkUser{OpenID: openid})
	if err != nil {
		return TenantInfo{}, err
	}
	return *v, nil
}

// TenantsOf lists the tenants a WeChat user linked. The user's index may
// name a tenant whose link failed or was undone (it is written before the
// link and after the unlink): each tenant confirms the link.
func (e *Engine) TenantsOf(ctx context.Context, openid string) ([]TenantInfo, error) {
	c, cancel := e.d.storeCtx()
	rec, err := e.d.store.Get(c, keyWeChatUser(openid))
	cancel()
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, domain.ErrBusy.Wrap(err)
	}
	var u wechatUser
	if err := jsonUnmarshal(rec.Value, &u); err != nil {
		return nil, domain.ErrInternal.Wrap(err)
	}
	out := make([]TenantInfo, 0, len(u.Tenants))
	for _, id := range u.Tenants {
		if info, err := askAs[*TenantInfo](e, ctx, id, &describeTenant{Linked: openid}); err == nil {
			out = append(out, *info)
		}
	}
	return out, nil
}

// UnlinkPreview lists the accounts openid will stop being bound to (F2).
func (e *Engine) UnlinkPreview(ctx context.Context, tenant, openid string) ([]AccountView, error) {
	return askAs[[]AccountView](e, ctx, tenant, &unlinkUser{OpenID: openid, Preview: true})
}

// UnlinkTenant is F2: the user's bindings in the tenant are removed, then
// the link. It returns the accounts that were unbound.
func (e *Engine) UnlinkTenant(ctx context.Context, tenant, openid string) ([]AccountView, error) {
	return askAs[[]AccountView](e, ctx, tenant, &unlinkUser{OpenID: openid})
}

// WeChatSubscription records that openid followed (subscribed) or unfollowed
// the official account, in every tenant the user linked: while unfollowed,
// the accounts bound to them get login links (F16) instead of WeChat
// messages, and clients hear binding.unreachable.
func (e *Engine) WeChatSubscription(ctx context.Context, openid string, subscribed bool) error {
	if openid == "" || len(openid) > 128 {
		return domain.ErrInvalidInput.With("openid无效", "invalid openid")
	}
	r, err := e.d.store.Get(ctx, keyWeChatUser(openid))
	if errors.Is(err, persistence.ErrNotFound) {
		return nil // never linked a tenant: nothing is bound to them
	}
	if err != nil {
		return domain.ErrInternal.Wrap(err)
	}
	var u wechatUser
	if err := jsonUnmarshal(r.Value, &u); err != nil {
		return domain.ErrInternal.Wrap(err)
	}
	var first error
	for _, tenant := range u.Tenants {
		if _, err := e.ask(ctx, tenant, &recordSubscription{OpenID: openid, Subscribed: subscribed}); err != nil && first == nil {
			first = err
		}
	}
	return first
}
