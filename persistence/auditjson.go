// auditjson.go: the audit event's JSON, written by hand.

package persistence

import (
	"encoding/json"
	"strconv"
)

// appendAuditEvent appends ev as JSON, byte for byte what
// encoding/json.Marshal writes (TestAuditEventJSON compares the two over
// every field). Every audited change encodes its event in the caller's
// goroutine; reflection made that a twentieth of a change's CPU. The stored
// format, and so Audit and Check, are unchanged. It fails, as
// encoding/json does, on a time outside years 0-9999.
func appendAuditEvent(b []byte, ev *AuditEvent) ([]byte, error) {
	b = append(b, `{"seq":`...)
	b = strconv.AppendUint(b, ev.Seq, 10)
	b = append(b, `,"time":"`...)
	b, err := ev.Time.AppendText(b)
	if err != nil {
		return nil, err
	}
	b = append(b, `","tenant":`...)
	b = appendJSONString(b, ev.Tenant)
	b = append(b, `,"actor":`...)
	b = appendJSONString(b, ev.Actor)
	b = append(b, `,"action":`...)
	b = appendJSONString(b, ev.Action)
	b = append(b, `,"target":`...)
	b = appendJSONString(b, ev.Target)
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, ev.Outcome)
	if ev.Detail != "" {
		b = append(b, `,"detail":`...)
		b = appendJSONString(b, ev.Detail)
	}
	return append(b, '}'), nil
}

// appendJSONString appends s quoted. Plain ASCII is copied; anything
// encoding/json would escape or check (control bytes, quotes, backslashes,
// <, >, &, non-ASCII) goes through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
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
