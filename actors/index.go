// index.go: the tenant's account index in memory: loading it from the
// store's accref/ entries, each decoded once, with the strings that repeat
// across entries shared.

package actors

import (
	"unicode/utf8"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// indexLoader decodes a tenant's index entries. Its strings table makes the
// values that repeat across a tenant's entries — tax number, region, role,
// login type, the bound openid — one string each, not one per entry; it
// lives only while the index loads.
type indexLoader struct {
	refs    map[string]*accountRef
	strings map[string]string
}

func newIndexLoader() *indexLoader {
	return &indexLoader{refs: map[string]*accountRef{}, strings: map[string]string{}}
}

// add decodes one stored entry, rev its revision, into the index.
func (l *indexLoader) add(r persistence.Record) error {
	ref, err := l.decode(r.Value)
	if err != nil {
		return err
	}
	ref.rev = r.Revision
	l.refs[ref.ID] = ref
	return nil
}

// decode reads an index entry as encoding/json reads it into an
// accountRef: the common shape (a flat object of our own keys, their values
// plain strings without escapes, valid UTF-8, and unreachable a boolean)
// directly, anything else — escapes, unknown or differently cased keys,
// nulls, malformed input — through encoding/json itself.
func (l *indexLoader) decode(b []byte) (*accountRef, error) {
	ref := &accountRef{}
	if !l.decodePlain(b, ref) {
		*ref = accountRef{}
		if err := jsonUnmarshal(b, ref); err != nil {
			return nil, err
		}
		ref.ID, ref.Username, ref.PersonID = packStrings(ref.ID, ref.Username, ref.PersonID)
	}
	ref.TaxNo, ref.Region, ref.BoundTo = l.intern(ref.TaxNo), l.intern(ref.Region), l.intern(ref.BoundTo)
	ref.Role, ref.LoginType = domain.Role(l.intern(string(ref.Role))), domain.LoginType(l.intern(string(ref.LoginType)))
	return ref, nil
}

// intern returns the table's string equal to s, adding s.
func (l *indexLoader) intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := l.strings[s]; ok {
		return v
	}
	l.strings[s] = s
	return s
}

// internBytes is intern for a value still in the input; a new value is
// copied into a string of its own.
func (l *indexLoader) internBytes(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if v, ok := l.strings[string(b)]; ok {
		return v
	}
	s := string(b)
	l.strings[s] = s
	return s
}

// packStrings returns a, b and c sharing one allocation: the entry's own
// values (id, username, person id) live as long as the entry does.
func packStrings(a, b, c string) (string, string, string) {
	s := a + b + c
	return s[:len(a)], s[len(a) : len(a)+len(b)], s[len(a)+len(b):]
}

// decodePlain decodes b into ref (zero) when b has the common shape, and
// reports whether it had. A false leaves ref in any state.
func (l *indexLoader) decodePlain(b []byte, ref *accountRef) bool {
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	var id, username, personID []byte
	var haveID, haveUser, havePerson bool
	for {
		key, j, ok := plainString(b, i)
		if !ok {
			return false
		}
		i = skipSpace(b, j)
		if i == len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		if string(key) == "unreachable" {
			switch {
			case hasPrefix(b[i:], "true"):
				ref.Unreachable, i = true, i+4
			case hasPrefix(b[i:], "false"):
				ref.Unreachable, i = false, i+5
			default:
				return false
			}
		} else {
			v, j, ok := plainString(b, i)
			if !ok {
				return false
			}
			i = j
			switch string(key) {
			case "id":
				id, haveID = v, true
			case "tax_no":
				ref.TaxNo = l.internBytes(v)
			case "region":
				ref.Region = l.internBytes(v)
			case "username":
				username, haveUser = v, true
			case "person_id":
				personID, havePerson = v, true
			case "role":
				ref.Role = domain.Role(l.internBytes(v))
			case "business":
				if ref.Business.UnmarshalText(v) != nil {
					return false
				}
			case "login_type":
				ref.LoginType = domain.LoginType(l.internBytes(v))
			case "bound_to":
				ref.BoundTo = l.internBytes(v)
			case "created_at":
				if ref.CreatedAt.UnmarshalText(v) != nil {
					return false
				}
			default:
				return false
			}
		}
		// The values of a key given twice: the last one, as encoding/json.
		i = skipSpace(b, i)
		if i == len(b) {
			return false
		}
		if b[i] == '}' {
			break
		}
		if b[i] != ',' {
			return false
		}
		i = skipSpace(b, i+1)
	}
	if skipSpace(b, i+1) != len(b) {
		return false
	}
	if !haveID || !haveUser || !havePerson {
		// Not our own shape; each is written on every entry.
		return false
	}
	s := string(id) + string(username) + string(personID)
	n, m := len(id), len(id)+len(username)
	ref.ID, ref.Username, ref.PersonID = s[:n], s[n:m], s[m:]
	return true
}

// plainString reads the JSON string at b[i]: its contents and the index
// after it, ok only for a string without escapes or control characters
// whose bytes are valid UTF-8 (what encoding/json reads as the same bytes).
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	ascii := true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			v := b[i+1 : j]
			if !ascii && !utf8.Valid(v) {
				return nil, 0, false
			}
			return v, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }
