package taxbureau

// Simulator password logins: Login, SubmitCode, Relations and VerifyPassword, the SMS codes they send and the password lock rule.

import (
	"context"
	"strings"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// Login implements Gateway. The checks run in this order: the login name
// (unknown → domain.ErrWrongPassword, not counted), the password lock
// (domain.ErrBureauPwdLocked), the password (domain.ErrWrongPassword; the
// wrong try that reaches the limit returns domain.ErrBureauPwdLocked wrapping
// domain.ErrWrongPassword), the relation (domain.ErrNoRelation), the role's
// platform (domain.ErrRoleBusiness, when RolesDecideChannel), then the SMS
// budget (domain.ErrSMSBudget, nothing sent). A bad channel gives
// domain.ErrInvalidBusiness.
func (s *Simulator) Login(ctx context.Context, req LoginRequest) (LoginResult, error) {
	if err := s.begin(ctx, mLogin); err != nil {
		return LoginResult{}, err
	}
	ch, err := domain.ParseChannel(string(req.Channel))
	if err != nil {
		return LoginResult{}, err
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookup(req.Username)
	if p == nil {
		return LoginResult{}, domain.ErrWrongPassword
	}
	if err := p.checkPassword(req.Password, s.cfg.MaxWrongPasswords, now); err != nil {
		return LoginResult{}, err
	}
	rel, err := s.relationFor(p, req.TaxNo, req.Region, ch)
	if err != nil {
		return LoginResult{}, err
	}
	res := LoginResult{PersonID: p.ID, Role: rel.Role}
	if s.noSMS[rel.Region] {
		sess := s.openSession(p.ID, rel, ch, now)
		res.Session = &sess
		return res, nil
	}
	c, err := s.sendCode(p, rel.Region, PurposeLogin, now)
	if err != nil {
		return LoginResult{}, err
	}
	c.rel, c.channel = rel, ch
	res.Challenge = &Challenge{ID: c.id, PhoneMasked: domain.MaskPhone(c.phone), ExpiresAt: c.expires}
	return res, nil
}

// relationFor returns p's relation to taxNo seen from region, checked
// against the channel's platform. The caller holds s.mu.
func (s *Simulator) relationFor(p *person, taxNo, region string, ch domain.Channel) (Relation, error) {
	rel, ok := p.relation(taxNo, region)
	if !ok {
		return Relation{}, domain.ErrNoRelation
	}
	if s.cfg.RolesDecideChannel && !rel.Role.Allows(ch.Business()) {
		return Relation{}, domain.ErrRoleBusiness
	}
	return rel, nil
}

// SubmitCode implements Gateway: domain.ErrNoChallenge for an unknown (or
// dead, or reset) challenge, domain.ErrCodeExpired, domain.ErrWrongCode (the
// MaxWrongCodes-th wrong code kills the challenge), otherwise a session that
// replaces the person's older one on the same region and channel.
func (s *Simulator) SubmitCode(ctx context.Context, challengeID, code string) (Session, error) {
	if err := s.begin(ctx, mSubmitCode); err != nil {
		return Session{}, err
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	c, err := s.challengeFor(challengeID, PurposeLogin, code, now)
	if err != nil {
		return Session{}, err
	}
	delete(s.challenges, c.id)
	if s.persons[c.personID] == nil {
		return Session{}, domain.ErrNoChallenge
	}
	return s.openSession(c.personID, c.rel, c.channel, now), nil
}

// challengeFor checks code against the live challenge id of purpose. The
// caller holds s.mu.
func (s *Simulator) challengeFor(id string, purpose Purpose, code string, now time.Time) (*challenge, error) {
	c := s.challenges[id]
	if c == nil || c.purpose != purpose {
		return nil, domain.ErrNoChallenge
	}
	if !now.Before(c.expires) {
		return nil, domain.ErrCodeExpired
	}
	if strings.TrimSpace(code) != c.code {
		c.wrong++
		if c.wrong >= s.cfg.MaxWrongCodes {
			delete(s.challenges, id)
		}
		return nil, domain.ErrWrongCode
	}
	return c, nil
}

// Relations implements Gateway: the person's relations in region (all of
// them when region is ""), with the region filled in. The password is
// checked as in Login and counts toward the lock.
func (s *Simulator) Relations(ctx context.Context, region, username, password string) ([]Relation, error) {
	if err := s.begin(ctx, mRelations); err != nil {
		return nil, err
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookup(username)
	if p == nil {
		return nil, domain.ErrWrongPassword
	}
	if err := p.checkPassword(password, s.cfg.MaxWrongPasswords, now); err != nil {
		return nil, err
	}
	rels := []Relation{}
	for _, r := range p.Relations {
		if rel, ok := p.relation(r.TaxNo, region); ok {
			rels = append(rels, rel)
		}
	}
	return rels, nil
}

// VerifyPassword implements Gateway with Login's password checks; it counts
// toward the lock like a login.
func (s *Simulator) VerifyPassword(ctx context.Context, region, username, password string) error {
	if err := s.begin(ctx, mVerifyPassword); err != nil {
		return err
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookup(username)
	if p == nil {
		return domain.ErrWrongPassword
	}
	return p.checkPassword(password, s.cfg.MaxWrongPasswords, now)
}

// sendCode spends the budget of p's phone in region and sends a code for
// purpose. The caller holds s.mu.
func (s *Simulator) sendCode(p *person, region string, purpose Purpose, now time.Time) (*challenge, error) {
	s.sweep(now)
	key := budgetKey{phone: p.Phone, region: region}
	b, err := s.budgets[key].Spend(domain.SMSPolicy{PerPhonePerDay: s.cfg.SMSPerPhonePerDay}, now)
	if err != nil {
		return nil, err
	}
	s.budgets[key] = b
	c := &challenge{
		id:       newID("ch_"),
		purpose:  purpose,
		personID: p.ID,
		phone:    p.Phone,
		code:     randomDigits(s.cfg.CodeLength),
		expires:  now.Add(s.cfg.CodeValidity),
	}
	s.challenges[c.id] = c
	s.record(SMS{Phone: p.Phone, Code: c.code, Region: region, Purpose: purpose, ChallengeID: c.id, SentAt: now})
	return c, nil
}

// SMSRemaining is how many codes the bureau will still send to phone in
// region today.
func (s *Simulator) SMSRemaining(phone, region string) int {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.budgets[budgetKey{phone: phone, region: region}].Remaining(domain.SMSPolicy{PerPhonePerDay: s.cfg.SMSPerPhonePerDay}, now)
}

// locked reports whether p's password is locked at now.
func (p *person) locked(now time.Time) bool {
	return p.lockedDay != "" && p.lockedDay == domain.Day(now)
}

// checkPassword applies the bureau's lock rule: while locked every try fails
// with domain.ErrBureauPwdLocked; a wrong password counts (consecutive tries
// within one bureau day) and the max-th locks the password until the next
// day; the right one resets the count.
func (p *person) checkPassword(pw string, max int, now time.Time) error {
	if p.locked(now) {
		return domain.ErrBureauPwdLocked
	}
	day := domain.Day(now)
	if p.wrongDay != day {
		p.wrongPasswords, p.wrongDay = 0, day
	}
	if pw != p.Password {
		p.wrongPasswords++
		if p.wrongPasswords >= max {
			p.lockedDay = day
			return domain.ErrBureauPwdLocked.Wrap(domain.ErrWrongPassword)
		}
		return domain.ErrWrongPassword
	}
	p.wrongPasswords = 0
	return nil
}

// clearLock lifts the password lock and the wrong-password count, as a reset
// or a password change does.
func (p *person) clearLock() {
	p.wrongPasswords, p.wrongDay, p.lockedDay = 0, "", ""
}
