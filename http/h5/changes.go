package h5

// Shared by the account changes of rebind.go, admin.go and password.go: where a verified flow goes next, the center's notices and the credential form.

import (
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

// credForm is a username/password form; the password is never shown again.
type credForm struct {
	Username string
}

// readCredentials reads the username and password that 更换微信 (F8) and
// 申请绑定 (F9) prove a person with. problem is what the form says when one
// is missing (noUser names the username the page asks for), "" when both
// are there.
func readCredentials(c *fiber.Ctx, noUser string) (f credForm, password domain.Secret, problem string) {
	f = credForm{Username: formValue(c, "username")}
	pw := strings.Clone(c.FormValue("password"))
	switch {
	case f.Username == "":
		return f, domain.Secret{}, noUser
	case pw == "":
		return f, domain.Secret{}, "请输入密码"
	}
	return f, domain.NewSecret(pw), ""
}

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
