package h5

import (
	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
)

// The manual's 编辑 page and 个人中心's 解绑企业.

// editPage is 更多 → 编辑: 绑定微信收登录通知 or 解绑, 设置默认账号, 修改密码
// (the manual's 编辑电子税局账号 page). Only those who may operate the
// account see it.
func (h *H5) editPage(c *fiber.Ctx) error {
	t, ent, a, ok, err := h.operableAccount(c)
	if !ok {
		return err
	}
	base := h.base(t, ent)
	return h.render(c, fiber.StatusOK, "edit", fiber.Map{"Title": "编辑", "Back": base, "Base": base, "Enterprise": ent, "Account": a})
}

// boundToMe is the accounts of the URL's enterprise bound to the user: what
// 解绑企业 unbinds.
func (h *H5) boundToMe(c *fiber.Ctx) (actors.TenantInfo, *actors.EnterpriseView, []actors.AccountView, error) {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return t, ent, nil, err
	}
	list, err := h.eng.Accounts(c.UserContext(), t.ID, ent.TaxNo, openidOf(c))
	if err != nil {
		return t, ent, nil, err
	}
	mine := make([]actors.AccountView, 0, len(list))
	for _, a := range list {
		if a.BoundToMe {
			mine = append(mine, a)
		}
	}
	return t, ent, mine, nil
}

// unbindEnterprisePage confirms 解绑企业 (manual §解除微信绑定的电子税局账号 ③):
// it lists the accounts that will be unbound and the manual's warning.
func (h *H5) unbindEnterprisePage(c *fiber.Ctx) error {
	t, ent, mine, err := h.boundToMe(c)
	if err != nil {
		return h.fail(c, err)
	}
	return h.render(c, fiber.StatusOK, "unbindent", fiber.Map{"Title": "解绑企业", "Back": h.prefix + "/", "Tenant": t,
		"Enterprise": ent, "Accounts": mine, "Action": h.base(t, ent) + "/unbind"})
}

// unbindEnterprise unbinds every account of the enterprise bound to the user.
func (h *H5) unbindEnterprise(c *fiber.Ctx) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	if _, err := h.eng.UnbindEnterprise(c.UserContext(), t.ID, ent.TaxNo, openidOf(c)); err != nil {
		return h.fail(c, err)
	}
	return h.seeOther(c, h.prefix+"/"+entAnchor(t, ent), centerNotices["unbound"])
}
