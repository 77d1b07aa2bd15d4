package taxbureau

// Simulator face certification: StartCertification, PassFace, PollCertification and each enterprise's validity.

import (
	"context"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// StartCertification implements Gateway: the token must belong to a live
// session (domain.ErrNotLoggedIn otherwise). The face QR code is valid for
// FaceValidity.
func (s *Simulator) StartCertification(ctx context.Context, token string) (FaceChallenge, error) {
	if err := s.begin(ctx, mStartCertification); err != nil {
		return FaceChallenge{}, err
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[token]
	if sess == nil || !now.Before(sess.ExpiresAt) {
		return FaceChallenge{}, domain.ErrNotLoggedIn
	}
	s.sweep(now)
	c := &certification{id: newID("fc_"), taxNo: sess.taxNo, expires: now.Add(s.cfg.FaceValidity)}
	s.certs[c.id] = c
	return FaceChallenge{ID: c.id, Content: "etax-sim://face?cert=" + c.id, ExpiresAt: c.expires}, nil
}

// PassFace is the person passing the face certification certID in the app.
// The certification then counts until now plus the enterprise's validity. It
// fails with domain.ErrNoChallenge (unknown) or domain.ErrQRExpired; passing
// twice is a no-op.
func (s *Simulator) PassFace(certID string) error {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.certs[certID]
	switch {
	case c == nil:
		return domain.ErrNoChallenge
	case c.passed:
		return nil
	case !now.Before(c.expires):
		return domain.ErrQRExpired
	}
	v, ok := s.certValidity[c.taxNo]
	if !ok {
		v = s.cfg.CertValidity
	}
	c.passed, c.validUntil = true, now.Add(v)
	return nil
}

// SetCertValidity sets how long a certification of the enterprise taxNo
// counts, overriding CertValidity (settable at the bureau by 法定代表人 and
// 财务负责人). Zero means one invoice only; a negative d removes the
// override.
func (s *Simulator) SetCertValidity(taxNo string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d < 0 {
		delete(s.certValidity, taxNo)
		return
	}
	s.certValidity[taxNo] = d
}

// PollCertification implements Gateway: waiting, confirmed with ValidUntil,
// or expired (a state, as in PollQR). An unknown id gives
// domain.ErrNoChallenge.
func (s *Simulator) PollCertification(ctx context.Context, certID string) (CertStatus, error) {
	if err := s.begin(ctx, mPollCertification); err != nil {
		return CertStatus{}, err
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.certs[certID]
	switch {
	case c == nil:
		return CertStatus{}, domain.ErrNoChallenge
	case c.passed:
		return CertStatus{State: QRConfirmed, ValidUntil: c.validUntil}, nil
	case !now.Before(c.expires):
		return CertStatus{State: QRExpired}, nil
	}
	return CertStatus{State: QRWaiting}, nil
}
