package kvstore

import (
	"fmt"
	"strings"

	"github.com/etaxd/etaxd/persistence"
)

// Subject layout, under the bucket's subject prefix "$KV.<bucket>.":
//
//	k.<token>.<token>...    a state record; one token per "/"-separated segment of its key
//	a.<tenant token>.<id>   one audit event; id is unique per event (a NUID)
//
// A token is its segment with every byte outside [a-zA-Z0-9-] written as
// "_" and two upper-case hex digits; the empty segment is "=" (a token
// cannot be empty, and no escaped segment is "="). Every token is a valid
// KV key token, the encoding is one to one, and it keeps segment
// boundaries: the keys under "a/b/" are exactly the subjects under
// "k.a.b.>", so a Scan whose prefix ends at a "/" reads only its subtree.
const (
	stateToken = "k"
	auditToken = "a"
	emptyToken = "="
)

// safeByte reports whether c stands for itself in a token.
func safeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

const hexDigits = "0123456789ABCDEF"

// encodeToken writes segment s as one subject token.
func encodeToken(b *strings.Builder, s string) {
	if s == "" {
		b.WriteString(emptyToken)
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safeByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
}

// decodeToken reverses encodeToken.
func decodeToken(b *strings.Builder, tok string) error {
	if tok == emptyToken {
		return nil
	}
	if tok == "" {
		return fmt.Errorf("empty token")
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		switch {
		case safeByte(c):
			b.WriteByte(c)
		case c == '_' && i+2 < len(tok):
			hi, lo := unhex(tok[i+1]), unhex(tok[i+2])
			if hi < 0 || lo < 0 {
				return fmt.Errorf("bad escape in token %q", tok)
			}
			b.WriteByte(byte(hi<<4 | lo))
			i += 2
		default:
			return fmt.Errorf("bad byte %q in token %q", c, tok)
		}
	}
	return nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// encodeSegments appends the tokens of segs, each followed by ".".
func encodeSegments(b *strings.Builder, segs []string) {
	for _, s := range segs {
		encodeToken(b, s)
		b.WriteByte('.')
	}
}

// checkKey returns an error wrapping persistence.ErrInvalidKey for a key the
// Store refuses: empty, or longer than persistence.MaxKeyLen.
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", persistence.ErrInvalidKey)
	}
	if len(key) > persistence.MaxKeyLen {
		return fmt.Errorf("%w: key %s is %d bytes long (limit %d)", persistence.ErrInvalidKey, shortKey(key), len(key), persistence.MaxKeyLen)
	}
	return nil
}

// checkTenant returns an error wrapping persistence.ErrInvalidKey for an
// audit tenant the Store refuses, as Bolt does: one longer than MaxKeyLen or
// holding a NUL byte. The empty tenant is valid.
func checkTenant(tenant string) error {
	if len(tenant) > persistence.MaxKeyLen {
		return fmt.Errorf("%w: audit tenant %s is %d bytes long (limit %d)", persistence.ErrInvalidKey, shortKey(tenant), len(tenant), persistence.MaxKeyLen)
	}
	if strings.IndexByte(tenant, 0) >= 0 {
		return fmt.Errorf("%w: audit tenant %s contains a NUL byte", persistence.ErrInvalidKey, shortKey(tenant))
	}
	return nil
}

// shortKey quotes key for an error message, cut to a readable length.
func shortKey(key string) string {
	const max = 64
	if len(key) > max {
		return fmt.Sprintf("%q...", key[:max])
	}
	return fmt.Sprintf("%q", key)
}

// keySubject returns the subject of the record at key.
func (s *Store) keySubject(key string) string {
	var b strings.Builder
	b.Grow(len(s.prefix) + 2 + len(key)*3/2)
	b.WriteString(s.prefix)
	b.WriteString(stateToken)
	for seg := range strings.SplitSeq(key, "/") {
		b.WriteByte('.')
		encodeToken(&b, seg)
	}
	return b.String()
}

// subjectKey returns the key of a state subject.
func (s *Store) subjectKey(subject string) (string, error) {
	rest, ok := strings.CutPrefix(subject, s.prefix+stateToken+".")
	if !ok {
		return "", fmt.Errorf("kvstore: subject %q is not a state record", subject)
	}
	var b strings.Builder
	first := true
	for tok := range strings.SplitSeq(rest, ".") {
		if !first {
			b.WriteByte('/')
		}
		first = false
		if err := decodeToken(&b, tok); err != nil {
			return "", fmt.Errorf("kvstore: subject %q: %w", subject, err)
		}
	}
	return b.String(), nil
}

// scanFilter returns the subject filter that holds every key starting with
// prefix, and whether the filter alone is exact (else the keys read must be
// checked against the prefix). The filter covers the segments of prefix up
// to its last "/"; a prefix ending at a "/" is exact.
func (s *Store) scanFilter(prefix string) (string, bool) {
	var b strings.Builder
	b.WriteString(s.prefix)
	b.WriteString(stateToken)
	b.WriteByte('.')
	i := strings.LastIndexByte(prefix, '/')
	if i >= 0 {
		encodeSegments(&b, strings.Split(prefix[:i], "/"))
	}
	b.WriteByte('>')
	return b.String(), i == len(prefix)-1
}

// auditFilter returns the subject filter of a tenant's audit events.
func (s *Store) auditFilter(tenant string) string {
	var b strings.Builder
	b.WriteString(s.prefix)
	b.WriteString(auditToken)
	b.WriteByte('.')
	encodeToken(&b, tenant)
	b.WriteString(".*")
	return b.String()
}

// auditSubject returns the subject of a new audit event of tenant.
func (s *Store) auditSubject(tenant, id string) string {
	f := s.auditFilter(tenant)
	return f[:len(f)-1] + id
}
