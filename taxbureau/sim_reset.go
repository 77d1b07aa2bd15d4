package taxbureau

// Simulator password reset: StartReset and CompleteReset.

import (
	"context"

	"github.com/etaxd/etaxd/domain"
)

// StartReset implements Gateway: an unknown username or a document that is
// not the person's gives domain.ErrIdentityMismatch (an empty IDType means
// 居民身份证); then a reset code is sent, spending the SMS budget of the
// request's region (domain.ErrSMSBudget). A locked password may be reset.
func (s *Simulator) StartReset(ctx context.Context, req ResetRequest) (Challenge, error) {
	if err := s.begin(ctx, mStartReset); err != nil {
		return Challenge{}, err
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookup(req.Username)
	if p == nil || !p.sameIdentity(req.IDType, req.IDNumber) {
		return Challenge{}, domain.ErrIdentityMismatch
	}
	c, err := s.sendCode(p, req.Region, PurposeReset, now)
	if err != nil {
		return Challenge{}, err
	}
	return Challenge{ID: c.id, PhoneMasked: domain.MaskPhone(c.phone), ExpiresAt: c.expires}, nil
}

// CompleteReset implements Gateway. The code is checked first, as in
// SubmitCode; then the policy (domain.ErrPasswordPolicy keeps the challenge,
// so the person may try another password with the same code). On success the
// password changes, the bureau's lock and wrong-password count clear, and the
// person's live sessions stay alive.
func (s *Simulator) CompleteReset(ctx context.Context, challengeID, code, newPassword string) error {
	if err := s.begin(ctx, mCompleteReset); err != nil {
		return err
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.challengeFor(challengeID, PurposeReset, code, now)
	if err != nil {
		return err
	}
	if err := s.cfg.CheckPassword(newPassword); err != nil {
		return err
	}
	p := s.persons[c.personID]
	if p == nil {
		delete(s.challenges, c.id)
		return domain.ErrNoChallenge
	}
	prev := *p
	p.Password = newPassword
	p.clearLock()
	if err := s.savePersons(); err != nil {
		*p = prev // the challenge stays: the same code may try again
		return domain.ErrBureauUnavailable.Wrap(err)
	}
	delete(s.challenges, c.id)
	return nil
}
