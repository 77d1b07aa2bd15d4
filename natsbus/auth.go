package natsbus

import (
	"crypto/subtle"

	"github.com/nats-io/nats-server/v2/server"
)

// ERP permissions on the embedded server's client port (nats.listen): an
// ERP may send requests to etaxd's NATS API (ERPPublish) and receive their
// replies and the tenants' events (ERPSubscribe). Nothing else: not the
// JetStream API ($JS.>, so no stream, consumer or bucket can be read,
// changed or deleted), not the prompt and webhook subjects, not the
// cluster-internal _ETAXD.> subjects, and no publishing of events.
var (
	ERPPublish   = []string{"etaxd.api.>"}
	ERPSubscribe = []string{"_INBOX.>", "etaxd.events.>"}
)

// clientAuth authenticates the clients of an embedded server that listens.
// Two kinds of client exist: etaxd's own in-process connection, with a
// random token made at start that never leaves the process, which gets
// every permission; and the ERPs, with the configured token or user and
// password, which get the ERP permissions only. Credentials are compared
// in constant time.
type clientAuth struct {
	internal string // the in-process connection's token
	erpToken string
	erpUser  string
	erpPass  string
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// Check implements server.Authentication.
func (a *clientAuth) Check(c server.ClientAuthentication) bool {
	o := c.GetOpts()
	switch {
	case o.Token != "" && equal(o.Token, a.internal):
		c.RegisterUser(&server.User{Username: "etaxd"})
		return true
	case a.erpToken != "" && o.Token != "" && equal(o.Token, a.erpToken),
		a.erpUser != "" && o.Username != "" && equal(o.Username, a.erpUser) && equal(o.Password, a.erpPass):
		c.RegisterUser(&server.User{Username: "erp", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: ERPPublish},
			Subscribe: &server.SubjectPermission{Allow: ERPSubscribe},
		}})
		return true
	}
	return false
}
