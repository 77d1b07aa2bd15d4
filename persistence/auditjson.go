// auditjson.go: the audit event's JSON, written by hand.

package persistence

import (
	"strconv"

	"github.com/etaxd/etaxd/internal/jsonenc"
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
	b = append(b, `,"time":`...)
	b, err := jsonenc.AppendTime(b, ev.Time)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"tenant":`...)
	b = jsonenc.AppendString(b, ev.Tenant)
	b = append(b, `,"actor":`...)
	b = jsonenc.AppendString(b, ev.Actor)
	b = append(b, `,"action":`...)
	b = jsonenc.AppendString(b, ev.Action)
	b = append(b, `,"target":`...)
	b = jsonenc.AppendString(b, ev.Target)
	b = append(b, `,"outcome":`...)
	b = jsonenc.AppendString(b, ev.Outcome)
	if ev.Detail != "" {
		b = append(b, `,"detail":`...)
		b = jsonenc.AppendString(b, ev.Detail)
	}
	return append(b, '}'), nil
}
