package taxbureau

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/etaxd/etaxd/domain"
)

// IDTypeResidentCard is the code of the 居民身份证, the identity document
// assumed when a Person or a ResetRequest names none.
const IDTypeResidentCard = "201"

// Person is a natural person (自然人) registered at the simulated bureau: the
// human behind credentials. Username, Phone and IDNumber all work as a login
// name, compared without case and surrounding spaces, and each belongs to one
// person only. The password is the person's, shared by all their enterprises.
type Person struct {
	// ID is the opaque, stable PersonID the bureau reports. AddPerson keeps a
	// preset ID and otherwise derives one from the ID number (or, without
	// one, the username), so a reseeded simulator gives the same ids.
	ID        string
	Name      string
	IDType    string // "201" 居民身份证 when empty
	IDNumber  string
	Phone     string // 11-digit mainland mobile; receives the SMS codes
	Username  string
	Password  string // not checked against the policy: legacy passwords exist
	Relations []Relation
}

// person is a Person plus the bureau's per-person password lock.
type person struct {
	Person
	wrongPasswords int    // consecutive wrong passwords on wrongDay
	wrongDay       string // domain.Day of the last wrong password
	lockedDay      string // domain.Day the password is locked for, "" when not
}

// loginKeys are the names a person logs in with, as domain.LoginKey keys
// them: usernames, phones and ID numbers compare without case and
// surrounding spaces.
func (p *Person) loginKeys() []string {
	var ks []string
	for _, s := range []string{p.Username, p.Phone, p.IDNumber} {
		if k := domain.LoginKey(s); k != "" && !slices.Contains(ks, k) {
			ks = append(ks, k)
		}
	}
	return ks
}

func (p Person) clone() Person {
	p.Relations = slices.Clone(p.Relations)
	return p
}

// validate reports the first problem of p as a domain.ErrInvalidInput.
func (p *Person) validate() error {
	if strings.TrimSpace(p.Username) == "" {
		return domain.Invalid("username", "用户名不能为空")
	}
	if p.Password == "" {
		return domain.Invalid("password", "密码不能为空")
	}
	if !domain.ValidPhone(p.Phone) {
		return domain.ErrInvalidPhone
	}
	seen := make(map[string]bool, len(p.Relations))
	for _, r := range p.Relations {
		if strings.TrimSpace(r.TaxNo) == "" {
			return domain.Invalid("relations.tax_no", "税号不能为空")
		}
		if r.Role.Name() == "" {
			return domain.ErrInvalidRole
		}
		if seen[r.TaxNo] {
			return domain.Invalid("relations.tax_no", "同一企业只能有一个身份")
		}
		seen[r.TaxNo] = true
	}
	return nil
}

// relation returns the person's relation to taxNo as seen from region, with
// the region filled in. A relation that names a region matches only that
// region (or a request naming none); one that names none takes the request's.
func (p *Person) relation(taxNo, region string) (Relation, bool) {
	for _, r := range p.Relations {
		if r.TaxNo != taxNo {
			continue
		}
		if r.Region != "" && region != "" && r.Region != region {
			return Relation{}, false
		}
		if r.Region == "" {
			r.Region = region
		}
		return r, true
	}
	return Relation{}, false
}

// sameIdentity reports whether the document in a reset request is the
// person's.
func (p *Person) sameIdentity(idType, idNumber string) bool {
	want := p.IDType
	if want == "" {
		want = IDTypeResidentCard
	}
	if idType == "" {
		idType = IDTypeResidentCard
	}
	return p.IDNumber != "" && strings.TrimSpace(idType) == want &&
		domain.LoginKey(idNumber) == domain.LoginKey(p.IDNumber)
}

// derivedID is the default PersonID: a short hash of the ID number, or of the
// username when the person has none.
func derivedID(p *Person) string {
	src := "id:" + domain.LoginKey(p.IDNumber)
	if p.IDNumber == "" {
		src = "user:" + domain.LoginKey(p.Username)
	}
	sum := sha256.Sum256([]byte(src))
	return "P" + hex.EncodeToString(sum[:6])
}

// AddPerson registers a natural person. It fails with domain.ErrInvalidInput
// (or domain.ErrInvalidPhone, domain.ErrInvalidRole) for an incomplete person
// and with ErrPersonExists when a login name or the id is taken.
func (s *Simulator) AddPerson(p Person) error {
	p = p.clone()
	if p.IDNumber != "" && p.IDType == "" {
		p.IDType = IDTypeResidentCard
	}
	if err := p.validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.ID == "" {
		p.ID = derivedID(&p)
		// An ID number moved away by UpdatePerson may collide; keep ids unique.
		for i := 2; s.persons[p.ID] != nil; i++ {
			p.ID = fmt.Sprintf("%s-%d", derivedID(&p), i)
		}
	}
	if s.persons[p.ID] != nil {
		return fmt.Errorf("add person %s: %w", p.ID, ErrPersonExists)
	}
	if err := s.checkLoginKeys(&p, ""); err != nil {
		return err
	}
	s.persons[p.ID] = &person{Person: p}
	for _, k := range p.loginKeys() {
		s.logins[k] = p.ID
	}
	if err := s.savePersons(); err != nil {
		delete(s.persons, p.ID)
		for _, k := range p.loginKeys() {
			delete(s.logins, k)
		}
		return fmt.Errorf("add person %s: %w", p.ID, err)
	}
	return nil
}

// KeepPersons makes save part of every change of a person: AddPerson,
// UpdatePerson (and so SetPassword, AddRelation, RemoveRelation) and a
// completed reset (CompleteReset) call it with every person, sorted by id,
// before the change is acknowledged or seen by any other call. When save
// fails the change is undone and the call fails with save's error;
// CompleteReset wraps it in domain.ErrBureauUnavailable and keeps the
// challenge, so the person may try the same code again. The per-day
// password lock is not a person's record and is not saved.
//
// save runs under the simulator's lock: it must not call the simulator.
// Register it once, before the simulator serves, after loading what an
// earlier save kept (DecodePersons, AddPerson).
func (s *Simulator) KeepPersons(save func([]Person) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.save = save
}

// savePersons hands every person to the KeepPersons function, if any. The
// caller holds s.mu.
func (s *Simulator) savePersons() error {
	if s.save == nil {
		return nil
	}
	if err := s.save(s.personsLocked()); err != nil {
		return fmt.Errorf("save persons: %w", err)
	}
	return nil
}

// personsLocked returns a copy of every person, by id. The caller holds
// s.mu.
func (s *Simulator) personsLocked() []Person {
	ps := make([]Person, 0, len(s.persons))
	for _, p := range s.persons {
		ps = append(ps, p.Person.clone())
	}
	slices.SortFunc(ps, func(a, b Person) int { return strings.Compare(a.ID, b.ID) })
	return ps
}

// checkLoginKeys reports ErrPersonExists when a login name of p belongs to a
// person other than self. The caller holds s.mu.
func (s *Simulator) checkLoginKeys(p *Person, self string) error {
	for _, k := range p.loginKeys() {
		if id, ok := s.logins[k]; ok && id != self {
			return fmt.Errorf("login name %q: %w", k, ErrPersonExists)
		}
	}
	return nil
}

// UpdatePerson changes the person with id through f, which edits a copy.
// The id stays; the password lock stays unless the password changed. It
// fails like AddPerson, or with ErrUnknownPerson.
func (s *Simulator) UpdatePerson(id string, f func(*Person)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.persons[id]
	if old == nil {
		return fmt.Errorf("update person %s: %w", id, ErrUnknownPerson)
	}
	p := old.Person.clone()
	f(&p)
	p.ID = id
	if p.IDNumber != "" && p.IDType == "" {
		p.IDType = IDTypeResidentCard
	}
	if err := p.validate(); err != nil {
		return err
	}
	if err := s.checkLoginKeys(&p, id); err != nil {
		return err
	}
	prev := *old
	relogin := func(from, to *Person) {
		for _, k := range from.loginKeys() {
			delete(s.logins, k)
		}
		for _, k := range to.loginKeys() {
			s.logins[k] = id
		}
	}
	relogin(&prev.Person, &p)
	if p.Password != old.Password {
		old.clearLock()
	}
	old.Person = p
	if err := s.savePersons(); err != nil {
		relogin(&p, &prev.Person)
		*old = prev
		return fmt.Errorf("update person %s: %w", id, err)
	}
	return nil
}

// SetPassword changes the password of the person logging in as username, as
// if they changed it on the bureau's own site (F12). The policy is not
// checked; the password lock is cleared.
func (s *Simulator) SetPassword(username, password string) error {
	id, err := s.personID(username)
	if err != nil {
		return err
	}
	return s.UpdatePerson(id, func(p *Person) { p.Password = password })
}

// AddRelation grants the person logging in as username a role on an
// enterprise (the grant counts as confirmed). A relation to the same tax
// number is replaced.
func (s *Simulator) AddRelation(username string, r Relation) error {
	id, err := s.personID(username)
	if err != nil {
		return err
	}
	return s.UpdatePerson(id, func(p *Person) {
		p.Relations = slices.DeleteFunc(p.Relations, func(x Relation) bool { return x.TaxNo == r.TaxNo })
		p.Relations = append(p.Relations, r)
	})
}

// RemoveRelation ends the relation of the person logging in as username to
// taxNo. Live sessions stay. It returns domain.ErrNoRelation when there was
// none.
func (s *Simulator) RemoveRelation(username, taxNo string) error {
	id, err := s.personID(username)
	if err != nil {
		return err
	}
	found := false
	err = s.UpdatePerson(id, func(p *Person) {
		n := len(p.Relations)
		p.Relations = slices.DeleteFunc(p.Relations, func(x Relation) bool { return x.TaxNo == taxNo })
		found = len(p.Relations) < n
	})
	if err == nil && !found {
		return domain.ErrNoRelation
	}
	return err
}

// FindPerson returns a copy of the person logging in as login (username,
// phone or ID number) or with that id.
func (s *Simulator) FindPerson(login string) (Person, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookup(login)
	if p == nil {
		p = s.persons[login]
	}
	if p == nil {
		return Person{}, false
	}
	return p.Person.clone(), true
}

// Persons returns a copy of every registered person, by id.
func (s *Simulator) Persons() []Person {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.personsLocked()
}

// PasswordLocked reports whether the password of the person logging in as
// username is locked at the bureau today.
func (s *Simulator) PasswordLocked(username string) bool {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.lookup(username)
	return p != nil && p.locked(now)
}

func (s *Simulator) personID(login string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.lookup(login); p != nil {
		return p.ID, nil
	}
	return "", fmt.Errorf("person %q: %w", login, ErrUnknownPerson)
}

// lookup finds a person by any login name. The caller holds s.mu.
func (s *Simulator) lookup(login string) *person {
	k := domain.LoginKey(login)
	if k == "" {
		return nil
	}
	return s.persons[s.logins[k]]
}
