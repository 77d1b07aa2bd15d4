package taxbureau

// Simulator QR logins: StartQR, PollQR and the app's scan that confirms them.

import (
	"context"
	"strings"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// StartQR implements Gateway. The app defaults to AppTax; an unknown app or
// channel, or no tax number, gives domain.ErrInvalidInput
// (domain.ErrInvalidBusiness for the channel).
func (s *Simulator) StartQR(ctx context.Context, req QRRequest) (QRChallenge, error) {
	if err := s.begin(ctx, mStartQR); err != nil {
		return QRChallenge{}, err
	}
	ch, err := domain.ParseChannel(string(req.Channel))
	if err != nil {
		return QRChallenge{}, err
	}
	app := req.App
	if app == "" {
		app = AppTax
	}
	if app != AppTax && app != AppIIT {
		return QRChallenge{}, domain.Invalid("app", "扫码App不正确")
	}
	if strings.TrimSpace(req.TaxNo) == "" {
		return QRChallenge{}, domain.Invalid("tax_no", "税号不能为空")
	}
	now := s.clk.Now()
	q := &qrLogin{
		id:      newID("qr_"),
		region:  req.Region,
		taxNo:   req.TaxNo,
		channel: ch,
		app:     app,
		expires: now.Add(s.cfg.QRValidity),
		state:   QRWaiting,
	}
	s.mu.Lock()
	s.sweep(now)
	s.qrs[q.id] = q
	s.mu.Unlock()
	return QRChallenge{
		ID:        q.id,
		Content:   "etax-sim://login?qr=" + q.id + "&app=" + string(app),
		ExpiresAt: q.expires,
	}, nil
}

// PollQR implements Gateway. An expired QR code is a state, not an error: it
// returns State QRExpired with a nil error (ScanQR is what fails with
// domain.ErrQRExpired). A confirmed QR code keeps reporting its session. An
// unknown id gives domain.ErrNoChallenge.
func (s *Simulator) PollQR(ctx context.Context, qrID string) (QRStatus, error) {
	if err := s.begin(ctx, mPollQR); err != nil {
		return QRStatus{}, err
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.qrs[qrID]
	if q == nil {
		return QRStatus{}, domain.ErrNoChallenge
	}
	st := QRStatus{State: q.stateAt(now), PersonID: q.personID, Role: q.role}
	if st.State == QRConfirmed {
		sess := *q.session
		st.Session = &sess
	}
	return st, nil
}

func (q *qrLogin) stateAt(now time.Time) QRState {
	if q.state != QRConfirmed && !now.Before(q.expires) {
		return QRExpired
	}
	return q.state
}

// ScanQR is the person logging in as username scanning the QR code qrID in
// the app and confirming: the login completes with a new session. It fails
// with domain.ErrNoChallenge (unknown or already confirmed),
// domain.ErrQRExpired, ErrUnknownPerson, domain.ErrNoRelation or
// domain.ErrRoleBusiness; a failed scan leaves the QR code waiting.
func (s *Simulator) ScanQR(qrID, username string) error {
	return s.scanQR(qrID, username, true)
}

// ScanQRUnconfirmed is the person scanning without confirming yet: PollQR
// reports QRScanned with the person until ScanQR confirms. It fails like
// ScanQR.
func (s *Simulator) ScanQRUnconfirmed(qrID, username string) error {
	return s.scanQR(qrID, username, false)
}

func (s *Simulator) scanQR(qrID, username string, confirm bool) error {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.qrs[qrID]
	if q == nil {
		return domain.ErrNoChallenge
	}
	switch q.stateAt(now) {
	case QRExpired:
		return domain.ErrQRExpired
	case QRConfirmed:
		return domain.ErrNoChallenge
	}
	p := s.lookup(username)
	if p == nil {
		return ErrUnknownPerson
	}
	if q.state == QRScanned && q.personID != p.ID {
		return domain.ErrIdentityMismatch
	}
	rel, err := s.relationFor(p, q.taxNo, q.region, q.channel)
	if err != nil {
		return err
	}
	q.personID, q.role, q.state = p.ID, rel.Role, QRScanned
	if confirm {
		sess := s.openSession(p.ID, rel, q.channel, now)
		q.session, q.state = &sess, QRConfirmed
	}
	return nil
}
