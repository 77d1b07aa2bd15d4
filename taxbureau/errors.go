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
