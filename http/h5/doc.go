// Package h5 serves the WeChat H5 personal center: the server-rendered pages
// a finance clerk opens from the official account's menu (个人中心,
// 电子税局账号管理, 新增, 编辑, 更换微信, 数电配置管理员, 修改密码, 审计) and the pages a
// login prompt or a signed login link opens. New builds them from Deps, and
// Register mounts them on a router at Deps.Prefix ("/h5"). Every page asks
// the actor engine (the Engine interface, which *actors.Engine satisfies)
// and keeps no state of its own besides its cookies.
//
// # Sign-in and forms
//
// With an official account configured (Deps.OAuth) a visitor without a
// session goes through WeChat OAuth2 snsapi_base and comes back at
// /wx/oauth; in dev mode without one, /dev/signin lets this machine's
// browser pick an openid. Either way the session is a signed HttpOnly
// cookie scoped to the prefix. Every POST carries a CSRF token derived from
// that cookie, from the form body or the X-CSRF-Token header only. A change
// made by a form redirects (post/redirect/get) to the page it changed, and
// its success text travels once in a second signed, short-lived cookie (the
// flash).
//
// # Contracts
//
//   - Who may see or operate an account is the engine's answer, never the
//     page's: a page shows what the engine returned for the signed-in
//     openid, and an engine error is shown as its catalogue's Chinese
//     message (internal detail goes to the log only).
//   - No page shows a password, session token or secret: a form that comes
//     back after an error shows the username again, never the password.
//   - The dev pages serve only in dev mode (/dev/signin only without an
//     official account), and Deps.DevGuard is asked before each.
//
// # Files
//
// h5.go holds Deps, New, the routes, sign-in and rendering; session.go and
// flash.go the two signed cookies and the CSRF token; oauth.go WeChat's
// OAuth2 sign-in; manage.go adding an account, its code page, 设置默认账号
// and 删除; pages.go 编辑 and 解绑企业; changes.go what rebind.go (更换微信),
// admin.go (数电配置管理员) and password.go (修改密码) share; resend.go the
// 重新获取 button; prompt.go the prompt, login link, login and QR pages;
// audit.go the 审计 page; devinbox.go the dev inbox page. The templates are
// embedded from templates/.
package h5
