package actors

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

func wireKeyring(t *testing.T, b byte) *persistence.Keyring {
	t.Helper()
	key := make([]byte, persistence.KeyLen)
	for i := range key {
		key[i] = b
	}
	k, err := persistence.NewKeyring(map[uint32][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var secretType = reflect.TypeOf(domain.Secret{})

// fillWire sets every settable field of v (recursively) to a non-zero value.
func fillWire(t *testing.T, v reflect.Value, path string, n *int) {
	t.Helper()
	*n++
	switch {
	case v.Type() == secretType:
		v.Set(reflect.ValueOf(domain.NewSecret("secret-" + path)))
		return
	case v.Type() == reflect.TypeOf(domain.Error{}):
		// Its Cause stays behind on purpose (domain.Error.GobEncode).
		v.Set(reflect.ValueOf(*domain.ErrSMSBudget.RetryIn(time.Duration(*n))))
		return
	case v.Type() == reflect.TypeOf(time.Time{}):
		v.Set(reflect.ValueOf(time.Date(2026, 12, 3, 10, 0, *n, 0, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("v" + path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fillWire(t, p.Elem(), path, n)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fillWire(t, s.Index(i), path+"[]", n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fillWire(t, k, path+"<k>", n)
		fillWire(t, e, path+"<v>", n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				t.Errorf("%s.%s is unexported: it would not cross to another node", path, f.Name)
				continue
			}
			fillWire(t, v.Field(i), path+"."+f.Name, n)
		}
	default:
		t.Errorf("%s: a %s cannot cross to another node", path, v.Kind())
	}
}

// TestEveryWireTypeCrossesWhole fills every registered command and reply,
// sends it through a frame and compares what arrives.
func TestEveryWireTypeCrossesWhole(t *testing.T) {
	k := wireKeyring(t, 7)
	wireTypes.RLock()
	types := make(map[string]reflect.Type, len(wireTypes.byName))
	for name, typ := range wireTypes.byName {
		types[name] = typ
	}
	wireTypes.RUnlock()
	if len(types) < 40 {
		t.Fatalf("only %d wire types registered", len(types))
	}
	for name, typ := range types {
		t.Run(name, func(t *testing.T) {
			var v reflect.Value
			if typ.Kind() == reflect.Pointer {
				v = reflect.New(typ.Elem())
				fillWire(t, v.Elem(), name, new(int))
			} else {
				v = reflect.New(typ).Elem()
				fillWire(t, v, name, new(int))
			}
			in := v.Interface()
			frame, err := encodeRequest(k, "t1", in, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			req, out, err := decodeRequest(k, frame)
			if err != nil {
				t.Fatal(err)
			}
			if req.Tenant != "t1" || req.Timeout != time.Second || !reflect.DeepEqual(in, out) {
				t.Fatalf("crossed as\n%#v\nwant\n%#v", out, in)
			}
			rf, err := encodeReply(k, in, nil)
			if err != nil {
				t.Fatal(err)
			}
			back, err := decodeReply(k, rf)
			if err != nil || !reflect.DeepEqual(in, back) {
				t.Fatalf("reply crossed as %#v (%v)", back, err)
			}
		})
	}
}

func TestWireErrorsAndStrangers(t *testing.T) {
	k := wireKeyring(t, 7)
	// A catalogue error crosses with its code, messages, kind and retry.
	f, err := encodeReply(k, nil, domain.ErrSMSBudget.RetryIn(time.Minute).Wrap(errors.New("internal detail")))
	if err != nil {
		t.Fatal(err)
	}
	_, got := decodeReply(k, f)
	var de *domain.Error
	if !errors.As(got, &de) || !errors.Is(got, domain.ErrSMSBudget) || de.RetryAfter != time.Minute ||
		de.Message != domain.ErrSMSBudget.Message || de.Kind != domain.ErrSMSBudget.Kind {
		t.Fatalf("error crossed as %#v", got)
	}
	if strings.Contains(got.Error(), "internal detail") {
		t.Fatal("the cause crossed to another node")
	}
	// Any other error is busy on the far side.
	f, _ = encodeReply(k, nil, errors.New("disk on fire"))
	if _, got := decodeReply(k, f); !errors.Is(got, domain.ErrBusy) {
		t.Fatalf("plain error crossed as %v", got)
	}
	// A reply that is an error value is an error.
	f, _ = encodeReply(k, domain.ErrNotLinked, nil)
	if _, got := decodeReply(k, f); !errors.Is(got, domain.ErrNotLinked) {
		t.Fatalf("error reply crossed as %v", got)
	}
	// Types nobody registered do not leave.
	type stranger struct{ X int }
	if _, err := encodeRequest(k, "t1", &stranger{}, time.Second); !errors.Is(err, errWire) {
		t.Fatalf("unregistered command: %v", err)
	}
	// A frame sealed with other keys (a node of another cluster, or an
	// attacker) does not open.
	frame, _ := encodeRequest(wireKeyring(t, 9), "t1", &linkUser{}, time.Second)
	if _, _, err := decodeRequest(k, frame); !errors.Is(err, errWire) {
		t.Fatalf("foreign frame: %v", err)
	}
	// A reply frame is not a request frame.
	rf, _ := encodeReply(k, ok{}, nil)
	if _, _, err := decodeRequest(k, rf); !errors.Is(err, errWire) {
		t.Fatalf("reply taken for a request: %v", err)
	}
	// The password typed into a page is in no byte of the frame.
	frame, _ = encodeRequest(k, "t1", &updatePassword{Password: domain.NewSecret("Typed-Pa55word")}, time.Second)
	if strings.Contains(string(frame), "Typed-Pa55word") {
		t.Fatal("a password crosses in clear")
	}
}
