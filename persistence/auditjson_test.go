package persistence

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"
)

// TestAuditEventJSON: the hand-written encoding of an audit event is byte
// for byte encoding/json's. Every string field (found by reflection, so a
// field added later is filled too, and fails the test until it is written)
// takes values encoding/json escapes, and times vary in zone and
// nanoseconds.
func TestAuditEventJSON(t *testing.T) {
	strs := []string{"", "t1", "account.unlock", "account/a1", "ok", "<&>", "引号\"与\\", "中文", "\u2028", "\x01", "\xff"}
	zones := []*time.Location{time.UTC, time.FixedZone("", 8*3600), time.FixedZone("X", -90*60)}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 2000 {
		var ev AuditEvent
		v := reflect.ValueOf(&ev).Elem()
		for f := range v.NumField() {
			switch fv := v.Field(f); fv.Kind() {
			case reflect.String:
				fv.SetString(strs[r.IntN(len(strs))])
			case reflect.Uint64:
				fv.SetUint(r.Uint64() >> r.IntN(64))
			case reflect.Struct: // Time
				if r.IntN(4) > 0 {
					fv.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), r.Int64N(1e9)*int64(r.IntN(2))).In(zones[r.IntN(len(zones))])))
				}
			default:
				t.Fatalf("field %s of kind %s: teach the test (and appendAuditEvent)", v.Type().Field(f).Name, fv.Kind())
			}
		}
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendAuditEvent(nil, &ev)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("event %d:\nhand-written %s\nencoding/json %s", i, got, want)
		}
	}
	bad := AuditEvent{Time: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := appendAuditEvent(nil, &bad); err == nil {
		t.Fatal("year -1 encoded")
	}
}
