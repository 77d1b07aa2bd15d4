// Package jsonenc holds the pieces of etaxd's hand-written JSON encoders
// (the account record in actors, the audit event in persistence) that
// must write exactly what encoding/json writes, so that the stored format
// stays the one encoding/json reads. Its functions are pure and safe for
// concurrent use.
package jsonenc

import (
	"encoding/json"
	"time"
)

// AppendString appends s quoted, byte for byte as encoding/json does.
// Plain ASCII, the usual content (ids, channel names, masked phones), is
// copied; anything encoding/json would escape or check (control bytes,
// quotes, backslashes, <, >, &, non-ASCII) goes through encoding/json
// itself.
func AppendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendTime appends t as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds, quoted), failing as it does on a year outside 0-9999; on
// failure it returns b as given.
func AppendTime(b []byte, t time.Time) ([]byte, error) {
	out, err := t.AppendText(append(b, '"'))
	if err != nil {
		return b, err
	}
	return append(out, '"'), nil
}
