package kvstore

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/persistence"
)

// testPayload is the max_payload of the test servers: room for a value of
// persistence.MaxValueLen and its headers.
const testPayload = 2 << 20

// startServer starts an embedded nats-server with JetStream on a random
// loopback port, its store in a temp dir, fsyncing every write; it is shut
// down at cleanup.
func startServer(t testing.TB, mod func(*server.Options)) *server.Server {
	t.Helper()
	ns := newServer(t, mod)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return ns
}

// newServer starts a server as startServer does, without waiting for it.
func newServer(t testing.TB, mod func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{
		ServerName: "n0",
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		JetStream:  true,
		StoreDir:   t.TempDir(),
		SyncAlways: true,
		MaxPayload: testPayload,
		NoSigs:     true,
		NoLog:      true,
	}
	if mod != nil {
		mod(opts)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// connect connects to url, closed at cleanup.
func connect(t testing.TB, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// openStore opens a Store on js, closed at cleanup.
func openStore(t testing.TB, js jetstream.JetStream, opts Options) *Store {
	t.Helper()
	s, err := New(context.Background(), js, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// startCluster starts n routed servers with JetStream in this process,
// each with routes to every other, and returns their client URLs.
func startCluster(t testing.TB, n int) []string {
	t.Helper()
	var urls []string
	for _, ns := range startClusterServers(t, n, false) {
		urls = append(urls, ns.ClientURL())
	}
	return urls
}

// clusterServer is one server of startClusterServers, with what it takes
// to start it again on its own store (restart).
type clusterServer struct {
	*server.Server
	t    testing.TB
	opts server.Options
}

// restart starts a server that was shut down again, with its options (the
// same ports, store and routes), and waits until it takes connections.
func (c *clusterServer) restart() {
	c.t.Helper()
	o := c.opts
	ns, err := server.NewServer(&o)
	if err != nil {
		c.t.Fatal(err)
	}
	go ns.Start()
	c.t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(20 * time.Second) {
		c.t.Fatal("nats-server not ready after its restart")
	}
	c.Server = ns
}

// startClusterServers starts n routed servers with JetStream in this
// process, each with routes to every other; with fixedClients, their
// client ports are fixed too (a restart keeps the clients' URL), else the
// kernel picks them as each server binds.
//
// The ports are picked free before the servers start: another program can
// take one in between, and that server then never gets ready. The set is
// then stopped and started again on other ports, three times at most.
func startClusterServers(t testing.TB, n int, fixedClients bool) []*clusterServer {
	t.Helper()
	for attempt := 1; ; attempt++ {
		servers, ready := tryClusterServers(t, n, fixedClients)
		if ready {
			return servers
		}
		for _, ns := range servers {
			ns.Shutdown()
			ns.WaitForShutdown()
		}
		if attempt == 3 {
			t.Fatal("nats-server not ready (a port in use?), three times")
		}
		t.Logf("attempt %d: a nats-server did not get ready (a port in use?); again on other ports", attempt)
	}
}

// tryClusterServers is one attempt of startClusterServers: the servers
// started, and whether all of them got ready.
func tryClusterServers(t testing.TB, n int, fixedClients bool) ([]*clusterServer, bool) {
	addrs := make([]string, n)
	routes := make([]*url.URL, n)
	for i := range n {
		addrs[i] = pickAddr(t)
		routes[i] = &url.URL{Scheme: "nats", Host: addrs[i]}
	}
	servers := make([]*clusterServer, n)
	for i := range n {
		_, port, err := net.SplitHostPort(addrs[i])
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(port)
		cp := server.RANDOM_PORT
		if fixedClients {
			_, cport, _ := net.SplitHostPort(pickAddr(t))
			cp, _ = strconv.Atoi(cport)
		}
		var opts server.Options
		ns := newServer(t, func(o *server.Options) {
			o.ServerName = fmt.Sprintf("n%d", i)
			o.Port = cp
			o.Cluster = server.ClusterOpts{Name: "etaxd-test", Host: "127.0.0.1", Port: p}
			o.Routes = routes
			opts = *o
		})
		servers[i] = &clusterServer{Server: ns, t: t, opts: opts}
	}
	for _, ns := range servers {
		if !ns.ReadyForConnections(clusterReady) {
			return servers, false
		}
	}
	return servers, true
}

// pickAddr picks the cluster servers' addresses; clusterReady bounds the
// wait for each to get ready (variables for TestClusterServersOnAPortInUse).
var (
	pickAddr     = testutil.FreeAddr
	clusterReady = 20 * time.Second
)

var _ persistence.Store = (*Store)(nil)

// TestClusterServersOnAPortInUse: when a route port picked free is taken
// before its server starts, the helper starts the set again on other
// ports and every server of it gets ready.
func TestClusterServersOnAPortInUse(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	defer func(p func(testing.TB) string, d time.Duration) { pickAddr, clusterReady = p, d }(pickAddr, clusterReady)
	first := true
	pickAddr = func(t testing.TB) string {
		if first {
			first = false
			return held.Addr().String()
		}
		return testutil.FreeAddr(t)
	}
	clusterReady = 3 * time.Second
	servers := startClusterServers(t, 3, false)
	for _, ns := range servers {
		if ns.ClusterAddr().String() == held.Addr().String() {
			t.Fatalf("a server has the held route address %s", held.Addr())
		}
		if !ns.Running() {
			t.Fatalf("server %s not running", ns.Name())
		}
	}
}
