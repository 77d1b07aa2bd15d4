package domain

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
)

// TestCatalogueComplete: every entry of the catalogue has a kind and is
// found by its code; Declare refuses an entry without a kind or with a code
// already taken.
func TestCatalogueComplete(t *testing.T) {
	all := Catalogue()
	if len(all) < 50 {
		t.Fatalf("Catalogue lists %d entries", len(all))
	}
	for _, want := range []*Error{ErrInvalidInput, ErrLocked, ErrSMSTooFrequent, ErrBusy, ErrInternal} {
		if !slices.Contains(all, want) {
			t.Errorf("Catalogue lacks %s", want.Code)
		}
	}
	for _, e := range all {
		if e.Kind == KindUnknown || strings.HasPrefix(e.Kind.String(), "kind(") {
			t.Errorf("%s: kind %v", e.Code, e.Kind)
		}
		if got, ok := Entry(e.Code); !ok || got != e {
			t.Errorf("Entry(%s) = %v, %v", e.Code, got, ok)
		}
		if KindOf(&Error{Code: e.Code}) != e.Kind || KindOf(e.With("细节", "detail")) != e.Kind {
			t.Errorf("KindOf lost the kind of %s", e.Code)
		}
	}
	if _, ok := Entry("no_such_code"); ok || KindOf(&Error{Code: "no_such_code"}) != KindUnknown || KindOf(nil) != KindUnknown {
		t.Error("an unknown code has a kind")
	}
	for name, declare := range map[string]func(){
		"twice":   func() { Declare(KindInvalid, ErrInvalidInput.Code, "重复", "again") },
		"no kind": func() { Declare(KindUnknown, "kindless_entry", "无类", "no kind") },
		"no code": func() { Declare(KindInvalid, "", "无码", "no code") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Declare %s did not panic", name)
				}
			}()
			declare()
		}()
	}
	if len(Catalogue()) != len(all) {
		t.Error("a refused Declare changed the catalogue")
	}
}

func TestCatalogueEntries(t *testing.T) {
	codeRE := regexp.MustCompile(`^[a-z][a-z0-9_]*[a-z0-9]$`)
	codes := map[string]string{}
	for _, e := range Catalogue() {
		name := e.Code
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
