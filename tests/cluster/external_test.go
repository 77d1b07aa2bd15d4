package cluster

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/testutil"
)

// The external NATS cluster's client credentials, as an operator would
// give them to etaxd (ETAXD_NATS_USER, ETAXD_NATS_PASSWORD).
const (
	extUser = "etaxd"
	extPass = "ext-nats-pass-3f9a1c"
)

// natsServers writes the configurations of three nats-server processes
// routed to each other (JetStream, a client user and password, a route
// password, max_payload 2 MB for the store's 1 MiB records) and returns
// them as nodes, not started, with their client URLs.
func natsServers(t *testing.T, dir, bin string) ([]*node, []string) {
	t.Helper()
	var clients, routes []string
	for range 3 {
		clients = append(clients, fixedAddr(t))
		routes = append(routes, fixedAddr(t))
	}
	var servers []*node
	var urls []string
	for i := range 3 {
		name := fmt.Sprintf("nats%d", i+1)
		var rs []string
		for j, r := range routes {
			if j != i {
				rs = append(rs, fmt.Sprintf("%q", "nats-route://route:route-pass-77@"+r))
			}
		}
		conf := fmt.Sprintf(`server_name: %s
listen: %s
max_payload: 2MB
jetstream { store_dir: %q, max_memory_store: 64MB, max_file_store: 8GB }
authorization { user: %s, password: %q }
cluster {
  name: ext
  listen: %s
  authorization { user: route, password: route-pass-77 }
  routes: [%s]
}
`, name, clients[i], filepath.Join(dir, name), extUser, extPass, routes[i], strings.Join(rs, ", "))
		path := filepath.Join(dir, name+".conf")
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		servers = append(servers, &node{t: t, name: name, dir: dir, bin: bin, args: []string{"-c", path}})
		urls = append(urls, "nats://"+clients[i])
	}
	return servers, urls
}

// fixedAddr returns a 127.0.0.1 address free a moment ago, on a port
// below the system's ephemeral range: a port bound only later (an etaxd
// node binds its actor port after it connected to NATS) must not be taken
// meanwhile as the source port of some outgoing connection, which ports
// of FreeAddr (from the ephemeral range) can be.
func fixedAddr(t testing.TB) string {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	if low <= 12000 {
		return testutil.FreeAddr(t) // no room below the range: take the usual way
	}
	for range 200 {
		var b [2]byte
		_, _ = rand.Read(b[:])
		port := 10000 + (int(b[0])<<8|int(b[1]))%(low-10000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// buildNATSServer builds nats-server from the module cache (it is a
// dependency of etaxd) into dir.
func buildNATSServer(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "nats-server")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2").CombinedOutput(); err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	return bin
}

// extStatus is the part of /ops/cluster about NATS.
type extStatus struct {
	NATS struct {
		Server    string   `json:"server"`
		Cluster   string   `json:"cluster"`
		External  bool     `json:"external"`
		Connected string   `json:"connected"`
		Servers   []string `json:"servers"`
	} `json:"nats"`
	Streams []struct {
		Name     string `json:"name"`
		Leader   string `json:"leader"`
		Replicas []struct {
			Name string `json:"name"`
		} `json:"replicas"`
	} `json:"streams"`
}

// TestClusterOnExternalNATS runs three etaxd nodes in cluster mode on an
// external NATS cluster of three nats-server processes (nats.urls with a
// user and password): they converge; an ERP's request made on one node is
// answered on a second and long-polled on a third; /ops/cluster describes
// the external servers and the R3 streams they lead; a node with a wrong
// NATS password refuses to start and says why, without the password;
// kill -9 of the node hosting the demo moves its tenants to the survivors
// with every acknowledged write there; kill -9 of a NATS server leaves
// the cluster serving.
func TestClusterOnExternalNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts seven processes and kills some: not in -short")
	}
	dir := t.TempDir()
	race := os.Getenv("ETAXD_CLUSTER_RACE") == "1"
	etaxd := testutil.BuildBinary(t, dir, "cmd/etaxd", race)
	sim := testutil.BuildBinary(t, dir, "cmd/etax-sim", race)
	natsBin := buildNATSServer(t, dir)

	c := &cluster{t: t, sim: testutil.FreeAddr(t)}
	testutil.StartProcess(t, dir, sim, nil, "--listen", c.sim, "--test-endpoints")
	servers, urls := natsServers(t, dir, natsBin)
	for _, s := range servers {
		s.start()
	}
	t.Cleanup(func() {
		for _, s := range servers {
			s.stop()
		}
		if t.Failed() {
			for _, s := range servers {
				t.Log(s.logTail())
			}
		}
	})
	testutil.WaitReady(t, "http://"+c.sim+"/healthz", 60*time.Second)

	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keys := "ETAXD_MASTER_KEYS=v1:" + base64.StdEncoding.EncodeToString(key)
	env := []string{keys, "ETAXD_NATS_USER=" + extUser, "ETAXD_NATS_PASSWORD=" + extPass}
	var actors []string
	for i := 1; i <= 3; i++ {
		n := &node{t: t, name: fmt.Sprintf("n%d", i), dir: dir, bin: etaxd, env: env,
			http: fixedAddr(t), route: fixedAddr(t)} // route: the actor address here
		actors = append(actors, n.route)
		c.nodes = append(c.nodes, n)
	}
	args := func(n *node) []string {
		return []string{"serve", "--dev", "--demo", "--data", filepath.Join(dir, n.name), "--listen", n.http,
			"--node-name", n.name, "--cluster-listen", n.route, "--cluster-peers", strings.Join(actors, ","),
			"--nats-urls", strings.Join(urls, ","),
			"--taxbureau-url", "http://" + c.sim, "--log-level", "warn", "--sms-per-account-interval", "0s"}
	}
	start := time.Now()
	for _, n := range c.nodes {
		n.args = args(n)
		n.start()
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.stop()
		}
		for _, n := range c.nodes {
			ours, library := n.raceReports()
			for _, r := range ours {
				t.Errorf("%s: the race detector reported a data race in etaxd's code:\n%s", n.name, r)
			}
			for _, r := range library {
				t.Logf("%s: a data race inside a library (not etaxd's code):\n%s", n.name, r)
			}
		}
		if t.Failed() {
			for _, n := range c.nodes {
				t.Log(n.logTail())
			}
		}
	})
	for _, n := range c.nodes {
		waitUp(t, n, 2*time.Minute)
	}
	c.converged(c.nodes, time.Minute)
	t.Logf("three nodes on three external NATS servers: ready and converged %s after start", time.Since(start))

	// The nodes route nothing: no port of theirs but HTTP and the actor
	// remote listens (cluster.listen is the actor address).
	for _, n := range c.nodes {
		if conn, err := net.DialTimeout("tcp", n.route, time.Second); err != nil {
			t.Errorf("%s: nothing listens on cluster.listen %s: %v", n.name, n.route, err)
		} else {
			conn.Close()
		}
	}

	k, secret, taxNo := c.readDemo(c.nodes[0])
	for _, n := range c.nodes[1:] {
		if k2, _, _ := c.readDemo(n); k2 != k {
			t.Fatalf("%s's demo.json names key %s, n1's %s", n.name, k2, k)
		}
	}
	c.erp = caller{key: k, secret: []byte(secret)}
	n1, n2, n3 := c.nodes[0], c.nodes[1], c.nodes[2]
	t.Run("an ERP's day across nodes", func(t *testing.T) { c.erpDay(t, n1, n2, n3, taxNo) })
	t.Run("a replayed request to another node is refused", func(t *testing.T) { c.replay(t, n1, n2) })

	t.Run("ops/cluster describes the external servers", func(t *testing.T) {
		a, err := caller{}.send(n2.http, "GET", "/ops/cluster", nil, false, 5*time.Second)
		if err != nil || a.status != 200 {
			t.Fatalf("GET /ops/cluster: %v %d %s", err, a.status, a.raw)
		}
		if strings.Contains(string(a.raw), extPass) {
			t.Fatalf("/ops/cluster shows the NATS password: %s", a.raw)
		}
		var st extStatus
		if err := json.Unmarshal(a.raw, &st); err != nil {
			t.Fatal(err)
		}
		if !st.NATS.External || st.NATS.Cluster != "ext" || !strings.HasPrefix(st.NATS.Server, "nats") || len(st.NATS.Servers) != 3 {
			t.Fatalf("nats section %+v, want the external cluster ext and its three servers", st.NATS)
		}
		found := false
		for _, s := range st.Streams {
			if s.Name == "KV_etaxd" {
				found = true
				if !strings.HasPrefix(s.Leader, "nats") || len(s.Replicas) != 2 {
					t.Fatalf("KV_etaxd: leader %q, %d other replicas; want a nats-server leading R3", s.Leader, len(s.Replicas))
				}
			}
		}
		if !found {
			t.Fatalf("no KV_etaxd among the streams: %s", a.raw)
		}
	})

	t.Run("a node with a wrong NATS password refuses to start", func(t *testing.T) {
		const wrong = "wrong-pass-5d1e"
		bad := &node{t: t, name: "wrongpass", dir: dir, bin: etaxd, http: fixedAddr(t), route: fixedAddr(t),
			env: []string{keys, "ETAXD_NATS_USER=" + extUser, "ETAXD_NATS_PASSWORD=" + wrong}}
		bad.args = args(bad)
		bad.start()
		select {
		case <-bad.exited:
		case <-time.After(time.Minute):
			bad.kill()
			t.Fatalf("a node with a wrong NATS password still runs:\n%s", bad.logTail())
		}
		bad.logf.Close()
		out := bad.logTail()
		if bad.exitCode == 0 || !strings.Contains(out, "refused etaxd's credentials") || !strings.Contains(strings.ToLower(out), "authorization violation") {
			t.Fatalf("exit code %d, want a refusal that names the credentials:\n%s", bad.exitCode, out)
		}
		if strings.Contains(out, wrong) || strings.Contains(out, extPass) {
			t.Fatalf("the refusal shows a password:\n%s", out)
		}
	})

	// kill -9 of the demo's node while writers create tenants at every node.
	killed := c.owner(n1, "demo")
	survivors := slices.DeleteFunc(slices.Clone(c.nodes), func(n *node) bool { return n == killed })
	acked, stopWriters := c.writers(c.nodes)
	time.Sleep(time.Second) // not a retry: let the writers acknowledge changes before the kill
	killed.kill()
	t0 := time.Now()
	c.demoAnswers(survivors[0], taxNo)
	t.Logf("kill -9 of %s (the demo's node): the demo answers again on %s after %s", killed.name, survivors[0].name, time.Since(t0))
	ids := stopWriters()
	c.allThere(t, survivors[0], ids)
	if *acked == 0 {
		t.Fatal("no change was acknowledged around the kill")
	}
	t.Logf("%d acknowledged tenants written around the kill, all there", len(ids))
	c.converged(survivors, time.Minute)

	// kill -9 of a NATS server: the clients on it reconnect to the others,
	// JetStream keeps its quorum, the survivors go on serving and writing.
	dead := servers[0]
	dead.kill()
	t0 = time.Now()
	acked, stopWriters = c.writers(survivors)
	c.demoAnswers(survivors[1], taxNo)
	time.Sleep(2 * time.Second) // not a retry: writes go on after the NATS server's death
	ids = stopWriters()
	if *acked == 0 {
		t.Fatal("no change was acknowledged after a NATS server died")
	}
	c.allThere(t, survivors[0], ids)
	t.Logf("kill -9 of %s: the demo answers on %s after %s; %d tenants written since, all there",
		dead.name, survivors[1].name, time.Since(t0), len(ids))
	for _, n := range survivors {
		select {
		case <-n.exited:
			t.Fatalf("%s exited (code %d) when a NATS server died", n.name, n.exitCode)
		default:
		}
	}
}

// waitUp waits until n answers /readyz with 200, and fails at once when
// n exits meanwhile.
func waitUp(t *testing.T, n *node, timeout time.Duration) {
	t.Helper()
	exited := false
	testutil.Eventually(t, timeout, func() error {
		select {
		case <-n.exited:
			exited = true
			return nil
		default:
		}
		a, err := caller{}.send(n.http, "GET", "/readyz", nil, false, 2*time.Second)
		if err != nil {
			return err
		}
		if a.status != 200 {
			return fmt.Errorf("%s /readyz: %d", n.name, a.status)
		}
		return nil
	})
	if exited {
		t.Fatalf("%s exited with %d before it was ready", n.name, n.exitCode)
	}
}

// demoAnswers waits until n answers the demo's session request.
func (c *cluster) demoAnswers(n *node, taxNo string) {
	c.t.Helper()
	testutil.Eventually(c.t, time.Minute, func() error {
		a, err := c.erp.send(n.http, "POST", "/api/v1/sessions",
			map[string]any{"tax_no": taxNo, "business": "issue", "action": "login"}, true, 5*time.Second)
		if err != nil {
			return err
		}
		if a.status != 200 {
			return fmt.Errorf("%d %s", a.status, a.raw)
		}
		return nil
	})
}
