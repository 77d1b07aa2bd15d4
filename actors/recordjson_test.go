package actors

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// TestAccountRecordJSON: the hand-written encoding of the account record is
// byte for byte encoding/json's, over records whose every field (found by
// reflection, so a field added later is filled too) takes values that
// exercise the edges: nil and empty bytes and maps, nil pointers, zero
// times, other zones, nanoseconds, strings that encoding/json escapes.
func TestAccountRecordJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		var rec accountRecord
		fill(r, reflect.ValueOf(&rec).Elem())
		want, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendAccountRecord(nil, &rec)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("record %d:\nhand-written %s\nencoding/json %s", i, got, want)
		}
		var back accountRecord
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("record %d does not decode: %v", i, err)
		}
	}
}

// TestAccountRecordJSONBadTime: a time encoding/json refuses is refused.
func TestAccountRecordJSONBadTime(t *testing.T) {
	rec := accountRecord{UpdatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := json.Marshal(rec); err == nil {
		t.Fatal("encoding/json took year 10000")
	}
	if _, err := appendAccountRecord(nil, &rec); err == nil {
		t.Fatal("the hand-written encoding took year 10000")
	}
}

var fillStrings = []string{"", "a", "t1", "issue", "139****0002", "wrong_password", "<&>", "引号\"与\\反斜杠",
	"中文", "\u2028", "\x01\x7f", "\xff\xfe", "tab\there"}

var fillZones = []*time.Location{time.UTC, time.FixedZone("", 8*3600), time.FixedZone("X", -90*60)}

// fill sets v, recursively, to random values.
func fill(r *rand.Rand, v reflect.Value) {
	if v.Type() == reflect.TypeFor[time.Time]() {
		var tm time.Time
		if r.IntN(4) > 0 {
			tm = time.Unix(r.Int64N(4e9), r.Int64N(1e9)*int64(r.IntN(2))).In(fillZones[r.IntN(len(fillZones))])
		}
		v.Set(reflect.ValueOf(tm))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fillStrings[r.IntN(len(fillStrings))])
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 1)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(r.Int64N(2000) - 1000)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.Uint8 {
			panic("fill: slice of " + v.Type().String())
		}
		switch r.IntN(3) {
		case 0: // nil
		case 1:
			v.SetBytes([]byte{})
		default:
			p := make([]byte, 1+r.IntN(60))
			for i := range p {
				p[i] = byte(r.IntN(256))
			}
			v.SetBytes(p)
		}
	case reflect.Pointer:
		if r.IntN(3) > 0 {
			p := reflect.New(v.Type().Elem())
			fill(r, p.Elem())
			v.Set(p)
		}
	case reflect.Map:
		if r.IntN(4) == 0 {
			return
		}
		m := reflect.MakeMap(v.Type())
		for range r.IntN(4) {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(r, k)
			fill(r, e)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(r, v.Field(i))
			}
		}
	default:
		panic("fill: kind " + v.Kind().String() + " of " + v.Type().String())
	}
}

// TestEncodeAccountAtIsEncodingJSONs: a change's encoding, which hands the
// channels to the encoder without rec.Channels' map, writes what
// encoding/json writes of the same record with the map, for no session,
// one, and two given in either order.
func TestEncodeAccountAtIsEncodingJSONs(t *testing.T) {
	keys, err := persistence.NewKeyring(map[uint32][]byte{1: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 8, 8, 0, 0, 123, time.FixedZone("", 8*3600))
	mk := func(ch domain.Channel, tok string) channelSession {
		return channelSession{ch: ch, session: session{token: domain.NewSecret(tok), obtainedAt: at, expiresAt: at.Add(time.Hour)}}
	}
	for name, list := range map[string][]channelSession{
		"none":              nil,
		"issue":             {mk(domain.ChannelIssue, "t-issue")},
		"issue, receive":    {mk(domain.ChannelIssue, "t-issue"), mk(domain.ChannelReceive, "t-recv")},
		"receive, issue":    {mk(domain.ChannelReceive, "t-recv"), mk(domain.ChannelIssue, "t-issue")},
		"a session emptied": {{ch: domain.ChannelIssue}, mk(domain.ChannelReceive, "t-recv")},
	} {
		st := &accountState{password: domain.NewSecret("pw"), phoneMasked: "139****0002", sessions: sessionSet{list: list},
			certifiedUntil: at, lastCodeAt: at}
		got, err := encodeAccountAt(keys, "account/t1/a1", "t1", "a1", st, at)
		if err != nil {
			t.Fatal(err)
		}
		rec := accountRecord{ID: "a1", Tenant: "t1", SealedPassword: st.sealedPassword, PhoneMasked: st.phoneMasked,
			Lock: st.lock, CertifiedUntil: at, LastCodeAt: at, UpdatedAt: at}
		for ch, s := range st.sessions.all() {
			if s.token.IsZero() {
				continue
			}
			if s.sealed == nil {
				t.Fatalf("%s: the %s token was not sealed and cached", name, ch)
			}
			if rec.Channels == nil {
				rec.Channels = map[domain.Channel]*channelRecord{}
			}
			rec.Channels[ch] = &channelRecord{SealedToken: s.sealed, ObtainedAt: s.obtainedAt, ExpiresAt: s.expiresAt}
		}
		want, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}
