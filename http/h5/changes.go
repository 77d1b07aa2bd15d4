package h5

// Shared by the account changes of rebind.go, admin.go and password.go: where a verified flow goes next, the center's notices and the credential form.

import (
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
