package domain

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
