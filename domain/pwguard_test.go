package domain

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var pg0 = time.Date(2026, 11, 27, 9, 0, 0, 0, ChinaTime)

func TestRateWindowWait(t *testing.T) {
	w := RateWindow{Limit: 2, Window: time.Hour}
	at := func(m int) time.Time { return pg0.Add(time.Duration(m) * time.Minute) }
	tests := []struct {
		name  string
		times []time.Time
		now   time.Time
		want  time.Duration
	}{
		{"empty", nil, pg0, 0},
		{"one below the limit", []time.Time{at(0)}, at(1), 0},
		{"at the limit: the oldest must leave", []time.Time{at(10), at(0)}, at(20), 40 * time.Minute},
		{"over the limit: two must leave", []time.Time{at(0), at(10), at(30)}, at(40), 30 * time.Minute},
		{"old events left the window", []time.Time{at(0), at(5)}, at(61), 0},
		{"exactly one window later it has left", []time.Time{at(0), at(30)}, at(60), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := w.Wait(tc.times, tc.now); got != tc.want {
				t.Errorf("Wait = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPasswordGuardValidate(t *testing.T) {
	tests := []struct {
		g  PasswordGuard
		ok bool
	}{
		{DefaultPasswordGuard(), true},
		{PasswordGuard{MaxWrong: 1, Window: 24 * time.Hour}, true},
		{PasswordGuard{MaxWrong: 4, Window: 48 * time.Hour}, true},
		{PasswordGuard{MaxWrong: 0, Window: 24 * time.Hour}, false},
		{PasswordGuard{MaxWrong: 5, Window: 24 * time.Hour}, false},
		{PasswordGuard{MaxWrong: 9, Window: 24 * time.Hour}, false},
		{PasswordGuard{MaxWrong: 2, Window: 23 * time.Hour}, false},
	}
	for _, tc := range tests {
		err := tc.g.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%+v: Validate = %v, want ok %v", tc.g, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%+v: error %v is not invalid_input", tc.g, err)
		}
	}
}

func TestTryOutcomeOf(t *testing.T) {
	tests := []struct {
		err  error
		want TryOutcome
	}{
		{nil, TryPassed},
		{ErrWrongPassword, TryWrong},
		{fmt.Errorf("login: %w", ErrWrongPassword), TryWrong},
		{ErrBureauPwdLocked, TryLocked},
		{ErrBureauPwdLocked.Wrap(ErrWrongPassword), TryLocked},
		{ErrNoRelation, TryPassed},
		{ErrBureauUnavailable, TryPassed},
		{errors.New("connection reset"), TryPassed},
	}
	for _, tc := range tests {
		if got := TryOutcomeOf(tc.err); got != tc.want {
			t.Errorf("TryOutcomeOf(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestPasswordTries walks the guard through sequences of tries: each step
// reserves a try (or records an unreserved wrong one) and settles it, and
// the table says whether the reservation is refused and the retry-after.
func TestPasswordTries(t *testing.T) {
	g := DefaultPasswordGuard()
	type step struct {
		at      time.Duration // after pg0
		op      string        // "try" reserve+settle, "hold" reserve only, "b2" unreserved wrong, "reset"
		outcome TryOutcome
		refused bool
		wait    time.Duration // of a refusal
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"two wrong then refused for the rest of the window", []step{
			{at: 0, op: "try", outcome: TryWrong},
			{at: time.Hour, op: "try", outcome: TryWrong},
			{at: 2 * time.Hour, op: "try", outcome: TryPassed, refused: true, wait: 22 * time.Hour},
			{at: 24 * time.Hour, op: "try", outcome: TryWrong},
			{at: 24*time.Hour + time.Minute, op: "try", refused: true, wait: time.Hour - time.Minute},
		}},
		{"a correct password does not clear the count", []step{
			{at: 0, op: "try", outcome: TryWrong},
			{at: time.Minute, op: "try", outcome: TryPassed},
			{at: 2 * time.Minute, op: "try", outcome: TryWrong},
			{at: 3 * time.Minute, op: "try", refused: true, wait: 24*time.Hour - 3*time.Minute},
		}},
		{"passed tries release their reservation", []step{
			{at: 0, op: "try", outcome: TryPassed},
			{at: 0, op: "try", outcome: TryPassed},
			{at: 0, op: "try", outcome: TryPassed},
			{at: 0, op: "try", outcome: TryWrong},
			{at: 0, op: "try", outcome: TryWrong},
			{at: 0, op: "try", refused: true, wait: 24 * time.Hour},
		}},
		{"a try in flight counts: two racing flows cannot both take the last one", []step{
			{at: 0, op: "try", outcome: TryWrong},
			{at: time.Minute, op: "hold"},
			{at: 2 * time.Minute, op: "try", refused: true, wait: 24*time.Hour - 2*time.Minute},
		}},
		{"a held try left by a crash expires with the window", []step{
			{at: 0, op: "hold"},
			{at: 0, op: "hold"},
			{at: time.Hour, op: "try", refused: true, wait: 23 * time.Hour},
			{at: 24 * time.Hour, op: "try", outcome: TryPassed},
		}},
		{"a stored password's wrong try counts", []step{
			{at: 0, op: "b2"},
			{at: time.Minute, op: "try", outcome: TryWrong},
			{at: 2 * time.Minute, op: "try", refused: true, wait: 24*time.Hour - 2*time.Minute},
		}},
		{"the bureau's lock uses up the window", []step{
			{at: 0, op: "try", outcome: TryLocked},
			{at: time.Minute, op: "try", refused: true, wait: 24*time.Hour - time.Minute},
		}},
		{"a reset clears the wrong tries", []step{
			{at: 0, op: "try", outcome: TryWrong},
			{at: 0, op: "try", outcome: TryWrong},
			{at: time.Minute, op: "reset"},
			{at: 2 * time.Minute, op: "try", outcome: TryWrong},
			{at: 3 * time.Minute, op: "try", outcome: TryWrong},
			{at: 4 * time.Minute, op: "try", refused: true, wait: 24*time.Hour - 2*time.Minute},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pt PasswordTries
			for i, s := range tc.steps {
				now := pg0.Add(s.at)
				id := fmt.Sprintf("try%d", i)
				switch s.op {
				case "b2":
					pt = pt.Settle(g, "", TryWrong, now)
					continue
				case "reset":
					pt = pt.Cleared(g, now)
					continue
				}
				next, err := pt.Reserve(g, id, now)
				if s.refused {
					var e *Error
					if !errors.As(err, &e) || !errors.Is(err, ErrPasswordGuard) {
						t.Fatalf("step %d: Reserve = %v, want %s", i, err, ErrPasswordGuard.Code)
					}
					if e.RetryAfter != s.wait {
						t.Errorf("step %d: RetryAfter = %s, want %s", i, e.RetryAfter, s.wait)
					}
					if !strings.Contains(e.Message, "小时") && !strings.Contains(e.Message, "分钟") {
						t.Errorf("step %d: message %q does not say when", i, e.Message)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: Reserve = %v", i, err)
				}
				pt = next
				if s.op == "try" {
					pt = pt.Settle(g, id, s.outcome, now)
				}
				if n := pt.Count(g, now); n > g.MaxWrong {
					t.Fatalf("step %d: %d tries count, more than %d", i, n, g.MaxWrong)
				}
			}
		})
	}
}

func TestPasswordTriesBounded(t *testing.T) {
	g := DefaultPasswordGuard()
	var pt PasswordTries
	for i := 0; i < 100; i++ {
		pt = pt.Settle(g, "", TryWrong, pg0)
	}
	if len(pt.Wrong) > maxTries {
		t.Errorf("%d wrong tries kept, want at most %d", len(pt.Wrong), maxTries)
	}
}

func TestLoginKey(t *testing.T) {
	if LoginKey(" 11010119900101123x ") != LoginKey("11010119900101123X") {
		t.Error("an ID number's x and X are different persons")
	}
	if LoginKey("lisi") == LoginKey("zhangsan") {
		t.Error("two logins share a key")
	}
}
