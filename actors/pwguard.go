// pwguard.go: the guard on a person's wrong bureau passwords (B2).

package actors

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// The password guard: etaxd counts the wrong tax-bureau passwords of each
// natural person, whichever flow submitted them (F3 add, F8 change binding,
// F9 become admin, F12 update the password) and the stored-password logins
// of the account actors (B2), and stops submitting before the bureau's own
// lock could be reached (domain.PasswordGuard).
//
// The count lives at pwguard/<sha256 of the login name>, one record per
// person for the whole etaxd: a person is the same in every tenant, so a
// per-tenant count would hand an attacker linked to several tenants fresh
// tries in each. The key is hashed so that login names (phone and ID
// numbers) do not show in the key space. It has no single owner: every
// tenant's flows and every account actor of the person write it through
// updateTries, revision-checked with retries, as the SMS budget is written.
//
// A try is reserved, and the reservation committed, before the password
// leaves for the bureau; a try whose outcome never arrives (a crash) stays
// counted until its window passes.

// keyPasswordTries is the guard's record of the person logging in as login.
func keyPasswordTries(login string) string {
	h := sha256.Sum256([]byte(domain.LoginKey(login)))
	return persistence.PrefixPasswordTries + hex.EncodeToString(h[:])
}

// updateTries applies f to the person's record and commits the result
// through persistence.Update (the record has as many writers as the person
// has flows and accounts). An error from f is returned as it is, with
// nothing written; a store failure is ErrBusy.
func (d *deps) updateTries(login string, f func(domain.PasswordTries, time.Time) (domain.PasswordTries, error)) error {
	ctx, cancel := d.storeCtx()
	defer cancel()
	var fnErr error
	_, err := persistence.Update(ctx, d.store, keyPasswordTries(login), func(old persistence.Record) ([]byte, error) {
		var tries domain.PasswordTries
		if old.Value != nil {
			if err := jsonUnmarshal(old.Value, &tries); err != nil {
				fnErr = domain.ErrInternal.Wrap(err)
				return nil, fnErr
			}
		}
		next, err := f(tries, d.clk.Now())
		if err != nil {
			fnErr = err
			return nil, err
		}
		return jsonMarshal(next), nil
	})
	switch {
	case err == nil:
		return nil
	case fnErr != nil:
		return fnErr
	default:
		return domain.ErrBusy.Wrap(err)
	}
}

// tryPassword runs call, which submits login's password to the bureau for
// the WeChat user openid ("" for an API caller), under the guards. The user
// may have only PasswordFlowLimit wrong (or unsettled) passwords per
// PasswordFlowWindow, whoever's they are (ErrPasswordRate): that stops one
// user spraying guesses over many persons, while adding many accounts with
// the right passwords is never limited. An API caller is authenticated by
// its key and not limited so. Then a try of the person is reserved and, once
// call returns, settled with what its error shows. When a guard refuses
// (with the wait) or the reservation cannot be stored (ErrBusy), call does
// not run.
func (d *deps) tryPassword(openid, login string, call func() error) error {
	var taken time.Time
	if openid != "" {
		at, wait := d.pwFlows.take(openid)
		if wait > 0 {
			return domain.ErrPasswordRate.RetryIn(wait)
		}
		taken = at
	}
	g := d.cfg.PasswordGuard
	id := newID("w")
	if err := d.updateTries(login, func(t domain.PasswordTries, now time.Time) (domain.PasswordTries, error) {
		return t.Reserve(g, id, now)
	}); err != nil {
		if openid != "" {
			d.pwFlows.release(openid, taken) // the password never left
		}
		return err
	}
	err := call()
	outcome := domain.TryOutcomeOf(err)
	if openid != "" && outcome == domain.TryPassed {
		d.pwFlows.release(openid, taken)
	}
	if serr := d.updateTries(login, func(t domain.PasswordTries, now time.Time) (domain.PasswordTries, error) {
		return t.Settle(g, id, outcome, now), nil
	}); serr != nil {
		// The try stays pending, so it keeps counting as a wrong one until
		// the window passes: the safe side.
		d.log.Error("settle password try", "err", serr)
	}
	return err
}

// notePassword records what the bureau said of a password etaxd submitted
// without a reservation: a stored password (B2). Only a wrong or locked
// password changes the count.
func (d *deps) notePassword(login string, err error) {
	outcome := domain.TryOutcomeOf(err)
	if outcome == domain.TryPassed {
		return
	}
	g := d.cfg.PasswordGuard
	if serr := d.updateTries(login, func(t domain.PasswordTries, now time.Time) (domain.PasswordTries, error) {
		return t.Settle(g, "", outcome, now), nil
	}); serr != nil {
		d.log.Error("count wrong password", "err", serr)
	}
}

// passwordReset forgets the person's wrong tries: a reset at the bureau
// (F11) clears its lock and its count too.
func (d *deps) passwordReset(login string) {
	g := d.cfg.PasswordGuard
	if err := d.updateTries(login, func(t domain.PasswordTries, now time.Time) (domain.PasswordTries, error) {
		return t.Cleared(g, now), nil
	}); err != nil {
		d.log.Error("clear password tries", "err", err)
	}
}
