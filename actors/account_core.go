// account_core.go: the account actor's bridge to the rules in domain.Machine: what it decides on, and how the decided events land in the actor's state and the store.

package actors

import (
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
)

// machine is the account's rules under the configured policies.
func (a *accountActor) machine() domain.Machine {
	return domain.Machine{Lock: a.d.cfg.LockPolicy, SMS: a.d.cfg.SMSPolicy}
}

// storedCore is the stored part of st as the machine sees it: sessions with
// a token, the lock state, the phone, the last code and the certification.
// The sessions are a value (domain.Sessions): building them allocates
// nothing, and the machine's changes to them never reach st.
func storedCore(st *accountState) domain.Account {
	s := domain.Account{Lock: st.lock, PhoneMasked: st.phoneMasked, LastCodeAt: st.lastCodeAt,
		CertifiedUntil: st.certifiedUntil}
	for ch, se := range st.sessions.all() {
		if !se.token.IsZero() {
			s.Sessions = s.Sessions.With(ch, se.expiresAt)
		}
	}
	return s
}

// core is the whole account as the machine sees it: the stored part plus
// the logins and the certification in progress.
func (a *accountActor) core() domain.Account {
	s := storedCore(a.st)
	s.Seq = a.seq
	if len(a.logins) > 0 {
		s.Logins = make(map[domain.Channel]domain.PendingLogin, len(a.logins))
	}
	for ch, l := range a.logins {
		s.Logins[ch] = domain.PendingLogin{Nonce: l.nonce, Stage: l.stage, ChallengeID: l.challengeID, Started: l.started,
			Resending: l.resending}
	}
	if c := a.cert; c != nil {
		s.Cert = &domain.PendingCert{Nonce: c.nonce, Channel: c.channel, ID: c.certID, Polling: c.polling}
	}
	return s
}

// decide asks the machine what cmd does now.
func (a *accountActor) decide(cmd domain.Command) ([]domain.Event, error) {
	return a.machine().Decide(a.core(), cmd, a.d.clk.Now())
}

// track folds evs into the logins and the certification in progress (what
// the store does not keep): new ones are created, stages and ids follow
// the machine. Ending them stays with failLogin, completeLogin, failCert
// and their kin, which also answer the requests.
func (a *accountActor) track(evs []domain.Event) {
	next := a.machine().ApplyAll(a.core(), evs)
	a.seq = next.Seq
	for ch, pl := range next.Logins {
		l := a.logins[ch]
		if l == nil {
			l = &login{channel: ch}
			if a.logins == nil {
				a.logins = map[domain.Channel]*login{}
			}
			a.logins[ch] = l
		}
		l.nonce, l.stage, l.challengeID, l.started, l.resending = pl.Nonce, pl.Stage, pl.ChallengeID, pl.Started, pl.Resending
	}
	if pc := next.Cert; pc != nil {
		if a.cert == nil {
			a.cert = &certOp{}
		}
		a.cert.nonce, a.cert.channel, a.cert.certID, a.cert.polling = pc.Nonce, pc.Channel, pc.ID, pc.Polling
	}
}

// commitEvents commits the stored part of evs (lock, counters,
// password_invalid, phone, last code, certification, sessions ended), with
// its audit event when action is set; extra then sets what the machine
// does not keep (a new session's token). See change.
func (a *accountActor) commitEvents(who, action string, outcome error, evs []domain.Event, extra func(*accountState)) error {
	m := a.machine()
	return a.change(who, action, outcome, func(st *accountState) {
		before := storedCore(st)
		next := m.ApplyAll(before, evs)
		st.lock, st.phoneMasked, st.lastCodeAt, st.certifiedUntil = next.Lock, next.PhoneMasked, next.LastCodeAt, next.CertifiedUntil
		for ch := range before.Sessions.All() {
			if _, has := next.Sessions.Get(ch); !has {
				st.sessions = st.sessions.without(ch)
			}
		}
		if extra != nil {
			extra(st)
		}
	})
}

// countFailure commits a failed step's events (FailureCounted,
// PasswordRefused) with their audit event, and tells clients when they
// locked the account (AccountLocked). When the commit fails it returns the
// store's error, which the caller reports instead of the failure or the
// lock: nothing was counted.
func (a *accountActor) countFailure(who, action string, outcome error, evs []domain.Event) error {
	if err := a.commitEvents(who, action, outcome, evs, nil); err != nil {
		return err
	}
	for _, e := range evs {
		if l, locked := e.(domain.AccountLocked); locked {
			a.d.emit(events.Event{Type: events.EventAccountLocked, Tenant: a.tenant, Account: a.ref.ID, TaxNo: a.ref.TaxNo,
				Reason: string(l.Reason)})
		}
	}
	return nil
}

// ending is the error a login's (or a certification's) decided end gives
// its requests, or nil when evs do not end it.
func ending(evs []domain.Event) *domain.Error {
	for _, e := range evs {
		switch e := e.(type) {
		case domain.LoginFailed:
			return e.Err
		case domain.CertFailed:
			return e.Err
		}
	}
	return nil
}

// has reports whether evs hold an event of type E.
func has[E domain.Event](evs []domain.Event) bool {
	for _, e := range evs {
		if _, is := e.(E); is {
			return true
		}
	}
	return false
}
