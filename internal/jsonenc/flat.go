package jsonenc

import "unicode/utf8"

// FlatStrings reads b when it is one JSON object whose values are all
// plain strings — no escapes, no control bytes, valid UTF-8 — with nothing
// but JSON whitespace between the tokens and nothing after the object. It
// calls field for each member in order (key and value without their
// quotes, both slices of b) and returns true; field returns false to give
// up (an unknown key, say). On any other input, or when field gives up, it
// returns false, having maybe called field for the members before: the
// caller then decodes b with encoding/json instead, which is what decides
// every input FlatStrings does not take. For the inputs it takes, it reads
// what encoding/json reads into a struct of string fields with those exact
// names (a key read twice: the last value wins, as there).
func FlatStrings(b []byte, field func(key, val []byte) bool) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		key, next, ok := plainString(b, i)
		if !ok {
			return false
		}
		i = skipSpace(b, next)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		val, next, ok := plainString(b, skipSpace(b, i+1))
		if !ok || !field(key, val) {
			return false
		}
		i = skipSpace(b, next)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads the string that starts at b[i]: its content and the
// index after its closing quote, or false for anything that is not a
// quoted run of bytes without backslashes or control bytes, valid UTF-8.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	start := i + 1
	ascii := true
	for j := start; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s := b[start:j]
			if !ascii && !utf8.Valid(s) {
				return nil, 0, false
			}
			return s, j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, 0, false
}
