package taxbureau

import "errors"

// Errors of the simulator's own helpers (seeding persons, the app side of QR
// and face scans). The Gateway methods return domain catalogue errors only;
// these never reach a user of etaxd.
var (
	// ErrPersonExists is returned by AddPerson and UpdatePerson when a
	// username, phone or ID number already belongs to another person, or the
	// person id is taken.
	ErrPersonExists = errors.New("taxbureau: a person with this username, phone, ID number or id already exists")
	// ErrUnknownPerson is returned when no person has the given username,
	// phone, ID number or id.
	ErrUnknownPerson = errors.New("taxbureau: unknown person")
)

// Causes of the gateway Client's domain.ErrBureauUnavailable: the user sees
// that the bureau is unavailable, the log sees why.
var (
	// ErrBreakerOpen is the cause when the Client's circuit breaker refused
	// a call without trying: the bureau failed too often in a row.
	ErrBreakerOpen = errors.New("taxbureau: gateway circuit breaker open")
	// ErrUnauthorized is the cause when the gateway refused the Client's
	// bearer token (HTTP 401): a configuration error, not the bureau's.
	ErrUnauthorized = errors.New("taxbureau: gateway refused the bearer token")
	// ErrBadResponse is the cause when the gateway answered outside the
	// contract: an unexpected status, or a body that is not the contract's
	// JSON.
	ErrBadResponse = errors.New("taxbureau: gateway answered outside the contract")
)
