package taxbureau

import (
	"errors"
	"fmt"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// SimConfig holds the simulator's rules and numbers. The zero value is not
// usable; start from DefaultSimConfig and check changes with Validate.
type SimConfig struct {
	// CodeLength is the number of digits in an SMS code.
	CodeLength int `json:"code_length"`
	// CodeValidity is how long an SMS code may be submitted after it was sent.
	CodeValidity time.Duration `json:"code_validity"`
	// MaxWrongCodes is the number of wrong codes a challenge takes: the last
	// one kills it, and later submissions get domain.ErrNoChallenge.
	MaxWrongCodes int `json:"max_wrong_codes"`
	// SMSPerPhonePerDay is how many codes one phone may receive per region per
	// tax-bureau day (Asia/Shanghai); past it the bureau refuses to send
	// (domain.ErrSMSBudget).
	SMSPerPhonePerDay int `json:"sms_per_phone_per_day"`
	// QRValidity is how long a login QR code may be scanned (F15).
	QRValidity time.Duration `json:"qr_validity"`
	// FaceValidity is how long a face-certification QR code may be passed.
	FaceValidity time.Duration `json:"face_validity"`
	// SessionLength is how long a bureau session lives.
	SessionLength time.Duration `json:"session_length"`
	// CertValidity is how long a passed face certification counts, unless the
	// enterprise overrides it (Simulator.SetCertValidity). Zero means it covers
	// one invoice only: ValidUntil equals the time it was passed.
	CertValidity time.Duration `json:"cert_validity"`
	// PasswordMinLen and PasswordMaxLen bound a new password's length.
	PasswordMinLen int `json:"password_min_len"`
	PasswordMaxLen int `json:"password_max_len"`
	// MaxWrongPasswords consecutive wrong passwords in one day lock the
	// person's password at the bureau until the next day
	// (domain.ErrBureauPwdLocked).
	MaxWrongPasswords int `json:"max_wrong_passwords"`
	// NoSMSRegions lists the region codes whose login skips the SMS step. A
	// code matches exactly: "44" (广东) does not cover "4403" (深圳), which is a
	// tax bureau of its own.
	NoSMSRegions []string `json:"no_sms_regions"`
	// RolesDecideChannel makes the bureau refuse a login on a platform the
	// person's role may not use (domain.ErrRoleBusiness: 办税员, 购票员 and 其他
	// may not issue).
	RolesDecideChannel bool `json:"roles_decide_channel"`
}

// DefaultSimConfig returns the rules that public sources describe
// (docs/FEATURES.md, "The simulated tax bureau"):
// 6-digit codes valid 5 minutes and 3 wrong tries, 20 codes per phone per
// region per day, QR codes valid 120 s, 3-hour sessions, 24-hour
// certifications, passwords of 8–15 characters, a lock after 5 wrong
// passwords, and no SMS step in 广东, 浙江, 天津 and 湖北.
func DefaultSimConfig() SimConfig {
	return SimConfig{
		CodeLength:         6,
		CodeValidity:       5 * time.Minute,
		MaxWrongCodes:      3,
		SMSPerPhonePerDay:  20,
		QRValidity:         120 * time.Second,
		FaceValidity:       120 * time.Second,
		SessionLength:      3 * time.Hour,
		CertValidity:       24 * time.Hour,
		PasswordMinLen:     8,
		PasswordMaxLen:     15,
		MaxWrongPasswords:  5,
		NoSMSRegions:       []string{"44", "33", "12", "42"},
		RolesDecideChannel: true,
	}
}

// Validate reports every problem of c at once, joined; nil when c is usable.
func (c SimConfig) Validate() error {
	var errs []error
	bad := func(field, zh string) { errs = append(errs, domain.Invalid("sim."+field, zh)) }
	if c.CodeLength < 4 || c.CodeLength > 10 {
		bad("code_length", "验证码位数应为4到10位")
	}
	if c.CodeValidity <= 0 {
		bad("code_validity", "验证码有效期必须大于0")
	}
	if c.MaxWrongCodes < 1 {
		bad("max_wrong_codes", "验证码错误次数上限必须大于0")
	}
	if c.SMSPerPhonePerDay < 1 {
		bad("sms_per_phone_per_day", "每日短信上限必须大于0")
	}
	if c.QRValidity <= 0 {
		bad("qr_validity", "二维码有效期必须大于0")
	}
	if c.FaceValidity <= 0 {
		bad("face_validity", "人脸认证二维码有效期必须大于0")
	}
	if c.SessionLength <= 0 {
		bad("session_length", "会话时长必须大于0")
	}
	if c.CertValidity < 0 {
		bad("cert_validity", "认证有效期不能为负")
	}
	if c.PasswordMinLen < 1 || c.PasswordMaxLen < c.PasswordMinLen {
		bad("password_len", "密码长度范围不正确")
	}
	if c.MaxWrongPasswords < 1 {
		bad("max_wrong_passwords", "密码错误次数上限必须大于0")
	}
	return errors.Join(errs...)
}

// CheckPassword reports domain.ErrPasswordPolicy when pw breaks the bureau's
// password policy: PasswordMinLen to PasswordMaxLen printable ASCII
// characters without spaces, at least one special character (punctuation
// such as !@#$%), and at least two of upper-case letters, lower-case letters
// and digits.
func (c SimConfig) CheckPassword(pw string) error {
	if n := len(pw); n < c.PasswordMinLen || n > c.PasswordMaxLen {
		return domain.ErrPasswordPolicy.With("长度不符", fmt.Sprintf("length must be %d-%d", c.PasswordMinLen, c.PasswordMaxLen))
	}
	var upper, lower, digit, special bool
	for i := 0; i < len(pw); i++ {
		switch b := pw[i]; {
		case b >= 'A' && b <= 'Z':
			upper = true
		case b >= 'a' && b <= 'z':
			lower = true
		case b >= '0' && b <= '9':
			digit = true
		case b > ' ' && b < 0x7f:
			special = true
		default:
			return domain.ErrPasswordPolicy.With("包含不允许的字符", "only printable ASCII without spaces")
		}
	}
	if !special {
		return domain.ErrPasswordPolicy.With("缺少特殊字符", "needs a special character")
	}
	kinds := 0
	for _, ok := range []bool{upper, lower, digit} {
		if ok {
			kinds++
		}
	}
	if kinds < 2 {
		return domain.ErrPasswordPolicy.With("字符种类不足", "needs two of upper, lower, digit")
	}
	return nil
}
