package h5

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/errbody"
)

// Engine is what the pages need of *actors.Engine.
type Engine interface {
	promptEngine
	auditEngine
	TenantsOf(ctx context.Context, openid string) ([]actors.TenantInfo, error)
	LinkTenant(ctx context.Context, openid, code string) (actors.TenantInfo, error)
	UnlinkPreview(ctx context.Context, tenant, openid string) ([]actors.AccountView, error)
	UnlinkTenant(ctx context.Context, tenant, openid string) ([]actors.AccountView, error)
	UnbindEnterprise(ctx context.Context, tenant, taxNo, openid string) (int, error)
	Enterprises(ctx context.Context, tenant, openid string) ([]actors.EnterpriseView, error)
	Accounts(ctx context.Context, tenant, taxNo, openid string) ([]actors.AccountView, error)
	Bind(ctx context.Context, tenant, accountID, openid string) error
	Unbind(ctx context.Context, tenant, accountID, openid string) error
	Unlock(ctx context.Context, tenant, accountID, openid string) error
	AddAccount(ctx context.Context, tenant string, cmd actors.AddAccount) (actors.FlowReply, error)
	SubmitFlowCode(ctx context.Context, tenant, flowID, openid, code string) (actors.FlowReply, error)
	ResendFlowCode(ctx context.Context, tenant, flowID, openid string) (actors.FlowReply, error)
	SetDefault(ctx context.Context, tenant, accountID, openid string, which domain.Business) error
	DeleteAccount(ctx context.Context, tenant, accountID, openid string) error
	ChangeBinding(ctx context.Context, tenant, accountID, openid, username string, password domain.Secret) (actors.FlowReply, error)
	ApplyAdmin(ctx context.Context, tenant, taxNo, openid, username string, password domain.Secret) (actors.FlowReply, error)
	StepDownAdmin(ctx context.Context, tenant, taxNo, openid string) error
	StartPasswordReset(ctx context.Context, tenant, accountID, openid, idType, idNumber string) (actors.FlowReply, error)
	CompleteReset(ctx context.Context, tenant, flowID, openid string, password, confirm domain.Secret) (actors.FlowReply, error)
	UpdatePassword(ctx context.Context, tenant, accountID, openid string, password domain.Secret) (actors.FlowReply, error)
}

// Deps configures the pages.
type Deps struct {
	Engine Engine
	// CookieKey signs the session cookie and derives the CSRF tokens
	// (Engine.CookieKey gives a persistent one). Required.
	CookieKey []byte
	// Dev enables the sign-in page that lets anyone pick an openid (not
	// mounted at all when OAuth is set: WeChat then signs visitors in) and
	// the dev inbox page.
	Dev bool
	// DevGuard, when set, is asked before the dev sign-in and the dev inbox
	// page; an error refuses the request (403, its catalogue message).
	// etaxd passes httpapi.CheckLocal: this machine's browser only, never a
	// page of another origin.
	DevGuard func(*fiber.Ctx) error
	// Prefix is where the router given to Register is mounted ("/h5" when
	// empty); redirects and the cookie path use it.
	Prefix string
	Logger *slog.Logger
	// Clock is the clock for cookie expiry (the real clock, clock.Real,
	// when nil).
	Clock clock.Clock
	// OAuth, when set, signs visitors in with WeChat OAuth2 (snsapi_base):
	// a visitor without a session is sent to WeChat and back to
	// Prefix+"/wx/oauth". *wechat.Client is one.
	OAuth OAuth
	// PublicURL is where browsers reach etaxd (the host is the official
	// account's 网页授权域名); the OAuth callback is PublicURL+Prefix+
	// "/wx/oauth". Empty: the request's own scheme and host.
	PublicURL string
	// Inbox is the dev notifier's store, shown at /dev/inbox in dev mode
	// (*actors.DevInbox).
	Inbox DevInbox
}

// H5 serves the WeChat H5 pages.
type H5 struct {
	eng    Engine
	key    []byte
	dev    bool
	prefix string
	log    *slog.Logger
	now    func() time.Time
	pages  map[string]*template.Template

	oauth     OAuth
	publicURL string
	inbox     DevInbox
	devGuard  func(*fiber.Ctx) error
}

//go:embed templates/*.html
var templateFS embed.FS

// cst is China Standard Time, the time the pages show.
var cst = time.FixedZone("CST", 8*3600)

var funcs = template.FuncMap{
	"pollMillis": func() int64 { return pollEvery.Milliseconds() },
	"fmtTime": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.In(cst).Format("2006-01-02 15:04")
	},
}

// New builds the pages. It panics when CookieKey is empty or a template is
// broken: both are programming errors.
func New(d Deps) *H5 {
	if len(d.CookieKey) == 0 {
		panic("h5: CookieKey is required")
	}
	h := &H5{eng: d.Engine, key: d.CookieKey, dev: d.Dev, prefix: strings.TrimRight(d.Prefix, "/"), log: d.Logger,
		pages: map[string]*template.Template{}}
	if h.prefix == "" {
		h.prefix = "/h5"
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.now = clock.Real{}.Now
	if d.Clock != nil {
		h.now = d.Clock.Now
	}
	h.oauth, h.publicURL, h.inbox, h.devGuard = d.OAuth, strings.TrimRight(d.PublicURL, "/"), d.Inbox, d.DevGuard
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, name := range names {
		p := strings.TrimSuffix(path.Base(name), ".html")
		if p == "layout" {
			continue
		}
		h.pages[p] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", name))
	}
	return h
}

// Register mounts the pages on r, which must be mounted at Deps.Prefix.
// The dev sign-in exists only in dev mode without WeChat: with an official
// account it would be a second, unchecked way in.
func (h *H5) Register(r fiber.Router) {
	if h.dev && h.oauth == nil {
		r.Get("/dev/signin", h.devOnly, h.signinPage)
		r.Post("/dev/signin", h.devOnly, h.signin)
	}
	r.Get("/", h.auth, h.center)
	h.registerPrompts(r)
	r.Get("/dev/inbox", h.devOnly, h.devInboxPage)
	r.Get(oauthPath, h.oauthCallback)
	r.Get("/tenants/:id/audit", h.auth, h.auditPage)
	r.Get("/tenants", h.auth, h.tenants)
	r.Post("/tenants", h.auth, h.checkCSRF, h.link)
	r.Get("/tenants/:id/unlink", h.auth, h.unlinkPage)
	r.Post("/tenants/:id/unlink", h.auth, h.checkCSRF, h.unlink)
	r.Get("/tenants/:id/enterprises/:tax_no", h.auth, h.accounts)
	r.Get("/tenants/:id/enterprises/:tax_no/add", h.auth, h.addPage)
	r.Post("/tenants/:id/enterprises/:tax_no/add", h.auth, h.checkCSRF, h.add)
	r.Post("/tenants/:id/enterprises/:tax_no/flows/:fid", h.auth, h.checkCSRF, h.submitCode)
	r.Post("/tenants/:id/enterprises/:tax_no/flows/:fid/resend", h.auth, h.checkCSRF, h.resendFlowCode)
	r.Get("/tenants/:id/enterprises/:tax_no/unbind", h.auth, h.unbindEnterprisePage)
	r.Post("/tenants/:id/enterprises/:tax_no/unbind", h.auth, h.checkCSRF, h.unbindEnterprise)
	r.Get("/tenants/:id/enterprises/:tax_no/accounts/:aid/edit", h.auth, h.editPage)
	r.Get("/tenants/:id/enterprises/:tax_no/accounts/:aid/default", h.auth, h.defaultPage)
	r.Post("/tenants/:id/enterprises/:tax_no/accounts/:aid/default", h.auth, h.checkCSRF, h.setDefault)
	r.Get("/tenants/:id/enterprises/:tax_no/accounts/:aid/delete", h.auth, h.deletePage)
	r.Post("/tenants/:id/enterprises/:tax_no/accounts/:aid/delete", h.auth, h.checkCSRF, h.deleteAccount)
	r.Post("/tenants/:id/enterprises/:tax_no/flows/:fid/password", h.auth, h.checkCSRF, h.completeReset)
	r.Get("/tenants/:id/enterprises/:tax_no/admin", h.auth, h.adminPage)
	r.Get("/tenants/:id/enterprises/:tax_no/admin/apply", h.auth, h.adminApplyPage)
	r.Post("/tenants/:id/enterprises/:tax_no/admin/apply", h.auth, h.checkCSRF, h.adminApply)
	r.Post("/tenants/:id/enterprises/:tax_no/admin/stepdown", h.auth, h.checkCSRF, h.stepDown)
	r.Get("/tenants/:id/enterprises/:tax_no/accounts/:aid/rebind", h.auth, h.rebindPage)
	r.Post("/tenants/:id/enterprises/:tax_no/accounts/:aid/rebind", h.auth, h.checkCSRF, h.rebind)
	r.Get("/tenants/:id/enterprises/:tax_no/accounts/:aid/password", h.auth, h.passwordPage)
	r.Get("/tenants/:id/enterprises/:tax_no/accounts/:aid/password/reset", h.auth, h.resetPage)
	r.Post("/tenants/:id/enterprises/:tax_no/accounts/:aid/password/reset", h.auth, h.checkCSRF, h.startReset)
	r.Get("/tenants/:id/enterprises/:tax_no/accounts/:aid/password/update", h.auth, h.updatePage)
	r.Post("/tenants/:id/enterprises/:tax_no/accounts/:aid/password/update", h.auth, h.checkCSRF, h.updatePassword)
	r.Post("/tenants/:id/enterprises/:tax_no/accounts/:aid/:action", h.auth, h.checkCSRF, h.accountAction)
}

// devOnly asks the dev guard before a dev page (outside dev mode the page
// itself says it is not there).
func (h *H5) devOnly(c *fiber.Ctx) error {
	if h.dev && h.devGuard != nil {
		if err := h.devGuard(c); err != nil {
			return h.message(c, fiber.StatusForbidden, "仅限本机访问", domain.AsError(err).Message)
		}
	}
	return c.Next()
}

// Identity.

const localOpenID = "openid"

// authJSON is auth for what the pages' scripts poll: no redirect (a script
// cannot follow one to WeChat), a 401 with a Chinese message to show.
func (h *H5) authJSON(c *fiber.Ctx) error {
	if openid, ok := h.verify(c.Cookies(cookieName), h.now()); ok {
		c.Locals(localOpenID, openid)
		return c.Next()
	}
	return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"state": "error", "message": "登录已失效，请刷新页面重新进入"})
}

func (h *H5) auth(c *fiber.Ctx) error {
	if openid, ok := h.verify(c.Cookies(cookieName), h.now()); ok {
		c.Locals(localOpenID, openid)
		return c.Next()
	}
	if h.oauth != nil {
		return h.startOAuth(c)
	}
	if h.dev {
		return c.Redirect(h.prefix+"/dev/signin", fiber.StatusSeeOther)
	}
	return h.message(c, fiber.StatusUnauthorized, "请在微信中打开", "登录已失效或尚未登录，请从公众号菜单【我的服务】—【电子税局配置】重新进入。")
}

func openidOf(c *fiber.Ctx) string { s, _ := c.Locals(localOpenID).(string); return s }

func (h *H5) checkCSRF(c *fiber.Ctx) error {
	if !h.csrfOK(c.Cookies(cookieName), csrfToken(c)) {
		return h.message(c, fiber.StatusForbidden, "请求已失效", "页面已过期，请返回刷新后重试")
	}
	return c.Next()
}

func (h *H5) signinPage(c *fiber.Ctx) error {
	if !h.dev {
		return h.message(c, fiber.StatusNotFound, "页面不存在", "开发登录仅在开发模式可用，请通过微信公众号进入。")
	}
	return h.render(c, fiber.StatusOK, "signin", fiber.Map{"Title": "开发登录", "OpenID": "o_demo_openid"})
}

func (h *H5) signin(c *fiber.Ctx) error {
	if !h.dev {
		return h.message(c, fiber.StatusNotFound, "页面不存在", "开发登录仅在开发模式可用，请通过微信公众号进入。")
	}
	openid := strings.TrimSpace(c.FormValue("openid"))
	if openid == "" || len(openid) > 128 {
		return h.render(c, fiber.StatusBadRequest, "signin", fiber.Map{"Title": "开发登录", "OpenID": openid, "Error": "请输入openid"})
	}
	exp := h.now().Add(sessionTTL)
	c.Cookie(&fiber.Cookie{Name: cookieName, Value: h.sign(openid, exp), Path: h.prefix, Expires: exp,
		HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode, Secure: c.Protocol() == "https"})
	return c.Redirect(h.prefix+"/", fiber.StatusSeeOther)
}

// Pages.

type tenantBlock struct {
	Tenant      actors.TenantInfo
	Enterprises []actors.EnterpriseView
	Error       string
}

func (h *H5) center(c *fiber.Ctx) error {
	openid := openidOf(c)
	ts, err := h.eng.TenantsOf(c.UserContext(), openid)
	if err != nil {
		return h.fail(c, err)
	}
	blocks := make([]tenantBlock, 0, len(ts))
	for _, t := range ts {
		b := tenantBlock{Tenant: t}
		if b.Enterprises, err = h.eng.Enterprises(c.UserContext(), t.ID, openid); err != nil {
			b.Error = h.userMessage(err)
		}
		blocks = append(blocks, b)
	}
	return h.render(c, fiber.StatusOK, "center", fiber.Map{"Title": "个人中心", "Blocks": blocks})
}

func (h *H5) tenants(c *fiber.Ctx) error {
	return h.tenantsPage(c, fiber.StatusOK, "", "")
}

func (h *H5) tenantsPage(c *fiber.Ctx, status int, code, errMsg string) error {
	ts, err := h.eng.TenantsOf(c.UserContext(), openidOf(c))
	if err != nil {
		return h.fail(c, err)
	}
	return h.render(c, status, "tenants", fiber.Map{"Title": "编辑", "Back": h.prefix + "/", "Tenants": ts,
		"Code": code, "Error": errMsg, "Adding": errMsg != "" || c.Query("add") != ""})
}

func (h *H5) link(c *fiber.Ctx) error {
	code := strings.TrimSpace(c.FormValue("code"))
	if code == "" {
		return h.tenantsPage(c, fiber.StatusBadRequest, code, "请输入激活码")
	}
	// The client address limits guessing with fresh openids (F1).
	t, err := h.eng.LinkTenant(actors.WithClientAddr(c.UserContext(), c.IP()), openidOf(c), code)
	if err != nil {
		return h.tenantsPage(c, waitStatus(c, err), code, h.userMessage(err))
	}
	return h.seeOther(c, h.prefix+"/tenants#t-"+url.PathEscape(t.ID), "已关联租户「"+tenantName(t)+"」")
}

// tenantOf returns the tenant id of the URL if openid linked it.
func (h *H5) tenantOf(c *fiber.Ctx) (actors.TenantInfo, error) {
	id, _ := url.PathUnescape(c.Params("id"))
	ts, err := h.eng.TenantsOf(c.UserContext(), openidOf(c))
	if err != nil {
		return actors.TenantInfo{}, err
	}
	for _, t := range ts {
		if t.ID == id {
			return t, nil
		}
	}
	return actors.TenantInfo{}, domain.ErrNotLinked
}

func (h *H5) unlinkPage(c *fiber.Ctx) error {
	t, err := h.tenantOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	accts, err := h.eng.UnlinkPreview(c.UserContext(), t.ID, openidOf(c))
	if err != nil {
		return h.fail(c, err)
	}
	return h.render(c, fiber.StatusOK, "unlink", fiber.Map{"Title": "解绑租户", "Back": h.prefix + "/tenants", "Tenant": t, "Accounts": accts})
}

func (h *H5) unlink(c *fiber.Ctx) error {
	t, err := h.tenantOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	if _, err := h.eng.UnlinkTenant(c.UserContext(), t.ID, openidOf(c)); err != nil {
		return h.fail(c, err)
	}
	// The notice names no tenant: the page shows none of it any more.
	return h.seeOther(c, h.prefix+"/", "已解绑租户，您在该租户下绑定的电子税局账号已同时解除微信绑定")
}

// accountRow is an account card with the buttons this user may use.
type accountRow struct {
	actors.AccountView
	Channels  []channelRow
	Default   string
	CanBind   bool
	CanUnbind bool
	CanUnlock bool
	// CanRebind: bound to someone else (更换微信).
	CanRebind bool
	// CanOperate: unbound, bound to me, or I am the enterprise's admin
	// (编辑, 删除, 登录, 认证).
	CanOperate bool
	// LoginTypeName is the 登录类型 the card shows: 解锁 applies to the
	// hosted ones only.
	LoginTypeName string
}

type channelRow struct {
	Name      string
	LoggedIn  bool
	Text      string
	ExpiresAt *time.Time
}

func (h *H5) accounts(c *fiber.Ctx) error {
	return h.accountsPage(c, fiber.StatusOK, "")
}

// enterpriseOf returns the tenant and enterprise of the URL if openid may see them.
func (h *H5) enterpriseOf(c *fiber.Ctx) (actors.TenantInfo, *actors.EnterpriseView, error) {
	t, err := h.tenantOf(c)
	if err != nil {
		return t, nil, err
	}
	taxNo, _ := url.PathUnescape(c.Params("tax_no"))
	ents, err := h.eng.Enterprises(c.UserContext(), t.ID, openidOf(c))
	if err != nil {
		return t, nil, err
	}
	for i := range ents {
		if strings.EqualFold(ents[i].TaxNo, taxNo) {
			return t, &ents[i], nil
		}
	}
	return t, nil, domain.ErrEnterpriseNotFound
}

// base is the URL of an enterprise's 电子税局账号管理 page.
func (h *H5) base(t actors.TenantInfo, ent *actors.EnterpriseView) string {
	return h.prefix + "/tenants/" + url.PathEscape(t.ID) + "/enterprises/" + url.PathEscape(ent.TaxNo)
}

func (h *H5) accountsPage(c *fiber.Ctx, status int, errMsg string) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	openid := openidOf(c)
	list, err := h.eng.Accounts(c.UserContext(), t.ID, ent.TaxNo, openid)
	if err != nil {
		return h.fail(c, err)
	}
	rows := make([]accountRow, 0, len(list))
	for _, a := range list {
		rows = append(rows, rowOf(a, ent, openid))
	}
	return h.render(c, status, "accounts", fiber.Map{"Title": "电子税局账号管理", "Back": h.prefix + "/", "Tenant": t,
		"Enterprise": ent, "Accounts": rows, "Error": errMsg, "Base": h.base(t, ent)})
}

func (h *H5) accountAction(c *fiber.Ctx) error {
	t, err := h.tenantOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	aid := param(c, "aid")
	ctx, openid := c.UserContext(), openidOf(c)
	var notice string
	switch c.Params("action") {
	case "bind":
		err, notice = h.eng.Bind(ctx, t.ID, aid, openid), "已绑定微信，该账号的登录通知将发送给您"
	case "unbind":
		err, notice = h.eng.Unbind(ctx, t.ID, aid, openid), "已解绑微信，将不再收到该账号的登录通知"
	case "unlock":
		err, notice = h.eng.Unlock(ctx, t.ID, aid, openid), "已解锁该账号"
	default:
		return h.message(c, fiber.StatusNotFound, "页面不存在", "没有这个操作")
	}
	if err != nil {
		return h.accountsPage(c, statusOf(err), h.userMessage(err))
	}
	return h.seeOther(c, h.prefix+"/tenants/"+url.PathEscape(t.ID)+"/enterprises/"+url.PathEscape(param(c, "tax_no"))+cardAnchor(aid), notice)
}

// Rendering and errors.

func (h *H5) render(c *fiber.Ctx, status int, page string, data fiber.Map) error {
	data["Prefix"] = h.prefix
	data["Dev"] = h.dev
	// A GET page shows the flash of the change that led to it, once; the
	// cookie goes whether shown or not.
	if flash := h.takeFlash(c); flash != "" {
		if n, _ := data["Notice"].(string); n == "" {
			data["Notice"] = flash
		}
	}
	if openid := openidOf(c); openid != "" {
		data["Me"] = openid
		data["CSRF"] = h.csrf(c.Cookies(cookieName))
	}
	var buf bytes.Buffer
	if err := h.pages[page].Execute(&buf, data); err != nil {
		h.log.Error("h5 template", "page", page, "err", err)
		return c.Status(fiber.StatusInternalServerError).SendString(domain.ErrInternal.Message)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("X-Frame-Options", "DENY")
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

func (h *H5) message(c *fiber.Ctx, status int, title, text string) error {
	return h.render(c, status, "message", fiber.Map{"Title": title, "Text": text, "Back": h.prefix + "/"})
}

// fail shows an engine error as its Chinese message.
func (h *H5) fail(c *fiber.Ctx, err error) error {
	return h.message(c, waitStatus(c, err), "操作失败", h.userMessage(err))
}

// userMessage is the Chinese text of err; internal detail goes to the log only.
func (h *H5) userMessage(err error) string {
	e := domain.AsError(err)
	if e.Code == domain.ErrInternal.Code {
		h.log.Error("h5 engine", "err", err)
	}
	return e.Message
}

// waitStatus is statusOf(err), and sets Retry-After when err says how long
// its refusal lasts (a rate limit, the password guard).
func waitStatus(c *fiber.Ctx, err error) int {
	if ra := errbody.RetryAfter(errbody.H5, domain.AsError(err)); ra != "" {
		c.Set(fiber.HeaderRetryAfter, ra)
	}
	return statusOf(err)
}

// statusOf is the pages' HTTP status of err (see internal/errbody).
func statusOf(err error) int {
	return errbody.Status(errbody.H5, domain.AsError(err))
}

// rowOf is an account as openid sees it on ent's page. What the user may do
// comes from the domain rules (F4, F9, F10), the same the engine enforces.
func rowOf(a actors.AccountView, ent *actors.EnterpriseView, openid string) accountRow {
	op := domain.Operator{OpenID: openid, Linked: true, Admin: ent.IsAdmin} // the pages are for linked users only
	mine := domain.CanOperate(op, a.BoundOpenID) == nil
	r := accountRow{AccountView: a, CanBind: domain.CanBind(op, a.BoundOpenID) == nil, CanUnbind: a.Bound && mine,
		CanUnlock: a.Locked && mine, CanOperate: mine, CanRebind: a.Bound && !a.BoundToMe, LoginTypeName: a.LoginType.Name()}
	if a.LoginType == "" {
		r.LoginTypeName = domain.LoginManual.Name()
	}
	if a.DefaultFor != 0 {
		r.Default = a.DefaultFor.Name()
	}
	for _, ch := range a.Business.Channels() {
		v := a.Channels[ch]
		r.Channels = append(r.Channels, channelRow{Name: ch.Business().Name(), LoggedIn: v.State == domain.StateLoggedIn,
			Text: v.State.Text(), ExpiresAt: v.ExpiresAt})
	}
	return r
}

// tenantName is what the notices call a tenant: its name, else its id.
func tenantName(t actors.TenantInfo) string {
	if t.Name != "" {
		return t.Name
	}
	return t.ID
}
