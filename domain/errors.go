package domain

import (
	"errors"
	"fmt"
	"time"
)

// Error is a user-visible failure: a stable machine code plus a Chinese message
// (the words the H5 pages and API clients show) and an English one. The Cause,
// when set, is internal detail for logs and is never shown to a user.
//
// Errors compare by Code: errors.Is(err, ErrLocked) holds for any *Error whose
// code is "locked", whatever its message details.
type Error struct {
	Code      string
	Message   string
	MessageEN string
	Cause     error
	// RetryAfter, when set, is how long until the refusal lifts: HTTP
	// answers carry it as Retry-After.
	RetryAfter time.Duration
	// Kind is the sort of refusal: how the HTTP surfaces answer it. Set
	// on catalogue entries; KindOf finds it for an error rebuilt from its
	// code.
	Kind Kind
}

// Error returns the code and the English message, then the cause if any:
// text for logs, not for users.
func (e *Error) Error() string {
	if e.Cause != nil {
		return e.Code + ": " + e.MessageEN + ": " + e.Cause.Error()
	}
	return e.Code + ": " + e.MessageEN
}

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.Cause }

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t != nil && t.Code == e.Code
}

// With returns a copy of e whose messages carry a detail, e.g. the field that
// was wrong. The code stays the same.
func (e *Error) With(zh, en string) *Error {
	c := *e
	if zh != "" {
		c.Message = e.Message + "：" + zh
	}
	if en != "" {
		c.MessageEN = e.MessageEN + ": " + en
	}
	return &c
}

// Wrap returns a copy of e that keeps cause for the logs.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

// RetryIn returns a copy of e that says the refusal lifts after d.
func (e *Error) RetryIn(d time.Duration) *Error {
	c := *e
	c.RetryAfter = d
	return &c
}

// RetryAfterSeconds is RetryAfter in whole seconds rounded up, as the
// Retry-After header wants it; 0 when the error does not say.
func (e *Error) RetryAfterSeconds() int {
	if e.RetryAfter <= 0 {
		return 0
	}
	return int((e.RetryAfter + time.Second - 1) / time.Second)
}

// AsError returns the catalogue error inside err, or ErrInternal wrapping err
// when err is not one of ours. A nil err gives nil.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return ErrInternal.Wrap(err)
}

// newErr declares one of the domain's own catalogue entries.
func newErr(kind Kind, code, zh, en string) *Error { return Declare(kind, code, zh, en) }

// The catalogue. Codes are stable: clients match on them. Messages quote the
// manual word for word where it gives them.
var (
	ErrInvalidInput        = newErr(KindInvalid, "invalid_input", "输入信息有误", "invalid input")
	ErrInvalidTaxNo        = newErr(KindInvalid, "invalid_tax_no", "税号格式不正确，请核对统一社会信用代码", "invalid tax number")
	ErrInvalidRegion       = newErr(KindInvalid, "invalid_region", "地区不正确", "unknown tax-bureau region")
	ErrInvalidRole         = newErr(KindInvalid, "invalid_role", "身份不正确", "unknown role")
	ErrInvalidBusiness     = newErr(KindInvalid, "invalid_business", "业务类型不正确，请选择开票业务或收票业务", "business must be issue, receive or both")
	ErrInvalidLoginType    = newErr(KindInvalid, "invalid_login_type", "登录类型不正确", "unknown login type")
	ErrLoginTypeWithdrawn  = newErr(KindInvalid, "login_type_withdrawn", "发票云登录App已下架，不支持使用，请选择人工登录、华盟托管号码或企享云办税小号", "the 发票云登录App login type was withdrawn and is not supported")
	ErrInvalidPhone        = newErr(KindInvalid, "invalid_phone", "手机号格式不正确", "invalid phone number")
	ErrRoleBusiness        = newErr(KindInvalid, "role_business_not_allowed", "该身份无权办理所选业务（办税员不能开票）", "the role does not allow the chosen business")
	ErrNoRelation          = newErr(KindRejected, "no_relation", "未查询到您与该企业的关联关系信息，请确认录入的信息是否正确！", "no relation between this person and the enterprise")
	ErrAccountExists       = newErr(KindConflict, "account_exists", "该电子税局账号已添加，无需重复添加", "this account was already added")
	ErrAccountNotFound     = newErr(KindNotFound, "account_not_found", "电子税局账号不存在", "account not found")
	ErrEnterpriseNotFound  = newErr(KindNotFound, "enterprise_not_found", "企业不存在", "enterprise not found")
	ErrEnterpriseExists    = newErr(KindConflict, "enterprise_exists", "企业已存在", "enterprise already exists")
	ErrTenantNotFound      = newErr(KindNotFound, "tenant_not_found", "租户不存在", "tenant not found")
	ErrTenantExists        = newErr(KindConflict, "tenant_exists", "租户已存在", "tenant already exists")
	ErrPromptClosed        = newErr(KindGone, "prompt_closed", "该登录通知已处理或已过期，无需再操作", "the prompt was already answered or has expired")
	ErrPromptUndeliverable = newErr(KindConflict, "prompt_undeliverable", "登录通知无法送达绑定的微信用户", "the prompt could not be delivered")
	ErrAPIKeyNotFound      = newErr(KindUnauthenticated, "api_key_not_found", "API密钥不存在或已吊销", "API key unknown or revoked")
	ErrActivationCode      = newErr(KindRejected, "activation_code_wrong", "激活码不正确，请核对后重新输入", "wrong activation code")
	ErrActivationCodeTaken = newErr(KindConflict, "activation_code_taken", "该激活码不可用，请换一个", "the activation code is taken: choose another")
	ErrActivationRateLimit = newErr(KindRateLimited, "activation_rate_limited", "激活码输入错误次数过多，请10分钟后再试", "too many wrong activation codes, try again later")
	ErrAlreadyLinked       = newErr(KindConflict, "tenant_already_linked", "您已关联该租户", "this WeChat user already linked the tenant")
	ErrNotLinked           = newErr(KindForbidden, "tenant_not_linked", "您尚未关联该租户，请先输入激活码添加关联租户", "this WeChat user has not linked the tenant")
	ErrNotPermitted        = newErr(KindForbidden, "not_permitted", "已绑定的税局账号，仅可以被绑定的微信用户或数电配置管理员操作", "only the bound WeChat user or an enterprise admin may operate this account")
	ErrAlreadyBound        = newErr(KindConflict, "already_bound", "一个账号只能绑定一个微信，该账号已绑定", "the account is already bound to a WeChat user")
	ErrNotBound            = newErr(KindConflict, "not_bound", "该账号未绑定微信", "the account is not bound to a WeChat user")
	ErrSameWeChat          = newErr(KindConflict, "same_wechat", "该账号已绑定当前微信，无需更换", "the account is already bound to this WeChat user")
	ErrDefaultNoIssue      = newErr(KindConflict, "default_no_issue_permission", "没有开票权限的账号，无法设置为开票默认账号！", "an account without issue permission cannot be the issue default")
	ErrDefaultNoReceive    = newErr(KindConflict, "default_no_receive_permission", "没有收票权限的账号，无法设置为收票默认账号！", "an account without receive permission cannot be the receive default")
	ErrDefaultSingleBoth   = newErr(KindConflict, "default_single_account_both", "若只有一个账号，只能设置为“开票+收票”默认账号", "with a single account only the issue+receive default may be set")
	ErrNoDefaultAccount    = newErr(KindConflict, "no_default_account", "该企业未设置对应业务的默认账号，请在个人中心设置默认账号或指定账号", "the enterprise has no default account for this business")
	ErrBusinessNotAllowed  = newErr(KindConflict, "business_not_allowed", "该账号没有对应业务的权限", "the account has no permission for this business")
	ErrNotAdminRole        = newErr(KindForbidden, "not_admin_role", "只能企业对应的法人或财务负责人可使用此功能", "only the legal representative or the finance manager may become an enterprise admin")
	ErrNotAdmin            = newErr(KindForbidden, "not_admin", "您不是该企业的数电配置管理员", "you are not an admin of this enterprise")
	ErrAlreadyAdmin        = newErr(KindConflict, "already_admin", "您已是该企业的数电配置管理员", "you are already an admin of this enterprise")

	// ErrPasswordGuard: etaxd stops submitting a person's password before
	// the bureau's own lock could be reached (see PasswordGuard).
	ErrPasswordGuard = newErr(KindRateLimited, "password_tries_exhausted", "该电子税局账号近期密码错误次数过多，为避免被税局锁定，已暂停提交密码", "too many wrong tax-bureau passwords for this person; etaxd stops before the bureau locks the password")
	// ErrPasswordRate: one WeChat user submitted too many passwords.
	ErrPasswordRate = newErr(KindRateLimited, "password_rate_limited", "提交税局密码过于频繁，请稍后再试", "too many password submissions from this WeChat user, try again later")

	ErrWrongPassword     = newErr(KindRejected, "wrong_password", "电子税局账号或密码错误", "wrong tax-bureau username or password")
	ErrPasswordInvalid   = newErr(KindConflict, "password_invalid", "税局密码已失效，请在个人中心修改密码（重置税局密码或仅更新发票云）后再登录", "the stored password was refused by the tax bureau; update it before logging in again")
	ErrBureauPwdLocked   = newErr(KindLocked, "bureau_password_locked", "密码错误次数过多，账号已被税局锁定，请次日再试或重置税局密码", "the tax bureau locked this password for today")
	ErrLocked            = newErr(KindLocked, "locked", "账号已锁定，请在电子税局账号管理页面解锁后再试", "the account is locked; unlock it first")
	ErrWrongCode         = newErr(KindRejected, "wrong_code", "验证码错误，请重新输入", "wrong verification code")
	ErrCodeExpired       = newErr(KindGone, "code_expired", "验证码已过期，请重新获取", "the verification code expired")
	ErrNoChallenge       = newErr(KindConflict, "no_challenge", "当前没有待输入的验证码，请重新登录", "no verification is pending")
	ErrSMSBudget         = newErr(KindRateLimited, "sms_budget_exhausted", "该手机号今日获取验证码次数已达上限（20次），请明日再试或扫码登录", "the phone reached today's SMS budget")
	ErrSMSTooFrequent    = newErr(KindRateLimited, "sms_too_frequent", "获取验证码过于频繁，请稍后再试", "one code per account per interval")
	ErrPasswordPolicy    = newErr(KindInvalid, "password_policy", "新密码需为8-15位，包含特殊字符，且至少包含大写字母、小写字母、数字中的两种", "the new password does not meet the tax bureau's policy")
	ErrPasswordMismatch  = newErr(KindInvalid, "password_mismatch", "两次输入的密码不一致", "the passwords do not match")
	ErrIdentityMismatch  = newErr(KindRejected, "identity_mismatch", "证件类型或证件号码与税局登记信息不一致", "identity document does not match the tax bureau's records")
	ErrQRExpired         = newErr(KindGone, "qr_expired", "二维码已过期，请刷新", "the QR code expired")
	ErrNotLoggedIn       = newErr(KindConflict, "not_logged_in", "请先登录电子税局后再进行认证", "log in before certifying")
	ErrSessionMismatch   = newErr(KindConflict, "session_mismatch", "会话信息不一致", "the reported session is not the account's current one")
	ErrHostedCodeTimeout = newErr(KindUnavailable, "hosted_code_timeout", "托管号码获取验证码超时", "the hosting provider did not deliver the code in time")
	ErrAccountDeleted    = newErr(KindConflict, "account_deleted", "电子税局账号已被删除，请求已取消", "the account was deleted; the request was cancelled")
	ErrRequestNotFound   = newErr(KindNotFound, "request_not_found", "请求不存在或已过期", "request not found or expired")
	ErrBureauUnavailable = newErr(KindUnavailable, "bureau_unavailable", "电子税局暂时无法访问，请稍后再试", "the tax bureau is unavailable, try again later")
	ErrBusy              = newErr(KindUnavailable, "busy", "系统繁忙，请稍后再试", "the system is busy, try again later")
	ErrInternal          = newErr(KindInternal, "internal", "系统内部错误，请稍后再试", "internal error")
)

// LockedError is ErrLocked with the lock's reason in its message.
func LockedError(r LockReason) *Error {
	return ErrLocked.With(r.Text(), string(r))
}

// Invalid is ErrInvalidInput naming the field at fault.
func Invalid(field, zh string) *Error {
	return ErrInvalidInput.With(zh, fmt.Sprintf("field %s", field))
}
