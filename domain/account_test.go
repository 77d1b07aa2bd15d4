package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const plaintext = "Hunter2!pw" // what must never appear

func TestSecretValue(t *testing.T) {
	s := NewSecret(plaintext)
	if s.Reveal() != plaintext || s.IsZero() {
		t.Fatalf("Reveal() = %q, IsZero() = %v", s.Reveal(), s.IsZero())
	}
	var zero Secret
	if !zero.IsZero() || zero.Reveal() != "" || !NewSecret("").IsZero() {
		t.Error("the zero and the empty secret are not zero")
	}
	if !s.Equal(NewSecret(plaintext)) || s.Equal(NewSecret("other")) || s.Equal(zero) {
		t.Error("Equal does not compare plaintexts")
	}
	if !zero.Equal(NewSecret("")) {
		t.Error("the zero secret differs from the empty one")
	}
	c := s // copies share the same immutable plaintext
	if c.Reveal() != plaintext {
		t.Error("a copy lost the plaintext")
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret(plaintext)
	type exported struct {
		User     string
		Password Secret
	}
	type unexported struct {
		user     string
		password Secret
	}
	type deep struct {
		inner  unexported
		Inner  exported
		ptr    *exported
		list   []Secret
		byName map[string]Secret
	}
	values := map[string]any{
		"value":              s,
		"pointer":            &s,
		"exported field":     exported{"u", s},
		"unexported field":   unexported{"u", s},
		"pointer to struct":  &exported{"u", s},
		"pointer unexported": &unexported{"u", s},
		"slice":              []Secret{s, s},
		"map":                map[string]Secret{"k": s},
		"deep":               deep{unexported{"u", s}, exported{"u", s}, &exported{"u", s}, []Secret{s}, map[string]Secret{"k": s}},
		"interface":          []any{s},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v", "%10s", "%-8v", "%p"}
	for name, v := range values {
		for _, verb := range verbs {
			if out := fmt.Sprintf(verb, v); strings.Contains(out, plaintext) ||
				strings.Contains(strings.ToLower(out), fmt.Sprintf("%x", plaintext)) {
				t.Errorf("%s printed with %s leaks: %s", name, verb, out)
			}
		}
		if out := fmt.Sprint(v) + fmt.Sprintln(v); strings.Contains(out, plaintext) {
			t.Errorf("%s printed with Sprint leaks: %s", name, out)
		}
	}
	for verb, want := range map[string]string{"%v": "[redacted]", "%s": "[redacted]", "%#v": "domain.Secret{[redacted]}", "%d": "[redacted]"} {
		if got := fmt.Sprintf(verb, s); got != want {
			t.Errorf("Sprintf(%s) = %q, want %q", verb, got, want)
		}
	}
	if got := fmt.Sprintf("%+v", exported{"u", s}); got != "{User:u Password:[redacted]}" {
		t.Errorf("%%+v of a struct = %q", got)
	}
	if err := fmt.Errorf("login %s: %v", "u", s); strings.Contains(err.Error(), plaintext) {
		t.Errorf("error text leaks: %v", err)
	}
}

func TestSecretJSON(t *testing.T) {
	s := NewSecret(plaintext)
	type account struct {
		Username string  `json:"username"`
		Password Secret  `json:"password"`
		Token    *Secret `json:"token"`
		hidden   Secret
	}
	p, err := json.Marshal(account{Username: "u", Password: s, Token: &s, hidden: s})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(p), plaintext) {
		t.Fatalf("json leaks: %s", p)
	}
	if want := `{"username":"u","password":"[redacted]","token":"[redacted]"}`; string(p) != want {
		t.Errorf("json = %s, want %s", p, want)
	}
	p, err = json.Marshal(map[string]any{"s": s, "list": []Secret{s}})
	if err != nil || strings.Contains(string(p), plaintext) {
		t.Errorf("json of a map = %s, %v", p, err)
	}
}

func TestSecretSlog(t *testing.T) {
	s := NewSecret(plaintext)
	type exported struct{ Password Secret }
	type unexported struct{ password Secret }
	for _, h := range []struct {
		name string
		make func(*bytes.Buffer) slog.Handler
	}{
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
	} {
		t.Run(h.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(h.make(&buf)).With("account", "A1", "pw", s)
			log.Info("login", "password", s, "ptr", &s, slog.Any("any", s),
				"struct", exported{s}, "hidden", unexported{s}, "list", []Secret{s},
				slog.Group("g", "password", s))
			log.Error("failed", "err", fmt.Errorf("with %v", s))
			out := buf.String()
			if strings.Contains(out, plaintext) {
				t.Fatalf("slog %s output leaks: %s", h.name, out)
			}
			if !strings.Contains(out, "[redacted]") {
				t.Errorf("slog %s output does not show the redaction: %s", h.name, out)
			}
		})
	}
}

func TestLockReasonText(t *testing.T) {
	tests := map[LockReason]string{
		LockWrongPassword: "密码错误",
		LockWrongCode:     "验证码错误次数过多",
		LockCodeTimeout:   "获取验证码超时次数过多",
		"other":           "other",
	}
	for r, want := range tests {
		if got := r.Text(); got != want {
			t.Errorf("%q.Text() = %q, want %q", r, got, want)
		}
	}
}

func TestLockPolicy(t *testing.T) {
	if p := DefaultLockPolicy(); p != (LockPolicy{MaxWrongPassword: 1, MaxWrongCode: 2, MaxCodeTimeouts: 3}) {
		t.Fatalf("DefaultLockPolicy() = %+v", p)
	}
	tests := []struct {
		p  LockPolicy
		ok bool
	}{
		{DefaultLockPolicy(), true},
		{LockPolicy{1, 1, 1}, true},
		{LockPolicy{5, 5, 5}, true},
		{LockPolicy{}, false},
		{LockPolicy{0, 2, 3}, false},
		{LockPolicy{1, 0, 3}, false},
		{LockPolicy{1, 2, -1}, false},
	}
	for _, tc := range tests {
		err := tc.p.Validate()
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidInput)) {
			t.Errorf("%+v.Validate() = %v", tc.p, err)
		}
	}
}

func TestRecordFailure(t *testing.T) {
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, ChinaTime)
	custom := LockPolicy{MaxWrongPassword: 2, MaxWrongCode: 3, MaxCodeTimeouts: 4}
	tests := []struct {
		name         string
		hosted       bool
		policy       LockPolicy
		failures     []Failure
		wantLock     LockReason // "" for unlocked
		lockedAt     int        // index of the failure that locked
		wantCounters Counters
		wantPwd      bool
	}{
		{"hosted: one wrong password locks", true, DefaultLockPolicy(),
			[]Failure{FailWrongPassword}, LockWrongPassword, 0, Counters{WrongPassword: 1}, true},
		{"hosted: one wrong code does not lock", true, DefaultLockPolicy(),
			[]Failure{FailWrongCode}, "", 0, Counters{WrongCode: 1}, false},
		{"hosted: two wrong codes lock", true, DefaultLockPolicy(),
			[]Failure{FailWrongCode, FailWrongCode}, LockWrongCode, 1, Counters{WrongCode: 2}, false},
		{"hosted: two timeouts do not lock", true, DefaultLockPolicy(),
			[]Failure{FailCodeTimeout, FailCodeTimeout}, "", 0, Counters{CodeTimeouts: 2}, false},
		{"hosted: three timeouts lock", true, DefaultLockPolicy(),
			[]Failure{FailCodeTimeout, FailCodeTimeout, FailCodeTimeout}, LockCodeTimeout, 2, Counters{CodeTimeouts: 3}, false},
		{"hosted: mixed failures count apart", true, DefaultLockPolicy(),
			[]Failure{FailWrongCode, FailCodeTimeout, FailCodeTimeout}, "", 0, Counters{WrongCode: 1, CodeTimeouts: 2}, false},
		{"hosted: the first lock reason stays", true, DefaultLockPolicy(),
			[]Failure{FailWrongCode, FailWrongCode, FailWrongPassword}, LockWrongCode, 1, Counters{WrongCode: 2, WrongPassword: 1}, true},
		{"hosted custom: one wrong password does not lock", true, custom,
			[]Failure{FailWrongPassword}, "", 0, Counters{WrongPassword: 1}, true},
		{"hosted custom: two wrong passwords lock", true, custom,
			[]Failure{FailWrongPassword, FailWrongPassword}, LockWrongPassword, 1, Counters{WrongPassword: 2}, true},
		{"hosted custom: two wrong codes do not lock", true, custom,
			[]Failure{FailWrongCode, FailWrongCode}, "", 0, Counters{WrongCode: 2}, false},
		{"hosted custom: three wrong codes lock", true, custom,
			[]Failure{FailWrongCode, FailWrongCode, FailWrongCode}, LockWrongCode, 2, Counters{WrongCode: 3}, false},
		{"hosted custom: four timeouts lock", true, custom,
			[]Failure{FailCodeTimeout, FailCodeTimeout, FailCodeTimeout, FailCodeTimeout}, LockCodeTimeout, 3, Counters{CodeTimeouts: 4}, false},
		{"manual: wrong password never locks but is remembered (B2)", false, DefaultLockPolicy(),
			[]Failure{FailWrongPassword, FailWrongPassword}, "", 0, Counters{WrongPassword: 2}, true},
		{"manual: wrong codes never lock", false, DefaultLockPolicy(),
			[]Failure{FailWrongCode, FailWrongCode, FailWrongCode}, "", 0, Counters{WrongCode: 3}, false},
		{"manual: timeouts never lock", false, DefaultLockPolicy(),
			[]Failure{FailCodeTimeout, FailCodeTimeout, FailCodeTimeout, FailCodeTimeout}, "", 0, Counters{CodeTimeouts: 4}, false},
		{"unknown failure is ignored", true, DefaultLockPolicy(),
			[]Failure{Failure(0), Failure(42)}, "", 0, Counters{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := LockState{Hosted: tc.hosted}
			for i, f := range tc.failures {
				s = s.RecordFailure(f, tc.policy, t0.Add(time.Duration(i)*time.Minute))
			}
			if s.Counters != tc.wantCounters {
				t.Errorf("counters = %+v, want %+v", s.Counters, tc.wantCounters)
			}
			if s.PasswordInvalid != tc.wantPwd {
				t.Errorf("PasswordInvalid = %v, want %v", s.PasswordInvalid, tc.wantPwd)
			}
			if tc.wantLock == "" {
				if s.Lock != nil {
					t.Fatalf("locked: %+v", *s.Lock)
				}
				return
			}
			if s.Lock == nil {
				t.Fatalf("not locked, want %s", tc.wantLock)
			}
			want := Lock{Reason: tc.wantLock, Since: t0.Add(time.Duration(tc.lockedAt) * time.Minute)}
			if *s.Lock != want {
				t.Errorf("lock = %+v, want %+v", *s.Lock, want)
			}
		})
	}
}

func TestRecordFailureIsPure(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, ChinaTime)
	s := LockState{Hosted: true}
	next := s.RecordFailure(FailWrongPassword, DefaultLockPolicy(), now)
	if s.Lock != nil || s.PasswordInvalid || s.Counters != (Counters{}) {
		t.Fatalf("RecordFailure changed its receiver: %+v", s)
	}
	if next.Lock == nil {
		t.Fatal("no lock")
	}
	again := next.RecordFailure(FailWrongCode, DefaultLockPolicy(), now.Add(time.Hour))
	if next.Counters.WrongCode != 0 || again.Lock.Since != now {
		t.Fatalf("second failure changed the first state or the lock time: %+v %+v", next, *again.Lock)
	}
}

func TestLoginGuard(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, ChinaTime)
	tests := []struct {
		name       string
		s          LockState
		want       error
		wantReason string
	}{
		{"clear", LockState{Hosted: true}, nil, ""},
		{"counters below the threshold", LockState{Hosted: true, Counters: Counters{WrongCode: 1}}, nil, ""},
		{"locked by wrong password", LockState{Hosted: true, Lock: &Lock{LockWrongPassword, now}, PasswordInvalid: true}, ErrLocked, "密码错误"},
		{"locked by codes", LockState{Hosted: true, Lock: &Lock{LockWrongCode, now}}, ErrLocked, "验证码错误次数过多"},
		{"locked by timeouts", LockState{Hosted: true, Lock: &Lock{LockCodeTimeout, now}}, ErrLocked, "获取验证码超时次数过多"},
		{"password refused (B2)", LockState{PasswordInvalid: true}, ErrPasswordInvalid, ""},
		{"hosted, unlocked, password refused", LockState{Hosted: true, PasswordInvalid: true}, ErrPasswordInvalid, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.LoginGuard()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("LoginGuard() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("LoginGuard() = %v, want %v", err, tc.want)
			}
			if !strings.Contains(AsError(err).Message, tc.wantReason) {
				t.Errorf("message %q does not give the reason %q", AsError(err).Message, tc.wantReason)
			}
		})
	}

	// B2 through the rules: after a wrong password a manual account refuses
	// to log in, with ErrPasswordInvalid, though it never locks.
	s := LockState{}.RecordFailure(FailWrongPassword, DefaultLockPolicy(), now)
	if err := s.LoginGuard(); !errors.Is(err, ErrPasswordInvalid) {
		t.Errorf("manual account after a wrong password: LoginGuard() = %v", err)
	}
}

func TestUnlockAndReset(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, ChinaTime)
	p := DefaultLockPolicy()
	lockedByPwd := LockState{Hosted: true}.RecordFailure(FailWrongPassword, p, now)
	lockedByCode := LockState{Hosted: true}.
		RecordFailure(FailCodeTimeout, p, now).
		RecordFailure(FailWrongCode, p, now).
		RecordFailure(FailWrongCode, p, now)

	tests := []struct {
		name string
		got  LockState
		want LockState
	}{
		{"unlock keeps PasswordInvalid", lockedByPwd.Unlock(), LockState{Hosted: true, PasswordInvalid: true}},
		{"unlock clears codes", lockedByCode.Unlock(), LockState{Hosted: true}},
		{"password update clears all", lockedByPwd.PasswordUpdated(), LockState{Hosted: true}},
		{"password update on manual", LockState{Counters: Counters{1, 2, 3}, PasswordInvalid: true}.PasswordUpdated(), LockState{}},
		{"success resets counters", LockState{Hosted: true, Counters: Counters{0, 1, 2}}.RecordSuccess(), LockState{Hosted: true}},
		{"success clears a refused password", LockState{PasswordInvalid: true, Counters: Counters{WrongPassword: 1}}.RecordSuccess(), LockState{}},
		{"unlock of an unlocked state", LockState{Hosted: true}.Unlock(), LockState{Hosted: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got.Lock != nil || tc.want.Lock != nil {
				t.Fatalf("lock left: %+v", tc.got)
			}
			if tc.got != tc.want {
				t.Errorf("got %+v, want %+v", tc.got, tc.want)
			}
		})
	}

	// The account unlocked after a wrong password still refuses to log in
	// (B2), and the next failure locks it again at once.
	u := lockedByPwd.Unlock()
	if err := u.LoginGuard(); !errors.Is(err, ErrPasswordInvalid) {
		t.Errorf("after unlock: LoginGuard() = %v, want ErrPasswordInvalid", err)
	}
	if u.RecordFailure(FailWrongPassword, p, now).Lock == nil {
		t.Error("a new wrong password after unlock does not lock again")
	}
	// Counting restarts after an unlock: one wrong code is not enough.
	if lockedByCode.Unlock().RecordFailure(FailWrongCode, p, now).Lock != nil {
		t.Error("counters survived the unlock")
	}
	if err := lockedByPwd.PasswordUpdated().LoginGuard(); err != nil {
		t.Errorf("after a password update: LoginGuard() = %v", err)
	}
	// A success keeps an existing lock: only Unlock or a password update lift it.
	if lockedByCode.RecordSuccess().Lock == nil {
		t.Error("RecordSuccess lifted a lock")
	}
}

func TestLockStateJSON(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	s := LockState{Hosted: true}.RecordFailure(FailWrongCode, DefaultLockPolicy(), now).
		RecordFailure(FailWrongCode, DefaultLockPolicy(), now)
	p, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var back LockState
	if err := json.Unmarshal(p, &back); err != nil {
		t.Fatal(err)
	}
	if back.Lock == nil || *back.Lock != *s.Lock || back.Counters != s.Counters || back.Hosted != s.Hosted {
		t.Errorf("round trip %s gave %+v", p, back)
	}
}

func TestDay(t *testing.T) {
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2025, 3, 1, 15, 59, 59, 0, time.UTC), "2025-03-01"},
		{time.Date(2025, 3, 1, 16, 0, 0, 0, time.UTC), "2025-03-02"},
		{time.Date(2025, 3, 1, 0, 0, 0, 0, ChinaTime), "2025-03-01"},
		{time.Date(2024, 12, 31, 16, 0, 0, 0, time.UTC), "2025-01-01"},
	}
	for _, tc := range tests {
		if got := Day(tc.t); got != tc.want {
			t.Errorf("Day(%v) = %s, want %s", tc.t, got, tc.want)
		}
	}
}

func TestPhoneBudget(t *testing.T) {
	p := DefaultSMSPolicy()
	if p.PerPhonePerDay != 20 || p.PerAccountInterval != 3*time.Minute {
		t.Fatalf("DefaultSMSPolicy() = %+v", p)
	}
	// 23:00 CST on 1 March; midnight in Shanghai is 16:00 UTC.
	evening := time.Date(2025, 3, 1, 15, 0, 0, 0, time.UTC)
	lastSecond := time.Date(2025, 3, 1, 15, 59, 59, 0, time.UTC)
	midnight := time.Date(2025, 3, 1, 16, 0, 0, 0, time.UTC)

	var b PhoneBudget
	if got := b.Remaining(p, evening); got != 20 {
		t.Fatalf("fresh Remaining = %d", got)
	}
	for i := range 20 {
		var err error
		b, err = b.Spend(p, evening.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatalf("code %d refused: %v", i+1, err)
		}
		if got := b.Remaining(p, evening); got != 19-i {
			t.Fatalf("after %d codes Remaining = %d", i+1, got)
		}
	}
	if b != (PhoneBudget{Day: "2025-03-01", Sent: 20}) {
		t.Fatalf("budget = %+v", b)
	}
	after, err := b.Spend(p, lastSecond)
	if !errors.Is(err, ErrSMSBudget) || after != b {
		t.Fatalf("21st code: %+v, %v; want ErrSMSBudget and no change", after, err)
	}
	if !strings.Contains(AsError(err).Message, "20") {
		t.Errorf("budget message %q does not state the limit", AsError(err).Message)
	}
	// A new day in Shanghai (16:00 UTC) brings a new budget.
	if got := b.Remaining(p, midnight); got != 20 {
		t.Errorf("Remaining at midnight CST = %d, want 20", got)
	}
	next, err := b.Spend(p, midnight)
	if err != nil || next != (PhoneBudget{Day: "2025-03-02", Sent: 1}) {
		t.Fatalf("first code of the new day: %+v, %v", next, err)
	}
	if b.Sent != 20 {
		t.Error("Spend changed its receiver")
	}

	// A custom budget, and one spent over its limit by a lowered policy.
	small := SMSPolicy{PerPhonePerDay: 2, PerAccountInterval: time.Minute}
	c, _ := PhoneBudget{}.Spend(small, evening)
	c, _ = c.Spend(small, evening)
	if _, err := c.Spend(small, evening); !errors.Is(err, ErrSMSBudget) {
		t.Errorf("third code with a budget of 2: %v", err)
	}
	if got := b.Remaining(small, evening); got != 0 {
		t.Errorf("Remaining over the limit = %d, want 0", got)
	}
}

func TestCheckAccountInterval(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, ChinaTime)
	p := DefaultSMSPolicy()
	tests := []struct {
		name string
		last time.Time
		p    SMSPolicy
		want error
	}{
		{"never sent", time.Time{}, p, nil},
		{"just sent", now, p, ErrSMSTooFrequent},
		{"2m59s ago", now.Add(-(3*time.Minute - time.Second)), p, ErrSMSTooFrequent},
		{"3 min ago", now.Add(-3 * time.Minute), p, nil},
		{"an hour ago", now.Add(-time.Hour), p, nil},
		{"custom 10 min, 5 min ago", now.Add(-5 * time.Minute), SMSPolicy{PerPhonePerDay: 20, PerAccountInterval: 10 * time.Minute}, ErrSMSTooFrequent},
		{"no interval", now, SMSPolicy{PerPhonePerDay: 20}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckAccountInterval(tc.last, tc.p, now)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("CheckAccountInterval = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCanOperate(t *testing.T) {
	var (
		unlinked    = Operator{OpenID: "oStranger"}
		noOpenID    = Operator{Linked: true}
		alice       = Operator{OpenID: "oAlice", Linked: true}
		bob         = Operator{OpenID: "oBob", Linked: true}
		admin       = Operator{OpenID: "oAdmin", Linked: true, Admin: true}
		adminNoLink = Operator{OpenID: "oAdmin", Admin: true}
	)
	tests := []struct {
		name    string
		op      Operator
		boundTo string
		want    error
	}{
		{"unlinked user, unbound account", unlinked, "", ErrNotLinked},
		{"unlinked user, bound to them", Operator{OpenID: "oAlice"}, "oAlice", ErrNotLinked},
		{"no openid", noOpenID, "", ErrNotLinked},
		{"admin flag without link", adminNoLink, "oAlice", ErrNotLinked},
		{"unbound: any linked user", alice, "", nil},
		{"unbound: another linked user", bob, "", nil},
		{"unbound: admin", admin, "", nil},
		{"bound: the bound user", alice, "oAlice", nil},
		{"bound: another user", bob, "oAlice", ErrNotPermitted},
		{"bound: an admin", admin, "oAlice", nil},
		{"bound to the admin", admin, "oAdmin", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CanOperate(tc.op, tc.boundTo)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("CanOperate(%+v, %q) = %v, want %v", tc.op, tc.boundTo, err, tc.want)
			}
		})
	}
}

func TestCanBind(t *testing.T) {
	alice := Operator{OpenID: "oAlice", Linked: true}
	admin := Operator{OpenID: "oAdmin", Linked: true, Admin: true}
	tests := []struct {
		name    string
		op      Operator
		boundTo string
		want    error
	}{
		{"unbound, linked user", alice, "", nil},
		{"unbound, admin", admin, "", nil},
		{"unlinked", Operator{OpenID: "oX"}, "", ErrNotLinked},
		{"no openid", Operator{Linked: true}, "", ErrNotLinked},
		{"already bound to me", alice, "oAlice", ErrAlreadyBound},
		{"bound to someone else", alice, "oBob", ErrAlreadyBound},
		{"admin cannot take a bound account (F8 instead)", admin, "oBob", ErrAlreadyBound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CanBind(tc.op, tc.boundTo)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("CanBind(%+v, %q) = %v, want %v", tc.op, tc.boundTo, err, tc.want)
			}
		})
	}
	if e := AsError(CanBind(alice, "oAlice")); !strings.Contains(e.Message, "已绑定当前微信") {
		t.Errorf("binding to oneself again says %q", e.Message)
	}
}

func TestSessionStateText(t *testing.T) {
	tests := map[SessionState]string{
		StateLoggedIn:  "已登录",
		StateLoggingIn: "登录中",
		StateLoggedOut: "未登录",
		"":             "未登录",
	}
	for s, want := range tests {
		if got := s.Text(); got != want {
			t.Errorf("%q.Text() = %q, want %q", s, got, want)
		}
	}
}

// TestCheckAccountIntervalSaysTheWait: the refusal carries the wait really
// left under the configured interval, in its Retry-After and its message.
func TestCheckAccountIntervalSaysTheWait(t *testing.T) {
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, ChinaTime)
	tests := []struct {
		name     string
		interval time.Duration
		elapsed  time.Duration
		seconds  int
		text     string
	}{
		{"90 s interval, 40 s ago", 90 * time.Second, 40 * time.Second, 50, "请50秒后再试"},
		{"default, 45 s ago", 3 * time.Minute, 45 * time.Second, 135, "请2分15秒后再试"},
		{"default, 2 min ago", 3 * time.Minute, 2 * time.Minute, 60, "请1分钟后再试"},
		{"default, just sent", 3 * time.Minute, 0, 180, "请3分钟后再试"},
		{"rounded up", 3 * time.Minute, 2*time.Minute + 59*time.Second + time.Millisecond, 1, "请1秒后再试"},
		{"2 h interval, 1 s ago", 2 * time.Hour, time.Second, 7199, "请2小时后再试"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckAccountInterval(now.Add(-tc.elapsed), SMSPolicy{PerPhonePerDay: 20, PerAccountInterval: tc.interval}, now)
			if !errors.Is(err, ErrSMSTooFrequent) {
				t.Fatalf("CheckAccountInterval = %v, want sms_too_frequent", err)
			}
			e := AsError(err)
			if e.RetryAfterSeconds() != tc.seconds {
				t.Errorf("RetryAfterSeconds = %d, want %d", e.RetryAfterSeconds(), tc.seconds)
			}
			if !strings.HasSuffix(e.Message, tc.text) || strings.Count(e.Message, "后再试") != 1 {
				t.Errorf("message %q does not end with %q", e.Message, tc.text)
			}
		})
	}
}
