package domain

import (
	"fmt"
	"sync"
)

// Kind is what sort of refusal an Error is. Each catalogue entry has one;
// the HTTP surfaces turn it into a status (internal/errbody), so no surface
// decides from the code's spelling.
type Kind uint8

// The kinds. KindUnknown is the zero value: an Error built by hand whose
// code is not in the catalogue.
const (
	KindUnknown Kind = iota
	// KindInvalid: the request itself is wrong (a field, the body).
	KindInvalid
	// KindUnauthenticated: the caller is not who it must prove to be.
	KindUnauthenticated
	// KindForbidden: the caller may not do this.
	KindForbidden
	// KindNotFound: absent, or of another tenant.
	KindNotFound
	// KindConflict: the current state forbids it until someone acts.
	KindConflict
	// KindGone: something the caller refers to ran out.
	KindGone
	// KindRejected: well-formed, but the rules or the tax bureau refused
	// the content.
	KindRejected
	// KindLocked: the account or its password is locked.
	KindLocked
	// KindRateLimited: a rate or a budget is spent; it lifts with time.
	KindRateLimited
	// KindUnavailable: etaxd or the bureau cannot serve now.
	KindUnavailable
	// KindInternal: etaxd failed; the cause is in the log only.
	KindInternal
)

var kindNames = [...]string{"unknown", "invalid", "unauthenticated", "forbidden", "not_found", "conflict", "gone",
	"rejected", "locked", "rate_limited", "unavailable", "internal"}

// String returns the kind's name in snake_case.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// catalogue is every entry built with Declare, in declaration order, and
// the same by code. Package-level variables fill it during initialisation;
// the lock is for readers that run later, concurrently.
var catalogue struct {
	sync.RWMutex
	list   []*Error
	byCode map[string]*Error
}

// Declare builds a catalogue entry and adds it to the catalogue that
// Catalogue lists. Use it for package-level variables only: this package's
// entries, and those of the packages that own failures outside the domain
// (the API's transport errors). It panics on a missing kind or code, and
// on a code declared twice: codes are what clients match on.
func Declare(kind Kind, code, zh, en string) *Error {
	if kind == KindUnknown || int(kind) >= len(kindNames) || code == "" {
		panic(fmt.Sprintf("domain: catalogue entry %q without a kind or a code", code))
	}
	e := &Error{Code: code, Message: zh, MessageEN: en, Kind: kind}
	catalogue.Lock()
	defer catalogue.Unlock()
	if _, dup := catalogue.byCode[code]; dup {
		panic(fmt.Sprintf("domain: catalogue code %q declared twice", code))
	}
	if catalogue.byCode == nil {
		catalogue.byCode = map[string]*Error{}
	}
	catalogue.byCode[code] = e
	catalogue.list = append(catalogue.list, e)
	return e
}

// Catalogue returns every catalogue entry declared so far, in declaration
// order: the domain's, then those of the packages linked in that declare
// their own (after their initialisation).
func Catalogue() []*Error {
	catalogue.RLock()
	defer catalogue.RUnlock()
	return append([]*Error(nil), catalogue.list...)
}

// Entry returns the catalogue entry with code, if any.
func Entry(code string) (*Error, bool) {
	catalogue.RLock()
	defer catalogue.RUnlock()
	e, ok := catalogue.byCode[code]
	return e, ok
}

// KindOf returns e's kind: its own, else its code's in the catalogue (an
// error rebuilt from a code, e.g. off the gateway wire), else KindUnknown.
func KindOf(e *Error) Kind {
	if e == nil {
		return KindUnknown
	}
	if e.Kind != KindUnknown {
		return e.Kind
	}
	if c, ok := Entry(e.Code); ok {
		return c.Kind
	}
	return KindUnknown
}
