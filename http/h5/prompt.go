package h5

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

// promptEngine is what the prompt, login link, login and QR pages need.
type promptEngine interface {
	Prompt(ctx context.Context, tenant, accountID, promptID, openid string) (*actors.PromptStatus, error)
	AnswerPrompt(ctx context.Context, tenant, accountID, promptID, openid, code string) (*actors.SessionReply, error)
	ConfirmCertification(ctx context.Context, tenant, accountID, openid string) (*actors.SessionReply, error)
	RequestSession(ctx context.Context, tenant string, req actors.SessionRequest) (*actors.SessionReply, error)
	StartQRLogin(ctx context.Context, tenant, accountID, openid string, ch domain.Channel, app actors.QRApp) (*actors.QRView, error)
	PollQRLogin(ctx context.Context, tenant, accountID, openid, qrID string) (*actors.QRView, error)
	PollFlow(ctx context.Context, tenant, flowID, openid string) (actors.FlowReply, error)
	ResendPromptCode(ctx context.Context, tenant, accountID, promptID, openid string) (*actors.PromptStatus, error)
	VerifyLoginLink(token string) (actors.LoginLink, error)
}

func (h *H5) registerPrompts(r fiber.Router) {
	// The prompt page a WeChat message opens (the person signs in).
	const prompt = "/prompt/:tenant/:account/:pid"
	r.Get(prompt, h.auth, h.byWeChat(h.showPrompt))
	r.Post(prompt, h.auth, h.checkCSRF, h.byWeChat(h.answerPrompt))
	r.Post(prompt+"/confirm", h.auth, h.checkCSRF, h.byWeChat(h.confirmPrompt))
	r.Post(prompt+"/resend", h.auth, h.checkCSRF, h.byWeChat(h.resendPromptCode))
	r.Get(prompt+"/status", h.authJSON, h.byWeChat(h.promptStatusJSON))
	// The same page opened by a login link (F16): the signed link is the
	// credential, there is no WeChat user. A link answers once: its
	// actions are refused once the prompt is answered (unusedLink).
	r.Get("/login", h.byLink(h.showPrompt))
	r.Post("/login", h.byLink(h.unusedLink(h.answerPrompt)))
	r.Post("/login/confirm", h.byLink(h.unusedLink(h.confirmPrompt)))
	r.Post("/login/resend", h.byLink(h.unusedLink(h.resendPromptCode)))
	r.Get("/login/status", h.byLink(h.promptStatusJSON))
	// 登录 / 扫码登录 / 认证 from an account's card.
	acct := "/tenants/:id/enterprises/:tax_no/accounts/:aid"
	r.Get(acct+"/login", h.auth, h.loginPage)
	r.Post(acct+"/login", h.auth, h.checkCSRF, h.login)
	r.Post(acct+"/qr", h.auth, h.checkCSRF, h.startQR)
	r.Get(acct+"/qr/:qid/status", h.authJSON, h.pollQR)
	// 新增 by 扫码登录 (F3): the add flow's QR.
	r.Get("/tenants/:id/enterprises/:tax_no/flows/:fid/status", h.authJSON, h.pollAddQR)
}

// promptRef is the prompt a request is about and how the person got there.
type promptRef struct {
	tenant, account, id string
	openid              string // the WeChat user; empty with a login link
	link                string // the login link token, when opened by one
	page                string // the page's URL (form actions are built from it)
}

func (p promptRef) action(suffix string) string {
	if p.link != "" {
		u := p.page + suffix
		return u + "?link=" + url.QueryEscape(p.link)
	}
	return p.page + suffix
}

// promptAction is one action on a prompt (its page, an answer, 认证完成,
// 重新获取, the state the page polls), whichever way the person came: ctx
// carries the origin the engine audits.
type promptAction func(c *fiber.Ctx, ctx context.Context, p promptRef) error

// byWeChat serves action on the prompt the path names, for the signed-in
// WeChat user.
func (h *H5) byWeChat(action promptAction) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p := promptRef{tenant: param(c, "tenant"), account: param(c, "account"), id: param(c, "pid"), openid: openidOf(c)}
		p.page = h.prefix + "/prompt/" + url.PathEscape(p.tenant) + "/" + url.PathEscape(p.account) + "/" + url.PathEscape(p.id)
		return action(c, h.promptCtx(c, p), p)
	}
}

// byLink serves action on the prompt a login link (F16) names; an invalid
// or expired link gets the page saying so.
func (h *H5) byLink(action promptAction) fiber.Handler {
	return func(c *fiber.Ctx) error {
		token := strings.Clone(c.Query("link"))
		if token == "" {
			token = formValue(c, "link")
		}
		l, err := h.eng.VerifyLoginLink(token)
		if err != nil {
			return h.message(c, fiber.StatusForbidden, "链接已失效", "登录链接无效或已过期，请回到开票软件重新发起登录，获取新的登录链接。")
		}
		p := promptRef{tenant: l.Tenant, account: l.Account, id: l.Prompt, link: token, page: h.prefix + "/login"}
		return action(c, h.promptCtx(c, p), p)
	}
}

// promptCtx is the request's context, naming the login link as the origin
// when nobody is signed in.
func (h *H5) promptCtx(c *fiber.Ctx, p promptRef) context.Context {
	ctx := c.UserContext()
	if p.openid == "" {
		ctx = actors.WithOrigin(ctx, "link:"+p.id)
	}
	return ctx
}

// unusedLink runs action only while the prompt a login link answers still
// waits: a used link answers nothing more (single use), and its page says
// it was used, naming nobody.
func (h *H5) unusedLink(action promptAction) promptAction {
	return func(c *fiber.Ctx, ctx context.Context, p promptRef) error {
		if !h.linkPending(c, ctx, p) {
			return h.promptPage(c, p, statusOf(domain.ErrPromptClosed), "")
		}
		return action(c, ctx, p)
	}
}

// showPrompt is the prompt page.
func (h *H5) showPrompt(c *fiber.Ctx, _ context.Context, p promptRef) error {
	return h.promptPage(c, p, fiber.StatusOK, "")
}

// answerPrompt takes the code the person typed.
func (h *H5) answerPrompt(c *fiber.Ctx, ctx context.Context, p promptRef) error {
	code := formValue(c, "code")
	if code == "" {
		return h.promptPage(c, p, fiber.StatusBadRequest, "请输入验证码")
	}
	if _, err := h.eng.AnswerPrompt(ctx, p.tenant, p.account, p.id, p.openid, code); err != nil {
		return h.promptPage(c, p, statusOf(err), h.userMessage(err))
	}
	return c.Redirect(p.action(""), fiber.StatusSeeOther)
}

// confirmPrompt is 认证完成 of a face prompt.
func (h *H5) confirmPrompt(c *fiber.Ctx, ctx context.Context, p promptRef) error {
	if _, err := h.eng.ConfirmCertification(ctx, p.tenant, p.account, p.openid); err != nil {
		return h.promptPage(c, p, statusOf(err), h.userMessage(err))
	}
	return c.Redirect(p.action(""), fiber.StatusSeeOther)
}

// linkPending reports whether the prompt a login link answers still waits
// for its answer. An error counts as pending: the action that follows
// reports it.
func (h *H5) linkPending(c *fiber.Ctx, ctx context.Context, p promptRef) bool {
	st, err := h.eng.Prompt(ctx, p.tenant, p.account, p.id, p.openid)
	return err != nil || st.State == actors.PromptPending
}

// promptStatusJSON is what the page polls while a person scans: the state
// only. For a face prompt it asks the tax bureau whether the person passed
// (the page polls every few seconds while open, never faster).
func (h *H5) promptStatusJSON(c *fiber.Ctx, ctx context.Context, p promptRef) error {
	st, err := h.eng.Prompt(ctx, p.tenant, p.account, p.id, p.openid)
	if err != nil {
		e := domain.AsError(err)
		return c.Status(statusOf(err)).JSON(fiber.Map{"state": "error", "message": e.Message})
	}
	if st.State == actors.PromptPending && st.Kind == actors.KindFace {
		if _, err := h.eng.ConfirmCertification(ctx, p.tenant, p.account, p.openid); err != nil && !errors.Is(err, domain.ErrBusy) {
			h.log.Debug("h5 certification poll", "tenant", p.tenant, "account", p.account, "err", err)
		}
		if again, err := h.eng.Prompt(ctx, p.tenant, p.account, p.id, p.openid); err == nil {
			st = again
		}
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(fiber.Map{"state": st.State})
}

// promptView is the prompt page's data.
type promptView struct {
	*actors.PromptStatus
	What     string // 短信验证码登录, 人脸认证
	Business string // 开票业务 / 收票业务
	QR       template.URL
	Expires  string
}

func (h *H5) promptPage(c *fiber.Ctx, p promptRef, status int, errMsg string) error {
	st, err := h.eng.Prompt(c.UserContext(), p.tenant, p.account, p.id, p.openid)
	if err != nil {
		return h.fail(c, err)
	}
	if p.link != "" && st.State != actors.PromptPending {
		// The link was used (or its prompt ended otherwise): whoever
		// holds it now learns only that and how it ended, not whose
		// account, enterprise or phone it was for.
		used := &actors.PromptStatus{ID: st.ID, State: st.State, Kind: st.Kind, Channel: st.Channel, Error: st.Error}
		return h.render(c, status, "prompt", fiber.Map{"Title": "此链接已使用", "Used": true,
			"P": promptView{PromptStatus: used, What: kindText(st.Kind)}, "Status": p.action("/status")})
	}
	v := promptView{PromptStatus: st, What: kindText(st.Kind), Business: businessText(st.Channel, st.Account.Business)}
	if !st.ExpiresAt.IsZero() {
		v.Expires = st.ExpiresAt.In(cst).Format("15:04")
	}
	if st.State == actors.PromptPending && st.QRContent != "" {
		v.QR = qrDataURL(st.QRContent)
	}
	data := fiber.Map{"Title": v.What, "P": v, "Error": errMsg, "Action": p.action(""),
		"Confirm": p.action("/confirm"), "Status": p.action("/status"), "Link": p.link, "Resend": h.promptResend(st, p)}
	if p.openid != "" {
		data["Back"] = h.prefix + "/"
	}
	return h.render(c, status, "prompt", data)
}

// businessText names the business of a prompt as the other pages do:
// 开票业务 / 收票业务 for one channel (a face prompt has none, its account's
// business says which), 开票+收票 for both.
func businessText(ch domain.Channel, b domain.Business) string {
	if ch == "" {
		if chs := b.Channels(); len(chs) == 1 {
			ch = chs[0]
		}
	}
	if ch != "" {
		return ch.Name()
	}
	return b.Name()
}

func kindText(k actors.PromptKind) string {
	switch k {
	case actors.KindSMSCode:
		return "短信验证码登录"
	case actors.KindFace:
		return "人脸认证"
	case actors.KindQRScan:
		return "扫码登录"
	}
	return "登录通知"
}

// qrDataURL draws content as a PNG QR code inside the page.
func qrDataURL(content string) template.URL {
	png, err := qrcode.Encode(content, qrcode.Medium, 256)
	if err != nil {
		return ""
	}
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
}

// 登录, 扫码登录 and 认证 of one account (the card's 更多).

var qrApps = []struct {
	App  actors.QRApp
	Name string
}{{actors.AppTax, "税务APP"}, {actors.AppIIT, "个人所得税APP"}}

// qrSwitch is one tab of the QR page's 税务APP / 个人所得税APP switch.
type qrSwitch struct {
	App, Name string
	Current   bool
}

// qrApp is the app named s and its Chinese name; 税务APP when s names none.
func qrApp(s string) (actors.QRApp, string) {
	for _, x := range qrApps {
		if string(x.App) == s {
			return x.App, x.Name
		}
	}
	return qrApps[0].App, qrApps[0].Name
}

func (h *H5) loginPage(c *fiber.Ctx) error {
	return h.loginForm(c, fiber.StatusOK, "")
}

func (h *H5) loginForm(c *fiber.Ctx, status int, errMsg string) error {
	t, ent, a, ok, err := h.operableAccount(c)
	if !ok {
		return err
	}
	certify := c.Query("action") == string(actors.ActionCertify) || formValue(c, "action") == string(actors.ActionCertify)
	title := "登录电子税局"
	if certify {
		title = "认证"
	}
	return h.render(c, status, "login", fiber.Map{"Title": title, "Back": h.base(t, ent), "Base": h.base(t, ent),
		"Account": a, "Channels": a.Business.Channels(), "Certify": certify, "Error": errMsg})
}

// login starts a login (短信验证码) or a certification for one channel as the
// person: ready at once, or on to the prompt page.
func (h *H5) login(c *fiber.Ctx) error {
	t, ent, a, ok, err := h.operableAccount(c)
	if !ok {
		return err
	}
	ch, err := domain.ParseChannel(formValue(c, "channel"))
	if err != nil {
		return h.loginForm(c, fiber.StatusBadRequest, h.userMessage(err))
	}
	action := actors.ActionLogin
	if formValue(c, "action") == string(actors.ActionCertify) {
		action = actors.ActionCertify
	}
	openid := openidOf(c)
	r, err := h.eng.RequestSession(c.UserContext(), t.ID, actors.SessionRequest{TaxNo: ent.TaxNo, AccountID: a.ID,
		Business: ch, Action: action, OpenID: openid, Origin: "wx:" + openid})
	if err == nil && r.State == actors.RequestFailed && r.Error != nil {
		err = r.Error
	}
	if err != nil {
		return h.loginForm(c, statusOf(err), h.userMessage(err))
	}
	if r.State == actors.RequestAwaitingUser && r.Prompt != nil {
		return c.Redirect(h.prefix+"/prompt/"+url.PathEscape(t.ID)+"/"+url.PathEscape(a.ID)+"/"+url.PathEscape(r.Prompt.ID), fiber.StatusSeeOther)
	}
	if action == actors.ActionCertify {
		return h.seeOther(c, h.base(t, ent)+cardAnchor(a.ID), notices["certified"])
	}
	return h.seeOther(c, h.base(t, ent)+cardAnchor(a.ID), notices["loggedin"])
}

// startQR is F15: a QR code for 税务APP or 个人所得税APP, which the page polls.
func (h *H5) startQR(c *fiber.Ctx) error {
	t, ent, a, ok, err := h.operableAccount(c)
	if !ok {
		return err
	}
	ch, err := domain.ParseChannel(formValue(c, "channel"))
	if err != nil {
		return h.loginForm(c, fiber.StatusBadRequest, h.userMessage(err))
	}
	app, appName := qrApp(formValue(c, "app"))
	qr, err := h.eng.StartQRLogin(c.UserContext(), t.ID, a.ID, openidOf(c), ch, app)
	if err != nil {
		return h.loginForm(c, statusOf(err), h.userMessage(err))
	}
	base := h.base(t, ent)
	switches := make([]qrSwitch, 0, len(qrApps))
	for _, x := range qrApps {
		switches = append(switches, qrSwitch{App: string(x.App), Name: x.Name, Current: x.App == app})
	}
	return h.render(c, fiber.StatusOK, "qr", fiber.Map{"Title": "扫码登录", "Back": base + "/accounts/" + url.PathEscape(a.ID) + "/login",
		"Switch": switches, "SwitchAction": base + "/accounts/" + url.PathEscape(a.ID) + "/qr", "Channel": string(ch),
		"Who": a.Username, "Business": ch.Name(), "AppName": appName, "QRID": qr.QRID, "Content": qr.Content, "QR": qrDataURL(qr.Content),
		"Expires": qr.ExpiresAt.In(cst).Format("15:04"), "Status": base + "/accounts/" + url.PathEscape(a.ID) + "/qr/" + url.PathEscape(qr.QRID) + "/status",
		"Done": base + cardAnchor(a.ID)})
}

// pollQR is what the QR page polls: waiting, scanned, confirmed or expired.
func (h *H5) pollQR(c *fiber.Ctx) error {
	t, err := h.tenantOf(c)
	if err != nil {
		return c.Status(statusOf(err)).JSON(fiber.Map{"state": "error", "message": h.userMessage(err)})
	}
	v, err := h.eng.PollQRLogin(c.UserContext(), t.ID, param(c, "aid"), openidOf(c), param(c, "qid"))
	if err != nil {
		return c.Status(statusOf(err)).JSON(fiber.Map{"state": "error", "message": h.userMessage(err)})
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	if v.State == actors.QRConfirmed {
		h.setFlash(c, notices["qr"]) // the page the script goes to next says so, once
	}
	return c.JSON(fiber.Map{"state": v.State})
}

// addQRPage shows the QR of a 扫码登录 add flow (F3).
func (h *H5) addQRPage(c *fiber.Ctx, t actors.TenantInfo, ent *actors.EnterpriseView, fr actors.FlowReply) error {
	base := h.base(t, ent)
	_, appName := qrApp(string(fr.QR.App))
	return h.render(c, fiber.StatusOK, "qr", fiber.Map{"Title": "扫码登录", "Back": base + "/add", "Who": ent.Name,
		"Business": "新增账号", "AppName": appName, "QRID": fr.QR.QRID, "Content": fr.QR.Content, "QR": qrDataURL(fr.QR.Content),
		"Expires": fr.QR.ExpiresAt.In(cst).Format("15:04"), "Status": base + "/flows/" + url.PathEscape(fr.FlowID) + "/status",
		"Done": base})
}

// pollAddQR is what the add flow's QR page polls; "confirmed" once the
// account is added.
func (h *H5) pollAddQR(c *fiber.Ctx) error {
	t, err := h.tenantOf(c)
	if err != nil {
		return c.Status(statusOf(err)).JSON(fiber.Map{"state": "error", "message": h.userMessage(err)})
	}
	fr, err := h.eng.PollFlow(c.UserContext(), t.ID, param(c, "fid"), openidOf(c))
	c.Set(fiber.HeaderCacheControl, "no-store")
	switch {
	case errors.Is(err, domain.ErrQRExpired):
		return c.JSON(fiber.Map{"state": actors.QRExpired})
	case err != nil:
		return c.Status(statusOf(err)).JSON(fiber.Map{"state": "error", "message": h.userMessage(err)})
	case fr.State == actors.FlowDone:
		h.setFlash(c, notices["added"])
		return c.JSON(fiber.Map{"state": actors.QRConfirmed})
	case fr.QR != nil:
		return c.JSON(fiber.Map{"state": fr.QR.State})
	}
	return c.JSON(fiber.Map{"state": actors.QRWaiting})
}

// pollEvery is how often the QR and face pages ask for their state.
const pollEvery = 3 * time.Second
