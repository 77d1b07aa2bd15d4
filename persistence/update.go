package persistence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// MaxUpdateAttempts bounds how many times Update reads a key again after
// another writer won the compare-and-set. Keys written through Update have
// a handful of writers (the tenants of one WeChat user, the accounts of one
// person), so a few rounds always suffice; running out means contention no
// retry will fix.
const MaxUpdateAttempts = 8

// Update is the read-modify-write of a key that several writers share: it
// reads the key, computes the value to store with fn, and writes it with a
// compare-and-set on the revision it read. When another writer won in
// between, it reads again and calls fn again, at most MaxUpdateAttempts
// times; then it returns an error wrapping ErrRevisionMismatch.
//
// fn gets the current record (Revision 0 and a nil Value when the key holds
// nothing) and returns the value to store. A value equal to the current one
// writes nothing. An error from fn ends Update with that error and writes
// nothing. fn must not keep old.Value.
//
// Update returns the record as stored. Any error other than one from fn
// means the change was not acknowledged; whether it is on disk follows the
// rules of Commit (see the package documentation, "Acknowledgement").
func Update(ctx context.Context, s Store, key string, fn func(old Record) ([]byte, error)) (Record, error) {
	return update(ctx, s, key, nil, fn)
}

// UpdateAudited is Update that appends ev to the audit log in the same
// transaction as the write (CommitAudited). A value equal to the current one
// writes nothing and appends nothing.
func UpdateAudited(ctx context.Context, s Store, ev AuditEvent, key string, fn func(old Record) ([]byte, error)) (Record, error) {
	return update(ctx, s, key, &ev, fn)
}

func update(ctx context.Context, s Store, key string, ev *AuditEvent, fn func(old Record) ([]byte, error)) (Record, error) {
	for range MaxUpdateAttempts {
		old, err := s.Get(ctx, key)
		switch {
		case errors.Is(err, ErrNotFound):
			old = Record{Key: key}
		case err != nil:
			return Record{}, err
		}
		value, err := fn(old)
		if err != nil {
			return Record{}, err
		}
		if old.Revision != 0 && bytes.Equal(value, old.Value) {
			return old, nil
		}
		op := Op{Key: key, Value: value, Expected: old.Revision}
		var revs []uint64
		if ev != nil {
			revs, err = s.CommitAudited(ctx, *ev, op)
		} else {
			revs, err = s.Commit(ctx, op)
		}
		if err == nil {
			return Record{Key: key, Value: value, Revision: revs[0]}, nil
		}
		if !errors.Is(err, ErrRevisionMismatch) {
			return Record{}, err
		}
	}
	return Record{}, fmt.Errorf("%w: %s still contended after %d attempts", ErrRevisionMismatch, shortKey(key), MaxUpdateAttempts)
}
