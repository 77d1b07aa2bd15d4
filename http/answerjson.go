package httpapi

import (
	"time"

	"github.com/etaxd/etaxd/internal/jsonenc"
)

// appendJSON appends a as encoding/json encodes it, byte for byte, and
// reports true; false (b as given) for what it leaves to encoding/json: an
// answer with an error, or a time encoding/json refuses. The session route's
// answer is the API's most frequent, and its reflection-driven encoding was
// the largest piece of the route's own CPU after the request's decoding
// (TestSessionAnswerJSONIsEncodingJSONs compares the two, and fails when a
// field is added to these types until it is written here too).
func (a *SessionAnswer) appendJSON(b []byte) ([]byte, bool) {
	if a.Error != nil {
		return b, false
	}
	start := len(b)
	ok := true
	b = append(b, `{"state":`...)
	b = jsonenc.AppendString(b, a.State)
	b = append(b, `,"request_id":`...)
	b = jsonenc.AppendString(b, a.RequestID)
	b = append(b, `,"account_id":`...)
	b = jsonenc.AppendString(b, a.AccountID)
	if s := a.Session; s != nil {
		b = append(b, `,"session":{"channel":`...)
		b = jsonenc.AppendString(b, s.Channel)
		b = append(b, `,"token":`...)
		b = jsonenc.AppendString(b, s.Token)
		b = append(b, `,"expires_at":`...)
		b, ok = appendTime(b, s.ExpiresAt, ok)
		b = append(b, '}')
	}
	if a.CertifiedUntil != nil {
		b = append(b, `,"certified_until":`...)
		b, ok = appendTime(b, *a.CertifiedUntil, ok)
	}
	if p := a.Prompt; p != nil {
		b = append(b, `,"prompt":{"id":`...)
		b = jsonenc.AppendString(b, p.ID)
		b = append(b, `,"kind":`...)
		b = jsonenc.AppendString(b, p.Kind)
		b = append(b, `,"message":`...)
		b = jsonenc.AppendString(b, p.Message)
		b = append(b, `,"expires_at":`...)
		b, ok = appendTime(b, p.ExpiresAt, ok)
		if p.LoginURL != "" {
			b = append(b, `,"login_url":`...)
			b = jsonenc.AppendString(b, p.LoginURL)
		}
		if p.QRContent != "" {
			b = append(b, `,"qr_content":`...)
			b = jsonenc.AppendString(b, p.QRContent)
		}
		b = append(b, '}')
	}
	if !ok {
		return b[:start], false
	}
	return append(b, '}'), true
}

// appendTime appends t quoted as time.Time.MarshalJSON does (RFC 3339 with
// nanoseconds), or reports false where that fails (a year outside
// 0-9999), keeping ok false once it was.
func appendTime(b []byte, t time.Time, ok bool) ([]byte, bool) {
	b, err := jsonenc.AppendTime(b, t)
	return b, ok && err == nil
}
