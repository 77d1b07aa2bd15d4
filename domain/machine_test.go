package domain

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

var (
	mNow    = time.Date(2026, 3, 2, 10, 0, 0, 0, ChinaTime)
	machine = Machine{Lock: DefaultLockPolicy(), SMS: DefaultSMSPolicy()}
)

// acct builds an Account for the tables: opts edit a fresh one.
func acct(opts ...func(*Account)) Account {
	s := Account{Seq: 7}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func hosted(s *Account) { s.Lock.Hosted = true }

func pending(ch Channel, st LoginStage) func(*Account) {
	return func(s *Account) {
		s.Logins = map[Channel]PendingLogin{ch: {Nonce: 7, Stage: st, ChallengeID: "c1", Started: mNow.Add(-time.Minute)}}
	}
}

// resending is a login waiting for a code with a resend out.
func resending(ch Channel) func(*Account) {
	return func(s *Account) {
		pending(ch, LoginChallenge)(s)
		l := s.Logins[ch]
		l.Resending = true
		s.Logins[ch] = l
	}
}

func loggedIn(ch Channel, until time.Time) func(*Account) {
	return func(s *Account) { s.Sessions = Sessions{}.With(ch, until) }
}

func certPending(id string, polling bool) func(*Account) {
	return func(s *Account) { s.Cert = &PendingCert{Nonce: 7, Channel: ChannelIssue, ID: id, Polling: polling} }
}

func counters(c Counters) func(*Account) { return func(s *Account) { s.Lock.Counters = c } }

func TestDecide(t *testing.T) {
	exp := mNow.Add(3 * time.Hour)
	spent := PhoneBudget{Day: Day(mNow), Sent: 20}
	half := PhoneBudget{Day: Day(mNow), Sent: 3}
	errWrongPw, errWrongCode := ErrWrongPassword.With("x", "x"), ErrWrongCode.With("y", "y")
	tests := []struct {
		name    string
		state   Account
		cmd     Command
		want    []Event
		wantErr error
	}{
		// logged_out → logging_in, with its guards (F13, B2, B3) and B1.
		{"start a login", acct(), StartLogin{Channel: ChannelIssue}, []Event{LoginStarted{Channel: ChannelIssue, Nonce: 8, At: mNow}}, nil},
		{"start within the budget", acct(), StartLogin{Channel: ChannelIssue, Budget: &half}, []Event{LoginStarted{Channel: ChannelIssue, Nonce: 8, At: mNow}}, nil},
		{"join the login in progress (B1)", acct(pending(ChannelIssue, LoginChallenge)), StartLogin{Channel: ChannelIssue, Budget: &spent}, []Event{LoginJoined{Channel: ChannelIssue}}, nil},
		{"the other channel logs in on its own", acct(pending(ChannelIssue, LoginChallenge)), StartLogin{Channel: ChannelReceive}, []Event{LoginStarted{Channel: ChannelReceive, Nonce: 8, At: mNow}}, nil},
		{"locked (F13)", acct(func(s *Account) { s.Lock.Lock = &Lock{Reason: LockWrongCode} }), StartLogin{Channel: ChannelIssue}, nil, ErrLocked},
		{"password invalid (B2)", acct(func(s *Account) { s.Lock.PasswordInvalid = true }), StartLogin{Channel: ChannelIssue}, nil, ErrPasswordInvalid},
		{"a code too recently (B3)", acct(func(s *Account) { s.LastCodeAt = mNow.Add(-time.Minute) }), StartLogin{Channel: ChannelIssue}, nil, ErrSMSTooFrequent},
		{"the interval passed", acct(func(s *Account) { s.LastCodeAt = mNow.Add(-3 * time.Minute) }), StartLogin{Channel: ChannelIssue}, []Event{LoginStarted{Channel: ChannelIssue, Nonce: 8, At: mNow}}, nil},
		{"the phone's budget is spent (B3)", acct(), StartLogin{Channel: ChannelIssue, Budget: &spent}, nil, ErrSMSBudget},

		// The bureau's answer to the password.
		{"stale login answer", acct(pending(ChannelIssue, LoginCalling)), LoginAnswered{Channel: ChannelIssue, Nonce: 6}, nil, nil},
		{"no login in progress", acct(), LoginAnswered{Channel: ChannelIssue, Nonce: 7}, nil, nil},
		{"bureau locked the password (B2)", acct(pending(ChannelIssue, LoginCalling)), LoginAnswered{Channel: ChannelIssue, Nonce: 7, Err: ErrBureauPwdLocked},
			[]Event{PasswordRefused{}, LoginFailed{Channel: ChannelIssue, Err: ErrBureauPwdLocked}}, nil},
		{"wrong password, manual", acct(pending(ChannelIssue, LoginCalling)), LoginAnswered{Channel: ChannelIssue, Nonce: 7, Err: errWrongPw},
			[]Event{FailureCounted{Failure: FailWrongPassword, At: mNow}, LoginFailed{Channel: ChannelIssue, Err: errWrongPw}}, nil},
		{"wrong password, hosted, locks (F13)", acct(hosted, pending(ChannelIssue, LoginCalling)), LoginAnswered{Channel: ChannelIssue, Nonce: 7, Err: errWrongPw},
			[]Event{FailureCounted{Failure: FailWrongPassword, At: mNow}, AccountLocked{Reason: LockWrongPassword}, LoginFailed{Channel: ChannelIssue, Err: errWrongPw}}, nil},
		{"bureau down", acct(pending(ChannelIssue, LoginCalling)), LoginAnswered{Channel: ChannelIssue, Nonce: 7, Err: ErrBureauUnavailable},
			[]Event{LoginFailed{Channel: ChannelIssue, Err: ErrBureauUnavailable}}, nil},
		{"session at once", acct(pending(ChannelIssue, LoginCalling)), LoginAnswered{Channel: ChannelIssue, Nonce: 7, SessionExpires: &exp},
			[]Event{LoggedIn{Channel: ChannelIssue, ExpiresAt: exp}}, nil},
		{"a code challenge", acct(pending(ChannelIssue, LoginCalling)), LoginAnswered{Channel: ChannelIssue, Nonce: 7, Challenged: true, ChallengeID: "c2", PhoneMasked: "151****1832"},
			[]Event{ChallengeIssued{Channel: ChannelIssue, ChallengeID: "c2", PhoneMasked: "151****1832", At: mNow}}, nil},
		{"a hosted challenge fetches the code", acct(hosted, pending(ChannelIssue, LoginCalling)), LoginAnswered{Channel: ChannelIssue, Nonce: 7, Challenged: true, ChallengeID: "c2"},
			[]Event{ChallengeIssued{Channel: ChannelIssue, ChallengeID: "c2", At: mNow, Hosted: true}}, nil},
		{"an empty answer", acct(pending(ChannelIssue, LoginCalling)), LoginAnswered{Channel: ChannelIssue, Nonce: 7},
			[]Event{LoginFailed{Channel: ChannelIssue, Err: ErrBureauUnavailable.With("", "empty login result")}}, nil},

		// A person's code.
		{"code without a login", acct(), SubmitCode{Channel: ChannelIssue, Code: "123456"}, nil, ErrNoChallenge},
		{"code while the password is at the bureau", acct(pending(ChannelIssue, LoginCalling)), SubmitCode{Channel: ChannelIssue, Code: "123456"}, nil, ErrNoChallenge},
		{"code while another is checked", acct(pending(ChannelIssue, LoginSubmitting)), SubmitCode{Channel: ChannelIssue, Code: "123456"}, nil, ErrBusy},
		{"five digits", acct(pending(ChannelIssue, LoginChallenge)), SubmitCode{Channel: ChannelIssue, Code: "12345"}, nil, ErrWrongCode},
		{"a code", acct(pending(ChannelIssue, LoginChallenge)), SubmitCode{Channel: ChannelIssue, Code: "123456"}, []Event{CodeSubmitted{Channel: ChannelIssue}}, nil},

		// The hosting provider's code.
		{"hosted code for a stage gone", acct(hosted, pending(ChannelIssue, LoginSubmitting)), HostedCode{Channel: ChannelIssue, Nonce: 7}, nil, nil},
		{"hosted code", acct(hosted, pending(ChannelIssue, LoginChallenge)), HostedCode{Channel: ChannelIssue, Nonce: 7}, []Event{CodeSubmitted{Channel: ChannelIssue}}, nil},
		{"hosted code missing", acct(hosted, pending(ChannelIssue, LoginChallenge)), HostedCode{Channel: ChannelIssue, Nonce: 7, Err: errors.New("slow")},
			[]Event{FailureCounted{Failure: FailCodeTimeout, At: mNow}, LoginFailed{Channel: ChannelIssue, Err: ErrHostedCodeTimeout.Wrap(errors.New("slow"))}}, nil},
		{"third hosted code missing locks", acct(hosted, counters(Counters{CodeTimeouts: 2}), pending(ChannelIssue, LoginChallenge)), HostedCode{Channel: ChannelIssue, Nonce: 7, Err: errors.New("slow")},
			[]Event{FailureCounted{Failure: FailCodeTimeout, At: mNow}, AccountLocked{Reason: LockCodeTimeout}, LoginFailed{Channel: ChannelIssue, Err: LockedError(LockCodeTimeout)}}, nil},

		// The bureau's answer to a code.
		{"stale code answer", acct(pending(ChannelIssue, LoginChallenge)), CodeAnswered{Channel: ChannelIssue, Nonce: 7}, nil, nil},
		{"code accepted", acct(pending(ChannelIssue, LoginSubmitting)), CodeAnswered{Channel: ChannelIssue, Nonce: 7, SessionExpires: exp},
			[]Event{LoggedIn{Channel: ChannelIssue, ExpiresAt: exp}}, nil},
		{"wrong code, the person types again", acct(pending(ChannelIssue, LoginSubmitting)), CodeAnswered{Channel: ChannelIssue, Nonce: 7, Err: errWrongCode, ByPerson: true},
			[]Event{FailureCounted{Failure: FailWrongCode, At: mNow}, CodeRejected{Channel: ChannelIssue, Err: errWrongCode}}, nil},
		{"wrong hosted code ends the login", acct(hosted, pending(ChannelIssue, LoginSubmitting)), CodeAnswered{Channel: ChannelIssue, Nonce: 7, Err: errWrongCode},
			[]Event{FailureCounted{Failure: FailWrongCode, At: mNow}, LoginFailed{Channel: ChannelIssue, Err: errWrongCode}}, nil},
		{"second wrong code locks a hosted account", acct(hosted, counters(Counters{WrongCode: 1}), pending(ChannelIssue, LoginSubmitting)), CodeAnswered{Channel: ChannelIssue, Nonce: 7, Err: errWrongCode, ByPerson: true},
			[]Event{FailureCounted{Failure: FailWrongCode, At: mNow}, AccountLocked{Reason: LockWrongCode}, LoginFailed{Channel: ChannelIssue, Err: LockedError(LockWrongCode)}}, nil},
		{"a manual account never locks", acct(counters(Counters{WrongCode: 5}), pending(ChannelIssue, LoginSubmitting)), CodeAnswered{Channel: ChannelIssue, Nonce: 7, Err: errWrongCode, ByPerson: true},
			[]Event{FailureCounted{Failure: FailWrongCode, At: mNow}, CodeRejected{Channel: ChannelIssue, Err: errWrongCode}}, nil},
		{"bureau down during the code", acct(pending(ChannelIssue, LoginSubmitting)), CodeAnswered{Channel: ChannelIssue, Nonce: 7, Err: ErrBureauUnavailable},
			[]Event{CodeRejected{Channel: ChannelIssue, Err: ErrBureauUnavailable}}, nil},
		{"code expired at the bureau", acct(pending(ChannelIssue, LoginSubmitting)), CodeAnswered{Channel: ChannelIssue, Nonce: 7, Err: ErrCodeExpired},
			[]Event{LoginFailed{Channel: ChannelIssue, Err: ErrCodeExpired}}, nil},

		// The code timer.
		{"timer of a code being checked", acct(pending(ChannelIssue, LoginSubmitting)), CodeTimedOut{Channel: ChannelIssue, Nonce: 7}, nil, nil},
		{"code timed out", acct(pending(ChannelIssue, LoginChallenge)), CodeTimedOut{Channel: ChannelIssue, Nonce: 7},
			[]Event{FailureCounted{Failure: FailCodeTimeout, At: mNow}, LoginFailed{Channel: ChannelIssue, Err: ErrCodeExpired}}, nil},

		// QR login (F15).
		{"QR while locked", acct(func(s *Account) { s.Lock.Lock = &Lock{Reason: LockWrongPassword} }), StartQR{}, nil, ErrLocked},
		{"QR with a refused password", acct(func(s *Account) { s.Lock.PasswordInvalid = true }), StartQR{}, nil, nil},
		{"QR confirmed", acct(), SessionObtained{Channel: ChannelReceive, ExpiresAt: exp, ViaQR: true},
			[]Event{LoggedIn{Channel: ChannelReceive, ExpiresAt: exp, ViaQR: true}}, nil},

		// certifying → certified.
		{"certify logged out", acct(), StartCert{Channel: ChannelIssue}, nil, ErrNotLoggedIn},
		{"certify on an expired session", acct(loggedIn(ChannelIssue, mNow)), StartCert{Channel: ChannelIssue}, nil, ErrNotLoggedIn},
		{"certify", acct(loggedIn(ChannelIssue, exp)), StartCert{Channel: ChannelIssue}, []Event{CertStarted{Channel: ChannelIssue, Nonce: 8}}, nil},
		{"join the certification", acct(certPending("", false)), StartCert{Channel: ChannelReceive}, []Event{CertJoined{}}, nil},
		{"stale certification answer", acct(certPending("", false)), CertAnswered{Nonce: 6, ID: "f"}, nil, nil},
		{"certification challenge", acct(certPending("", false)), CertAnswered{Nonce: 7, ID: "f"}, []Event{CertChallenged{ID: "f"}}, nil},
		{"certification on a dead session", acct(certPending("", false)), CertAnswered{Nonce: 7, Err: ErrNotLoggedIn}, []Event{CertSessionLost{Channel: ChannelIssue}}, nil},
		{"certification refused", acct(certPending("", false)), CertAnswered{Nonce: 7, Err: ErrBureauUnavailable}, []Event{CertFailed{Err: ErrBureauUnavailable}}, nil},
		{"confirm with nothing pending", acct(), ConfirmCert{}, nil, ErrNoChallenge},
		{"confirm before the challenge", acct(certPending("", false)), ConfirmCert{}, nil, ErrNoChallenge},
		{"confirm while polling", acct(certPending("f", true)), ConfirmCert{}, nil, ErrBusy},
		{"confirm", acct(certPending("f", false)), ConfirmCert{}, []Event{CertPolling{}}, nil},
		{"stale poll", acct(certPending("f", true)), CertPolled{Nonce: 6, Confirmed: true}, nil, nil},
		{"poll failed", acct(certPending("f", true)), CertPolled{Nonce: 7, Err: ErrBureauUnavailable}, []Event{CertWaiting{Err: ErrBureauUnavailable}}, nil},
		{"poll waiting", acct(certPending("f", true)), CertPolled{Nonce: 7}, []Event{CertWaiting{}}, nil},
		{"certified", acct(certPending("f", true)), CertPolled{Nonce: 7, Confirmed: true, ValidUntil: exp}, []Event{Certified{Until: exp}}, nil},
		{"certification QR expired", acct(certPending("f", true)), CertPolled{Nonce: 7, Expired: true}, []Event{CertFailed{Err: ErrQRExpired}}, nil},
		{"certification timer", acct(certPending("f", false)), CertTimedOut{Nonce: 7}, []Event{CertFailed{Err: ErrQRExpired}}, nil},
		{"stale certification timer", acct(certPending("f", false)), CertTimedOut{Nonce: 3}, nil, nil},

		// 重新获取验证码 of a login waiting for a code (B3).
		{"resend without a login", acct(), ResendCode{Channel: ChannelIssue}, nil, ErrPromptClosed},
		{"resend of a hosted login", acct(hosted, pending(ChannelIssue, LoginChallenge)), ResendCode{Channel: ChannelIssue}, nil, ErrNoChallenge},
		{"resend while the password is at the bureau", acct(pending(ChannelIssue, LoginCalling)), ResendCode{Channel: ChannelIssue}, nil, ErrNoChallenge},
		{"resend while a code is checked", acct(pending(ChannelIssue, LoginSubmitting)), ResendCode{Channel: ChannelIssue}, nil, ErrBusy},
		{"resend while another resend is out", acct(resending(ChannelIssue)), ResendCode{Channel: ChannelIssue}, nil, ErrBusy},
		{"resend while locked (F13)", acct(pending(ChannelIssue, LoginChallenge), func(s *Account) { s.Lock.Lock = &Lock{Reason: LockWrongCode} }),
			ResendCode{Channel: ChannelIssue}, nil, ErrLocked},
		{"resend with a refused password (B2)", acct(pending(ChannelIssue, LoginChallenge), func(s *Account) { s.Lock.PasswordInvalid = true }),
			ResendCode{Channel: ChannelIssue}, nil, ErrPasswordInvalid},
		{"resend within the interval (B3)", acct(pending(ChannelIssue, LoginChallenge), func(s *Account) { s.LastCodeAt = mNow.Add(-time.Minute) }),
			ResendCode{Channel: ChannelIssue}, nil, ErrSMSTooFrequent},
		{"resend with the budget spent (B3)", acct(pending(ChannelIssue, LoginChallenge)), ResendCode{Channel: ChannelIssue, Budget: &spent}, nil, ErrSMSBudget},
		{"resend", acct(pending(ChannelIssue, LoginChallenge), func(s *Account) { s.LastCodeAt = mNow.Add(-3 * time.Minute) }),
			ResendCode{Channel: ChannelIssue, Budget: &half}, []Event{ResendStarted{Channel: ChannelIssue}}, nil},
		{"stale resend answer", acct(resending(ChannelIssue)), CodeResent{Channel: ChannelIssue, Nonce: 6, Challenged: true, ChallengeID: "c2"}, nil, nil},
		{"resend answer without a login", acct(), CodeResent{Channel: ChannelIssue, Nonce: 7, Challenged: true, ChallengeID: "c2"}, nil, nil},
		{"resend refused", acct(resending(ChannelIssue)), CodeResent{Channel: ChannelIssue, Nonce: 7, Err: ErrBureauUnavailable},
			[]Event{ResendFailed{Channel: ChannelIssue, Err: ErrBureauUnavailable}}, nil},
		{"a session instead of a code", acct(resending(ChannelIssue)), CodeResent{Channel: ChannelIssue, Nonce: 7, SessionExpires: &exp},
			[]Event{LoggedIn{Channel: ChannelIssue, ExpiresAt: exp}}, nil},
		{"an empty resend answer", acct(resending(ChannelIssue)), CodeResent{Channel: ChannelIssue, Nonce: 7, Challenged: true},
			[]Event{ResendFailed{Channel: ChannelIssue, Err: ErrBureauUnavailable.With("", "empty resend result")}}, nil},
		{"a new code", acct(resending(ChannelIssue)), CodeResent{Channel: ChannelIssue, Nonce: 7, Challenged: true, ChallengeID: "c2", PhoneMasked: "151****1832"},
			[]Event{ChallengeReissued{Channel: ChannelIssue, ChallengeID: "c2", PhoneMasked: "151****1832", At: mNow}}, nil},

		// logged_in → logged_out (B4), unlock (F13), new password (F11, F12).
		{"drop the current session", acct(loggedIn(ChannelIssue, exp)), DropSession{Channel: ChannelIssue, Current: true}, []Event{SessionDropped{Channel: ChannelIssue}}, nil},
		{"a replaced session stays", acct(loggedIn(ChannelIssue, exp)), DropSession{Channel: ChannelIssue}, nil, nil},
		{"no session to drop", acct(), DropSession{Channel: ChannelIssue, Current: true}, nil, nil},
		{"unlock", acct(), Unlock{}, []Event{Unlocked{}}, nil},
		{"new password", acct(), UpdatePassword{}, []Event{PasswordChanged{}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := clone(tc.state)
			got, err := machine.Decide(tc.state, tc.cmd, mNow)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || got != nil {
					t.Fatalf("Decide = %v, %v; want %v", got, err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decide =\n  %#v\nwant\n  %#v", got, tc.want)
			}
			if !reflect.DeepEqual(tc.state, before) {
				t.Error("Decide changed its state")
			}
		})
	}
}

func TestApply(t *testing.T) {
	exp := mNow.Add(3 * time.Hour)
	refused := func(s *Account) { s.Lock.PasswordInvalid = true }
	tests := []struct {
		name  string
		state Account
		ev    Event
		want  Account
	}{
		{"login started", acct(), LoginStarted{Channel: ChannelIssue, Nonce: 8, At: mNow},
			Account{Seq: 8, Logins: map[Channel]PendingLogin{ChannelIssue: {Nonce: 8, Stage: LoginCalling, Started: mNow}}}},
		{"joined changes nothing", acct(pending(ChannelIssue, LoginCalling)), LoginJoined{Channel: ChannelIssue}, acct(pending(ChannelIssue, LoginCalling))},
		{"challenge", acct(pending(ChannelIssue, LoginCalling)), ChallengeIssued{Channel: ChannelIssue, ChallengeID: "c9", PhoneMasked: "151****1832", At: mNow},
			acct(pending(ChannelIssue, LoginChallenge), func(s *Account) {
				s.Logins[ChannelIssue] = PendingLogin{Nonce: 7, Stage: LoginChallenge, ChallengeID: "c9", Started: mNow.Add(-time.Minute)}
				s.LastCodeAt, s.PhoneMasked = mNow, "151****1832"
			})},
		{"code submitted", acct(pending(ChannelIssue, LoginChallenge)), CodeSubmitted{Channel: ChannelIssue}, acct(pending(ChannelIssue, LoginSubmitting))},
		{"code rejected", acct(pending(ChannelIssue, LoginSubmitting)), CodeRejected{Channel: ChannelIssue}, acct(pending(ChannelIssue, LoginChallenge))},
		{"code rejected without a login", acct(), CodeRejected{Channel: ChannelIssue}, acct()},
		{"wrong password counted (B2)", acct(), FailureCounted{Failure: FailWrongPassword, At: mNow},
			acct(refused, counters(Counters{WrongPassword: 1}))},
		{"hosted lock", acct(hosted, counters(Counters{WrongCode: 1})), FailureCounted{Failure: FailWrongCode, At: mNow},
			acct(hosted, counters(Counters{WrongCode: 2}), func(s *Account) { s.Lock.Lock = &Lock{Reason: LockWrongCode, Since: mNow} })},
		{"locked event changes nothing", acct(), AccountLocked{Reason: LockWrongCode}, acct()},
		{"password refused", acct(), PasswordRefused{}, acct(refused)},
		{"login failed", acct(pending(ChannelIssue, LoginCalling)), LoginFailed{Channel: ChannelIssue}, acct(func(s *Account) { s.Logins = map[Channel]PendingLogin{} })},
		{"logged in", acct(refused, counters(Counters{WrongCode: 1, CodeTimeouts: 2}), pending(ChannelIssue, LoginSubmitting)), LoggedIn{Channel: ChannelIssue, ExpiresAt: exp},
			acct(loggedIn(ChannelIssue, exp), func(s *Account) { s.Logins = map[Channel]PendingLogin{} })},
		{"logged in by QR keeps B2", acct(refused, counters(Counters{WrongCode: 1})), LoggedIn{Channel: ChannelIssue, ExpiresAt: exp, ViaQR: true},
			acct(refused, loggedIn(ChannelIssue, exp))},
		{"session dropped", acct(loggedIn(ChannelIssue, exp)), SessionDropped{Channel: ChannelIssue}, acct(loggedIn(ChannelIssue, exp), func(s *Account) { s.Sessions = Sessions{} })},
		{"cert started", acct(), CertStarted{Channel: ChannelIssue, Nonce: 8}, Account{Seq: 8, Cert: &PendingCert{Nonce: 8, Channel: ChannelIssue}}},
		{"cert challenged", acct(certPending("", false)), CertChallenged{ID: "f"}, acct(certPending("f", false))},
		{"cert polling", acct(certPending("f", false)), CertPolling{}, acct(certPending("f", true))},
		{"cert waiting", acct(certPending("f", true)), CertWaiting{}, acct(certPending("f", false))},
		{"certified", acct(certPending("f", true)), Certified{Until: exp}, acct(func(s *Account) { s.CertifiedUntil = exp })},
		{"cert failed", acct(certPending("f", true)), CertFailed{Err: ErrQRExpired}, acct()},
		{"cert session lost", acct(certPending("f", false), loggedIn(ChannelIssue, exp)), CertSessionLost{Channel: ChannelIssue},
			acct(func(s *Account) { s.Sessions = Sessions{} })},
		{"resend started", acct(pending(ChannelIssue, LoginChallenge)), ResendStarted{Channel: ChannelIssue}, acct(resending(ChannelIssue))},
		{"resend failed keeps the challenge", acct(resending(ChannelIssue)), ResendFailed{Channel: ChannelIssue, Err: ErrBureauUnavailable},
			acct(pending(ChannelIssue, LoginChallenge))},
		{"resend failed without a login", acct(), ResendFailed{Channel: ChannelIssue}, acct()},
		{"challenge reissued", acct(resending(ChannelIssue), func(s *Account) { s.LastCodeAt = mNow.Add(-time.Hour) }),
			ChallengeReissued{Channel: ChannelIssue, ChallengeID: "c9", PhoneMasked: "151****1832", At: mNow},
			acct(pending(ChannelIssue, LoginChallenge), func(s *Account) {
				s.Logins[ChannelIssue] = PendingLogin{Nonce: 7, Stage: LoginChallenge, ChallengeID: "c9", Started: mNow.Add(-time.Minute)}
				s.LastCodeAt, s.PhoneMasked = mNow, "151****1832"
			})},
		{"challenge reissued on the stored part", acct(), ChallengeReissued{Channel: ChannelIssue, ChallengeID: "c9", PhoneMasked: "151****1832", At: mNow},
			acct(func(s *Account) { s.LastCodeAt, s.PhoneMasked = mNow, "151****1832" })},
		{"unlock keeps B2 (F13)", acct(refused, counters(Counters{WrongPassword: 1}), func(s *Account) { s.Lock.Lock = &Lock{Reason: LockWrongPassword} }), Unlocked{},
			acct(refused)},
		{"a new password clears all (F11, F12)", acct(hosted, refused, counters(Counters{WrongPassword: 1}), func(s *Account) { s.Lock.Lock = &Lock{Reason: LockWrongPassword} }), PasswordChanged{},
			acct(hosted)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := clone(tc.state)
			got := machine.Apply(tc.state, tc.ev)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Apply =\n  %#v\nwant\n  %#v", got, tc.want)
			}
			if !reflect.DeepEqual(tc.state, before) {
				t.Error("Apply changed its input")
			}
		})
	}
}

// TestHostedLoginToLock walks a hosted account through SPEC §5: a login,
// two wrong codes (the second locks, F13), the lock guard, the unlock, and
// a login that succeeds and resets the counters.
func TestHostedLoginToLock(t *testing.T) {
	s := acct(hosted)
	step := func(c Command) []Event {
		t.Helper()
		evs, err := machine.Decide(s, c, mNow)
		if err != nil {
			t.Fatalf("%T: %v", c, err)
		}
		s = machine.ApplyAll(s, evs)
		return evs
	}
	for round := 0; round < 2; round++ {
		step(StartLogin{Channel: ChannelIssue})
		n := s.Logins[ChannelIssue].Nonce
		step(LoginAnswered{Channel: ChannelIssue, Nonce: n, Challenged: true, ChallengeID: "c"})
		s.LastCodeAt = time.Time{} // the interval is StartLogin's table's business
		step(HostedCode{Channel: ChannelIssue, Nonce: n})
		evs := step(CodeAnswered{Channel: ChannelIssue, Nonce: n, Err: ErrWrongCode})
		if _, ended := evs[len(evs)-1].(LoginFailed); !ended || len(s.Logins) != 0 {
			t.Fatalf("round %d: %#v", round, evs)
		}
	}
	if s.Lock.Lock == nil || s.Lock.Lock.Reason != LockWrongCode {
		t.Fatalf("not locked: %+v", s.Lock)
	}
	if _, err := machine.Decide(s, StartLogin{Channel: ChannelIssue}, mNow); !errors.Is(err, ErrLocked) {
		t.Fatalf("locked account logs in: %v", err)
	}
	step(Unlock{})
	step(StartLogin{Channel: ChannelIssue})
	step(LoginAnswered{Channel: ChannelIssue, Nonce: s.Logins[ChannelIssue].Nonce, SessionExpires: &mNow})
	if s.Lock != (LockState{Hosted: true}) || len(s.Logins) != 0 {
		t.Fatalf("after the login: %+v", s)
	}
}

func TestDecideUnknownCommand(t *testing.T) {
	type other struct{ Command }
	if _, err := machine.Decide(acct(), other{}, mNow); !errors.Is(err, ErrInternal) {
		t.Fatalf("unknown command: %v", err)
	}
}

func clone(s Account) Account {
	c := s
	if s.Logins != nil {
		c.Logins = map[Channel]PendingLogin{}
		for k, v := range s.Logins {
			c.Logins[k] = v
		}
	}
	if s.Cert != nil {
		cc := *s.Cert
		c.Cert = &cc
	}
	return c
}
