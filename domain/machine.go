package domain

import (
	"errors"
	"maps"
	"time"
)

// LoginStage is where a channel's login in progress stands (SPEC §5,
// logging_in(challenge)).
type LoginStage int

const (
	// LoginCalling: the password login is at the tax bureau.
	LoginCalling LoginStage = iota + 1
	// LoginChallenge: the bureau sent a code; a person (or the hosting
	// provider) must give it.
	LoginChallenge
	// LoginSubmitting: a code is at the bureau.
	LoginSubmitting
)

// PendingLogin is a channel's login in progress. Nonce tells its results
// from those of an earlier login of the same channel.
type PendingLogin struct {
	Nonce       uint64
	Stage       LoginStage
	ChallengeID string
	// Started is when the login began: codes sent from then on are its own.
	Started time.Time
	// Resending says a new code was asked for the challenge (ResendCode):
	// the bureau's answer is awaited.
	Resending bool
}

// PendingCert is a face certification in progress.
type PendingCert struct {
	Nonce   uint64
	Channel Channel // whose session it was started with
	ID      string  // the bureau's certification id, once it answered
	Polling bool    // a poll is at the bureau
}

// Account is an account's state as the rules of SPEC §5 see it: per channel
// the session's expiry (logged_in) or the login in progress (logging_in),
// the certification, and account-wide the lock state (counters, lock,
// password_invalid), the masked phone, when the last code was sent and the
// last nonce handed out. Secrets are not part of it: the actor keeps them.
type Account struct {
	Lock           LockState
	PhoneMasked    string
	LastCodeAt     time.Time
	Sessions       Sessions // expiry of each channel's stored session
	CertifiedUntil time.Time
	Logins         map[Channel]PendingLogin
	Cert           *PendingCert
	Seq            uint64
}

// LoggedIn reports whether the channel has a session alive at now.
func (s Account) LoggedIn(ch Channel, now time.Time) bool {
	exp, has := s.Sessions.Get(ch)
	return has && now.Before(exp)
}

// Machine decides an account's transitions under the configured lock (F13)
// and SMS (B3) policies. It holds no state: Decide and Apply are pure.
type Machine struct {
	Lock LockPolicy
	SMS  SMSPolicy
}

// Command is something that happened to an account or that someone asks of
// it: a person's request, the bureau's answer, a timer.
type Command interface{ command() }

// Event is a decided transition. Apply folds it into the state; the actor
// carries out what it implies (gateway calls, timers, publishing, commits).
type Event interface{ event() }

// Commands.
type (
	// StartLogin asks for a password login of Channel (B1: joins one in
	// progress). Budget is the phone's B3 budget as stored, nil while the
	// person is not known.
	StartLogin struct {
		Channel Channel
		Budget  *PhoneBudget
	}
	// LoginAnswered is the bureau's answer to a password login: Err, a
	// session (SessionExpires), or a code challenge.
	LoginAnswered struct {
		Channel        Channel
		Nonce          uint64
		Err            *Error
		SessionExpires *time.Time
		ChallengeID    string
		PhoneMasked    string
		Challenged     bool
	}
	// SubmitCode is a code typed by a person.
	SubmitCode struct {
		Channel Channel
		Code    string
	}
	// HostedCode is the hosting provider's answer: a code, or Err.
	HostedCode struct {
		Channel Channel
		Nonce   uint64
		Err     error
	}
	// CodeAnswered is the bureau's answer to a submitted code. ByPerson
	// says someone is there to type another one.
	CodeAnswered struct {
		Channel        Channel
		Nonce          uint64
		Err            *Error
		SessionExpires time.Time
		ByPerson       bool
	}
	// CodeTimedOut is the code timer of a login (CodeTTL).
	CodeTimedOut struct {
		Channel Channel
		Nonce   uint64
	}
	// StartQR asks for a QR login (F15).
	StartQR struct{}
	// SessionObtained is a session the bureau handed over for Channel:
	// after a password login or a code, or (ViaQR) a QR scan the person
	// confirmed (F15).
	SessionObtained struct {
		Channel   Channel
		ExpiresAt time.Time
		ViaQR     bool
	}
	// StartCert asks for face certification with Channel's session.
	StartCert struct{ Channel Channel }
	// CertAnswered is the bureau's answer to starting one.
	CertAnswered struct {
		Nonce uint64
		ID    string
		Err   *Error
	}
	// ConfirmCert is the person saying they finished certification.
	ConfirmCert struct{}
	// CertPolled is the bureau's answer to a poll: Confirmed (until
	// ValidUntil), Expired, or still waiting; or Err.
	CertPolled struct {
		Nonce      uint64
		Err        *Error
		Confirmed  bool
		Expired    bool
		ValidUntil time.Time
	}
	// CertTimedOut is the certification's expiry timer.
	CertTimedOut struct{ Nonce uint64 }
	// DropSession forgets Channel's session (B4), when Current: the
	// reported token is still the stored one.
	DropSession struct {
		Channel Channel
		Current bool
	}
	// Unlock is F13.
	Unlock struct{}
	// UpdatePassword stores a new password (F11, F12).
	UpdatePassword struct{}
)

func (StartLogin) command()      {}
func (LoginAnswered) command()   {}
func (SubmitCode) command()      {}
func (HostedCode) command()      {}
func (CodeAnswered) command()    {}
func (CodeTimedOut) command()    {}
func (StartQR) command()         {}
func (SessionObtained) command() {}
func (StartCert) command()       {}
func (CertAnswered) command()    {}
func (ConfirmCert) command()     {}
func (CertPolled) command()      {}
func (CertTimedOut) command()    {}
func (DropSession) command()     {}
func (Unlock) command()          {}
func (UpdatePassword) command()  {}

// Events.
type (
	// LoginJoined: a login of Channel is in progress; the request shares it.
	LoginJoined struct{ Channel Channel }
	// LoginStarted: call the bureau's login for Channel.
	LoginStarted struct {
		Channel Channel
		Nonce   uint64
		At      time.Time
	}
	// ChallengeIssued: the bureau sent a code; spend it from the budget,
	// tell the person (PromptMessage), arm the code timer, and with Hosted
	// fetch the code from the provider.
	ChallengeIssued struct {
		Channel     Channel
		ChallengeID string
		PhoneMasked string
		At          time.Time
		Hosted      bool
	}
	// CodeSubmitted: hand the code to the bureau.
	CodeSubmitted struct{ Channel Channel }
	// CodeRejected: the code was not taken; the person may type another
	// (Err is what they are told).
	CodeRejected struct {
		Channel Channel
		Err     *Error
	}
	// FailureCounted: a failed step counted toward the lock (F13, B2).
	FailureCounted struct {
		Failure Failure
		At      time.Time
	}
	// AccountLocked: the failure locked the account; tell clients.
	AccountLocked struct{ Reason LockReason }
	// PasswordRefused: the bureau locked the password (B2: never submit
	// it again until updated).
	PasswordRefused struct{}
	// LoginFailed: the channel's login ended; its requests fail with Err.
	LoginFailed struct {
		Channel Channel
		Err     *Error
	}
	// LoggedIn: the channel has a session until ExpiresAt.
	LoggedIn struct {
		Channel   Channel
		ExpiresAt time.Time
		ViaQR     bool
	}
	// SessionDropped: the channel's session is gone (B4).
	SessionDropped struct{ Channel Channel }
	// CertJoined: a certification is in progress; the request shares it.
	CertJoined struct{}
	// CertStarted: ask the bureau for a face certification.
	CertStarted struct {
		Channel Channel
		Nonce   uint64
	}
	// CertChallenged: the bureau's certification ID is known; tell the
	// person and arm its expiry.
	CertChallenged struct{ ID string }
	// CertPolling: poll the bureau.
	CertPolling struct{}
	// CertWaiting: the poll came back undecided (or failed with Err).
	CertWaiting struct{ Err *Error }
	// CertSessionLost: the bureau refused the session the certification
	// was started with; drop it and log in again.
	CertSessionLost struct{ Channel Channel }
	// Certified: certification holds until Until.
	Certified struct{ Until time.Time }
	// CertFailed: the certification ended; its requests fail with Err.
	CertFailed struct{ Err *Error }
	// Unlocked: F13's unlock.
	Unlocked struct{}
	// PasswordChanged: a new password was stored; it unlocks (F11, F12).
	PasswordChanged struct{}
)

func (LoginJoined) event()     {}
func (LoginStarted) event()    {}
func (ChallengeIssued) event() {}
func (CodeSubmitted) event()   {}
func (CodeRejected) event()    {}
func (FailureCounted) event()  {}
func (AccountLocked) event()   {}
func (PasswordRefused) event() {}
func (LoginFailed) event()     {}
func (LoggedIn) event()        {}
func (SessionDropped) event()  {}
func (CertJoined) event()      {}
func (CertStarted) event()     {}
func (CertChallenged) event()  {}
func (CertPolling) event()     {}
func (CertWaiting) event()     {}
func (CertSessionLost) event() {}
func (Certified) event()       {}
func (CertFailed) event()      {}
func (Unlocked) event()        {}
func (PasswordChanged) event() {}

// errCodeBusy is SubmitCode's refusal while a code is at the bureau.
var errCodeBusy = ErrBusy.With("验证码正在提交", "a code is being submitted")

// Decide returns the events c causes in s at now, or the refusal. A result
// for a login or certification that is no longer the current one (another
// nonce, another stage) causes nothing. Decide never changes s.
func (m Machine) Decide(s Account, c Command, now time.Time) ([]Event, error) {
	switch c := c.(type) {
	case StartLogin:
		if _, busy := s.Logins[c.Channel]; busy {
			return []Event{LoginJoined{Channel: c.Channel}}, nil
		}
		if err := s.Lock.LoginGuard(); err != nil {
			return nil, err
		}
		if err := CheckAccountInterval(s.LastCodeAt, m.SMS, now); err != nil {
			return nil, err
		}
		if c.Budget != nil {
			if err := c.Budget.Check(m.SMS, now); err != nil {
				return nil, err
			}
		}
		return []Event{LoginStarted{Channel: c.Channel, Nonce: s.Seq + 1, At: now}}, nil
	case LoginAnswered:
		if !s.current(c.Channel, c.Nonce, 0) {
			return nil, nil
		}
		switch {
		case c.Err != nil && errors.Is(c.Err, ErrBureauPwdLocked):
			return []Event{PasswordRefused{}, LoginFailed{Channel: c.Channel, Err: c.Err}}, nil
		case c.Err != nil && errors.Is(c.Err, ErrWrongPassword):
			return m.fail(s, c.Channel, FailWrongPassword, now, func(LockState) *Error { return c.Err }), nil
		case c.Err != nil:
			return []Event{LoginFailed{Channel: c.Channel, Err: c.Err}}, nil
		case c.SessionExpires != nil:
			return []Event{LoggedIn{Channel: c.Channel, ExpiresAt: *c.SessionExpires}}, nil
		case !c.Challenged:
			return []Event{LoginFailed{Channel: c.Channel, Err: ErrBureauUnavailable.With("", "empty login result")}}, nil
		}
		return []Event{ChallengeIssued{Channel: c.Channel, ChallengeID: c.ChallengeID, PhoneMasked: c.PhoneMasked,
			At: now, Hosted: s.Lock.Hosted}}, nil
	case SubmitCode:
		l, has := s.Logins[c.Channel]
		switch {
		case !has || l.Stage == LoginCalling:
			return nil, ErrNoChallenge
		case l.Stage == LoginSubmitting:
			return nil, errCodeBusy
		}
		if err := CheckSMSCode(c.Code); err != nil {
			return nil, err
		}
		return []Event{CodeSubmitted{Channel: c.Channel}}, nil
	case HostedCode:
		if !s.current(c.Channel, c.Nonce, LoginChallenge) {
			return nil, nil
		}
		if c.Err != nil {
			return m.fail(s, c.Channel, FailCodeTimeout, now, lockedOr(ErrHostedCodeTimeout.Wrap(c.Err))), nil
		}
		return []Event{CodeSubmitted{Channel: c.Channel}}, nil
	case CodeAnswered:
		if !s.current(c.Channel, c.Nonce, LoginSubmitting) {
			return nil, nil
		}
		switch {
		case c.Err == nil:
			return []Event{LoggedIn{Channel: c.Channel, ExpiresAt: c.SessionExpires}}, nil
		case errors.Is(c.Err, ErrWrongCode):
			evs := m.fail(s, c.Channel, FailWrongCode, now, lockedOr(c.Err))
			if next := m.ApplyAll(s, evs[:len(evs)-1]); next.Lock.Lock == nil && c.ByPerson {
				// Someone is there to type another code.
				evs[len(evs)-1] = CodeRejected{Channel: c.Channel, Err: c.Err}
			}
			return evs, nil
		case errors.Is(c.Err, ErrBureauUnavailable):
			return []Event{CodeRejected{Channel: c.Channel, Err: c.Err}}, nil
		}
		return []Event{LoginFailed{Channel: c.Channel, Err: c.Err}}, nil
	case CodeTimedOut:
		if !s.current(c.Channel, c.Nonce, LoginChallenge) {
			return nil, nil
		}
		return m.fail(s, c.Channel, FailCodeTimeout, now, lockedOr(ErrCodeExpired)), nil
	case StartQR:
		// A refused password does not stop a QR scan (it proves nothing
		// about the password); a lock does.
		if s.Lock.Lock != nil {
			return nil, LockedError(s.Lock.Lock.Reason)
		}
		return nil, nil
	case SessionObtained:
		return []Event{LoggedIn{Channel: c.Channel, ExpiresAt: c.ExpiresAt, ViaQR: c.ViaQR}}, nil
	case StartCert:
		if s.Cert != nil {
			return []Event{CertJoined{}}, nil
		}
		if !s.LoggedIn(c.Channel, now) {
			return nil, ErrNotLoggedIn
		}
		return []Event{CertStarted{Channel: c.Channel, Nonce: s.Seq + 1}}, nil
	case CertAnswered:
		if s.Cert == nil || s.Cert.Nonce != c.Nonce {
			return nil, nil
		}
		switch {
		case c.Err != nil && errors.Is(c.Err, ErrNotLoggedIn):
			return []Event{CertSessionLost{Channel: s.Cert.Channel}}, nil
		case c.Err != nil:
			return []Event{CertFailed{Err: c.Err}}, nil
		}
		return []Event{CertChallenged{ID: c.ID}}, nil
	case ConfirmCert:
		switch {
		case s.Cert == nil || s.Cert.ID == "":
			return nil, ErrNoChallenge
		case s.Cert.Polling:
			return nil, ErrBusy
		}
		return []Event{CertPolling{}}, nil
	case CertPolled:
		if s.Cert == nil || s.Cert.Nonce != c.Nonce {
			return nil, nil
		}
		switch {
		case c.Err != nil:
			return []Event{CertWaiting{Err: c.Err}}, nil
		case c.Confirmed:
			return []Event{Certified{Until: c.ValidUntil}}, nil
		case c.Expired:
			return []Event{CertFailed{Err: ErrQRExpired}}, nil
		}
		return []Event{CertWaiting{}}, nil
	case CertTimedOut:
		if s.Cert == nil || s.Cert.Nonce != c.Nonce {
			return nil, nil
		}
		return []Event{CertFailed{Err: ErrQRExpired}}, nil
	case DropSession:
		if _, has := s.Sessions.Get(c.Channel); !has || !c.Current {
			return nil, nil
		}
		return []Event{SessionDropped{Channel: c.Channel}}, nil
	case Unlock:
		return []Event{Unlocked{}}, nil
	case UpdatePassword:
		return []Event{PasswordChanged{}}, nil
	case ResendCode, CodeResent:
		return m.decideResend(s, c, now)
	}
	return nil, ErrInternal.With("", "unknown command")
}

// current reports whether the login of ch with nonce is the one in
// progress, and (when stage is set) at that stage.
func (s Account) current(ch Channel, nonce uint64, stage LoginStage) bool {
	l, has := s.Logins[ch]
	return has && l.Nonce == nonce && (stage == 0 || l.Stage == stage)
}

// fail counts f and ends the login with the error errFor gives for the
// lock state after the count: the failure, AccountLocked when it locked,
// LoginFailed last.
func (m Machine) fail(s Account, ch Channel, f Failure, now time.Time, errFor func(LockState) *Error) []Event {
	evs := []Event{FailureCounted{Failure: f, At: now}}
	after := s.Lock.RecordFailure(f, m.Lock, now)
	if s.Lock.Lock == nil && after.Lock != nil {
		evs = append(evs, AccountLocked{Reason: after.Lock.Reason})
	}
	return append(evs, LoginFailed{Channel: ch, Err: errFor(after)})
}

// lockedOr is the error a failed step ends with: the lock when the account
// is locked (F13), err otherwise.
func lockedOr(err *Error) func(LockState) *Error {
	return func(l LockState) *Error {
		if l.Lock != nil {
			return LockedError(l.Lock.Reason)
		}
		return err
	}
}

// Apply returns s with e folded in. It never changes s (its maps are
// copied before a change).
func (m Machine) Apply(s Account, e Event) Account {
	switch e := e.(type) {
	case LoginStarted:
		s.Seq = e.Nonce
		s.Logins = with(s.Logins, e.Channel, PendingLogin{Nonce: e.Nonce, Stage: LoginCalling, Started: e.At})
	case ChallengeIssued:
		l := s.Logins[e.Channel]
		l.Stage, l.ChallengeID = LoginChallenge, e.ChallengeID
		s.Logins = with(s.Logins, e.Channel, l)
		s.LastCodeAt, s.PhoneMasked = e.At, e.PhoneMasked
	case CodeSubmitted:
		s.Logins = withStage(s.Logins, e.Channel, LoginSubmitting)
	case CodeRejected:
		s.Logins = withStage(s.Logins, e.Channel, LoginChallenge)
	case FailureCounted:
		s.Lock = s.Lock.RecordFailure(e.Failure, m.Lock, e.At)
	case PasswordRefused:
		s.Lock.PasswordInvalid = true
	case LoginFailed:
		s.Logins = without(s.Logins, e.Channel)
	case LoggedIn:
		s.Logins = without(s.Logins, e.Channel)
		s.Sessions = s.Sessions.With(e.Channel, e.ExpiresAt)
		if e.ViaQR {
			// A QR scan proves nothing about the stored password: B2's
			// mark stays, the code counters reset.
			s.Lock.Counters = Counters{}
		} else {
			s.Lock = s.Lock.RecordSuccess()
		}
	case SessionDropped, CertSessionLost:
		ch := channelOf(e)
		s.Sessions = s.Sessions.Without(ch)
		if _, lost := e.(CertSessionLost); lost {
			s.Cert = nil
		}
	case CertStarted:
		s.Seq = e.Nonce
		s.Cert = &PendingCert{Nonce: e.Nonce, Channel: e.Channel}
	case CertChallenged:
		c := *s.Cert
		c.ID = e.ID
		s.Cert = &c
	case CertPolling:
		c := *s.Cert
		c.Polling = true
		s.Cert = &c
	case CertWaiting:
		c := *s.Cert
		c.Polling = false
		s.Cert = &c
	case Certified:
		s.Cert, s.CertifiedUntil = nil, e.Until
	case CertFailed:
		s.Cert = nil
	case Unlocked:
		s.Lock = s.Lock.Unlock()
	case PasswordChanged:
		s.Lock = s.Lock.PasswordUpdated()
	case ResendStarted, ResendFailed, ChallengeReissued:
		s = applyResend(s, e)
	}
	return s
}

// ApplyAll folds evs into s in order.
func (m Machine) ApplyAll(s Account, evs []Event) Account {
	for _, e := range evs {
		s = m.Apply(s, e)
	}
	return s
}

func channelOf(e Event) Channel {
	switch e := e.(type) {
	case SessionDropped:
		return e.Channel
	case CertSessionLost:
		return e.Channel
	}
	return ""
}

func with[V any](m map[Channel]V, k Channel, v V) map[Channel]V {
	c := maps.Clone(m)
	if c == nil {
		c = map[Channel]V{}
	}
	c[k] = v
	return c
}

func without[V any](m map[Channel]V, k Channel) map[Channel]V {
	if _, has := m[k]; !has {
		return m
	}
	c := maps.Clone(m)
	delete(c, k)
	return c
}

func withStage(m map[Channel]PendingLogin, k Channel, st LoginStage) map[Channel]PendingLogin {
	l, has := m[k]
	if !has {
		return m
	}
	l.Stage = st
	return with(m, k, l)
}
