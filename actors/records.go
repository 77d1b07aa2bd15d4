// records.go: store keys, the persisted records and the sealing of their secrets.

package actors

import (
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// Store keys, built on the prefixes of persistence/keys.go, which names the
// one writer of each (persistence.KeyOwners).
func keyTenant(t string) string          { return persistence.PrefixTenant + t }
func keyAccount(t, a string) string      { return persistence.PrefixAccount + t + "/" + a }
func keyAccountRef(t, a string) string   { return persistence.PrefixAccountRef + t + "/" + a }
func prefixAccountRefs(t string) string  { return persistence.PrefixAccountRef + t + "/" }
func keyActivation(hash string) string   { return persistence.PrefixActivation + hash }
func keyWeChatUser(openid string) string { return persistence.PrefixWeChatUser + openid }
func keySMSBudget(region, person string) string {
	return persistence.PrefixSMSBudget + region + "/" + person
}

// Sealer encrypts secrets before they reach the store (persistence.Keyring).
type Sealer interface {
	Seal(plaintext []byte, aad string) ([]byte, error)
	Open(sealed []byte, aad string) ([]byte, error)
}

// tenantRecord is the tenant actor's persisted state: what spans accounts.
type tenantRecord struct {
	ID             string                       `json:"id"`
	Name           string                       `json:"name"`
	ActivationHash string                       `json:"activation_hash"`
	Linked         map[string]time.Time         `json:"linked"` // openid → linked at (F1)
	Enterprises    map[string]*enterpriseRecord `json:"enterprises"`
	CreatedAt      time.Time                    `json:"created_at"`
}

type enterpriseRecord struct {
	TaxNo    string               `json:"tax_no"`
	Name     string               `json:"name"`
	Region   string               `json:"region"`
	Legacy   bool                 `json:"legacy"`
	Admins   map[string]time.Time `json:"admins"` // openid → since (F9)
	Defaults domain.Defaults      `json:"defaults"`
}

// accountRef is the tenant's index entry of an account: the attributes that
// never change after it is added, plus the WeChat binding, which is a
// relation between a tenant's user and an account and so belongs to the
// tenant (F2, F4, F7, F8 all span accounts).
type accountRef struct {
	ID        string           `json:"id"`
	TaxNo     string           `json:"tax_no"`
	Region    string           `json:"region"`
	Username  string           `json:"username"`
	PersonID  string           `json:"person_id"`
	Role      domain.Role      `json:"role"`
	Business  domain.Business  `json:"business"`
	LoginType domain.LoginType `json:"login_type"`
	BoundTo   string           `json:"bound_to,omitempty"`
	// Unreachable: the bound user unfollowed the official account, so
	// WeChat cannot deliver to them; prompts go as login links (F16).
	Unreachable bool      `json:"unreachable,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	// rev is the entry's revision in the store (0: not stored yet); not
	// part of the stored entry. The tenant sets it when it stores the
	// entry, before anyone else sees it; an entry is never changed after
	// that (a change is a new entry).
	rev uint64
}

// accountRecord is the account actor's persisted state. Secrets are sealed
// with the record key as associated data, so a sealed value cannot be moved
// to another account.
type accountRecord struct {
	ID             string                            `json:"id"`
	Tenant         string                            `json:"tenant"`
	SealedPassword []byte                            `json:"password"`
	PhoneMasked    string                            `json:"phone_masked,omitempty"`
	Lock           domain.LockState                  `json:"lock"`
	Channels       map[domain.Channel]*channelRecord `json:"channels,omitempty"`
	CertifiedUntil time.Time                         `json:"certified_until,omitempty"`
	LastCodeAt     time.Time                         `json:"last_code_at,omitempty"`
	UpdatedAt      time.Time                         `json:"updated_at"`
}

type channelRecord struct {
	SealedToken []byte    `json:"token"`
	ObtainedAt  time.Time `json:"obtained_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// accountState is the account's state in memory, secrets open.
type accountState struct {
	password       domain.Secret
	sealedPassword []byte // password sealed, cached; nil after a change
	phoneMasked    string
	lock           domain.LockState
	sessions       sessionSet
	certifiedUntil time.Time
	lastCodeAt     time.Time
}

// sessionSet is an account's sessions, at most one per channel: most
// accounts have one, some two. It is a value that is never written once
// made — with and without return a new set — so a state and its clone,
// and the snapshot published to other goroutines, share one without
// copying it. (A map per state and one per snapshot cost 1.9 KiB per
// active account.)
type sessionSet struct{ list []channelSession }

type channelSession struct {
	ch domain.Channel
	session
}

// get returns the channel's session and whether there is one.
func (s sessionSet) get(ch domain.Channel) (session, bool) {
	for _, e := range s.list {
		if e.ch == ch {
			return e.session, true
		}
	}
	return session{}, false
}

func (s sessionSet) len() int { return len(s.list) }

// all yields the sessions, each channel once.
func (s sessionSet) all() iter.Seq2[domain.Channel, session] {
	return func(yield func(domain.Channel, session) bool) {
		for _, e := range s.list {
			if !yield(e.ch, e.session) {
				return
			}
		}
	}
}

// with returns the set with the channel's session se, replaced if it had one.
func (s sessionSet) with(ch domain.Channel, se session) sessionSet {
	list := make([]channelSession, 0, len(s.list)+1)
	for _, e := range s.list {
		if e.ch != ch {
			list = append(list, e)
		}
	}
	return sessionSet{list: append(list, channelSession{ch: ch, session: se})}
}

// without returns the set without the channel's session.
func (s sessionSet) without(ch domain.Channel) sessionSet {
	if _, has := s.get(ch); !has {
		return s
	}
	var list []channelSession
	for _, e := range s.list {
		if e.ch != ch {
			list = append(list, e)
		}
	}
	return sessionSet{list: list}
}

type session struct {
	sealed     []byte // token sealed, cached
	token      domain.Secret
	obtainedAt time.Time
	expiresAt  time.Time
}

func (s session) alive(now time.Time) bool { return !s.token.IsZero() && now.Before(s.expiresAt) }

func encodeAccount(seal Sealer, tenant, id string, st *accountState, now time.Time) ([]byte, error) {
	return encodeAccountAt(seal, keyAccount(tenant, id), tenant, id, st, now)
}

// encodeAccountAt is encodeAccount given the record key (keyAccount(tenant,
// id)), which is the secrets' associated data.
func encodeAccountAt(seal Sealer, aad, tenant, id string, st *accountState, now time.Time) ([]byte, error) {
	// Sealed values are cached: a state change that keeps the secrets (most
	// of them) costs no encryption.
	if st.sealedPassword == nil {
		pw, err := seal.Seal([]byte(st.password.Reveal()), aad)
		if err != nil {
			return nil, fmt.Errorf("seal password: %w", err)
		}
		st.sealedPassword = pw
	}
	rec := accountRecord{
		ID: id, Tenant: tenant, SealedPassword: st.sealedPassword, PhoneMasked: st.phoneMasked,
		Lock: st.lock, CertifiedUntil: st.certifiedUntil, LastCodeAt: st.lastCodeAt, UpdatedAt: now,
	}
	// The channels on the stack, not in rec.Channels' map: this runs on
	// every change (appendAccountRecordChans).
	var entries [2]chanEntry
	chans := entries[:0]
	for ch, s := range st.sessions.all() {
		if s.token.IsZero() {
			continue
		}
		if s.sealed == nil {
			tok, err := seal.Seal([]byte(s.token.Reveal()), aad+"#"+string(ch))
			if err != nil {
				return nil, fmt.Errorf("seal token: %w", err)
			}
			s.sealed = tok
			st.sessions = st.sessions.with(ch, s)
		}
		chans = append(chans, chanEntry{ch: ch, rec: channelRecord{SealedToken: s.sealed, ObtainedAt: s.obtainedAt, ExpiresAt: s.expiresAt}})
	}
	return appendAccountRecordChans(make([]byte, 0, accountRecordSize), &rec, chans)
}

// accountRecordSize is room for a typical encoded account record (a sealed
// password and one or two sealed tokens), so encoding it allocates once.
const accountRecordSize = 640

func decodeAccount(seal Sealer, tenant, id string, b []byte) (*accountState, error) {
	var rec accountRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("decode account %s: %w", id, err)
	}
	aad := keyAccount(tenant, id)
	pw, err := seal.Open(rec.SealedPassword, aad)
	if err != nil {
		return nil, fmt.Errorf("open password of %s: %w", id, err)
	}
	st := &accountState{
		password: domain.NewSecret(string(pw)), sealedPassword: rec.SealedPassword, phoneMasked: rec.PhoneMasked, lock: rec.Lock,
		certifiedUntil: rec.CertifiedUntil, lastCodeAt: rec.LastCodeAt,
	}
	for ch, c := range rec.Channels {
		tok, err := seal.Open(c.SealedToken, aad+"#"+string(ch))
		if err != nil {
			return nil, fmt.Errorf("open token of %s: %w", id, err)
		}
		st.sessions = st.sessions.with(ch, session{sealed: c.SealedToken, token: domain.NewSecret(string(tok)), obtainedAt: c.ObtainedAt, expiresAt: c.ExpiresAt})
	}
	return st, nil
}
