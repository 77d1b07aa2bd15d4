// flow.go: the flow actor: a short-lived verification with the bureau (F3, F8, F9, F11).

package actors

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

// A flow is a short-lived child of the tenant that proves something with the
// tax bureau on a person's behalf: that credentials reach an enterprise (F3
// add an account, F8 change the bound WeChat, F9 become admin) or that the
// person may reset the password (F11). It owns the bureau challenge and,
// once verified, hands the outcome to the tenant, which applies it.

type flowPurpose int

const (
	purposeAdd flowPurpose = iota + 1
	purposeRebind
	purposeAdmin
	purposeReset
)

// flowSpec is what the tenant asks a flow to verify.
type flowSpec struct {
	purpose   flowPurpose
	id        string
	openid    string
	accountID string // rebind, reset
	taxNo     string
	region    string
	username  string
	password  domain.Secret
	loginType domain.LoginType
	business  domain.Business
	role      domain.Role     // optional claim checked against the bureau (add)
	idType    string          // reset
	idNumber  string          // reset
	personID  string          // reset: whose SMS budget the code spends
	qrApp     taxbureau.QRApp // add by 扫码登录
}

// Messages of a flow.
type (
	flowStart      struct{}
	flowSubmitCode struct{ code string }
	flowNewPass    struct{ password, confirm domain.Secret }
	flowLogin      struct {
		res taxbureau.LoginResult
		err error
	}
	flowCode struct {
		sess taxbureau.Session
		err  error
	}
	flowHosted struct {
		code string
		err  error
	}
	flowResetStarted struct {
		ch  taxbureau.Challenge
		err error
	}
	flowResetDone struct{ err error }
	flowQRStarted struct {
		qr  taxbureau.QRChallenge
		err error
	}
	// flowPoll asks a QR flow where the scan stands (reply FlowReply).
	flowPoll     struct{}
	flowQRPolled struct {
		st      taxbureau.QRStatus
		err     error
		replyTo *actor.PID
	}
	// flowVerified goes to the tenant: the bureau confirmed the person.
	flowVerified struct {
		spec     flowSpec
		personID string
		role     domain.Role
		session  *taxbureau.Session
		phone    string
		replyTo  *actor.PID
	}
	// flowEnded goes to the tenant when a flow stops without a result.
	flowEnded struct{ id string }
)

type flowActor struct {
	d         *deps
	tenant    string
	spec      flowSpec
	replyTo   *actor.PID
	challenge taxbureau.Challenge
	busy      bool
	code      string // reset: the accepted-looking code, used with the new password
	since     time.Time
	role      domain.Role
	personID  string
	qr        *QRView       // add by 扫码登录
	codeAt    time.Time     // when the bureau last sent the flow a code (B3)
	parked    bool          // its record is in the store (flow_park.go)
	ttl       time.Duration // a resumed flow: what is left of its record's life
}

func (f *flowActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if f.ttl > 0 {
			ctx.SetReceiveTimeout(f.ttl)
		} else {
			ctx.SetReceiveTimeout(f.d.cfg.CodeTTL + time.Minute)
		}
	case *actor.ReceiveTimeout:
		f.unpark()
		ctx.Send(ctx.Parent(), &flowEnded{id: f.spec.id})
		ctx.Stop(ctx.Self())
	case *flowStart:
		f.replyTo = ctx.Sender()
		f.busy = true
		f.since = f.d.clk.Now()
		if f.spec.purpose == purposeReset {
			req := taxbureau.ResetRequest{Region: f.spec.region, Username: f.spec.username, IDType: f.spec.idType, IDNumber: f.spec.idNumber}
			f.d.goAsync(ctx, f.d.cfg.GatewayTimeout, func(c context.Context) any {
				ch, err := f.d.gw.StartReset(c, req)
				return &flowResetStarted{ch: ch, err: err}
			})
			return
		}
		if f.spec.qrApp != "" {
			req := taxbureau.QRRequest{Region: f.spec.region, TaxNo: f.spec.taxNo, Channel: f.channel(), App: f.spec.qrApp}
			f.d.goAsync(ctx, f.d.cfg.GatewayTimeout, func(c context.Context) any {
				qr, err := f.d.gw.StartQR(c, req)
				return &flowQRStarted{qr: qr, err: err}
			})
			return
		}
		login := f.loginCall()
		f.d.goAsync(ctx, f.d.cfg.GatewayTimeout, func(c context.Context) any {
			res, err := login(c)
			return &flowLogin{res: res, err: err}
		})
	case *flowLogin:
		f.busy = false
		if m.err != nil {
			f.end(ctx, bureauError(m.err))
			return
		}
		if err := f.checkRole(m.res.Role); err != nil {
			f.end(ctx, err)
			return
		}
		f.role, f.personID = m.res.Role, m.res.PersonID
		if m.res.Session != nil {
			f.verified(ctx, m.res.Session)
			return
		}
		if m.res.Challenge == nil {
			f.end(ctx, domain.ErrBureauUnavailable)
			return
		}
		f.challenge = *m.res.Challenge
		f.awaitCode(ctx)
	case *flowQRStarted:
		f.busy = false
		if m.err != nil {
			f.end(ctx, bureauError(m.err))
			return
		}
		f.qr = &QRView{QRID: m.qr.ID, App: QRApp(f.spec.qrApp), Content: m.qr.Content, State: QRWaiting, ExpiresAt: m.qr.ExpiresAt}
		ctx.Send(f.replyTo, f.scanReply())
	case *flowPoll:
		if f.qr == nil {
			if f.typesCode() {
				ctx.Respond(f.codeReply()) // the code page renders again
				return
			}
			ctx.Respond(domain.ErrNoChallenge)
			return
		}
		if f.busy {
			ctx.Respond(f.scanReply()) // a poll is out: report the last state
			return
		}
		f.busy = true
		id, replyTo := f.qr.QRID, ctx.Sender()
		f.d.goAsync(ctx, f.d.cfg.GatewayTimeout, func(c context.Context) any {
			st, err := f.d.gw.PollQR(c, id)
			return &flowQRPolled{st: st, err: err, replyTo: replyTo}
		})
	case *flowQRPolled:
		f.busy = false
		f.replyTo = m.replyTo
		if m.err != nil {
			e := bureauError(m.err)
			if errors.Is(e, domain.ErrBureauUnavailable) {
				ctx.Send(m.replyTo, e)
				return
			}
			f.end(ctx, e)
			return
		}
		switch m.st.State {
		case taxbureau.QRConfirmed:
			if err := f.checkRole(m.st.Role); err != nil {
				f.end(ctx, err)
				return
			}
			if m.st.Session == nil {
				f.end(ctx, domain.ErrBureauUnavailable.With("", "confirmed QR without a session"))
				return
			}
			f.role, f.personID = m.st.Role, m.st.PersonID
			s := *m.st.Session
			s.Channel = f.channel()
			f.verified(ctx, &s)
		case taxbureau.QRExpired:
			f.end(ctx, domain.ErrQRExpired)
		default:
			f.qr.State = QRState(m.st.State)
			ctx.Send(m.replyTo, f.scanReply())
		}
	case *flowResetStarted:
		f.busy = false
		if m.err != nil {
			f.end(ctx, bureauError(m.err))
			return
		}
		f.challenge = m.ch
		f.awaitCode(ctx)
	case *flowHosted:
		if m.err != nil {
			f.end(ctx, domain.ErrHostedCodeTimeout.Wrap(m.err))
			return
		}
		f.acceptCode(ctx, m.code, f.replyTo)
	case *flowSubmitCode:
		if f.busy {
			ctx.Respond(domain.ErrBusy)
			return
		}
		if f.challenge.ID == "" {
			ctx.Respond(domain.ErrNoChallenge)
			return
		}
		if err := domain.CheckSMSCode(m.code); err != nil {
			ctx.Respond(err)
			return
		}
		f.acceptCode(ctx, m.code, ctx.Sender())
	case *flowCode:
		f.busy = false
		if m.err != nil {
			e := bureauError(m.err)
			if errors.Is(e, domain.ErrWrongCode) || errors.Is(e, domain.ErrBureauUnavailable) {
				ctx.Send(f.replyTo, e)
				return
			}
			f.end(ctx, e)
			return
		}
		f.verified(ctx, &m.sess)
	case *flowNewPass:
		if f.spec.purpose != purposeReset || f.code == "" {
			ctx.Respond(domain.ErrNoChallenge)
			return
		}
		if f.busy {
			ctx.Respond(domain.ErrBusy)
			return
		}
		if m.password.Reveal() != m.confirm.Reveal() {
			ctx.Respond(domain.ErrPasswordMismatch)
			return
		}
		f.busy = true
		f.replyTo = ctx.Sender()
		id, code, pw := f.challenge.ID, f.code, m.password
		f.spec.password = pw
		f.d.goAsync(ctx, f.d.cfg.GatewayTimeout, func(c context.Context) any {
			return &flowResetDone{err: f.d.gw.CompleteReset(c, id, code, pw.Reveal())}
		})
	case *flowResend:
		f.onResend(ctx)
	case *flowResent:
		f.onResent(ctx, m)
	case *flowResetDone:
		f.busy = false
		if m.err != nil {
			e := bureauError(m.err)
			if errors.Is(e, domain.ErrWrongCode) {
				f.code = "" // back to the code page
				f.park()
			}
			if errors.Is(e, domain.ErrWrongCode) || errors.Is(e, domain.ErrPasswordPolicy) || errors.Is(e, domain.ErrBureauUnavailable) {
				ctx.Send(f.replyTo, e)
				return
			}
			f.end(ctx, e)
			return
		}
		f.d.passwordReset(f.spec.username) // the bureau cleared its count
		f.verified(ctx, nil)
	}
}

// loginCall is the flow's password login to the bureau, built on the
// actor's goroutine and run off it (goAsync). The password guard lets the
// person's password go only while etaxd's count of their wrong ones allows
// (pwguard.go).
func (f *flowActor) loginCall() func(context.Context) (taxbureau.LoginResult, error) {
	lr := taxbureau.LoginRequest{Region: f.spec.region, TaxNo: f.spec.taxNo, Username: f.spec.username,
		Password: f.spec.password.Reveal(), Channel: f.channel()}
	d, openid := f.d, f.spec.openid
	return func(c context.Context) (taxbureau.LoginResult, error) {
		var res taxbureau.LoginResult
		err := d.tryPassword(openid, lr.Username, func() error {
			var err error
			res, err = d.gw.Login(c, lr)
			return err
		})
		return res, err
	}
}

func (f *flowActor) scanReply() *FlowReply {
	qr := *f.qr
	return &FlowReply{FlowID: f.spec.id, State: FlowAwaitingScan, ExpiresAt: qr.ExpiresAt, QR: &qr}
}

func (f *flowActor) channel() domain.Channel {
	if f.spec.purpose == purposeAdmin {
		return domain.ChannelReceive // every role may log in there; the role decides
	}
	if f.spec.business != 0 && !f.spec.business.Has(domain.BusinessIssue) {
		return domain.ChannelReceive
	}
	return domain.ChannelIssue
}

func (f *flowActor) checkRole(r domain.Role) *domain.Error {
	switch f.spec.purpose {
	case purposeAdd:
		if f.spec.role != "" && f.spec.role != r {
			return domain.ErrInvalidRole.With("所选身份与税局登记的身份（"+r.Name()+"）不一致", "role differs from the bureau's record")
		}
		if err := domain.CheckRoleBusiness(r, f.spec.business); err != nil {
			return domain.AsError(err)
		}
	case purposeAdmin:
		if !r.CanBecomeAdmin() {
			return domain.ErrNotAdminRole
		}
	}
	return nil
}

// awaitCode tells the person a code was sent, and for hosted numbers reads
// it from the provider.
func (f *flowActor) awaitCode(ctx actor.Context) {
	f.codeSent()
	if !f.spec.loginType.Hosted() {
		f.park()
		ctx.Send(f.replyTo, f.codeReply())
	} else {
		// The hosting provider reads the code: the caller hears the outcome.
		f.busy = true
		lt, user, since := f.spec.loginType, f.spec.username, f.since
		f.d.goAsync(ctx, f.d.cfg.HostedCodeTimeout, func(c context.Context) any {
			code, err := f.d.sms.FetchCode(c, lt, user, since)
			return &flowHosted{code: code, err: err}
		})
	}
}

func (f *flowActor) acceptCode(ctx actor.Context, code string, replyTo *actor.PID) {
	f.replyTo = replyTo
	if f.spec.purpose == purposeReset {
		f.busy = false
		f.code = code
		f.park()
		ctx.Send(replyTo, &FlowReply{FlowID: f.spec.id, State: FlowAwaitingPassword})
		return
	}
	f.busy = true
	id := f.challenge.ID
	f.d.goAsync(ctx, f.d.cfg.GatewayTimeout, func(c context.Context) any {
		s, err := f.d.gw.SubmitCode(c, id, code)
		return &flowCode{sess: s, err: err}
	})
}

func (f *flowActor) verified(ctx actor.Context, s *taxbureau.Session) {
	f.unpark()
	ctx.Send(ctx.Parent(), &flowVerified{spec: f.spec, personID: f.personID, role: f.role, session: s,
		phone: f.challenge.PhoneMasked, replyTo: f.replyTo})
	ctx.Stop(ctx.Self())
}

func (f *flowActor) end(ctx actor.Context, err *domain.Error) {
	f.unpark()
	if f.replyTo != nil {
		ctx.Send(f.replyTo, err)
	}
	ctx.Send(ctx.Parent(), &flowEnded{id: f.spec.id})
	ctx.Stop(ctx.Self())
}
