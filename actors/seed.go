// seed.go: an account's first write, exported for tools that fill a store
// the way the engine does (internal/scale's million accounts).

package actors

import (
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// SeedAccount is an account as F3 registers it (tenantActor.createAccount):
// its fixed attributes, its password and, when the registration logged it
// in, its first session.
type SeedAccount struct {
	// ID is the account's id (NewAccountID); empty: a new one.
	ID                                string
	TaxNo, Region, Username, PersonID string
	Role                              domain.Role
	Business                          domain.Business
	LoginType                         domain.LoginType
	Password                          string
	PhoneMasked                       string
	// Session is the registration's session (on Channel, default issue);
	// nil: registered logged out.
	Session *SeedSession
	// OpenID is who registered it ("" for the API): the audit event's actor.
	OpenID string
}

// SeedSession is a session of a SeedAccount.
type SeedSession struct {
	Channel    domain.Channel
	Token      string
	ObtainedAt time.Time
	ExpiresAt  time.Time
}

// NewAccountID returns a new account id, as the tenant actor makes them.
func NewAccountID() string { return newID("a") }

// SeedAccountWrite returns what createAccount commits for a new account of
// tenant, in the same order and encoding: the account's id, the audit event
// and the ops — the index entry (accref/) and the record with its secrets
// sealed by seal (account/), both expecting an absent key — for one
// Store.CommitAudited. The tenant record and its enterprise must exist
// already (the tenant actor checks that; this does not).
func SeedAccountWrite(seal Sealer, tenant string, a SeedAccount, now time.Time) (string, persistence.AuditEvent, []persistence.Op, error) {
	if a.ID == "" {
		a.ID = NewAccountID()
	}
	ref := &accountRef{ID: a.ID, TaxNo: a.TaxNo, Region: a.Region, Username: a.Username, PersonID: a.PersonID,
		Role: a.Role, Business: a.Business, LoginType: a.LoginType, CreatedAt: now}
	st := &accountState{password: domain.NewSecret(a.Password), phoneMasked: a.PhoneMasked,
		lock: domain.LockState{Hosted: a.LoginType.Hosted()}}
	if s := a.Session; s != nil {
		ch := s.Channel
		if ch == "" {
			ch = domain.ChannelIssue
		}
		st.sessions = st.sessions.with(ch, session{token: domain.NewSecret(s.Token), obtainedAt: s.ObtainedAt, expiresAt: s.ExpiresAt})
	}
	if a.PhoneMasked != "" {
		st.lastCodeAt = now
	}
	b, err := encodeAccount(seal, tenant, ref.ID, st, now)
	if err != nil {
		return "", persistence.AuditEvent{}, nil, err
	}
	ev := persistence.AuditEvent{Time: now, Tenant: tenant, Actor: who(a.OpenID), Action: "account.add", Target: "account/" + ref.ID, Outcome: "ok"}
	ops := []persistence.Op{
		{Key: keyAccountRef(tenant, ref.ID), Value: jsonMarshal(ref)},
		{Key: keyAccount(tenant, ref.ID), Value: b},
	}
	return ref.ID, ev, ops, nil
}
