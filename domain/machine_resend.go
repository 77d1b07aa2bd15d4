// machine_resend.go: 重新获取验证码 of a login waiting for a code (B3): the
// commands, events and transitions Machine adds for it.

package domain

import "time"

// Commands of a resend.
type (
	// ResendCode asks for a new code of Channel's challenge. Budget is the
	// phone's B3 budget as stored, nil while the person is not known.
	ResendCode struct {
		Channel Channel
		Budget  *PhoneBudget
	}
	// CodeResent is the bureau's answer to a resend (a new password
	// login): Err, a session (SessionExpires), or a new challenge.
	CodeResent struct {
		Channel        Channel
		Nonce          uint64
		Err            *Error
		SessionExpires *time.Time
		ChallengeID    string
		PhoneMasked    string
		Challenged     bool
	}
)

func (ResendCode) command() {}
func (CodeResent) command() {}

// Events of a resend.
type (
	// ResendStarted: ask the bureau for a new code of Channel's login.
	ResendStarted struct{ Channel Channel }
	// ResendFailed: no new code; the old challenge stands (its code may
	// still arrive) and the person is told Err.
	ResendFailed struct {
		Channel Channel
		Err     *Error
	}
	// ChallengeReissued: the bureau sent a new code; it replaces the old
	// challenge, spends the budget and restarts the interval (B3). The
	// prompt and its code timer keep their expiry.
	ChallengeReissued struct {
		Channel     Channel
		ChallengeID string
		PhoneMasked string
		At          time.Time
	}
)

func (ResendStarted) event()     {}
func (ResendFailed) event()      {}
func (ChallengeReissued) event() {}

// errEmptyResend is a resend answer with neither a session nor a code.
var errEmptyResend = ErrBureauUnavailable.With("", "empty resend result")

// decideResend is Decide for ResendCode and CodeResent. A resend is refused
// with ErrPromptClosed when the channel has no login, ErrNoChallenge when
// nobody types its code (hosted, or the password still at the bureau),
// ErrBusy while a code is checked or another resend is out, and then under
// a login's guards: the lock (F13, B2), the account's interval said in
// seconds (CheckResendInterval) and the phone's budget (B3). An answer for
// a login that is no longer the current one causes nothing.
func (m Machine) decideResend(s Account, c Command, now time.Time) ([]Event, error) {
	switch c := c.(type) {
	case ResendCode:
		l, has := s.Logins[c.Channel]
		switch {
		case !has:
			return nil, ErrPromptClosed
		case s.Lock.Hosted || l.Stage == LoginCalling:
			return nil, ErrNoChallenge
		case l.Stage == LoginSubmitting || l.Resending:
			return nil, ErrBusy
		}
		if err := s.Lock.LoginGuard(); err != nil {
			return nil, err
		}
		if err := CheckResendInterval(s.LastCodeAt, m.SMS, now); err != nil {
			return nil, err
		}
		if c.Budget != nil {
			if err := c.Budget.Check(m.SMS, now); err != nil {
				return nil, err
			}
		}
		return []Event{ResendStarted{Channel: c.Channel}}, nil
	case CodeResent:
		if !s.current(c.Channel, c.Nonce, 0) {
			return nil, nil
		}
		switch {
		case c.Err != nil:
			return []Event{ResendFailed{Channel: c.Channel, Err: c.Err}}, nil
		case c.SessionExpires != nil:
			return []Event{LoggedIn{Channel: c.Channel, ExpiresAt: *c.SessionExpires}}, nil
		case !c.Challenged || c.ChallengeID == "":
			return []Event{ResendFailed{Channel: c.Channel, Err: errEmptyResend}}, nil
		}
		return []Event{ChallengeReissued{Channel: c.Channel, ChallengeID: c.ChallengeID, PhoneMasked: c.PhoneMasked, At: now}}, nil
	}
	return nil, ErrInternal.With("", "unknown command")
}

// applyResend is Apply for the resend's events. The code's time and the
// phone are the account's and change even when the login is gone (a
// store-only state); the login's fields change only when it is there.
func applyResend(s Account, e Event) Account {
	switch e := e.(type) {
	case ResendStarted:
		s.Logins = withResending(s.Logins, e.Channel, true, "")
	case ResendFailed:
		s.Logins = withResending(s.Logins, e.Channel, false, "")
	case ChallengeReissued:
		s.Logins = withResending(s.Logins, e.Channel, false, e.ChallengeID)
		s.LastCodeAt, s.PhoneMasked = e.At, e.PhoneMasked
	}
	return s
}

// withResending sets the Resending mark of k's login, and its challenge
// when id is set; m is returned as it is when k has no login.
func withResending(m map[Channel]PendingLogin, k Channel, resending bool, id string) map[Channel]PendingLogin {
	l, has := m[k]
	if !has {
		return m
	}
	l.Resending = resending
	if id != "" {
		l.ChallengeID = id
	}
	return with(m, k, l)
}
