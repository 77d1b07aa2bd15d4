package domain

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseBusiness(t *testing.T) {
	tests := []struct {
		in   string
		want Business
		err  error
	}{
		{"issue", BusinessIssue, nil},
		{"receive", BusinessReceive, nil},
		{"both", BusinessBoth, nil},
		{"issue+receive", BusinessBoth, nil},
		{" Issue ", BusinessIssue, nil},
		{"BOTH", BusinessBoth, nil},
		{"", 0, ErrInvalidBusiness},
		{"none", 0, ErrInvalidBusiness},
		{"开票", 0, ErrInvalidBusiness},
		{"receive+issue", 0, ErrInvalidBusiness},
	}
	for _, tc := range tests {
		got, err := ParseBusiness(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("ParseBusiness(%q) = %v, %v; want %v, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestBusiness(t *testing.T) {
	tests := []struct {
		b        Business
		str      string
		name     string
		channels []Channel
	}{
		{BusinessIssue, "issue", "开票", []Channel{ChannelIssue}},
		{BusinessReceive, "receive", "收票", []Channel{ChannelReceive}},
		{BusinessBoth, "both", "开票+收票", []Channel{ChannelIssue, ChannelReceive}},
		{0, "none", "无", nil},
	}
	for _, tc := range tests {
		t.Run(tc.str, func(t *testing.T) {
			if got := tc.b.String(); got != tc.str {
				t.Errorf("String() = %q, want %q", got, tc.str)
			}
			if got := tc.b.Name(); got != tc.name {
				t.Errorf("Name() = %q, want %q", got, tc.name)
			}
			if got := tc.b.Channels(); !slices.Equal(got, tc.channels) {
				t.Errorf("Channels() = %v, want %v", got, tc.channels)
			}
			txt, err := tc.b.MarshalText()
			if err != nil || string(txt) != tc.str {
				t.Errorf("MarshalText() = %q, %v", txt, err)
			}
			var back Business = 7
			if err := back.UnmarshalText(txt); err != nil || back != tc.b {
				t.Errorf("UnmarshalText(%q) = %v, %v; want %v", txt, back, err, tc.b)
			}
		})
	}

	has := []struct {
		b, x Business
		want bool
	}{
		{BusinessBoth, BusinessIssue, true},
		{BusinessBoth, BusinessReceive, true},
		{BusinessBoth, BusinessBoth, true},
		{BusinessIssue, BusinessBoth, false},
		{BusinessReceive, BusinessIssue, false},
		{BusinessIssue, BusinessIssue, true},
		{BusinessBoth, 0, false},
		{0, 0, false},
	}
	for _, tc := range has {
		if got := tc.b.Has(tc.x); got != tc.want {
			t.Errorf("%v.Has(%v) = %v, want %v", tc.b, tc.x, got, tc.want)
		}
	}

	var bad Business
	if err := bad.UnmarshalText([]byte("everything")); !errors.Is(err, ErrInvalidBusiness) {
		t.Errorf("UnmarshalText(everything) = %v", err)
	}

	// Business travels as text in JSON, and every value comes back.
	type doc struct {
		B Business `json:"b"`
		Z Business `json:"z"`
	}
	p, err := json.Marshal(doc{B: BusinessBoth})
	if err != nil || string(p) != `{"b":"both","z":"none"}` {
		t.Fatalf("json.Marshal = %s, %v", p, err)
	}
	var d doc
	if err := json.Unmarshal(p, &d); err != nil || d != (doc{B: BusinessBoth}) {
		t.Fatalf("json.Unmarshal(%s) = %+v, %v", p, d, err)
	}
}

func TestChannel(t *testing.T) {
	tests := []struct {
		in       string
		want     Channel
		err      error
		business Business
		name     string
	}{
		{"issue", ChannelIssue, nil, BusinessIssue, "开票业务"},
		{" RECEIVE ", ChannelReceive, nil, BusinessReceive, "收票业务"},
		{"both", "", ErrInvalidBusiness, 0, "未知业务"},
		{"", "", ErrInvalidBusiness, 0, "未知业务"},
	}
	for _, tc := range tests {
		got, err := ParseChannel(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("ParseChannel(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
		if b := got.Business(); b != tc.business {
			t.Errorf("Channel(%q).Business() = %v, want %v", got, b, tc.business)
		}
		if n := got.Name(); n != tc.name {
			t.Errorf("Channel(%q).Name() = %q, want %q", got, n, tc.name)
		}
	}
	// An unknown channel passes no permission check.
	if BusinessBoth.Has(Channel("bogus").Business()) {
		t.Error("an unknown channel is permitted by issue+receive")
	}
}

func TestRoles(t *testing.T) {
	want := []Role{"01", "02", "03", "05", "09", "10", "99"}
	if got := Roles(); !slices.Equal(got, want) {
		t.Fatalf("Roles() = %v, want %v", got, want)
	}
	names := map[string]bool{}
	for _, r := range Roles() {
		if r.Name() == "" || names[r.Name()] {
			t.Errorf("role %s: name %q empty or repeated", r, r.Name())
		}
		names[r.Name()] = true
	}
	if Role("04").Name() != "" {
		t.Errorf("unknown role has a name")
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in   string
		want Role
		ok   bool
	}{
		{"01", RoleLegalRep, true},
		{"法定代表人", RoleLegalRep, true},
		{"02", RoleFinanceManager, true},
		{"财务负责人", RoleFinanceManager, true},
		{" 03 ", RoleTaxClerk, true},
		{"办税员", RoleTaxClerk, true},
		{"05", RoleAdmin, true},
		{"管理员", RoleAdmin, true},
		{"09", RoleInvoicer, true},
		{"开票员", RoleInvoicer, true},
		{"10", RolePurchaser, true},
		{"购票员", RolePurchaser, true},
		{"99", RoleOther, true},
		{"其他", RoleOther, true},
		{"", "", false},
		{"1", "", false},
		{"04", "", false},
		{"法人", "", false},
	}
	for _, tc := range tests {
		got, err := ParseRole(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseRole(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, ErrInvalidRole) {
			t.Errorf("ParseRole(%q) error %v is not ErrInvalidRole", tc.in, err)
		}
	}
}

func TestRolePermissions(t *testing.T) {
	tests := []struct {
		role       Role
		permits    Business
		canIssue   bool
		canReceive bool
		canAdmin   bool
	}{
		{RoleLegalRep, BusinessBoth, true, true, true},
		{RoleFinanceManager, BusinessBoth, true, true, true},
		{RoleTaxClerk, BusinessReceive, false, true, false}, // 办税员 cannot issue
		{RoleAdmin, BusinessBoth, true, true, false},
		{RoleInvoicer, BusinessBoth, true, true, false},
		{RolePurchaser, BusinessReceive, false, true, false},
		{RoleOther, BusinessReceive, false, true, false},
		{Role("04"), 0, false, false, false},
		{Role(""), 0, false, false, false},
	}
	for _, tc := range tests {
		t.Run(string(tc.role)+tc.role.Name(), func(t *testing.T) {
			if got := tc.role.Permits(); got != tc.permits {
				t.Errorf("Permits() = %v, want %v", got, tc.permits)
			}
			if got := tc.role.Allows(BusinessIssue); got != tc.canIssue {
				t.Errorf("Allows(issue) = %v, want %v", got, tc.canIssue)
			}
			if got := tc.role.Allows(BusinessReceive); got != tc.canReceive {
				t.Errorf("Allows(receive) = %v, want %v", got, tc.canReceive)
			}
			if got := tc.role.Allows(BusinessBoth); got != (tc.canIssue && tc.canReceive) {
				t.Errorf("Allows(both) = %v", got)
			}
			if tc.role.Allows(0) {
				t.Error("Allows(none) = true")
			}
			if got := tc.role.CanBecomeAdmin(); got != tc.canAdmin {
				t.Errorf("CanBecomeAdmin() = %v, want %v", got, tc.canAdmin)
			}
		})
	}
}

func TestParseLoginType(t *testing.T) {
	tests := []struct {
		in     string
		want   LoginType
		err    error
		hosted bool
	}{
		{"", LoginManual, nil, false},
		{"  ", LoginManual, nil, false},
		{"manual", LoginManual, nil, false},
		{"Manual", LoginManual, nil, false},
		{"人工登录", LoginManual, nil, false},
		{"huameng", LoginHuameng, nil, true},
		{"华盟托管号码", LoginHuameng, nil, true},
		{"华盟托管账号", LoginHuameng, nil, true},
		{"qixiangyun", LoginQixiangyun, nil, true},
		{"企享云办税小号", LoginQixiangyun, nil, true},
		{"fapiaoyun_app", "", ErrLoginTypeWithdrawn, false},
		{"发票云登录App", "", ErrLoginTypeWithdrawn, false},
		{"发票云登录APP", "", ErrLoginTypeWithdrawn, false},
		{"发票云自动登录App", "", ErrLoginTypeWithdrawn, false},
		{"sms", "", ErrInvalidLoginType, false},
		{"托管", "", ErrInvalidLoginType, false},
	}
	for _, tc := range tests {
		got, err := ParseLoginType(tc.in)
		if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("ParseLoginType(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
		if got.Hosted() != tc.hosted {
			t.Errorf("LoginType(%q).Hosted() = %v, want %v", got, got.Hosted(), tc.hosted)
		}
	}

	_, err := ParseLoginType("发票云登录App")
	e := AsError(err)
	if e.Code != "login_type_withdrawn" || !strings.Contains(e.Message, "发票云登录App已下架") ||
		!strings.Contains(e.Message, "人工登录") {
		t.Errorf("withdrawn App error = %q %q, want the Chinese explanation", e.Code, e.Message)
	}
	if LoginFapiaoyunApp.Hosted() {
		t.Error("the withdrawn App counts as hosted")
	}
}

func TestLoginTypeName(t *testing.T) {
	tests := map[LoginType]string{
		LoginManual:       "人工登录",
		LoginHuameng:      "华盟托管号码",
		LoginQixiangyun:   "企享云办税小号",
		LoginFapiaoyunApp: "发票云登录App",
		"other":           "other",
	}
	for l, want := range tests {
		if got := l.Name(); got != want {
			t.Errorf("%q.Name() = %q, want %q", l, got, want)
		}
	}
	// Every name but the withdrawn one parses back to its type.
	for _, l := range []LoginType{LoginManual, LoginHuameng, LoginQixiangyun} {
		if got, err := ParseLoginType(l.Name()); err != nil || got != l {
			t.Errorf("ParseLoginType(%q) = %q, %v", l.Name(), got, err)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"15112341832", "151****1832"},
		{" 15112341832 ", "151****1832"},
		{"13800138000", "138****8000"},
		{"+8615112341832", "+86****1832"},
		{"110105194912310021", "110****0021"},
		{"", ""},
		{"1", "*"},
		{"1234567", "*******"},
		{"12345678", "********"},
		{"1511234183", "**********"},
		{"张三李四王五", "******"},
		{"广东省深圳市南山区某某", "广东省****山区某某"},
	}
	for _, tc := range tests {
		got := MaskPhone(tc.in)
		if got != tc.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// At least four characters stay hidden, whatever the length.
	for n := 1; n <= 30; n++ {
		s := strings.Repeat("7", n)
		if shown := strings.Count(MaskPhone(s), "7"); n-shown < min(n, 4) {
			t.Errorf("MaskPhone of %d characters shows %d of them", n, shown)
		}
	}
}

func TestValidPhone(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"15112341832", true},
		{"13800138000", true},
		{"19912345678", true},
		{"16612345678", true},
		{"1511234183", false},
		{"151123418321", false},
		{"25112341832", false},
		{"10012345678", false},
		{"12345678901", false},
		{"1511234183a", false},
		{"151-1234-1832", false},
		{" 15112341832", false},
		{"", false},
		{"１５１１２３４１８３２", false},
	}
	for _, tc := range tests {
		if got := ValidPhone(tc.in); got != tc.want {
			t.Errorf("ValidPhone(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
