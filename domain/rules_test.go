package domain

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// rules lists each rule of SPEC §4 and §5 with the one domain function that
// decides it, and a deciding case: a call whose answer would change if the
// rule did. TestRules checks that fn is the function named and that the
// case holds.
var rules = []struct {
	rule, ref string
	fn        any
	name      string
	decides   func() bool
}{
	{"tax number: GB 32100 check digit, legacy ids", "§3", ParseTaxNo, "domain.ParseTaxNo", func() bool {
		_, bad := ParseTaxNo("91350100M000100Y44")
		tn, good := ParseTaxNo("91350100M000100Y43")
		return errors.Is(bad, ErrInvalidTaxNo) && good == nil && !tn.Legacy
	}},
	{"tax number: the lookup form", "§3", NormalizeTaxNo, "domain.NormalizeTaxNo", func() bool {
		return NormalizeTaxNo(" 91350100m000100y43 ") == "91350100M000100Y43"
	}},
	{"resident ID: GB 11643 check digit", "§3, F11", ValidIDCard, "domain.ValidIDCard", func() bool {
		return ValidIDCard("11010519491231002X") && !ValidIDCard("110105194912310021")
	}},
	{"resident ID: the check character", "§3", IDCheckDigit, "domain.IDCheckDigit", func() bool {
		c, ok := IDCheckDigit("11010519491231002")
		_, bad := IDCheckDigit("1101051949123100A")
		return ok && c == 'X' && !bad
	}},
	{"region of a tax number", "§3", RegionOf, "domain.RegionOf", func() bool {
		r, ok := RegionOf(TaxNo{Value: MakeTaxNo("4403", 1)})
		return ok && r.Name == "深圳"
	}},
	{"role permits business (办税员 cannot issue)", "§3, F3", CheckRoleBusiness, "domain.CheckRoleBusiness", func() bool {
		return errors.Is(CheckRoleBusiness(RoleTaxClerk, BusinessIssue), ErrRoleBusiness) && CheckRoleBusiness(RoleTaxClerk, BusinessReceive) == nil
	}},
	{"withdrawn login type refused", "§3, F3", ParseLoginType, "domain.ParseLoginType", func() bool {
		_, err := ParseLoginType("发票云登录App")
		return errors.Is(err, ErrLoginTypeWithdrawn)
	}},
	{"SMS code: 6 digits", "F3, §6", CheckSMSCode, "domain.CheckSMSCode", func() bool {
		return errors.Is(CheckSMSCode("12345a"), ErrWrongCode) && CheckSMSCode("012345") == nil
	}},
	{"SMS code: the page's test", "F3", ValidSMSCode, "domain.ValidSMSCode", func() bool {
		return ValidSMSCode("123456") && !ValidSMSCode("1234567")
	}},
	{"input limit: username", "F3", CheckUsername, "domain.CheckUsername", func() bool {
		return CheckUsername(strings.Repeat("u", 65)) != nil && CheckUsername(strings.Repeat("u", 64)) == nil
	}},
	{"input limit: password", "F3, F12", CheckPassword, "domain.CheckPassword", func() bool {
		return CheckPassword(NewSecret(strings.Repeat("p", 65)), "x") != nil && CheckPassword(Secret{}, "x") != nil &&
			CheckPassword(NewSecret("p"), "x") == nil
	}},
	{"input limit: enterprise name", "F3", CheckEnterpriseName, "domain.CheckEnterpriseName", func() bool {
		return CheckEnterpriseName(strings.Repeat("企", 101)) != nil && CheckEnterpriseName(strings.Repeat("企", 100)) == nil
	}},
	{"who may operate an account", "F4, F9, F10", CanOperate, "domain.CanOperate", func() bool {
		return errors.Is(CanOperate(Operator{OpenID: "b", Linked: true}, "a"), ErrNotPermitted) &&
			CanOperate(Operator{OpenID: "b", Linked: true, Admin: true}, "a") == nil
	}},
	{"one account, one WeChat user", "F4", CanBind, "domain.CanBind", func() bool {
		return errors.Is(CanBind(Operator{OpenID: "b", Linked: true}, "a"), ErrAlreadyBound)
	}},
	{"default accounts", "F5", Defaults.SetDefault, "domain.Defaults.SetDefault", func() bool {
		_, err := Defaults{}.SetDefault("a", BusinessReceive, BusinessIssue, 2)
		return errors.Is(err, ErrDefaultNoIssue)
	}},
	{"a request without account uses the default", "F5", Defaults.Resolve, "domain.Defaults.Resolve", func() bool {
		_, err := Defaults{}.Resolve(BusinessIssue)
		return errors.Is(err, ErrNoDefaultAccount)
	}},
	{"deleting clears the defaults", "F10", Defaults.Without, "domain.Defaults.Without", func() bool {
		d, _ := Defaults{}.SetDefault("a", BusinessBoth, BusinessBoth, 1)
		return d.Without("a").Of(BusinessIssue) == ""
	}},
	{"the login prompt's sentence", "F6, F16", PromptMessage, "domain.PromptMessage", func() bool {
		return PromptMessage("发票云", "151****1832", true, true) == "请151****1832绑定的微信用户，前往发票云公众号点击收到的登录通知进行操作" &&
			PromptMessage("发票云", "", true, true) == "请该账号绑定的微信用户，前往发票云公众号点击收到的登录通知进行操作" &&
			strings.Contains(PromptMessage("发票云", "151****1832", false, false), "未绑定微信") &&
			strings.Contains(PromptMessage("发票云", "151****1832", true, false), "取消关注发票云公众号")
	}},
	{"the prompt without WeChat notices", "F16", NoWeChatMessage, "domain.NoWeChatMessage", func() bool {
		return strings.HasPrefix(NoWeChatMessage("151****1832"), "请151****1832的本人") && strings.HasPrefix(NoWeChatMessage(""), "请该账号的本人")
	}},
	{"masked phone", "F6", MaskPhone, "domain.MaskPhone", func() bool { return MaskPhone("15112341832") == "151****1832" }},
	{"who may become admin", "F9", Role.CanBecomeAdmin, "domain.Role.CanBecomeAdmin", func() bool {
		return RoleLegalRep.CanBecomeAdmin() && !RoleInvoicer.CanBecomeAdmin()
	}},
	{"same natural person", "§3, F11, F12", SamePerson, "domain.SamePerson", func() bool {
		return SamePerson(Holder{PersonID: "P1", Username: "u"}, Holder{PersonID: "P1", Username: "v"}) &&
			!SamePerson(Holder{PersonID: "P1", Username: "u"}, Holder{PersonID: "P2", Username: "u"}) &&
			SamePerson(Holder{PersonID: "P1", Username: "u"}, Holder{Username: "u"})
	}},
	{"lock after failures, B2 mark", "F13, B2", LockState.RecordFailure, "domain.LockState.RecordFailure", func() bool {
		s := LockState{Hosted: true}.RecordFailure(FailWrongPassword, DefaultLockPolicy(), mNow)
		return s.Lock != nil && s.PasswordInvalid
	}},
	{"never try the bureau while locked or refused", "F13, B2", LockState.LoginGuard, "domain.LockState.LoginGuard", func() bool {
		return errors.Is(LockState{PasswordInvalid: true}.LoginGuard(), ErrPasswordInvalid)
	}},
	{"unlocking resets the counters", "F13", LockState.Unlock, "domain.LockState.Unlock", func() bool {
		s := LockState{Counters: Counters{WrongCode: 2}, Lock: &Lock{}}.Unlock()
		return s.Lock == nil && s.Counters == Counters{}
	}},
	{"a new password unlocks", "F11, F12", LockState.PasswordUpdated, "domain.LockState.PasswordUpdated", func() bool {
		return !LockState{PasswordInvalid: true, Lock: &Lock{}}.PasswordUpdated().PasswordInvalid
	}},
	{"SMS budget per phone per day", "B3", PhoneBudget.Check, "domain.PhoneBudget.Check", func() bool {
		return errors.Is(PhoneBudget{Day: Day(mNow), Sent: 20}.Check(DefaultSMSPolicy(), mNow), ErrSMSBudget) &&
			PhoneBudget{Day: Day(mNow), Sent: 19}.Check(DefaultSMSPolicy(), mNow) == nil
	}},
	{"one code per account per interval", "B3", CheckAccountInterval, "domain.CheckAccountInterval", func() bool {
		return errors.Is(CheckAccountInterval(mNow.Add(-time.Minute), DefaultSMSPolicy(), mNow), ErrSMSTooFrequent)
	}},
	{"a new code on a code page: the interval, said in seconds", "B3", CheckResendInterval, "domain.CheckResendInterval", func() bool {
		err := CheckResendInterval(mNow.Add(-45*time.Second), DefaultSMSPolicy(), mNow)
		var e *Error
		return errors.As(err, &e) && errors.Is(err, ErrSMSTooFrequent) && e.RetryAfterSeconds() == 135 &&
			strings.HasSuffix(e.Message, "请135秒后再试") && CheckResendInterval(mNow.Add(-3*time.Minute), DefaultSMSPolicy(), mNow) == nil
	}},
	{"when the next code may be sent", "B3", SMSPolicy.NextCodeAt, "domain.SMSPolicy.NextCodeAt", func() bool {
		return DefaultSMSPolicy().NextCodeAt(mNow).Equal(mNow.Add(3 * time.Minute))
	}},
	{"the wait left before the next code", "B3", SMSPolicy.CodeWait, "domain.SMSPolicy.CodeWait", func() bool {
		p := DefaultSMSPolicy()
		return p.CodeWait(mNow.Add(-time.Minute), mNow) == 2*time.Minute && p.CodeWait(mNow.Add(-time.Hour), mNow) == 0 && p.CodeWait(time.Time{}, mNow) == 0
	}},
	{"a login name's key: trimmed, upper case", "F11, F12", LoginKey, "domain.LoginKey", func() bool {
		return LoginKey(" 11010119900101123x ") == "11010119900101123X"
	}},
	{"client request action", "§3", ParseAction, "domain.ParseAction", func() bool {
		a, err := ParseAction("")
		_, bad := ParseAction("logout")
		return a == ActionLogin && err == nil && errors.Is(bad, ErrInvalidInput)
	}},
	{"request id: built", "§3, B1", RequestID, "domain.RequestID", func() bool {
		return RequestID("t1", "a1", "x") == "t1.a1.rx"
	}},
	{"request id: parsed", "§3", ParseRequestID, "domain.ParseRequestID", func() bool {
		tn, ac, ok := ParseRequestID(RequestID("t1", "a1", "x"))
		_, _, bad := ParseRequestID("t1..rx")
		return ok && tn == "t1" && ac == "a1" && !bad
	}},
	{"an account's life: per channel login, certification, counters, lock, B1", "§5, B1, B4", Machine.Decide, "domain.Machine.Decide", func() bool {
		evs, err := machine.Decide(acct(pending(ChannelIssue, LoginChallenge)), StartLogin{Channel: ChannelIssue}, mNow)
		return err == nil && reflect.DeepEqual(evs, []Event{LoginJoined{Channel: ChannelIssue}})
	}},
	{"an account's life: the state after an event", "§5", Machine.Apply, "domain.Machine.Apply", func() bool {
		s := machine.Apply(acct(), LoginStarted{Channel: ChannelIssue, Nonce: 8, At: mNow})
		return s.Logins[ChannelIssue].Stage == LoginCalling && s.Seq == 8
	}},
	{"a new code for a login: busy, guards, B3", "B3, F13", Machine.Decide, "domain.Machine.Decide", func() bool {
		_, busy := machine.Decide(acct(resending(ChannelIssue)), ResendCode{Channel: ChannelIssue}, mNow)
		_, soon := machine.Decide(acct(pending(ChannelIssue, LoginChallenge), func(s *Account) { s.LastCodeAt = mNow.Add(-45 * time.Second) }),
			ResendCode{Channel: ChannelIssue}, mNow)
		var e *Error
		return errors.Is(busy, ErrBusy) && errors.As(soon, &e) && strings.HasSuffix(e.Message, "请135秒后再试")
	}},
	{"a new code replaces the challenge and restarts the interval", "B3", Machine.Apply, "domain.Machine.Apply", func() bool {
		s := machine.Apply(acct(resending(ChannelIssue)), ChallengeReissued{Channel: ChannelIssue, ChallengeID: "c9", At: mNow})
		l := s.Logins[ChannelIssue]
		return l.ChallengeID == "c9" && !l.Resending && s.LastCodeAt.Equal(mNow)
	}},
}

func TestRules(t *testing.T) {
	for _, r := range rules {
		t.Run(r.rule, func(t *testing.T) {
			got := runtime.FuncForPC(reflect.ValueOf(r.fn).Pointer()).Name()
			if !strings.HasSuffix(got, r.name[len("domain"):]) || !strings.Contains(got, "/domain.") {
				t.Errorf("%s (%s): the table names %s, the function is %s", r.rule, r.ref, r.name, got)
			}
			if !r.decides() {
				t.Errorf("%s (%s): %s does not decide its case", r.rule, r.ref, r.name)
			}
		})
	}
}

// duplicates are the forms of the rules above that used to be written out
// outside domain: none may come back. Each pattern is looked for in every
// non-test Go file of the module and in the test helpers that computed
// check digits.
var duplicates = []struct{ what, pattern string }{
	{"GB 11643 check table", `"10X98765432"`},
	{"GB 11643 weights", "7, 9, 10, 5, 8, 4, 2, 1, 6, 3"},
	{"6-digit code check", `"0123456789") != ""`},
	{"6-digit code message", "验证码为6位数字"},
	{"action validation", "操作类型应为login或certify"},
	{"role/business message", "无权办理"},
	{"F6 prompt sentence", "绑定的微信用户，前往"},
	{"F16 prompt sentence", "本服务未开通微信公众号通知"},
	{"request id layout", `".r" +`},
	{"request id parse", `strings.Count(id, ".")`},
	{"tax number normalisation", "strings.ToUpper(strings.TrimSpace(taxNo))"},
	{"tax number normalisation", "strings.ToUpper(strings.TrimSpace(req.TaxNo))"},
	{"same natural person", "r.PersonID == src.PersonID"},
	{"password limit", "len(c.Password.Reveal()) > 64"},
	{"enterprise name limit", "len([]rune(m.name)) > 100"},
	{"resend interval message", "请%d秒后再试"},
	{"resend interval wait", ".Add(p.PerAccountInterval).Sub(now)"},
	{"next code time", ".Add(p.PerAccountInterval)"},
	{"next code time", ".Add(a.d.cfg.SMSPolicy.PerAccountInterval)"},
	{"resend's new challenge set by hand", "l.challengeID = ch.ID"},
	{"resend's code time set by hand", "st.lastCodeAt, st.phoneMasked = now"},
	{"login name (and tax number) normalisation", "strings.ToUpper(strings.TrimSpace("},
}

func TestRulesLiveOnce(t *testing.T) {
	root := filepath.Join("..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("the module's root is not above domain: %v", err)
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == ".git" || n == "node_modules" || n == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		inDomain := filepath.Dir(rel) == "domain"
		if inDomain {
			return nil
		}
		// Tests may quote the sentences they check; only the helpers that
		// computed check digits are held to the rule.
		test := strings.HasSuffix(path, "_test.go")
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, d := range duplicates {
			if test && !strings.HasPrefix(d.what, "GB 11643") {
				continue
			}
			if strings.Contains(string(b), d.pattern) {
				t.Errorf("%s: a copy of the %s (%q); call the domain function", rel, d.what, d.pattern)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
