package h5

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

// notices are the success texts the account page shows after a change, as
// the one-time flash of the redirect (seeOther) or of the QR poll that
// answered "confirmed" (setFlash).
var notices = map[string]string{
	"added":     "新增电子税局账号成功",
	"default":   "设置默认账号成功",
	"deleted":   "删除电子税局账号成功",
	"rebound":   "已更换绑定微信",
	"loggedin":  "登录成功",
	"certified": "认证成功",
	"qr":        "扫码登录成功",
}

// businesses are the choices of 新增 and 设置默认账号, in the manual's order.
var businesses = []domain.Business{domain.BusinessIssue, domain.BusinessReceive, domain.BusinessBoth}

type loginOption struct {
	Code      string
	Name      string
	Withdrawn bool
}

// loginOptions are the 登录类型 of the add form; 发票云登录App is withdrawn.
var loginOptions = []loginOption{
	{Code: string(domain.LoginManual), Name: domain.LoginManual.Name()},
	{Code: string(domain.LoginHuameng), Name: domain.LoginHuameng.Name()},
	{Code: string(domain.LoginQixiangyun), Name: domain.LoginQixiangyun.Name()},
	{Code: string(domain.LoginFapiaoyunApp), Name: domain.LoginFapiaoyunApp.Name(), Withdrawn: true},
}

type roleOption struct {
	Code string
	Name string
}

// addForm is what the add form shows again after an error (never the password).
type addForm struct {
	Business  domain.Business
	Role      string
	Username  string
	LoginType string
}

// formValue is a trimmed copy of a form field: Fiber's strings alias the
// request buffer, which is reused after the handler returns, and the engine
// keeps what it is given (the username of an account).
func formValue(c *fiber.Ctx, name string) string {
	return strings.Clone(strings.TrimSpace(c.FormValue(name)))
}

// param is an unescaped copy of a route parameter.
func param(c *fiber.Ctx, name string) string {
	v, err := url.PathUnescape(c.Params(name))
	if err != nil {
		v = c.Params(name)
	}
	return strings.Clone(v)
}

// F3: 新增.

func (h *H5) addPage(c *fiber.Ctx) error {
	b, err := domain.ParseBusiness(c.Query("business"))
	if c.Query("business") == "" || err != nil {
		b = 0 // the choice 开票业务 / 收票业务 / 开票+收票
	}
	return h.addFormPage(c, fiber.StatusOK, addForm{Business: b, LoginType: string(domain.LoginManual)}, "")
}

func (h *H5) addFormPage(c *fiber.Ctx, status int, f addForm, errMsg string) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	region := ent.Region
	if r, ok := domain.RegionByCode(ent.Region); ok {
		region = r.Name
	}
	roles := make([]roleOption, 0, len(domain.Roles()))
	for _, r := range domain.Roles() {
		roles = append(roles, roleOption{Code: string(r), Name: r.Name()})
	}
	base := h.base(t, ent)
	return h.render(c, status, "add", fiber.Map{"Title": "新增账号", "Back": base, "Base": base, "Enterprise": ent,
		"Region": region, "Form": f, "Businesses": businesses, "Roles": roles, "LoginTypes": loginOptions, "Error": errMsg})
}

func (h *H5) add(c *fiber.Ctx) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	f := addForm{Role: formValue(c, "role"), Username: formValue(c, "username"), LoginType: formValue(c, "login_type")}
	b, err := domain.ParseBusiness(c.FormValue("business"))
	if err != nil {
		return h.addFormPage(c, statusOf(err), f, h.userMessage(err))
	}
	f.Business = b
	if f.LoginType == "" {
		f.LoginType = string(domain.LoginManual)
	}
	password := strings.Clone(c.FormValue("password"))
	switch {
	case f.Username == "":
		return h.addFormPage(c, fiber.StatusBadRequest, f, "请输入电子税局账号")
	case password == "":
		return h.addFormPage(c, fiber.StatusBadRequest, f, "请输入密码")
	}
	cmd := actors.AddAccount{OpenID: openidOf(c), TaxNo: ent.TaxNo, Business: b.String(), Username: f.Username,
		Password: domain.NewSecret(password), LoginType: f.LoginType, Role: f.Role}
	if formValue(c, "via") == "qr" {
		cmd.QRApp = actors.AppTax
		if formValue(c, "app") == string(actors.AppIIT) {
			cmd.QRApp = actors.AppIIT
		}
	}
	fr, err := h.eng.AddAccount(c.UserContext(), t.ID, cmd)
	if err != nil {
		return h.addFormPage(c, waitStatus(c, err), f, h.userMessage(err))
	}
	if fr.State == actors.FlowAwaitingScan && fr.QR != nil {
		return h.addQRPage(c, t, ent, fr)
	}
	return h.flowNextTo(c, t, ent, fr, nextAdd)
}

// flowNextTo shows the code page while the flow awaits the SMS code, the new
// password page while a reset awaits it, and where next says once it is done.
func (h *H5) flowNextTo(c *fiber.Ctx, t actors.TenantInfo, ent *actors.EnterpriseView, fr actors.FlowReply, next string) error {
	base := h.base(t, ent)
	switch {
	case fr.State == actors.FlowAwaitingCode:
		return h.codePage(c, fiber.StatusOK, base, fr.FlowID, fr.PhoneMasked, next, "")
	case fr.State == actors.FlowAwaitingPassword && next == nextReset:
		return h.newPasswordPage(c, fiber.StatusOK, base, fr.FlowID, "")
	case fr.State != actors.FlowDone:
		return h.fail(c, domain.ErrInternal)
	}
	switch next {
	case nextRebind:
		return h.seeOther(c, base+cardAnchor(fr.AccountID), notices["rebound"])
	case nextAdmin:
		return h.seeOther(c, h.prefix+"/"+entAnchor(t, ent), centerNotices["admin"])
	case nextReset:
		return h.updatedPage(c, base, "重置税局密码", fr.Updated)
	}
	return h.seeOther(c, base+cardAnchor(fr.AccountID), notices["added"])
}

// validNext is the code page's "next" if it is one the pages know.
func validNext(v string) string {
	switch v {
	case nextRebind, nextAdmin, nextReset:
		return v
	}
	return nextAdd
}

func (h *H5) codePage(c *fiber.Ctx, status int, base, flowID, phone, next, errMsg string) error {
	return h.codePageWith(c, status, base, flowID, phone, next, errMsg, "")
}

// codePageWith is the code page with a notice; its 重新获取 button comes
// from where the flow stands (resend.go).
func (h *H5) codePageWith(c *fiber.Ctx, status int, base, flowID, phone, next, errMsg, notice string) error {
	title := "验证码登录"
	if next == nextReset {
		title = "输入验证码"
	}
	return h.render(c, status, "code", fiber.Map{"Title": title, "Back": base, "Base": base,
		"FlowID": flowID, "Phone": phone, "Next": next, "Error": errMsg, "Notice": notice,
		"Resend": h.flowResend(c, base, flowID)})
}

func (h *H5) submitCode(c *fiber.Ctx) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	fid := param(c, "fid")
	phone := formValue(c, "phone") // masked, only shown again
	code := formValue(c, "code")
	next := validNext(c.FormValue("next"))
	if !domain.ValidSMSCode(code) {
		return h.codePage(c, fiber.StatusBadRequest, h.base(t, ent), fid, phone, next, "请输入6位验证码")
	}
	fr, err := h.eng.SubmitFlowCode(c.UserContext(), t.ID, fid, openidOf(c), code)
	if err != nil {
		return h.codePage(c, statusOf(err), h.base(t, ent), fid, phone, next, h.userMessage(err))
	}
	return h.flowNextTo(c, t, ent, fr, next)
}

// accountOf returns the account of the URL as openid sees it.
func (h *H5) accountOf(c *fiber.Ctx) (actors.TenantInfo, *actors.EnterpriseView, *accountRow, error) {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return t, nil, nil, err
	}
	aid := param(c, "aid")
	list, err := h.eng.Accounts(c.UserContext(), t.ID, ent.TaxNo, openidOf(c))
	if err != nil {
		return t, ent, nil, err
	}
	for _, a := range list {
		if a.ID == aid {
			r := rowOf(a, ent, openidOf(c))
			return t, ent, &r, nil
		}
	}
	return t, ent, nil, domain.ErrAccountNotFound
}

// F5: 设置默认账号.

func (h *H5) defaultPage(c *fiber.Ctx) error {
	return h.defaultForm(c, fiber.StatusOK, "", "")
}

func (h *H5) defaultForm(c *fiber.Ctx, status int, which, errMsg string) error {
	t, ent, a, err := h.accountOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	if !a.CanOperate {
		return h.fail(c, domain.ErrNotPermitted)
	}
	base := h.base(t, ent)
	return h.render(c, status, "default", fiber.Map{"Title": "设置默认账号", "Back": base, "Base": base, "Enterprise": ent,
		"Account": a, "Businesses": businesses, "Which": which, "Error": errMsg})
}

func (h *H5) setDefault(c *fiber.Ctx) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	which := formValue(c, "which")
	b, err := domain.ParseBusiness(which)
	if err != nil {
		return h.defaultForm(c, fiber.StatusBadRequest, which, "请选择默认账号的业务")
	}
	aid := param(c, "aid")
	if err := h.eng.SetDefault(c.UserContext(), t.ID, aid, openidOf(c), b); err != nil {
		if refusesUser(err) {
			return h.fail(c, err)
		}
		return h.defaultForm(c, statusOf(err), b.String(), h.userMessage(err))
	}
	return h.seeOther(c, h.base(t, ent)+cardAnchor(aid), notices["default"])
}

// refusesUser reports whether err refuses the user rather than the choice: the
// page is not shown again then.
func refusesUser(err error) bool { return statusOf(err) == fiber.StatusForbidden }

// F10: 删除.

func (h *H5) deletePage(c *fiber.Ctx) error {
	t, ent, a, err := h.accountOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	if !a.CanOperate {
		return h.fail(c, domain.ErrNotPermitted)
	}
	base := h.base(t, ent)
	return h.render(c, fiber.StatusOK, "delete", fiber.Map{"Title": "删除账号", "Back": base, "Base": base, "Enterprise": ent, "Account": a})
}

func (h *H5) deleteAccount(c *fiber.Ctx) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	aid := param(c, "aid")
	if err := h.eng.DeleteAccount(c.UserContext(), t.ID, aid, openidOf(c)); err != nil {
		return h.accountsPage(c, statusOf(err), h.userMessage(err))
	}
	return h.seeOther(c, h.base(t, ent), notices["deleted"])
}
