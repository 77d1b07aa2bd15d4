// wire.go: the engine's commands to a tenant and their replies as bytes, for cluster mode.

package actors

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// In cluster mode a tenant lives on one node and the engine of every node
// asks it. A command crosses as one frame: gob of a wireRequest, sealed
// with the master keys (every node holds them) and carried in a protobuf
// BytesValue over the actor remote, which runs inside mutual TLS between
// the nodes. The reply crosses back the same way. A secret in a command (a
// password typed into a page of another node) so never crosses in clear,
// and a frame that does not open with the cluster's keys is refused.
//
// Every command type the engine sends to a tenant, and every reply type a
// tenant answers with, is registered below by name. A command or reply
// whose type is not registered fails with ErrInternal on the sender's
// side, before anything crosses: a test asks every registered type to
// survive the round trip with all its fields set.

// wireAAD binds a frame to its use.
const (
	wireRequestAAD = "etaxd-wire/request"
	wireReplyAAD   = "etaxd-wire/reply"
)

// wireRequest is one command to a tenant.
type wireRequest struct {
	Tenant  string
	Type    string        // the registered name of Body's type
	Timeout time.Duration // what the caller waits: the grain's ask to the tenant stops then
	Body    []byte        // gob of the command
}

// wireReply is a tenant's answer: Body (gob of a value of type Type) or Err.
type wireReply struct {
	Type string
	Body []byte
	Err  *wireError
}

// wireError is a *domain.Error without its cause (text for the log of the
// node that made it, not for another node).
type wireError struct {
	Code, Message, MessageEN string
	RetryAfter               time.Duration
	Kind                     domain.Kind
}

var wireTypes = struct {
	sync.RWMutex
	byName map[string]reflect.Type
	byType map[reflect.Type]string
}{byName: map[string]reflect.Type{}, byType: map[reflect.Type]string{}}

// registerWire registers the types of samples (values or pointers, as they
// are sent) under their Go names.
func registerWire(samples ...any) {
	wireTypes.Lock()
	defer wireTypes.Unlock()
	for _, s := range samples {
		t := reflect.TypeOf(s)
		name := t.String()
		if _, dup := wireTypes.byName[name]; dup {
			panic("actors: wire type registered twice: " + name)
		}
		wireTypes.byName[name], wireTypes.byType[t] = t, name
	}
}

func wireName(v any) (string, bool) {
	wireTypes.RLock()
	defer wireTypes.RUnlock()
	name, ok := wireTypes.byType[reflect.TypeOf(v)]
	return name, ok
}

func wireType(name string) (reflect.Type, bool) {
	wireTypes.RLock()
	defer wireTypes.RUnlock()
	t, ok := wireTypes.byName[name]
	return t, ok
}

// errWire is the cause of a frame that cannot be encoded or decoded.
var errWire = errors.New("actors: cluster frame")

// encodeValue gobs v (a registered type) and returns its name.
func encodeValue(v any) (string, []byte, error) {
	name, ok := wireName(v)
	if !ok {
		return "", nil, fmt.Errorf("%w: type %T is not registered", errWire, v)
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return "", nil, fmt.Errorf("%w: encode %s: %v", errWire, name, err)
	}
	return name, buf.Bytes(), nil
}

// decodeValue is encodeValue's inverse: a value of the registered type
// name, pointer or not as it was registered.
func decodeValue(name string, body []byte) (any, error) {
	t, ok := wireType(name)
	if !ok {
		return nil, fmt.Errorf("%w: unknown type %q", errWire, name)
	}
	base := t
	if t.Kind() == reflect.Pointer {
		base = t.Elem()
	}
	p := reflect.New(base)
	if err := gob.NewDecoder(bytes.NewReader(body)).DecodeValue(p); err != nil {
		return nil, fmt.Errorf("%w: decode %s: %v", errWire, name, err)
	}
	if t.Kind() == reflect.Pointer {
		return p.Interface(), nil
	}
	return p.Elem().Interface(), nil
}

// sealFrame gobs f and seals it.
func sealFrame(s Sealer, aad string, f any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(f); err != nil {
		return nil, fmt.Errorf("%w: %v", errWire, err)
	}
	return s.Seal(buf.Bytes(), aad)
}

// openFrame opens and decodes a sealed frame into f.
func openFrame(s Sealer, aad string, sealed []byte, f any) error {
	plain, err := s.Open(sealed, aad)
	if err != nil {
		return fmt.Errorf("%w: does not open with this node's keys: %v", errWire, err)
	}
	if err := gob.NewDecoder(bytes.NewReader(plain)).Decode(f); err != nil {
		return fmt.Errorf("%w: %v", errWire, err)
	}
	return nil
}

// encodeRequest makes the frame of cmd for tenant.
func encodeRequest(s Sealer, tenant string, cmd any, timeout time.Duration) ([]byte, error) {
	name, body, err := encodeValue(cmd)
	if err != nil {
		return nil, err
	}
	return sealFrame(s, wireRequestAAD, wireRequest{Tenant: tenant, Type: name, Timeout: timeout, Body: body})
}

// decodeRequest opens a command frame.
func decodeRequest(s Sealer, sealed []byte) (wireRequest, any, error) {
	var r wireRequest
	if err := openFrame(s, wireRequestAAD, sealed, &r); err != nil {
		return r, nil, err
	}
	cmd, err := decodeValue(r.Type, r.Body)
	return r, cmd, err
}

// encodeReply makes the frame of a tenant's reply: res, or the error res
// is. An unregistered reply becomes ErrInternal (logged by the caller).
func encodeReply(s Sealer, res any, err error) ([]byte, error) {
	var r wireReply
	if err == nil {
		if e, isErr := res.(error); isErr {
			err = e
		}
	}
	if err != nil {
		var de *domain.Error
		if !errors.As(err, &de) {
			de = domain.ErrBusy
		}
		r.Err = &wireError{Code: de.Code, Message: de.Message, MessageEN: de.MessageEN, RetryAfter: de.RetryAfter, Kind: de.Kind}
	} else {
		name, body, eerr := encodeValue(res)
		if eerr != nil {
			return nil, eerr
		}
		r.Type, r.Body = name, body
	}
	return sealFrame(s, wireReplyAAD, r)
}

// decodeReply opens a reply frame: the value, or the *domain.Error it
// carried.
func decodeReply(s Sealer, sealed []byte) (any, error) {
	var r wireReply
	if err := openFrame(s, wireReplyAAD, sealed, &r); err != nil {
		return nil, domain.ErrInternal.Wrap(err)
	}
	if r.Err != nil {
		return nil, &domain.Error{Code: r.Err.Code, Message: r.Err.Message, MessageEN: r.Err.MessageEN,
			RetryAfter: r.Err.RetryAfter, Kind: r.Err.Kind}
	}
	v, err := decodeValue(r.Type, r.Body)
	if err != nil {
		return nil, domain.ErrInternal.Wrap(err)
	}
	return v, nil
}
