package h5

import (
	"context"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
)

// resendView is the 重新获取 button of a code page (the "resend" template):
// B3's interval as a countdown and the day's remaining budget. For hosted
// login types the page says the code is fetched automatically instead.
type resendView struct {
	Action    string // the resend route, the button's formaction
	Wait      int    // seconds until a new code may be asked; 0: now
	Remaining int    // codes the phone may still get today
	Hosted    bool
}

// newResendView is the button for a code that may be asked again at next.
func (h *H5) newResendView(action string, next time.Time, remaining int) *resendView {
	v := &resendView{Action: action, Remaining: remaining}
	if d := next.Sub(h.now()); d > 0 {
		v.Wait = int((d + time.Second - 1) / time.Second)
	}
	return v
}

// flowResend is the button of a flow's code page, or nil when the flow
// awaits no code a person types (ended, or another person's).
func (h *H5) flowResend(c *fiber.Ctx, base, flowID string) *resendView {
	fr, err := h.eng.PollFlow(c.UserContext(), param(c, "id"), flowID, openidOf(c))
	if err != nil || fr.State != actors.FlowAwaitingCode {
		return nil
	}
	return h.newResendView(base+"/flows/"+url.PathEscape(flowID)+"/resend", fr.NextCodeAt, fr.SMSRemaining)
}

// resendFlowCode is 重新获取 on a flow's code page. Too early, the page
// comes back with the real wait (the button works without script).
func (h *H5) resendFlowCode(c *fiber.Ctx) error {
	t, ent, err := h.enterpriseOf(c)
	if err != nil {
		return h.fail(c, err)
	}
	base, fid := h.base(t, ent), param(c, "fid")
	phone, next := formValue(c, "phone"), validNext(c.FormValue("next"))
	fr, err := h.eng.ResendFlowCode(c.UserContext(), t.ID, fid, openidOf(c))
	if err != nil {
		return h.codePage(c, waitStatus(c, err), base, fid, phone, next, h.userMessage(err))
	}
	if fr.State != actors.FlowAwaitingCode {
		return h.flowNextTo(c, t, ent, fr, next)
	}
	if fr.PhoneMasked != "" {
		phone = fr.PhoneMasked
	}
	return h.codePageWith(c, fiber.StatusOK, base, fr.FlowID, phone, next, "", "验证码已重新发送至手机 "+phone)
}

// promptResend is the button of a pending SMS code prompt; for a hosted
// account the note that the code is fetched automatically.
func (h *H5) promptResend(st *actors.PromptStatus, p promptRef) *resendView {
	if st.State != actors.PromptPending || st.Kind != actors.KindSMSCode {
		return nil
	}
	if st.Account.LoginType.Hosted() {
		return &resendView{Hosted: true}
	}
	return h.newResendView(p.action("/resend"), st.NextCodeAt, st.Account.SMSRemaining)
}

// resendPromptCode is 重新获取 on the prompt page. Too early, the page comes
// back with the real wait.
func (h *H5) resendPromptCode(c *fiber.Ctx, ctx context.Context, p promptRef) error {
	if _, err := h.eng.ResendPromptCode(ctx, p.tenant, p.account, p.id, p.openid); err != nil {
		return h.promptPage(c, p, waitStatus(c, err), h.userMessage(err))
	}
	return c.Redirect(p.action(""), fiber.StatusSeeOther)
}
