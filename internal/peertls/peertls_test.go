package peertls

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
)

const secretA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// handshake runs one TLS connection from client to server over loopback
// and returns the client's and the server's handshake errors.
func handshake(t *testing.T, server, client *tls.Config) (error, error) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srvErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			srvErr <- err
			return
		}
		defer c.Close()
		err = c.(*tls.Conn).Handshake()
		if err == nil {
			_, err = c.Write([]byte("ok"))
		}
		srvErr <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), client)
	if err == nil {
		_, err = io.ReadAll(c)
		c.Close()
	}
	return err, <-srvErr
}

func TestNodesWithTheSameSecretConnect(t *testing.T) {
	a, err := New(secretA)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New(secretA) // another node
	if a.Fingerprint != b.Fingerprint {
		t.Fatal("two nodes with one secret have different keys")
	}
	if cErr, sErr := handshake(t, a.Server, b.Client); cErr != nil || sErr != nil {
		t.Fatalf("client %v, server %v", cErr, sErr)
	}
}

func TestAnotherSecretIsRefusedBothWays(t *testing.T) {
	a, _ := New(secretA)
	other, _ := New(strings.Repeat("x", 64))
	if a.Fingerprint == other.Fingerprint {
		t.Fatal("two secrets, one key")
	}
	// A stranger dialing a node, and trusting any server: the node
	// refuses it.
	stranger := other.Client.Clone()
	stranger.VerifyPeerCertificate = nil
	if _, sErr := handshake(t, a.Server, stranger); !errors.Is(sErr, ErrNotAPeer) {
		t.Fatalf("node accepted a stranger: %v", sErr)
	}
	// A node dialing a stranger posing as a peer: the node refuses it.
	if cErr, _ := handshake(t, other.Server, a.Client); !errors.Is(cErr, ErrNotAPeer) {
		t.Fatalf("node accepted a stranger's server: %v", cErr)
	}
	// A client without any certificate.
	bare := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	if _, sErr := handshake(t, a.Server, bare); sErr == nil {
		t.Fatal("node accepted a client without a certificate")
	}
	// Plain TCP gets nowhere either.
	ln, _ := tls.Listen("tcp", "127.0.0.1:0", a.Server)
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	c.Close()
	if strings.Contains(string(buf[:n]), "HTTP") {
		t.Fatal("plain text answered")
	}
}

func TestShortSecretIsRefused(t *testing.T) {
	if _, err := New("short"); err == nil {
		t.Fatal("no error")
	}
}
