package domain

import (
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"
)

// Secret is a string that never prints: fmt (every verb, %#v included),
// log/slog and encoding/json all see "[redacted]". Only code that must hand it
// to the tax bureau or seal it calls Reveal. The zero value is the empty
// secret.
//
// The plaintext sits behind a pointer so that even reflection-driven printing,
// which cannot call methods (fmt on a struct that holds a Secret in an
// unexported field), shows an address rather than the text. Hence == compares
// identity, not content: use Equal.
type Secret struct{ p *string }

// NewSecret wraps s.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{p: &s}
}

// Reveal returns the plaintext.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s.Reveal() == "" }

// Equal reports whether s and o hold the same plaintext, in constant time.
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(o.Reveal())) == 1
}

// String returns "[redacted]", never the plaintext.
func (s Secret) String() string { return "[redacted]" }

// GoString keeps %#v from printing the plaintext.
func (s Secret) GoString() string { return "domain.Secret{[redacted]}" }

// Format makes every fmt verb print "[redacted]" (%#v prints GoString): the
// verbs that skip String, such as %d or %x, would otherwise print the fields.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, s.GoString())
		return
	}
	io.WriteString(f, s.String())
}

// LogValue keeps every slog handler, not only the standard ones, from seeing
// the plaintext.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON never encodes the plaintext.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// LockReason says why an auto-login account was locked (F13).
type LockReason string

const (
	LockWrongPassword LockReason = "wrong_password"
	LockWrongCode     LockReason = "wrong_code"
	LockCodeTimeout   LockReason = "code_timeout"
)

// Text is the Chinese reason the pages show.
func (r LockReason) Text() string {
	switch r {
	case LockWrongPassword:
		return "密码错误"
	case LockWrongCode:
		return "验证码错误次数过多"
	case LockCodeTimeout:
		return "获取验证码超时次数过多"
	}
	return string(r)
}

// Lock is a set account lock.
type Lock struct {
	Reason LockReason `json:"reason"`
	Since  time.Time  `json:"since"`
}

// LockPolicy holds the F13 thresholds. The zero value is not usable; use
// DefaultLockPolicy.
type LockPolicy struct {
	MaxWrongPassword int `json:"max_wrong_password"`
	MaxWrongCode     int `json:"max_wrong_code"`
	MaxCodeTimeouts  int `json:"max_code_timeouts"`
}

// DefaultLockPolicy is the manual's: 1 wrong password, 2 wrong codes, 3 code
// timeouts.
func DefaultLockPolicy() LockPolicy {
	return LockPolicy{MaxWrongPassword: 1, MaxWrongCode: 2, MaxCodeTimeouts: 3}
}

// Validate reports a policy with a threshold below 1.
func (p LockPolicy) Validate() error {
	if p.MaxWrongPassword < 1 || p.MaxWrongCode < 1 || p.MaxCodeTimeouts < 1 {
		return Invalid("lock_policy", "锁定阈值必须大于0")
	}
	return nil
}

// Counters are the failures counted toward a lock since the last success or
// unlock.
type Counters struct {
	WrongPassword int `json:"wrong_password"`
	WrongCode     int `json:"wrong_code"`
	CodeTimeouts  int `json:"code_timeouts"`
}

// LockState is the part of an account the F13 and B2 rules act on.
type LockState struct {
	Hosted          bool     `json:"hosted"`
	Counters        Counters `json:"counters"`
	Lock            *Lock    `json:"lock,omitempty"`
	PasswordInvalid bool     `json:"password_invalid"`
}

// LoginGuard reports why a login must not reach the tax bureau now: a lock
// (F13) or a password the bureau already refused (B2). It is nil when the
// login may proceed.
func (s LockState) LoginGuard() error {
	if s.Lock != nil {
		return LockedError(s.Lock.Reason)
	}
	if s.PasswordInvalid {
		return ErrPasswordInvalid
	}
	return nil
}

// Failure is a failed step of a login, counted by RecordFailure.
type Failure int

const (
	FailWrongPassword Failure = iota + 1
	FailWrongCode
	FailCodeTimeout
)

// RecordFailure counts f and returns the new state. A wrong password always
// marks the password invalid (B2: it is never submitted again until updated).
// Only hosted accounts lock (F13); a manual account's person sees each
// failure and retries.
func (s LockState) RecordFailure(f Failure, p LockPolicy, now time.Time) LockState {
	var reason LockReason
	switch f {
	case FailWrongPassword:
		s.Counters.WrongPassword++
		s.PasswordInvalid = true
		if s.Counters.WrongPassword >= p.MaxWrongPassword {
			reason = LockWrongPassword
		}
	case FailWrongCode:
		s.Counters.WrongCode++
		if s.Counters.WrongCode >= p.MaxWrongCode {
			reason = LockWrongCode
		}
	case FailCodeTimeout:
		s.Counters.CodeTimeouts++
		if s.Counters.CodeTimeouts >= p.MaxCodeTimeouts {
			reason = LockCodeTimeout
		}
	}
	if s.Hosted && reason != "" && s.Lock == nil {
		s.Lock = &Lock{Reason: reason, Since: now}
	}
	return s
}

// RecordSuccess resets the code counters after a completed login. The
// password counter resets too: the bureau accepted it.
func (s LockState) RecordSuccess() LockState {
	s.Counters = Counters{}
	s.PasswordInvalid = false
	return s
}

// Unlock clears the lock and every counter (F13). PasswordInvalid stays: the
// page warns that an unlocked account with a refused password locks again,
// and only a password update (F11, F12) clears it.
func (s LockState) Unlock() LockState {
	s.Lock = nil
	s.Counters = Counters{}
	return s
}

// PasswordUpdated clears the lock, the counters and PasswordInvalid: a reset
// or an update unlocks (F11, F12).
func (s LockState) PasswordUpdated() LockState {
	return LockState{Hosted: s.Hosted}
}

// SMSPolicy is the B3 budget: at most PerPhonePerDay codes per phone per region
// per calendar day (Asia/Shanghai), and one code per account per region every
// PerAccountInterval.
type SMSPolicy struct {
	PerPhonePerDay     int           `json:"per_phone_per_day"`
	PerAccountInterval time.Duration `json:"per_account_interval"`
}

// DefaultSMSPolicy is 20 a day and one per 3 minutes.
func DefaultSMSPolicy() SMSPolicy {
	return SMSPolicy{PerPhonePerDay: 20, PerAccountInterval: 3 * time.Minute}
}

// ChinaTime is the tax bureau's time zone; its "day" starts at 00:00 here.
var ChinaTime = time.FixedZone("CST", 8*3600)

// Day is the calendar day of t at the tax bureau, "2006-01-02".
func Day(t time.Time) string { return t.In(ChinaTime).Format("2006-01-02") }

// PhoneBudget counts the codes sent to one phone in one region on one day.
type PhoneBudget struct {
	Day  string `json:"day"`
	Sent int    `json:"sent"`
}

// Remaining is how many codes may still be sent today.
func (b PhoneBudget) Remaining(p SMSPolicy, now time.Time) int {
	if b.Day != Day(now) {
		return p.PerPhonePerDay
	}
	return max(0, p.PerPhonePerDay-b.Sent)
}

// Check reports ErrSMSBudget when today's budget is used up: no code may be
// asked now (B3).
func (b PhoneBudget) Check(p SMSPolicy, now time.Time) error {
	if b.Remaining(p, now) <= 0 {
		return ErrSMSBudget
	}
	return nil
}

// Spend returns the budget with one more code sent now, or ErrSMSBudget when
// today's budget is used up.
func (b PhoneBudget) Spend(p SMSPolicy, now time.Time) (PhoneBudget, error) {
	if err := b.Check(p, now); err != nil {
		return b, err
	}
	d := Day(now)
	if b.Day != d {
		b = PhoneBudget{Day: d}
	}
	b.Sent++
	return b, nil
}

// CheckAccountInterval reports ErrSMSTooFrequent when the account's last code
// was sent less than the policy's interval before now. The error carries the
// wait really left, in its RetryAfter and its message: the interval is
// configurable, and a person who waited half of it needs the other half.
func CheckAccountInterval(last time.Time, p SMSPolicy, now time.Time) error {
	wait := p.CodeWait(last, now)
	if wait <= 0 {
		return nil
	}
	e := *ErrSMSTooFrequent
	e.Message = "获取验证码过于频繁，请" + exactWaitText(wait) + "后再试"
	e.MessageEN = fmt.Sprintf("one code per account per %s; retry in %s", p.PerAccountInterval, wait.Round(time.Second))
	return e.RetryIn(wait)
}

// CheckResendInterval is CheckAccountInterval for 重新获取验证码 on a code
// page (B3): the same interval, with the wait said in whole seconds rounded
// up ("请135秒后再试"), as the page's countdown says it.
func CheckResendInterval(last time.Time, p SMSPolicy, now time.Time) error {
	wait := p.CodeWait(last, now)
	if wait <= 0 {
		return nil
	}
	e := ErrSMSTooFrequent.RetryIn(wait)
	e.Message = "获取验证码过于频繁，请" + strconv.Itoa(e.RetryAfterSeconds()) + "秒后再试"
	return e
}

// NextCodeAt is when an account whose last code was sent at last may be
// sent the next one (B3).
func (p SMSPolicy) NextCodeAt(last time.Time) time.Time { return last.Add(p.PerAccountInterval) }

// CodeWait is how long an account whose last code was sent at last must
// still wait at now for the next one (B3): 0 once one may be sent, and for
// an account never sent a code.
func (p SMSPolicy) CodeWait(last, now time.Time) time.Duration {
	if last.IsZero() {
		return 0
	}
	return max(0, p.NextCodeAt(last).Sub(now))
}

// exactWaitText says a wait in Chinese, rounded up: to the second below ten
// minutes ("50秒", "2分15秒", "1分钟"), to the minute above ("25分钟",
// "1小时5分钟", "2小时"), where seconds no longer matter to a person.
func exactWaitText(d time.Duration) string {
	s := int((d + time.Second - 1) / time.Second)
	switch {
	case s < 60:
		return strconv.Itoa(s) + "秒"
	case s < 600 && s%60 != 0:
		return strconv.Itoa(s/60) + "分" + strconv.Itoa(s%60) + "秒"
	}
	m := (s + 59) / 60
	switch {
	case m < 60:
		return strconv.Itoa(m) + "分钟"
	case m%60 == 0:
		return strconv.Itoa(m/60) + "小时"
	}
	return strconv.Itoa(m/60) + "小时" + strconv.Itoa(m%60) + "分钟"
}

// Operator is who asks for an operation on an account in the personal
// center: a WeChat user, and what the tenant knows of them.
type Operator struct {
	OpenID string
	Linked bool // the user linked the account's tenant (F1)
	Admin  bool // the user is a 数电配置管理员 of the account's enterprise (F9)
}

// CanOperate reports whether op may edit, log in, bind, unbind or delete an
// account bound to boundTo (F4, F9, F10): anyone linked to the tenant when the
// account is unbound; the bound user or an enterprise admin when it is bound.
func CanOperate(op Operator, boundTo string) error {
	if !op.Linked || op.OpenID == "" {
		return ErrNotLinked
	}
	if boundTo == "" || boundTo == op.OpenID || op.Admin {
		return nil
	}
	return ErrNotPermitted
}

// CanBind reports whether op may bind an account bound to boundTo to
// themselves (F4): it must be unbound; a bound account changes hands only
// through the proof of F8.
func CanBind(op Operator, boundTo string) error {
	if !op.Linked || op.OpenID == "" {
		return ErrNotLinked
	}
	if boundTo == op.OpenID {
		return ErrAlreadyBound.With("已绑定当前微信", "bound to this user")
	}
	if boundTo != "" {
		return ErrAlreadyBound
	}
	return nil
}

// SessionState is a channel's login at the tax bureau.
type SessionState string

const (
	StateLoggedOut SessionState = "logged_out"
	StateLoggingIn SessionState = "logging_in"
	StateLoggedIn  SessionState = "logged_in"
)

// Text is the Chinese status the pages show.
func (s SessionState) Text() string {
	switch s {
	case StateLoggedIn:
		return "已登录"
	case StateLoggingIn:
		return "登录中"
	}
	return "未登录"
}
