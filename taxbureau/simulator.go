package taxbureau

import (
	"context"
	"crypto/rand"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
)

var _ Gateway = (*Simulator)(nil)

// forgetAfter is how long the simulator remembers a challenge, QR code,
// certification or session after it ended, so late callers get
// domain.ErrCodeExpired or an expired state rather than
// domain.ErrNoChallenge. Then they are dropped to bound memory.
const forgetAfter = 10 * time.Minute

// sweepEvery is how often (in simulated time) the forgotten entries are
// dropped.
const sweepEvery = time.Minute

// Simulator is an in-process tax bureau that implements Gateway with the
// rules of SimConfig. Create it with NewSimulator; the zero value is not
// usable. It is safe for concurrent use.
type Simulator struct {
	cfg    SimConfig
	clk    clock.Clock
	noSMS  map[string]bool
	faults faults

	mu           sync.Mutex           // guards everything below
	save         func([]Person) error // see KeepPersons; nil keeps nothing
	persons      map[string]*person
	logins       map[string]string // login key → person id
	challenges   map[string]*challenge
	qrs          map[string]*qrLogin
	certs        map[string]*certification
	sessions     map[string]*session // by token; only live or expired ones
	live         map[liveKey]string  // → token of the one session
	budgets      map[budgetKey]domain.PhoneBudget
	outbox       map[string][]SMS // by phone, oldest first
	smsSent      chan struct{}    // closed and replaced at every send
	certValidity map[string]time.Duration
	lastSweep    time.Time
}

// liveKey is what the one-session rule counts by: a natural person on one
// region's platform for one channel.
type liveKey struct {
	personID string
	region   string
	channel  domain.Channel
}

type budgetKey struct{ phone, region string }

// challenge is a code sent for a login or a reset.
type challenge struct {
	id       string
	purpose  Purpose
	personID string
	phone    string
	code     string
	expires  time.Time
	wrong    int
	// login only
	rel     Relation
	channel domain.Channel
}

type qrLogin struct {
	id       string
	region   string
	taxNo    string
	channel  domain.Channel
	app      QRApp
	expires  time.Time
	state    QRState
	personID string
	role     domain.Role
	session  *Session
}

type certification struct {
	id         string
	taxNo      string
	expires    time.Time
	passed     bool
	validUntil time.Time
}

type session struct {
	Session
	key   liveKey
	taxNo string
	role  domain.Role
}

// NewSimulator returns a simulator with no persons. It panics when cfg fails
// Validate: check a configuration read from a user first.
func NewSimulator(cfg SimConfig, clk clock.Clock) *Simulator {
	if err := cfg.Validate(); err != nil {
		panic("taxbureau: invalid simulator config: " + err.Error())
	}
	cfg.NoSMSRegions = append([]string(nil), cfg.NoSMSRegions...)
	s := &Simulator{
		cfg:          cfg,
		clk:          clk,
		noSMS:        make(map[string]bool),
		persons:      make(map[string]*person),
		logins:       make(map[string]string),
		challenges:   make(map[string]*challenge),
		qrs:          make(map[string]*qrLogin),
		certs:        make(map[string]*certification),
		sessions:     make(map[string]*session),
		live:         make(map[liveKey]string),
		budgets:      make(map[budgetKey]domain.PhoneBudget),
		outbox:       make(map[string][]SMS),
		smsSent:      make(chan struct{}),
		certValidity: make(map[string]time.Duration),
	}
	for _, r := range cfg.NoSMSRegions {
		s.noSMS[strings.TrimSpace(r)] = true
	}
	return s
}

// Config returns the simulator's rules.
func (s *Simulator) Config() SimConfig {
	c := s.cfg
	c.NoSMSRegions = append([]string(nil), c.NoSMSRegions...)
	return c
}

// SkipsSMS reports whether a login in region skips the SMS step.
func (s *Simulator) SkipsSMS(region string) bool { return s.noSMS[region] }

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

// CheckSession implements Gateway. A token the bureau does not know (never
// issued, replaced by a newer login, killed, or long expired) is not alive
// and has a zero ExpiresAt; an expired one reports its expiry.
func (s *Simulator) CheckSession(ctx context.Context, token string) (SessionStatus, error) {
	if err := s.begin(ctx, mCheckSession); err != nil {
		return SessionStatus{}, err
	}
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[token]
	if sess == nil {
		return SessionStatus{}, nil
	}
	return SessionStatus{Alive: now.Before(sess.ExpiresAt), ExpiresAt: sess.ExpiresAt}, nil
}

// SessionInfo describes a session the simulator issued.
type SessionInfo struct {
	Session
	PersonID string
	Region   string
	TaxNo    string
	Role     domain.Role
}

// Sessions returns the live sessions, in no particular order.
func (s *Simulator) Sessions() []SessionInfo {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SessionInfo
	for _, sess := range s.sessions {
		if now.Before(sess.ExpiresAt) {
			out = append(out, SessionInfo{
				Session:  sess.Session,
				PersonID: sess.key.personID,
				Region:   sess.key.region,
				TaxNo:    sess.taxNo,
				Role:     sess.role,
			})
		}
	}
	return out
}

// KillSession ends a session as the bureau does at its own whim, and
// reports whether the token was known.
func (s *Simulator) KillSession(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[token]
	if sess == nil {
		return false
	}
	s.dropSession(sess)
	return true
}

// DropSessions forgets every session, as a restart of the bureau's session
// store (or the bureau kicking everyone out) does: the tokens clients hold
// die while persons, passwords and SMS budgets stay. It returns how many
// sessions it forgot. Tests use it to play a restarted simulator.
func (s *Simulator) DropSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.sessions)
	s.sessions = make(map[string]*session)
	s.live = make(map[liveKey]string)
	return n
}

// openSession issues a session and ends the person's older one on the same
// region and channel. The caller holds s.mu.
func (s *Simulator) openSession(personID string, rel Relation, ch domain.Channel, now time.Time) Session {
	s.sweep(now)
	key := liveKey{personID: personID, region: rel.Region, channel: ch}
	if old := s.sessions[s.live[key]]; old != nil {
		s.dropSession(old)
	}
	sess := &session{
		Session: Session{Token: rand.Text(), Channel: ch, ObtainedAt: now, ExpiresAt: now.Add(s.cfg.SessionLength)},
		key:     key,
		taxNo:   rel.TaxNo,
		role:    rel.Role,
	}
	s.sessions[sess.Token] = sess
	s.live[key] = sess.Token
	return sess.Session
}

// dropSession forgets a session. The caller holds s.mu.
func (s *Simulator) dropSession(sess *session) {
	delete(s.sessions, sess.Token)
	if s.live[sess.key] == sess.Token {
		delete(s.live, sess.key)
	}
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

// sweep drops what ended more than forgetAfter ago and yesterday's budgets,
// at most once per sweepEvery. The caller holds s.mu.
func (s *Simulator) sweep(now time.Time) {
	if now.Sub(s.lastSweep) < sweepEvery {
		return
	}
	s.lastSweep = now
	cut := now.Add(-forgetAfter)
	for id, c := range s.challenges {
		if c.expires.Before(cut) {
			delete(s.challenges, id)
		}
	}
	for id, q := range s.qrs {
		end := q.expires
		if q.session != nil {
			end = q.session.ExpiresAt
		}
		if end.Before(cut) {
			delete(s.qrs, id)
		}
	}
	for id, c := range s.certs {
		end := c.expires
		if c.passed && c.validUntil.After(end) {
			end = c.validUntil
		}
		if end.Before(cut) {
			delete(s.certs, id)
		}
	}
	for _, sess := range s.sessions {
		if sess.ExpiresAt.Before(cut) {
			s.dropSession(sess)
		}
	}
	today := domain.Day(now)
	for k, b := range s.budgets {
		if b.Day != today {
			delete(s.budgets, k)
		}
	}
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

// newID returns prefix plus a random, unguessable suffix.
func newID(prefix string) string { return prefix + strings.ToLower(rand.Text()) }

// randomDigits returns n random decimal digits.
func randomDigits(n int) string {
	b := make([]byte, n)
	ten := big.NewInt(10)
	for i := range b {
		d, err := rand.Int(rand.Reader, ten)
		if err != nil {
			panic("taxbureau: crypto/rand failed: " + err.Error())
		}
		b[i] = '0' + byte(d.Int64())
	}
	return string(b)
}
