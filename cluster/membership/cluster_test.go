//go:build linux

package membership_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/cluster/membership"
	"github.com/etaxd/etaxd/internal/testutil"
)

func TestMain(m *testing.M) {
	if os.Getenv(memberEnv) == "1" {
		os.Exit(memberMain())
	}
	os.Exit(m.Run())
}

// harness is the parent of the member processes: one embedded nats-server
// with JetStream, and the members by name.
type harness struct {
	t   *testing.T
	dir string
	url string
	nc  *nats.Conn
	js  jetstream.JetStream
	act jetstream.KeyValue

	mu    sync.Mutex
	procs map[string]*member
}

// member is one member process.
type member struct {
	name string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
	code int           // its exit code, once done
}

// wait returns its exit code once it exited.
func (m *member) wait() int {
	<-m.done
	return m.code
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	act, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: actBucket})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, dir: t.TempDir(), url: ns.ClientURL(), nc: nc, js: js, act: act, procs: map[string]*member{}}
}

// freePort returns a 127.0.0.1 port free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs the member name as a re-exec of the test binary on port; the
// kernel kills it when the test binary dies (Pdeathsig).
func (h *harness) start(name string, port int) *member {
	h.t.Helper()
	f, err := os.OpenFile(filepath.Join(h.dir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		h.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), memberEnv+"=1", "MEMBER_NAME="+name, "MEMBER_NATS="+h.url,
		"MEMBER_PORT="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	m := &member{name: name, port: port, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		m.code = cmd.ProcessState.ExitCode()
		close(m.done)
	}()
	h.mu.Lock()
	h.procs[name] = m
	h.mu.Unlock()
	h.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-m.done
		}
		if h.t.Failed() {
			b, _ := os.ReadFile(filepath.Join(h.dir, name+".log"))
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			h.t.Logf("%s log (last 4000 bytes):\n%s", name, b)
		}
	})
	return m
}

// snapshot asks member name for its Snapshot.
func (h *harness) snapshot(name string) (membership.Snapshot, error) {
	var s membership.Snapshot
	msg, err := h.nc.Request("member."+name+".snapshot", nil, time.Second)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(msg.Data, &s)
}

// call asks member via to call the probe grain identity, returning the
// name of the member hosting it.
func (h *harness) call(via, identity string) (string, error) {
	msg, err := h.nc.Request("member."+via+".call", []byte(identity), 3*time.Second)
	if err != nil {
		return "", err
	}
	if host, ok := strings.CutPrefix(string(msg.Data), "ok:"); ok {
		return host, nil
	}
	return "", errors.New(string(msg.Data))
}

// aliveNames returns the names of the members s counts alive, sorted.
func aliveNames(s membership.Snapshot) []string {
	var out []string
	for _, m := range s.Members {
		if m.Alive {
			out = append(out, m.Name)
		}
	}
	sort.Strings(out)
	return out
}

// converged waits until every member in names sees exactly names alive.
func (h *harness) converged(names ...string) {
	h.t.Helper()
	want := slices.Sorted(slices.Values(names))
	testutil.Eventually(h.t, 60*time.Second, func() error {
		for _, n := range names {
			s, err := h.snapshot(n)
			if err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
			if got := aliveNames(s); !slices.Equal(got, want) {
				return fmt.Errorf("%s sees %v, want %v", n, got, want)
			}
		}
		return nil
	})
}

// doubles counts the double activations the probe grains recorded.
func (h *harness) doubles() int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	keys, err := h.act.ListKeysFiltered(ctx, "double.>")
	if err != nil {
		h.t.Fatal(err)
	}
	n := 0
	for k := range keys.Keys() {
		h.t.Logf("double activation recorded: %s", k)
		n++
	}
	return n
}
