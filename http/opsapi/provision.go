package opsapi

import (
	"context"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

// Provisioner is what the provisioning routes need of the engine: the
// personal center's operations (F1, F3, F4, F5, F10, F13) done by an
// operator or an ERP vendor's onboarding script on behalf of a WeChat user.
// The H5 pages call the same engine methods.
type Provisioner interface {
	AddEnterprise(ctx context.Context, tenant, taxNo, name, region string) (actors.EnterpriseView, error)
	Enterprises(ctx context.Context, tenant, openid string) ([]actors.EnterpriseView, error)
	LinkTenantAt(ctx context.Context, tenant, openid, code string) (actors.TenantInfo, error)
	AddAccount(ctx context.Context, tenant string, cmd actors.AddAccount) (actors.FlowReply, error)
	SubmitFlowCode(ctx context.Context, tenant, flowID, openid, code string) (actors.FlowReply, error)
	Bind(ctx context.Context, tenant, accountID, openid string) error
	SetDefault(ctx context.Context, tenant, accountID, openid string, which domain.Business) error
	Unlock(ctx context.Context, tenant, accountID, openid string) error
	DeleteAccount(ctx context.Context, tenant, accountID, openid string) error
}

var _ Provisioner = (*actors.Engine)(nil)

// RegisterProvisioning adds the provisioning routes to r (mounted, like
// Register's, under the operator-guarded /ops group).
func RegisterProvisioning(r fiber.Router, e Provisioner, opts ...Option) {
	p := &provisioning{api: newAPI(opts), e: e}
	r.Get("/v1/tenants/:id/enterprises", p.enterprises)
	r.Post("/v1/tenants/:id/enterprises", p.addEnterprise)
	r.Post("/v1/tenants/:id/links", p.link)
	r.Post("/v1/tenants/:id/accounts", p.addAccount)
	r.Post("/v1/tenants/:id/flows/:flow/code", p.flowCode)
	r.Post("/v1/tenants/:id/accounts/:account/bind", p.bind)
	r.Post("/v1/tenants/:id/accounts/:account/default", p.setDefault)
	r.Post("/v1/tenants/:id/accounts/:account/unlock", p.unlock)
	r.Delete("/v1/tenants/:id/accounts/:account", p.delete)
}

type provisioning struct {
	*api
	e Provisioner
}

// EnterpriseRequest is the body of POST /v1/tenants/{id}/enterprises; an
// empty region is derived from the tax number.
type EnterpriseRequest struct {
	TaxNo  string `json:"tax_no"`
	Name   string `json:"name"`
	Region string `json:"region,omitempty"`
}

// LinkRequest links a WeChat user to the tenant with its activation code (F1).
type LinkRequest struct {
	OpenID         string `json:"openid"`
	ActivationCode string `json:"activation_code"`
}

// AccountRequest is F3's form.
type AccountRequest struct {
	OpenID    string `json:"openid"`
	TaxNo     string `json:"tax_no"`
	Business  string `json:"business"`
	Username  string `json:"username"`
	Password  string `json:"password"`
	LoginType string `json:"login_type,omitempty"`
	Role      string `json:"role,omitempty"`
}

// CodeRequest passes a flow's SMS code.
type CodeRequest struct {
	OpenID string `json:"openid"`
	Code   string `json:"code"`
}

// OperatorRequest names the WeChat user an operation is done for.
type OperatorRequest struct {
	OpenID string `json:"openid"`
	Which  string `json:"which,omitempty"` // default: issue, receive or both
}

func (p *provisioning) enterprises(c *fiber.Ctx) error {
	ctx, cancel := p.ctx(c)
	defer cancel()
	es, err := p.e.Enterprises(ctx, param(c, "id"), "")
	if err != nil {
		return p.fail(c, err)
	}
	return c.JSON(fiber.Map{"enterprises": es})
}

func (p *provisioning) addEnterprise(c *fiber.Ctx) error {
	var req EnterpriseRequest
	if err := decode(c.Body(), &req, false); err != nil {
		return p.fail(c, err)
	}
	ctx, cancel := p.ctx(c)
	defer cancel()
	e, err := p.e.AddEnterprise(ctx, param(c, "id"), req.TaxNo, strings.TrimSpace(req.Name), req.Region)
	if err != nil {
		return p.fail(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(e)
}

func (p *provisioning) link(c *fiber.Ctx) error {
	var req LinkRequest
	if err := decode(c.Body(), &req, false); err != nil {
		return p.fail(c, err)
	}
	ctx, cancel := p.ctx(c)
	defer cancel()
	t, err := p.e.LinkTenantAt(actors.WithClientAddr(ctx, c.IP()), param(c, "id"), strings.TrimSpace(req.OpenID), req.ActivationCode)
	if err != nil {
		return p.fail(c, err)
	}
	return c.JSON(t)
}

func (p *provisioning) addAccount(c *fiber.Ctx) error {
	var req AccountRequest
	if err := decode(c.Body(), &req, false); err != nil {
		return p.fail(c, err)
	}
	ctx, cancel := p.ctx(c)
	defer cancel()
	r, err := p.e.AddAccount(ctx, param(c, "id"), actors.AddAccount{OpenID: strings.TrimSpace(req.OpenID), TaxNo: req.TaxNo,
		Business: req.Business, Username: strings.TrimSpace(req.Username), Password: domain.NewSecret(req.Password),
		LoginType: req.LoginType, Role: req.Role})
	if err != nil {
		return p.fail(c, err)
	}
	return c.JSON(r)
}

func (p *provisioning) flowCode(c *fiber.Ctx) error {
	var req CodeRequest
	if err := decode(c.Body(), &req, false); err != nil {
		return p.fail(c, err)
	}
	ctx, cancel := p.ctx(c)
	defer cancel()
	r, err := p.e.SubmitFlowCode(ctx, param(c, "id"), param(c, "flow"), strings.TrimSpace(req.OpenID), req.Code)
	if err != nil {
		return p.fail(c, err)
	}
	return c.JSON(r)
}

func (p *provisioning) bind(c *fiber.Ctx) error {
	return p.accountOp(c, func(ctx context.Context, tenant, account string, req OperatorRequest) error {
		return p.e.Bind(ctx, tenant, account, req.OpenID)
	})
}

func (p *provisioning) setDefault(c *fiber.Ctx) error {
	return p.accountOp(c, func(ctx context.Context, tenant, account string, req OperatorRequest) error {
		which, err := domain.ParseBusiness(req.Which)
		if err != nil {
			return err
		}
		return p.e.SetDefault(ctx, tenant, account, req.OpenID, which)
	})
}

func (p *provisioning) unlock(c *fiber.Ctx) error {
	return p.accountOp(c, func(ctx context.Context, tenant, account string, req OperatorRequest) error {
		return p.e.Unlock(ctx, tenant, account, req.OpenID)
	})
}

func (p *provisioning) delete(c *fiber.Ctx) error {
	return p.accountOp(c, func(ctx context.Context, tenant, account string, req OperatorRequest) error {
		return p.e.DeleteAccount(ctx, tenant, account, req.OpenID)
	})
}

// accountOp decodes the operator request and runs op on the path's account.
func (p *provisioning) accountOp(c *fiber.Ctx, op func(ctx context.Context, tenant, account string, req OperatorRequest) error) error {
	var req OperatorRequest
	if err := decode(c.Body(), &req, false); err != nil {
		return p.fail(c, err)
	}
	req.OpenID = strings.TrimSpace(req.OpenID)
	ctx, cancel := p.ctx(c)
	defer cancel()
	if err := op(ctx, param(c, "id"), param(c, "account"), req); err != nil {
		return p.fail(c, err)
	}
	return c.JSON(fiber.Map{"ok": true})
}
