// Package peertls makes the mutual TLS that etaxd's cluster nodes speak to
// each other with, from a secret they share (derived from the master keys):
// every node builds the same Ed25519 key and certificate from it, presents
// that certificate and accepts a peer only if it presents the same public
// key. No certificate authority, no file to distribute: a process that does
// not hold the master keys can neither connect to a node nor pose as one,
// and the traffic is encrypted (TLS 1.3).
//
// The configs are safe for concurrent use; Config is cheap to call once at
// start-up.
package peertls

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// ErrNotAPeer is returned by the handshake when the other side presents no
// certificate or one with another key: it does not hold the cluster's
// master keys.
var ErrNotAPeer = errors.New("peertls: the other side is not a node of this cluster (another key)")

// Configs are the TLS configurations of one node: Server for its listener,
// Client for its connections to the others.
type Configs struct {
	Server *tls.Config
	Client *tls.Config
	// Fingerprint names the cluster's key (hex of its first 8 bytes), for
	// logs: equal on every node of one cluster.
	Fingerprint string
}

// New derives the key from secret (at least 32 bytes of entropy, in any
// encoding) and returns the configurations.
func New(secret string) (*Configs, error) {
	if len(secret) < 32 {
		return nil, errors.New("peertls: secret shorter than 32 bytes")
	}
	seed := sha256.Sum256([]byte("etaxd peertls v1\x00" + secret))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := priv.Public().(ed25519.PublicKey)
	// A fixed template: every node makes the same certificate, and nothing
	// in it is checked but the key.
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "etaxd-cluster"},
		DNSNames:              []string{"etaxd-cluster"},
		NotBefore:             time.Unix(0, 0),
		NotAfter:              time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, pub, priv)
	if err != nil {
		return nil, fmt.Errorf("peertls: certificate: %w", err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
	verify := func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return ErrNotAPeer
		}
		c, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return ErrNotAPeer
		}
		k, ok := c.PublicKey.(ed25519.PublicKey)
		if !ok || !bytes.Equal(k, pub) {
			return ErrNotAPeer
		}
		return nil
	}
	return &Configs{
		Server: &tls.Config{
			MinVersion:            tls.VersionTLS13,
			Certificates:          []tls.Certificate{cert},
			ClientAuth:            tls.RequireAnyClientCert, // checked by VerifyPeerCertificate
			VerifyPeerCertificate: verify,
		},
		Client: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{cert},
			ServerName:   "etaxd-cluster",
			// The chain is not verified against a CA: there is none. The
			// key is, in VerifyPeerCertificate, which runs either way.
			InsecureSkipVerify:    true,
			VerifyPeerCertificate: verify,
		},
		Fingerprint: hex.EncodeToString(pub[:8]),
	}, nil
}
