package domain

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// RateWindow is the rule "at most Limit events within Window", counted over
// a sliding window. Activation codes (F1), password-submitting flows and the
// password guard all use it.
type RateWindow struct {
	Limit  int
	Window time.Duration
}

// Recent returns the times still inside the window at now, oldest first.
func (w RateWindow) Recent(times []time.Time, now time.Time) []time.Time {
	var keep []time.Time
	for _, t := range times {
		if now.Sub(t) < w.Window {
			keep = append(keep, t)
		}
	}
	slices.SortFunc(keep, func(a, b time.Time) int { return a.Compare(b) })
	return keep
}

// Wait returns how long from now until one more event fits in the window:
// zero when it fits now. Enough of the oldest events must leave the window
// for the count to drop below Limit.
func (w RateWindow) Wait(times []time.Time, now time.Time) time.Duration {
	recent := w.Recent(times, now)
	if len(recent) < w.Limit {
		return 0
	}
	return max(recent[len(recent)-w.Limit].Add(w.Window).Sub(now), time.Nanosecond)
}

// BureauPasswordLimit is how many consecutive wrong passwords the tax bureau
// takes in one of its days before it locks the person's password until the
// next day. The password guard must stop below it.
const BureauPasswordLimit = 5

// PasswordGuard is etaxd's own limit on wrong tax-bureau passwords per
// natural person: at most MaxWrong wrong (or unsettled) tries within Window,
// whichever flow or account submitted them. MaxWrong stays below
// BureauPasswordLimit and Window is at least a day, so that the bureau's
// daily counter can never reach its limit through etaxd.
type PasswordGuard struct {
	MaxWrong int           `json:"max_wrong"`
	Window   time.Duration `json:"window"`
}

// DefaultPasswordGuard stops after 2 wrong tries in 24 hours.
func DefaultPasswordGuard() PasswordGuard {
	return PasswordGuard{MaxWrong: 2, Window: 24 * time.Hour}
}

// Validate refuses a guard that would let the bureau lock a password: a
// MaxWrong outside 1..BureauPasswordLimit-1, or a Window shorter than the
// bureau's day (24 hours; the bureau's counter runs per calendar day, and any
// calendar day lies inside one 24-hour window).
func (g PasswordGuard) Validate() error {
	if g.MaxWrong < 1 || g.MaxWrong >= BureauPasswordLimit {
		return Invalid("pwguard.max_wrong", fmt.Sprintf("密码错误次数上限须为1到%d", BureauPasswordLimit-1))
	}
	if g.Window < 24*time.Hour {
		return Invalid("pwguard.window", "密码错误计数周期不能短于24小时")
	}
	return nil
}

// maxTries bounds a PasswordTries record: entries beyond it add nothing to
// a guard that refuses at MaxWrong < BureauPasswordLimit.
const maxTries = 16

// PasswordTries is the guard's record of one natural person: the wrong
// passwords within the window, and the tries sent to the bureau whose outcome
// is not known yet (Pending, by try id). A pending try counts as wrong: two
// flows racing cannot both pass the last free try, and a try cut short by a
// crash stays counted until its window passes.
//
// A correct password does not clear the count. The bureau's counter may run
// per day rather than "consecutive", and a correct stored-password login
// between an attacker's tries would otherwise hand them fresh ones. Only a
// password reset (F11), which clears the bureau's lock and count, clears it.
type PasswordTries struct {
	Wrong   []time.Time          `json:"wrong,omitempty"`
	Pending map[string]time.Time `json:"pending,omitempty"`
}

func (t PasswordTries) all(g PasswordGuard, now time.Time) []time.Time {
	times := slices.Clone(t.Wrong)
	for _, at := range t.Pending {
		times = append(times, at)
	}
	return g.rate().Recent(times, now)
}

func (g PasswordGuard) rate() RateWindow { return RateWindow{Limit: g.MaxWrong, Window: g.Window} }

// Count is how many tries (wrong or pending) count against the person at now.
func (t PasswordTries) Count(g PasswordGuard, now time.Time) int { return len(t.all(g, now)) }

// Check returns nil when one more password may be submitted now, else
// ErrPasswordGuard carrying how long until one may.
func (t PasswordTries) Check(g PasswordGuard, now time.Time) error {
	wait := g.rate().Wait(t.all(g, now), now)
	if wait <= 0 {
		return nil
	}
	return ErrPasswordGuard.With("请"+waitText(wait)+"后再试，或重置税局密码", "").RetryIn(wait)
}

// Reserve returns the record with try id pending from now, or the Check
// error when no try is left.
func (t PasswordTries) Reserve(g PasswordGuard, id string, now time.Time) (PasswordTries, error) {
	if err := t.Check(g, now); err != nil {
		return t, err
	}
	t = t.pruned(g, now)
	t.Pending[id] = now
	return t, nil
}

// TryOutcome is what a password try showed.
type TryOutcome int

const (
	// TryPassed: the bureau took the password, or refused the request for a
	// reason it checks after the password (no relation, role, SMS budget), or
	// failed before checking it (unavailable). The try is released.
	TryPassed TryOutcome = iota + 1
	// TryWrong: the bureau said the password is wrong.
	TryWrong
	// TryLocked: the bureau has locked the password: every try left in the
	// window is used up.
	TryLocked
)

// TryOutcomeOf classifies a bureau call's error (nil: passed). A locked
// password is checked first: the lock error wraps the wrong-password one.
func TryOutcomeOf(err error) TryOutcome {
	switch {
	case errors.Is(err, ErrBureauPwdLocked):
		return TryLocked
	case errors.Is(err, ErrWrongPassword):
		return TryWrong
	}
	return TryPassed
}

// Settle ends try id (which may be unknown: a wrong password found without a
// reservation, such as a stored password's, B2) with its outcome at now.
func (t PasswordTries) Settle(g PasswordGuard, id string, o TryOutcome, now time.Time) PasswordTries {
	t = t.pruned(g, now)
	at, pending := t.Pending[id]
	delete(t.Pending, id)
	if !pending {
		at = now
	}
	switch o {
	case TryWrong:
		t.Wrong = append(t.Wrong, at)
	case TryLocked:
		t.Wrong = append(t.Wrong, at)
		for t.Count(g, now) < g.MaxWrong {
			t.Wrong = append(t.Wrong, now)
		}
	}
	if n := len(t.Wrong); n > maxTries {
		t.Wrong = t.Wrong[n-maxTries:]
	}
	return t
}

// Cleared returns the record after a password reset (F11): the wrong tries
// are forgotten; tries still in flight stay pending.
func (t PasswordTries) Cleared(g PasswordGuard, now time.Time) PasswordTries {
	t = t.pruned(g, now)
	t.Wrong = nil
	return t
}

// pruned drops what left the window; Pending is never nil afterwards.
func (t PasswordTries) pruned(g PasswordGuard, now time.Time) PasswordTries {
	out := PasswordTries{Wrong: g.rate().Recent(t.Wrong, now), Pending: map[string]time.Time{}}
	for id, at := range t.Pending {
		if now.Sub(at) < g.Window {
			out.Pending[id] = at
		}
	}
	return out
}

// LoginKey is the natural person a password try is about, as the guard
// keys it: the login name as typed, without surrounding spaces and with
// letters upper-cased (the X of an ID number). Merging case variants only
// makes the guard stricter. The tax-bureau simulator keys its persons'
// login names by it too.
func LoginKey(login string) string { return strings.ToUpper(strings.TrimSpace(login)) }

// waitText says a wait in Chinese, rounded up: "约3小时", "约15分钟".
func waitText(d time.Duration) string {
	if d >= time.Hour {
		return fmt.Sprintf("约%d小时", int(math.Ceil(d.Hours())))
	}
	return fmt.Sprintf("约%d分钟", max(1, int(math.Ceil(d.Minutes()))))
}
