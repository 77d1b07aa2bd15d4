package h5

// F9 数电配置管理员: applying to be, and stepping down as, an enterprise's administrator.

import (
	"github.com/gofiber/fiber/v2"
)

func (h *H5) adminPage(c *fiber.Ctx) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	base := h.base(t, ent)
	return h.render(c, fiber.StatusOK, "admin", fiber.Map{"Title": "申请绑定", "Back": h.prefix + "/", "Base": base, "Enterprise": ent,
		"Explain": true})
}

func (h *H5) adminApplyPage(c *fiber.Ctx) error {
	return h.adminForm(c, fiber.StatusOK, credForm{}, "")
}

func (h *H5) adminForm(c *fiber.Ctx, status int, f credForm, errMsg string) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	base := h.base(t, ent)
	return h.render(c, status, "admin", fiber.Map{"Title": "申请绑定", "Back": base + "/admin", "Base": base, "Enterprise": ent,
		"Form": f, "Error": errMsg})
}

func (h *H5) adminApply(c *fiber.Ctx) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	f, password, problem := readCredentials(c, "请输入法人或财务负责人的电子税局账号")
	if problem != "" {
		return h.adminForm(c, fiber.StatusBadRequest, f, problem)
	}
	fr, err := h.eng.ApplyAdmin(c.UserContext(), t.ID, ent.TaxNo, openidOf(c), f.Username, password)
	if err != nil {
		return h.adminForm(c, waitStatus(c, err), f, h.userMessage(err))
	}
	return h.flowNextTo(c, t, ent, fr, nextAdmin)
}

func (h *H5) stepDown(c *fiber.Ctx) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	if err := h.eng.StepDownAdmin(c.UserContext(), t.ID, ent.TaxNo, openidOf(c)); err != nil {
		return h.fail(c, err)
	}
	return h.seeOther(c, h.prefix+"/"+entAnchor(t, ent), centerNotices["stepdown"])
}
