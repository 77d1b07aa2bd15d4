package domain

import (
	"bytes"
	"encoding/gob"
	"time"
)

// GobEncode encodes the plaintext. It exists for one use: the cluster's
// wire frames (package actors), which are sealed with the master keys as a
// whole before they leave the process. Nothing else in etaxd uses gob; JSON,
// fmt and slog never see the plaintext (MarshalJSON, Format, LogValue).
func (s Secret) GobEncode() ([]byte, error) { return []byte(s.Reveal()), nil }

// GobDecode is GobEncode's inverse.
func (s *Secret) GobDecode(b []byte) error {
	*s = NewSecret(string(b))
	return nil
}

// errorGob is an Error as it crosses between cluster nodes: without its
// cause, which is text for the log of the node that made it.
type errorGob struct {
	Code, Message, MessageEN string
	RetryAfter               time.Duration
	Kind                     Kind
}

// GobEncode encodes e without its Cause (see errorGob).
func (e *Error) GobEncode() ([]byte, error) {
	var buf bytes.Buffer
	err := gob.NewEncoder(&buf).Encode(errorGob{Code: e.Code, Message: e.Message, MessageEN: e.MessageEN,
		RetryAfter: e.RetryAfter, Kind: e.Kind})
	return buf.Bytes(), err
}

// GobDecode is GobEncode's inverse.
func (e *Error) GobDecode(b []byte) error {
	var g errorGob
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&g); err != nil {
		return err
	}
	*e = Error{Code: g.Code, Message: g.Message, MessageEN: g.MessageEN, RetryAfter: g.RetryAfter, Kind: g.Kind}
	return nil
}
