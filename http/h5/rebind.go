package h5

// F8 更换微信: moving an account's binding to the signed-in WeChat user after its password and SMS code.

import (
	"github.com/gofiber/fiber/v2"
)

func (h *H5) rebindPage(c *fiber.Ctx) error {
	return h.rebindForm(c, fiber.StatusOK, credForm{}, "")
}

func (h *H5) rebindForm(c *fiber.Ctx, status int, f credForm, errMsg string) error {
	t, ent, a, err := h.accountOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	base := h.base(t, ent)
	return h.render(c, status, "rebind", fiber.Map{"Title": "更换微信", "Back": base, "Base": base, "Enterprise": ent,
		"Account": a, "Form": f, "Error": errMsg})
}

func (h *H5) rebind(c *fiber.Ctx) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	f, password, problem := readCredentials(c, "请输入电子税局账号")
	if problem != "" {
		return h.rebindForm(c, fiber.StatusBadRequest, f, problem)
	}
	fr, err := h.eng.ChangeBinding(c.UserContext(), t.ID, param(c, "aid"), openidOf(c), f.Username, password)
	if err != nil {
		if refusesUser(err) {
			return h.fail(c, err)
		}
		return h.rebindForm(c, waitStatus(c, err), f, h.userMessage(err))
	}
	return h.flowNextTo(c, t, ent, fr, nextRebind)
}
