package h5

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

// centerNotices are the success texts the personal center shows after a
// change, as the flash of seeOther.
var centerNotices = map[string]string{
	"admin":    "已成为数电配置管理员",
	"stepdown": "已退出数电配置管理员",
	"unbound":  "已解绑该企业下绑定您微信的账号",
}

// Where a verification flow goes when it is done (the code page's "next").
const (
	nextAdd    = ""
	nextRebind = "rebind"
	nextAdmin  = "admin"
	nextReset  = "reset"
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

// credForm is a username/password form; the password is never shown again.
type credForm struct {
	Username string
}

// F8: 更换微信.

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
	f := credForm{Username: formValue(c, "username")}
	password := strings.Clone(c.FormValue("password"))
	switch {
	case f.Username == "":
		return h.rebindForm(c, fiber.StatusBadRequest, f, "请输入电子税局账号")
	case password == "":
		return h.rebindForm(c, fiber.StatusBadRequest, f, "请输入密码")
	}
	fr, err := h.eng.ChangeBinding(c.UserContext(), t.ID, param(c, "aid"), openidOf(c), f.Username, domain.NewSecret(password))
	if err != nil {
		if refusesUser(err) {
			return h.fail(c, err)
		}
		return h.rebindForm(c, waitStatus(c, err), f, h.userMessage(err))
	}
	return h.flowNextTo(c, t, ent, fr, nextRebind)
}

// F9: 数电配置管理员.

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
	f := credForm{Username: formValue(c, "username")}
	password := strings.Clone(c.FormValue("password"))
	switch {
	case f.Username == "":
		return h.adminForm(c, fiber.StatusBadRequest, f, "请输入法人或财务负责人的电子税局账号")
	case password == "":
		return h.adminForm(c, fiber.StatusBadRequest, f, "请输入密码")
	}
	fr, err := h.eng.ApplyAdmin(c.UserContext(), t.ID, ent.TaxNo, openidOf(c), f.Username, domain.NewSecret(password))
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

// F11, F12: 修改密码.

// operableAccount is the account of the URL if openid may operate it.
func (h *H5) operableAccount(c *fiber.Ctx) (actors.TenantInfo, *actors.EnterpriseView, *accountRow, bool, error) {
	t, ent, a, err := h.accountOf(c)
	if err != nil {
		return t, ent, a, false, h.fail(c, err)
	}
	if !a.CanOperate {
		return t, ent, a, false, h.fail(c, domain.ErrNotPermitted)
	}
	return t, ent, a, true, nil
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
