package domain

import (
	"strings"
	"unicode/utf8"
)

// This file holds the small rules that the actors, the API and the pages
// used to write out each on its own: one function each, called everywhere.

// ValidSMSCode reports whether code looks like a tax-bureau SMS code: six
// ASCII digits (F3, SPEC §6).
func ValidSMSCode(code string) bool {
	if len(code) != 6 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if !isDigit(code[i]) {
			return false
		}
	}
	return true
}

// CheckSMSCode is ValidSMSCode as a catalogue error: ErrWrongCode saying the
// code has six digits.
func CheckSMSCode(code string) error {
	if !ValidSMSCode(code) {
		return ErrWrongCode.With("验证码为6位数字", "the code has 6 digits")
	}
	return nil
}

// Client request actions (SPEC §3): a session, or a session with a fresh
// certification.
const (
	ActionLogin   = "login"
	ActionCertify = "certify"
)

// ParseAction returns the action a client request names: "" is login;
// anything but login or certify is refused.
func ParseAction(s string) (string, error) {
	switch s {
	case "", ActionLogin:
		return ActionLogin, nil
	case ActionCertify:
		return ActionCertify, nil
	}
	return "", Invalid("action", "操作类型应为login或certify")
}

// MaxRequestIDLen bounds a request id a client may send back.
const MaxRequestIDLen = 128

// RequestID builds a client request's id, "<tenant>.<account>.r<random>":
// it carries its route, so a long poll reaches the right actor without a
// table. random is the caller's unique part (lower-case base32).
func RequestID(tenant, account, random string) string {
	return tenant + "." + account + ".r" + random
}

// ParseRequestID splits a request id into its tenant and account; ok is
// false for anything RequestID does not build (three non-empty dot-separated
// parts, at most MaxRequestIDLen bytes).
func ParseRequestID(id string) (tenant, account string, ok bool) {
	if len(id) > MaxRequestIDLen {
		return "", "", false
	}
	parts := strings.Split(id, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// NormalizeTaxNo is the form a tax number is looked up by: trimmed and upper
// case. ParseTaxNo validates as well; NormalizeTaxNo only normalises, for
// keys that are then looked up (an invalid one is simply not found).
func NormalizeTaxNo(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// CheckRoleBusiness reports ErrRoleBusiness, naming both, when role r does
// not permit business b (F3: 办税员 cannot issue).
func CheckRoleBusiness(r Role, b Business) error {
	if !r.Allows(b) {
		return ErrRoleBusiness.With(r.Name()+"无权办理"+b.Name()+"业务", "")
	}
	return nil
}

// Input limits of what people type (F3, F11, F12).
const (
	MaxUsernameLen       = 64  // bytes
	MaxPasswordLen       = 64  // bytes
	MaxEnterpriseNameLen = 100 // characters
)

// UsernameFits reports whether u is a tax-bureau username within the
// limits: not empty, at most MaxUsernameLen bytes.
func UsernameFits(u string) bool { return u != "" && len(u) <= MaxUsernameLen }

// CheckUsername refuses an empty or over-long tax-bureau username.
func CheckUsername(u string) error {
	if !UsernameFits(u) {
		return Invalid("username", "请输入电子税局账号")
	}
	return nil
}

// CheckPassword refuses an empty or over-long password; ask is what the
// person is asked to enter ("请输入密码", "请输入税局最新密码").
func CheckPassword(p Secret, ask string) error {
	if p.IsZero() || len(p.Reveal()) > MaxPasswordLen {
		return Invalid("password", ask)
	}
	return nil
}

// EnterpriseNameFits reports whether name is within the limits: not empty,
// at most MaxEnterpriseNameLen characters.
func EnterpriseNameFits(name string) bool {
	return name != "" && utf8.RuneCountInString(name) <= MaxEnterpriseNameLen
}

// CheckEnterpriseName refuses an empty or over-long enterprise name.
func CheckEnterpriseName(name string) error {
	if !EnterpriseNameFits(name) {
		return Invalid("name", "企业名称不能为空且不超过100字")
	}
	return nil
}

// Holder is who holds an account at the tax bureau: the person id the
// bureau told (empty while unknown) and the username.
type Holder struct {
	PersonID string
	Username string
}

// SamePerson reports whether the account held by other belongs to the
// natural person holding src, so a password change of src applies to it
// (SPEC §3; F11, F12): the same bureau person id or, for an account whose
// person is not known, the same username.
func SamePerson(src, other Holder) bool {
	if other.PersonID != "" {
		return other.PersonID == src.PersonID
	}
	return other.Username == src.Username
}

// PromptMessage is the sentence a client shows while a person must act (F6):
// bound says a WeChat user is bound to the account, reachable that a
// notifier can deliver to them. With nobody bound, or the bound user
// unreachable, the person opens the browser login link instead (F16).
func PromptMessage(service, phoneMasked string, bound, reachable bool) string {
	if !bound {
		return "电子税局登录失败，该账号未绑定微信，请用浏览器打开登录链接完成登录后再操作"
	}
	if !reachable {
		return "电子税局登录失败，该账号绑定的微信用户已取消关注" + service + "公众号，请用浏览器打开登录链接完成登录后再操作"
	}
	return "请" + whose(phoneMasked) + "绑定的微信用户，前往" + service + "公众号点击收到的登录通知进行操作"
}

// NoWeChatMessage is what a client is told when no notifier reaches people
// at all: nobody gets a WeChat message, the person behind the phone must
// open the login link.
func NoWeChatMessage(phoneMasked string) string {
	return "请" + whose(phoneMasked) + "的本人用浏览器打开登录链接完成电子税局登录后再操作（本服务未开通微信公众号通知）"
}

// whose names the person a prompt asks for: the account's masked phone, or
// 该账号 before the bureau told it.
func whose(phoneMasked string) string {
	if phoneMasked == "" {
		return "该账号"
	}
	return phoneMasked
}
