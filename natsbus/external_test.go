package natsbus

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type testPKI struct {
	caFile, clientCert, clientKey string
	serverTLS                     *tls.Config // requires and verifies a client certificate
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "etaxd"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte { b, _ := x509.MarshalECPrivateKey(k); return b }
	srvDER, srvKey := leaf(2, x509.ExtKeyUsageServerAuth)
	cliDER, cliKey := leaf(3, x509.ExtKeyUsageClientAuth)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{
		caFile:     write("ca.pem", "CERTIFICATE", caDER),
		clientCert: write("client.pem", "CERTIFICATE", cliDER),
		clientKey:  write("client-key.pem", "EC PRIVATE KEY", keyDER(cliKey)),
		serverTLS: &tls.Config{MinVersion: tls.VersionTLS12, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert,
			Certificates: []tls.Certificate{{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}}},
	}
}

// startExternal runs a nats-server on 127.0.0.1 (port, or a random one
// when 0) with a user and password, JetStream when js, and TLS with
// client verification when tlsc is set, as an operator's server would be.
func startExternal(t *testing.T, port int, js bool, tlsc *tls.Config) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	so := &server.Options{ServerName: "ext-" + strconv.Itoa(port), Host: "127.0.0.1", Port: port, JetStream: js,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true, Username: "etaxd", Password: "p4ss word"}
	if tlsc != nil {
		so.TLSConfig, so.TLS, so.TLSVerify, so.TLSTimeout = tlsc, true, true, 2
	}
	ns, err := server.NewServer(so)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("external server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	return ns
}

// TestConnectExternalWithTLSAndPassword: a connection to a server that
// wants TLS with client certificates and a password works with the CA,
// the client certificate and the password; JetStream answers; the cluster
// info names the server and its URL, never the password. Without the CA,
// without the client certificate or with a wrong password it is refused,
// and none of those refusals counts as "unreachable" (ConnectUntil returns
// them at once).
func TestConnectExternalWithTLSAndPassword(t *testing.T) {
	pki := newTestPKI(t)
	ns := startExternal(t, 0, true, pki.serverTLS)
	url := "nats://" + ns.Addr().String()
	good := ConnectOptions{User: "etaxd", Password: "p4ss word", TLSCAFile: pki.caFile, TLSCertFile: pki.clientCert,
		TLSKeyFile: pki.clientKey, PingInterval: time.Second, Replicas: 1, Timeout: 2 * time.Second, Logger: quietLogger()}
	b, err := ConnectUntil(testCtx(t), []string{url}, good)
	if err != nil {
		t.Fatalf("connect with TLS and password: %v", err)
	}
	defer b.Close()
	if err := b.WaitMetaLeader(testCtx(t)); err != nil {
		t.Fatalf("JetStream: %v", err)
	}
	ci := b.ClusterInfo()
	if !ci.External || ci.Server != ns.Name() || !strings.Contains(ci.Connected, ns.Addr().String()) || len(ci.Servers) == 0 {
		t.Fatalf("cluster info %+v", ci)
	}
	if s := strings.Join(append(ci.Servers, ci.Connected), " "); strings.Contains(s, "p4ss") {
		t.Fatalf("cluster info shows the password: %s", s)
	}

	for name, mutate := range map[string]func(*ConnectOptions){
		"no CA":                 func(o *ConnectOptions) { o.TLSCAFile = "" },
		"no client certificate": func(o *ConnectOptions) { o.TLSCertFile, o.TLSKeyFile = "", "" },
		"wrong password":        func(o *ConnectOptions) { o.Password = "wrong" },
		"a CA file not there":   func(o *ConnectOptions) { o.TLSCAFile = filepath.Join(t.TempDir(), "none.pem") },
	} {
		o := good
		mutate(&o)
		b, err := ConnectUntil(testCtx(t), []string{url}, o)
		if err == nil {
			b.Close()
			t.Fatalf("%s: connected", name)
		}
		if unreachable(err) {
			t.Errorf("%s: %v counts as unreachable: ConnectUntil would wait for the start timeout", name, err)
		}
		if name == "wrong password" && !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("wrong password: %v, want nats.ErrAuthorization", err)
		}
	}
}

// TestConnectUntilWaitsForTheServers: a node started before its servers
// connects once one listens.
func TestConnectUntilWaitsForTheServers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	opts := ConnectOptions{User: "etaxd", Password: "p4ss word", Timeout: time.Second, Logger: quietLogger()}
	if _, err := Connect([]string{url}, opts); err == nil || !unreachable(err) {
		t.Fatalf("no server yet: %v, want an unreachable error", err)
	}
	started := make(chan struct{})
	go func() {
		time.Sleep(time.Second) // not a retry: the server starts after the client
		startExternal(t, port, true, nil)
		close(started)
	}()
	b, err := ConnectUntil(testCtx(t), []string{url}, opts)
	<-started
	if err != nil {
		t.Fatalf("ConnectUntil: %v", err)
	}
	defer b.Close()
	if err := b.WaitMetaLeader(testCtx(t)); err != nil {
		t.Fatal(err)
	}
}

// TestWaitMetaLeaderRefusesServersWithoutIt: servers without JetStream are
// reported as such, not waited for until the start timeout ends.
func TestWaitMetaLeaderRefusesServersWithoutIt(t *testing.T) {
	defer func(g time.Duration) { noJetStreamGrace = g }(noJetStreamGrace)
	noJetStreamGrace = 300 * time.Millisecond
	ns := startExternal(t, 0, false, nil)
	b, err := Connect([]string{"nats://" + ns.Addr().String()}, ConnectOptions{User: "etaxd", Password: "p4ss word", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.WaitMetaLeader(ctx); !errors.Is(err, ErrNoJetStream) {
		t.Fatalf("WaitMetaLeader = %v, want ErrNoJetStream", err)
	}
	if ctx.Err() != nil {
		t.Fatal("WaitMetaLeader waited for the whole context")
	}
}

// TestWaitPlacement: the probe stream is created and deleted (nothing is
// left), a stream that exists already skips the probe, and a refusal that
// is not "no suitable peers" returns at once.
func TestWaitPlacement(t *testing.T) {
	ns := startExternal(t, 0, true, nil)
	b, err := Connect([]string{"nats://" + ns.Addr().String()}, ConnectOptions{User: "etaxd", Password: "p4ss word", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := testCtx(t)
	if err := b.WaitPlacement(ctx, 1, "KV_none", quietLogger()); err != nil {
		t.Fatalf("WaitPlacement on a fresh server: %v", err)
	}
	names := b.JetStream().StreamNames(ctx)
	for n := range names.Name() {
		t.Errorf("stream %s left behind", n)
	}
	// One server cannot hold 3 replicas: refused at once, not waited for.
	if err := b.WaitPlacement(ctx, 3, "KV_none", quietLogger()); err == nil || ctx.Err() != nil {
		t.Fatalf("3 replicas on one server: %v", err)
	}
	if err := EnsureStream(ctx, b.JetStream(), jetstream.StreamConfig{Name: "KV_there", Subjects: []string{"there"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitPlacement(ctx, 3, "KV_there", quietLogger()); err != nil {
		t.Fatalf("the stream exists: %v", err)
	}
}
