package domain

import (
	"strings"
	"unicode/utf8"
)

// Business is the set of invoice businesses an account may do: 开票 (issue),
// 收票 (receive) or both. The zero value is no business and is never valid on
// an account.
type Business uint8

const (
	BusinessIssue   Business = 1 << iota // 开票
	BusinessReceive                      // 收票
	BusinessBoth    = BusinessIssue | BusinessReceive
)

// ParseBusiness accepts "issue", "receive" and "both" (also "issue+receive").
func ParseBusiness(s string) (Business, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "issue":
		return BusinessIssue, nil
	case "receive":
		return BusinessReceive, nil
	case "both", "issue+receive":
		return BusinessBoth, nil
	}
	return 0, ErrInvalidBusiness
}

// Has reports whether b includes every business of x.
func (b Business) Has(x Business) bool { return x != 0 && b&x == x }

// String returns "issue", "receive", "both", or "none" for any other value.
func (b Business) String() string {
	switch b {
	case BusinessIssue:
		return "issue"
	case BusinessReceive:
		return "receive"
	case BusinessBoth:
		return "both"
	}
	return "none"
}

// Name is the Chinese label the pages show.
func (b Business) Name() string {
	switch b {
	case BusinessIssue:
		return "开票"
	case BusinessReceive:
		return "收票"
	case BusinessBoth:
		return "开票+收票"
	}
	return "无"
}

// Channels lists the login channels b needs, issue first.
func (b Business) Channels() []Channel {
	var cs []Channel
	if b.Has(BusinessIssue) {
		cs = append(cs, ChannelIssue)
	}
	if b.Has(BusinessReceive) {
		cs = append(cs, ChannelReceive)
	}
	return cs
}

// MarshalText encodes b as its String form.
func (b Business) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText decodes the String form, "none" (the zero value) included, so
// every value MarshalText writes reads back.
func (b *Business) UnmarshalText(p []byte) error {
	if string(p) == "none" {
		*b = 0
		return nil
	}
	v, err := ParseBusiness(string(p))
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// Channel is one login of an account at the tax bureau: the issue platform or
// the receive (勾选) platform. An issue+receive account has one session per
// channel.
type Channel string

const (
	ChannelIssue   Channel = "issue"
	ChannelReceive Channel = "receive"
)

// ParseChannel accepts "issue" and "receive".
func ParseChannel(s string) (Channel, error) {
	switch Channel(strings.ToLower(strings.TrimSpace(s))) {
	case ChannelIssue:
		return ChannelIssue, nil
	case ChannelReceive:
		return ChannelReceive, nil
	}
	return "", ErrInvalidBusiness
}

// Business is the business this channel serves; an unknown channel serves
// none, so it passes no permission check.
func (c Channel) Business() Business {
	switch c {
	case ChannelIssue:
		return BusinessIssue
	case ChannelReceive:
		return BusinessReceive
	}
	return 0
}

// Name is the Chinese label: 开票业务 or 收票业务 ("未知业务" for an unknown
// channel).
func (c Channel) Name() string {
	switch c {
	case ChannelIssue:
		return "开票业务"
	case ChannelReceive:
		return "收票业务"
	}
	return "未知业务"
}

// Role is a person's 身份 on an enterprise at the tax bureau.
type Role string

const (
	RoleLegalRep       Role = "01" // 法定代表人
	RoleFinanceManager Role = "02" // 财务负责人
	RoleTaxClerk       Role = "03" // 办税员
	RoleAdmin          Role = "05" // 管理员
	RoleInvoicer       Role = "09" // 开票员
	RolePurchaser      Role = "10" // 购票员
	RoleOther          Role = "99" // 其他
)

var roleNames = map[Role]string{
	RoleLegalRep:       "法定代表人",
	RoleFinanceManager: "财务负责人",
	RoleTaxClerk:       "办税员",
	RoleAdmin:          "管理员",
	RoleInvoicer:       "开票员",
	RolePurchaser:      "购票员",
	RoleOther:          "其他",
}

// Roles lists every role in code order.
func Roles() []Role {
	return []Role{RoleLegalRep, RoleFinanceManager, RoleTaxClerk, RoleAdmin, RoleInvoicer, RolePurchaser, RoleOther}
}

// ParseRole accepts a role code ("01") or its Chinese name ("法定代表人").
func ParseRole(s string) (Role, error) {
	s = strings.TrimSpace(s)
	if _, ok := roleNames[Role(s)]; ok {
		return Role(s), nil
	}
	for r, n := range roleNames {
		if n == s {
			return r, nil
		}
	}
	return "", ErrInvalidRole
}

// Name is the Chinese name of the role.
func (r Role) Name() string { return roleNames[r] }

// Permits is the business the role may do at the tax bureau. 办税员, 购票员 and
// 其他 may receive but not issue 数电 invoices; the others may do both.
func (r Role) Permits() Business {
	switch r {
	case RoleLegalRep, RoleFinanceManager, RoleAdmin, RoleInvoicer:
		return BusinessBoth
	case RoleTaxClerk, RolePurchaser, RoleOther:
		return BusinessReceive
	}
	return 0
}

// Allows reports whether the role permits every business in b.
func (r Role) Allows(b Business) bool { return r.Permits().Has(b) }

// CanBecomeAdmin reports whether a person of this role may become the
// enterprise's 数电配置管理员 (F9): only 法定代表人 and 财务负责人.
func (r Role) CanBecomeAdmin() bool { return r == RoleLegalRep || r == RoleFinanceManager }

// LoginType is how an account gets past the SMS step.
type LoginType string

const (
	LoginManual       LoginType = "manual"        // 人工登录: a person types the code or scans a QR
	LoginHuameng      LoginType = "huameng"       // 华盟托管号码: hosted SIM, code read automatically
	LoginQixiangyun   LoginType = "qixiangyun"    // 企享云办税小号: hosted virtual number
	LoginFapiaoyunApp LoginType = "fapiaoyun_app" // 发票云登录App: withdrawn, always refused
)

// ParseLoginType accepts the codes above and the Chinese names, ignoring
// the case of Latin letters. The withdrawn App type is refused with
// ErrLoginTypeWithdrawn under either of its names (发票云登录App, and
// 发票云自动登录App as the manual's unlock chapter calls it); an empty string
// is manual, the manual's default.
func ParseLoginType(s string) (LoginType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", string(LoginManual), "人工登录":
		return LoginManual, nil
	case string(LoginHuameng), "华盟托管号码", "华盟托管账号":
		return LoginHuameng, nil
	case string(LoginQixiangyun), "企享云办税小号":
		return LoginQixiangyun, nil
	case string(LoginFapiaoyunApp), "发票云登录app", "发票云自动登录app":
		return "", ErrLoginTypeWithdrawn
	}
	return "", ErrInvalidLoginType
}

// Hosted reports whether the SMS code arrives through a hosting provider, so
// the login completes without a person (and the F13 lock rules apply).
func (l LoginType) Hosted() bool { return l == LoginHuameng || l == LoginQixiangyun }

// Name is the Chinese label.
func (l LoginType) Name() string {
	switch l {
	case LoginManual:
		return "人工登录"
	case LoginHuameng:
		return "华盟托管号码"
	case LoginQixiangyun:
		return "企享云办税小号"
	case LoginFapiaoyunApp:
		return "发票云登录App"
	}
	return string(l)
}

// MaskPhone hides the middle four digits of a mainland mobile number:
// 15112341832 → 151****1832. Other strings of at least 11 characters keep
// their first three and last four; shorter ones are fully masked, so at least
// four characters are always hidden and a secret-looking value never leaks
// (nearly) whole.
func MaskPhone(p string) string {
	p = strings.TrimSpace(p)
	n := utf8.RuneCountInString(p)
	if n == 0 {
		return ""
	}
	r := []rune(p)
	if n < 11 {
		return strings.Repeat("*", n)
	}
	return string(r[:3]) + "****" + string(r[n-4:])
}

// ValidPhone reports whether p is an 11-digit mainland mobile number: 1, then
// 3 to 9 (no mobile prefix starts 10, 11 or 12), then nine digits.
func ValidPhone(p string) bool {
	if len(p) != 11 || p[0] != '1' || p[1] < '3' || p[1] > '9' {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}
