package h5

// F11, F12 修改密码: resetting the bureau password by identity and SMS code, and updating a stored one.

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/domain"
)

type idTypeOption struct {
	Code string
	Name string
}

// idTypes are the 证件类型 of the reset's identity page; 居民身份证 first.
var idTypes = []idTypeOption{
	{Code: "201", Name: "居民身份证"},
	{Code: "208", Name: "外国护照"},
	{Code: "210", Name: "港澳居民来往内地通行证"},
	{Code: "213", Name: "台湾居民来往大陆通行证"},
}

func (h *H5) passwordPage(c *fiber.Ctx) error {
	t, ent, a, ok, err := h.operableAccount(c)
	if !ok {
		return err
	}
	base := h.base(t, ent)
	return h.render(c, fiber.StatusOK, "password", fiber.Map{"Title": "修改密码", "Back": base, "Base": base, "Enterprise": ent,
		"Account": a, "Step": "choice"})
}

func (h *H5) resetPage(c *fiber.Ctx) error {
	return h.resetForm(c, fiber.StatusOK, idTypes[0].Code, "", "")
}

func (h *H5) resetForm(c *fiber.Ctx, status int, idType, idNumber, errMsg string) error {
	t, ent, a, ok, err := h.operableAccount(c)
	if !ok {
		return err
	}
	base := h.base(t, ent)
	return h.render(c, status, "password", fiber.Map{"Title": "重置税局密码", "Back": base + "/accounts/" + a.ID + "/password",
		"Base": base, "Enterprise": ent, "Account": a, "Step": "identity", "IDTypes": idTypes, "IDType": idType,
		"IDNumber": idNumber, "Error": errMsg})
}

func (h *H5) startReset(c *fiber.Ctx) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	idType, idNumber := formValue(c, "id_type"), formValue(c, "id_number")
	if idType == "" {
		idType = idTypes[0].Code
	}
	if idNumber == "" {
		return h.resetForm(c, fiber.StatusBadRequest, idType, idNumber, "请输入证件号码")
	}
	fr, err := h.eng.StartPasswordReset(c.UserContext(), t.ID, param(c, "aid"), openidOf(c), idType, idNumber)
	if err != nil {
		if refusesUser(err) {
			return h.fail(c, err)
		}
		return h.resetForm(c, statusOf(err), idType, idNumber, h.userMessage(err))
	}
	return h.flowNextTo(c, t, ent, fr, nextReset)
}

func (h *H5) newPasswordPage(c *fiber.Ctx, status int, base, flowID, errMsg string) error {
	return h.render(c, status, "password", fiber.Map{"Title": "重置密码", "Back": base, "Base": base, "Step": "new",
		"FlowID": flowID, "Error": errMsg})
}

func (h *H5) completeReset(c *fiber.Ctx) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	base, fid := h.base(t, ent), param(c, "fid")
	password, confirm := strings.Clone(c.FormValue("password")), strings.Clone(c.FormValue("confirm"))
	switch {
	case password == "":
		return h.newPasswordPage(c, fiber.StatusBadRequest, base, fid, "请输入新密码")
	case confirm == "":
		return h.newPasswordPage(c, fiber.StatusBadRequest, base, fid, "请输入确认密码")
	}
	fr, err := h.eng.CompleteReset(c.UserContext(), t.ID, fid, openidOf(c), domain.NewSecret(password), domain.NewSecret(confirm))
	if err != nil {
		return h.newPasswordPage(c, statusOf(err), base, fid, h.userMessage(err))
	}
	return h.updatedPage(c, base, "重置税局密码", fr.Updated)
}

func (h *H5) updatedPage(c *fiber.Ctx, base, title string, n int) error {
	return h.render(c, fiber.StatusOK, "password", fiber.Map{"Title": title, "Back": base, "Base": base, "Step": "updated",
		"Notice": "已更新" + strconv.Itoa(n) + "个关联账号"})
}

func (h *H5) updatePage(c *fiber.Ctx) error {
	return h.updateForm(c, fiber.StatusOK, "")
}

func (h *H5) updateForm(c *fiber.Ctx, status int, errMsg string) error {
	t, ent, a, ok, err := h.operableAccount(c)
	if !ok {
		return err
	}
	base := h.base(t, ent)
	return h.render(c, status, "password", fiber.Map{"Title": "更新发票云密码", "Back": base + "/accounts/" + a.ID + "/password",
		"Base": base, "Enterprise": ent, "Account": a, "Step": "update", "Error": errMsg})
}

func (h *H5) updatePassword(c *fiber.Ctx) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	password := strings.Clone(c.FormValue("password"))
	if password == "" {
		return h.updateForm(c, fiber.StatusBadRequest, "请输入税局最新密码")
	}
	fr, err := h.eng.UpdatePassword(c.UserContext(), t.ID, param(c, "aid"), openidOf(c), domain.NewSecret(password))
	if err != nil {
		if refusesUser(err) {
			return h.fail(c, err)
		}
		return h.updateForm(c, waitStatus(c, err), h.userMessage(err))
	}
	return h.updatedPage(c, h.base(t, ent), "更新发票云密码", fr.Updated)
}
