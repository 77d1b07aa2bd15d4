package domain

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// catalogue lists every entry of errors.go by name. TestCatalogueComplete
// fails when an entry is added there but not here.
var catalogue = map[string]*Error{
	"ErrInvalidInput":        ErrInvalidInput,
	"ErrInvalidTaxNo":        ErrInvalidTaxNo,
	"ErrInvalidRegion":       ErrInvalidRegion,
	"ErrInvalidRole":         ErrInvalidRole,
	"ErrInvalidBusiness":     ErrInvalidBusiness,
	"ErrInvalidLoginType":    ErrInvalidLoginType,
	"ErrLoginTypeWithdrawn":  ErrLoginTypeWithdrawn,
	"ErrInvalidPhone":        ErrInvalidPhone,
	"ErrRoleBusiness":        ErrRoleBusiness,
	"ErrNoRelation":          ErrNoRelation,
	"ErrAccountExists":       ErrAccountExists,
	"ErrAccountNotFound":     ErrAccountNotFound,
	"ErrEnterpriseNotFound":  ErrEnterpriseNotFound,
	"ErrEnterpriseExists":    ErrEnterpriseExists,
	"ErrTenantNotFound":      ErrTenantNotFound,
	"ErrTenantExists":        ErrTenantExists,
	"ErrAPIKeyNotFound":      ErrAPIKeyNotFound,
	"ErrPromptUndeliverable": ErrPromptUndeliverable,
	"ErrPromptClosed":        ErrPromptClosed,
	"ErrActivationCode":      ErrActivationCode,
	"ErrActivationRateLimit": ErrActivationRateLimit,
	"ErrAlreadyLinked":       ErrAlreadyLinked,
	"ErrNotLinked":           ErrNotLinked,
	"ErrNotPermitted":        ErrNotPermitted,
	"ErrAlreadyBound":        ErrAlreadyBound,
	"ErrNotBound":            ErrNotBound,
	"ErrSameWeChat":          ErrSameWeChat,
	"ErrDefaultNoIssue":      ErrDefaultNoIssue,
	"ErrDefaultNoReceive":    ErrDefaultNoReceive,
	"ErrDefaultSingleBoth":   ErrDefaultSingleBoth,
	"ErrNoDefaultAccount":    ErrNoDefaultAccount,
	"ErrBusinessNotAllowed":  ErrBusinessNotAllowed,
	"ErrNotAdminRole":        ErrNotAdminRole,
	"ErrNotAdmin":            ErrNotAdmin,
	"ErrAlreadyAdmin":        ErrAlreadyAdmin,
	"ErrPasswordGuard":       ErrPasswordGuard,
	"ErrPasswordRate":        ErrPasswordRate,
	"ErrWrongPassword":       ErrWrongPassword,
	"ErrPasswordInvalid":     ErrPasswordInvalid,
	"ErrBureauPwdLocked":     ErrBureauPwdLocked,
	"ErrLocked":              ErrLocked,
	"ErrWrongCode":           ErrWrongCode,
	"ErrCodeExpired":         ErrCodeExpired,
	"ErrNoChallenge":         ErrNoChallenge,
	"ErrSMSBudget":           ErrSMSBudget,
	"ErrSMSTooFrequent":      ErrSMSTooFrequent,
	"ErrPasswordPolicy":      ErrPasswordPolicy,
	"ErrPasswordMismatch":    ErrPasswordMismatch,
	"ErrIdentityMismatch":    ErrIdentityMismatch,
	"ErrQRExpired":           ErrQRExpired,
	"ErrNotLoggedIn":         ErrNotLoggedIn,
	"ErrSessionMismatch":     ErrSessionMismatch,
	"ErrHostedCodeTimeout":   ErrHostedCodeTimeout,
	"ErrAccountDeleted":      ErrAccountDeleted,
	"ErrRequestNotFound":     ErrRequestNotFound,
	"ErrBureauUnavailable":   ErrBureauUnavailable,
	"ErrBusy":                ErrBusy,
	"ErrInternal":            ErrInternal,
}

// TestCatalogueComplete reads the package's source and checks that every
// package-level *Error built with newErr is in the catalogue above, so the
// checks below cover the whole catalogue.
func TestCatalogueComplete(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, v := range vs.Values {
					if call, ok := v.(*ast.CallExpr); ok {
						if fn, ok := call.Fun.(*ast.Ident); ok && fn.Name == "newErr" {
							found = append(found, vs.Names[i].Name)
						}
					}
				}
			}
		}
	}
	if len(found) == 0 {
		t.Fatal("found no catalogue entries in the source")
	}
	for _, name := range found {
		if _, ok := catalogue[name]; !ok {
			t.Errorf("%s is not in the test's catalogue", name)
		}
	}
	for name := range catalogue {
		if !slices.Contains(found, name) {
			t.Errorf("catalogue lists %s, which errors.go does not declare", name)
		}
	}
}

func TestCatalogueEntries(t *testing.T) {
	codeRE := regexp.MustCompile(`^[a-z][a-z0-9_]*[a-z0-9]$`)
	codes := map[string]string{}
	for name, e := range catalogue {
		if e == nil {
			t.Errorf("%s is nil", name)
			continue
		}
		if !codeRE.MatchString(e.Code) {
			t.Errorf("%s: code %q is not snake_case", name, e.Code)
		}
		if other, ok := codes[e.Code]; ok {
			t.Errorf("%s and %s share the code %q", name, other, e.Code)
		}
		codes[e.Code] = name
		if !hasHan(e.Message) {
			t.Errorf("%s: Chinese message %q has no Chinese", name, e.Message)
		}
		if strings.TrimSpace(e.MessageEN) == "" || hasHan(strings.ReplaceAll(e.MessageEN, "发票云登录App", "")) {
			t.Errorf("%s: English message %q", name, e.MessageEN)
		}
		if e.Cause != nil {
			t.Errorf("%s: a catalogue entry carries a cause", name)
		}
		if !errors.Is(e, e) || e.Error() != e.Code+": "+e.MessageEN {
			t.Errorf("%s: Error() = %q", name, e.Error())
		}
	}
	if ErrNoRelation.Message != "未查询到您与该企业的关联关系信息，请确认录入的信息是否正确！" {
		t.Errorf("ErrNoRelation is not the manual's text: %q", ErrNoRelation.Message)
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

func TestErrorsIs(t *testing.T) {
	wrapped := fmt.Errorf("account %s: %w", "A1", ErrLocked)
	twice := fmt.Errorf("tenant T1: %w", wrapped)
	detailed := fmt.Errorf("login: %w", LockedError(LockWrongCode))
	joined := errors.Join(io.EOF, ErrSMSBudget)
	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"same entry", ErrLocked, ErrLocked, true},
		{"wrapped once", wrapped, ErrLocked, true},
		{"wrapped twice", twice, ErrLocked, true},
		{"detail added with With", detailed, ErrLocked, true},
		{"a copy with the same code", &Error{Code: "locked"}, ErrLocked, true},
		{"different code", wrapped, ErrWrongCode, false},
		{"different code, same text", &Error{Code: "other", Message: ErrLocked.Message, MessageEN: ErrLocked.MessageEN}, ErrLocked, false},
		{"cause through Wrap", ErrBureauUnavailable.Wrap(io.ErrUnexpectedEOF), io.ErrUnexpectedEOF, true},
		{"wrapping keeps the code", ErrBureauUnavailable.Wrap(io.ErrUnexpectedEOF), ErrBureauUnavailable, true},
		{"entry inside another's cause", ErrInternal.Wrap(ErrLocked), ErrLocked, true},
		{"joined", joined, ErrSMSBudget, true},
		{"foreign target", ErrLocked, io.EOF, false},
		{"typed nil target", ErrLocked, (*Error)(nil), false},
		{"nil error", nil, ErrLocked, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := errors.Is(tc.err, tc.target); got != tc.want {
				t.Fatalf("errors.Is(%v, %v) = %v, want %v", tc.err, tc.target, got, tc.want)
			}
		})
	}

	var e *Error
	if !errors.As(twice, &e) || e != ErrLocked {
		t.Errorf("errors.As found %v", e)
	}
}

func TestWithAndWrap(t *testing.T) {
	e := ErrInvalidTaxNo.With("校验位不正确", "wrong check digit")
	if e.Code != ErrInvalidTaxNo.Code || !errors.Is(e, ErrInvalidTaxNo) {
		t.Fatalf("With changed the code: %q", e.Code)
	}
	if e.Message != ErrInvalidTaxNo.Message+"：校验位不正确" || e.MessageEN != "invalid tax number: wrong check digit" {
		t.Errorf("With messages = %q, %q", e.Message, e.MessageEN)
	}
	if ErrInvalidTaxNo.Message != "税号格式不正确，请核对统一社会信用代码" || ErrInvalidTaxNo.MessageEN != "invalid tax number" {
		t.Errorf("With changed the catalogue entry: %+v", ErrInvalidTaxNo)
	}
	if e == ErrInvalidTaxNo {
		t.Error("With returned the catalogue entry itself")
	}
	if same := ErrBusy.With("", ""); same.Message != ErrBusy.Message || same.MessageEN != ErrBusy.MessageEN {
		t.Errorf("empty With changed the messages: %+v", same)
	}
	if zhOnly := ErrBusy.With("细节", ""); zhOnly.MessageEN != ErrBusy.MessageEN || !strings.HasSuffix(zhOnly.Message, "：细节") {
		t.Errorf("With(zh, \"\") = %+v", zhOnly)
	}
	twice := e.With("第二", "second")
	if !strings.HasSuffix(twice.Message, "：校验位不正确：第二") || !errors.Is(twice, ErrInvalidTaxNo) {
		t.Errorf("With twice = %q", twice.Message)
	}

	cause := errors.New("dial tcp: connection refused")
	w := ErrBureauUnavailable.With("超时", "timeout").Wrap(cause)
	if w.Code != ErrBureauUnavailable.Code || !errors.Is(w, cause) || errors.Unwrap(w) != cause {
		t.Fatalf("Wrap lost the code or the cause: %+v", w)
	}
	if strings.Contains(w.Message, "connection refused") {
		t.Errorf("the cause reached the user message: %q", w.Message)
	}
	if want := "bureau_unavailable: the tax bureau is unavailable, try again later: timeout: dial tcp: connection refused"; w.Error() != want {
		t.Errorf("Error() = %q, want %q", w.Error(), want)
	}
	if ErrBureauUnavailable.Cause != nil {
		t.Error("Wrap changed the catalogue entry")
	}
}

func TestAsError(t *testing.T) {
	if AsError(nil) != nil {
		t.Fatal("AsError(nil) is not nil")
	}
	secretCause := errors.New("open /var/lib/etaxd/key: permission denied")
	tests := []struct {
		name     string
		err      error
		wantCode string
	}{
		{"catalogue entry", ErrLocked, "locked"},
		{"with detail", ErrInvalidTaxNo.With("为空", "empty"), "invalid_tax_no"},
		{"wrapped entry", fmt.Errorf("ctx: %w", ErrWrongCode), "wrong_code"},
		{"foreign", secretCause, "internal"},
		{"foreign wrapped", fmt.Errorf("persist: %w", secretCause), "internal"},
		{"io.EOF", io.EOF, "internal"},
		{"os error", &os.PathError{Op: "open", Path: "/x", Err: os.ErrPermission}, "internal"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := AsError(tc.err)
			if e == nil || e.Code != tc.wantCode {
				t.Fatalf("AsError(%v) = %+v, want code %s", tc.err, e, tc.wantCode)
			}
			if !errors.Is(e, tc.err) && !errors.Is(tc.err, e) {
				t.Errorf("AsError(%v) lost the link to the original", tc.err)
			}
			if tc.wantCode == "internal" {
				if e.Message != ErrInternal.Message || e.MessageEN != ErrInternal.MessageEN {
					t.Errorf("internal text reached the messages: %q / %q", e.Message, e.MessageEN)
				}
				if !errors.Is(e, ErrInternal) {
					t.Error("not ErrInternal")
				}
			}
		})
	}
	if ErrInternal.Cause != nil {
		t.Error("AsError changed ErrInternal")
	}
}

func TestLockedErrorAndInvalid(t *testing.T) {
	for _, r := range []LockReason{LockWrongPassword, LockWrongCode, LockCodeTimeout} {
		e := LockedError(r)
		if !errors.Is(e, ErrLocked) || !strings.Contains(e.Message, r.Text()) || !strings.Contains(e.MessageEN, string(r)) {
			t.Errorf("LockedError(%s) = %+v", r, e)
		}
	}
	e := Invalid("username", "用户名不能为空")
	if !errors.Is(e, ErrInvalidInput) || !strings.Contains(e.Message, "用户名不能为空") || !strings.Contains(e.MessageEN, "username") {
		t.Errorf("Invalid = %+v", e)
	}
}
