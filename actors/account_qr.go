// account_qr.go: an account's QR login (F15).

package actors

import (
	"context"
	"errors"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

// qrStarted and qrPolled are the results of a QR login's asynchronous
// work, sent by the actor's own goroutines.
type qrStarted struct {
	channel domain.Channel
	app     taxbureau.QRApp
	qr      taxbureau.QRChallenge
	err     error
	replyTo *actor.PID
}

type qrPolled struct {
	qrID    string
	st      taxbureau.QRStatus
	err     error
	replyTo *actor.PID
}

func (a *accountActor) onStartQR(ctx actor.Context, m *startQR) {
	if _, err := a.decide(domain.StartQR{}); err != nil {
		ctx.Respond(err)
		return
	}
	app := m.app
	if app == "" {
		app = taxbureau.AppTax
	}
	req := taxbureau.QRRequest{Region: a.ref.Region, TaxNo: a.ref.TaxNo, Channel: m.channel, App: app}
	replyTo, ch := ctx.Sender(), m.channel
	a.d.goAsync(ctx, a.d.cfg.GatewayTimeout, func(c context.Context) any {
		qr, err := a.d.gw.StartQR(c, req)
		return &qrStarted{channel: ch, app: app, qr: qr, err: err, replyTo: replyTo}
	})
}

func (a *accountActor) onQRStarted(ctx actor.Context, m *qrStarted) {
	if m.err != nil {
		a.sendTo(ctx, m.replyTo, bureauError(m.err))
		return
	}
	if a.qrs == nil {
		a.qrs = map[string]domain.Channel{}
	}
	a.qrs[m.qr.ID] = m.channel
	a.sendTo(ctx, m.replyTo, &QRView{QRID: m.qr.ID, App: QRApp(m.app), Content: m.qr.Content, State: QRWaiting, ExpiresAt: m.qr.ExpiresAt})
}

func (a *accountActor) onPollQR(ctx actor.Context, m *pollQR) {
	if _, known := a.qrs[m.qrID]; !known {
		ctx.Respond(domain.ErrNoChallenge)
		return
	}
	id, replyTo := m.qrID, ctx.Sender()
	a.d.goAsync(ctx, a.d.cfg.GatewayTimeout, func(c context.Context) any {
		st, err := a.d.gw.PollQR(c, id)
		return &qrPolled{qrID: id, st: st, err: err, replyTo: replyTo}
	})
}

func (a *accountActor) onQRPolled(ctx actor.Context, m *qrPolled) {
	ch, known := a.qrs[m.qrID]
	if !known {
		return
	}
	view := &QRView{QRID: m.qrID, State: QRState(m.st.State)}
	if m.err != nil {
		e := bureauError(m.err)
		if errors.Is(e, domain.ErrQRExpired) {
			delete(a.qrs, m.qrID)
			view.State = QRExpired
			a.sendTo(ctx, m.replyTo, view)
			return
		}
		a.sendTo(ctx, m.replyTo, e)
		return
	}
	switch m.st.State {
	case taxbureau.QRConfirmed:
		delete(a.qrs, m.qrID)
		if m.st.Session != nil {
			s := *m.st.Session
			s.Channel = ch
			a.completeLogin(ctx, a.logins[ch], s, true)
		}
	case taxbureau.QRExpired:
		delete(a.qrs, m.qrID)
	}
	a.sendTo(ctx, m.replyTo, view)
}
