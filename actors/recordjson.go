// recordjson.go: the account record's JSON, written by hand.

package actors

import (
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/jsonenc"
)

// appendAccountRecord appends rec as JSON, byte for byte what
// encoding/json.Marshal writes (TestAccountRecordJSON compares the two
// over every field, so a field added to accountRecord or to domain's
// LockState fails it until it is written here too). Every account change
// encodes its record, and reflection was a fifth of the CPU of a change;
// the format, and so every reader of it, is unchanged.
func appendAccountRecord(b []byte, rec *accountRecord) ([]byte, error) {
	chans := make([]chanEntry, 0, len(rec.Channels))
	for ch, c := range rec.Channels {
		if c == nil {
			chans = append(chans, chanEntry{ch: ch, null: true})
		} else {
			chans = append(chans, chanEntry{ch: ch, rec: *c})
		}
	}
	return appendAccountRecordChans(b, rec, chans)
}

// chanEntry is one of a record's channels, for appendAccountRecordChans.
type chanEntry struct {
	ch   domain.Channel
	rec  channelRecord
	null bool // written null, as encoding/json writes a nil *channelRecord
}

// appendAccountRecordChans is appendAccountRecord with the channels given
// as chans (in any order; sorted here) instead of rec.Channels, which it
// does not read: encodeAccountAt so encodes a change without the map and
// an entry allocated per channel, on every change of a logged-in account.
func appendAccountRecordChans(b []byte, rec *accountRecord, chans []chanEntry) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	b = jsonenc.AppendString(b, rec.ID)
	b = append(b, `,"tenant":`...)
	b = jsonenc.AppendString(b, rec.Tenant)
	b = append(b, `,"password":`...)
	b = appendJSONBytes(b, rec.SealedPassword)
	if rec.PhoneMasked != "" {
		b = append(b, `,"phone_masked":`...)
		b = jsonenc.AppendString(b, rec.PhoneMasked)
	}
	b = append(b, `,"lock":`...)
	if b, err = appendLockState(b, &rec.Lock); err != nil {
		return nil, err
	}
	if len(chans) > 0 {
		b = append(b, `,"channels":{`...)
		// encoding/json sorts map keys
		slices.SortFunc(chans, func(x, y chanEntry) int { return strings.Compare(string(x.ch), string(y.ch)) })
		for i, e := range chans {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonenc.AppendString(b, string(e.ch))
			b = append(b, ':')
			c := &e.rec
			if e.null {
				b = append(b, "null"...)
				continue
			}
			b = append(b, `{"token":`...)
			b = appendJSONBytes(b, c.SealedToken)
			b = append(b, `,"obtained_at":`...)
			if b, err = jsonenc.AppendTime(b, c.ObtainedAt); err != nil {
				return nil, err
			}
			b = append(b, `,"expires_at":`...)
			if b, err = jsonenc.AppendTime(b, c.ExpiresAt); err != nil {
				return nil, err
			}
			b = append(b, '}')
		}
		b = append(b, '}')
	}
	// omitempty does not omit a struct: zero times are written too.
	b = append(b, `,"certified_until":`...)
	if b, err = jsonenc.AppendTime(b, rec.CertifiedUntil); err != nil {
		return nil, err
	}
	b = append(b, `,"last_code_at":`...)
	if b, err = jsonenc.AppendTime(b, rec.LastCodeAt); err != nil {
		return nil, err
	}
	b = append(b, `,"updated_at":`...)
	if b, err = jsonenc.AppendTime(b, rec.UpdatedAt); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendLockState appends domain.LockState as encoding/json does.
func appendLockState(b []byte, s *domain.LockState) ([]byte, error) {
	b = append(b, `{"hosted":`...)
	b = strconv.AppendBool(b, s.Hosted)
	b = append(b, `,"counters":{"wrong_password":`...)
	b = strconv.AppendInt(b, int64(s.Counters.WrongPassword), 10)
	b = append(b, `,"wrong_code":`...)
	b = strconv.AppendInt(b, int64(s.Counters.WrongCode), 10)
	b = append(b, `,"code_timeouts":`...)
	b = strconv.AppendInt(b, int64(s.Counters.CodeTimeouts), 10)
	b = append(b, '}')
	if s.Lock != nil {
		b = append(b, `,"lock":{"reason":`...)
		b = jsonenc.AppendString(b, string(s.Lock.Reason))
		b = append(b, `,"since":`...)
		var err error
		if b, err = jsonenc.AppendTime(b, s.Lock.Since); err != nil {
			return nil, err
		}
		b = append(b, '}')
	}
	b = append(b, `,"password_invalid":`...)
	b = strconv.AppendBool(b, s.PasswordInvalid)
	return append(b, '}'), nil
}

// appendJSONBytes appends p as encoding/json does: base64 in quotes, null
// for nil.
func appendJSONBytes(b, p []byte) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, p)
	return append(b, '"')
}
