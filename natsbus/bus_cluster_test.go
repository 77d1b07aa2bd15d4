package natsbus

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/internal/testutil"
)

// startRouted starts n embedded servers routed to each other, as n etaxd
// nodes in cluster mode would (in one process: nats-server allows it).
// tweak, when not nil, changes node i's options before it starts.
//
// The route ports are free ports picked before the servers start: another
// program (a parallel test package, an outgoing connection's ephemeral
// port) may take one in between, and that server then never gets ready.
// So a set with a node not ready is closed and started again on new
// ports, up to three times; each node may take 30 s to get ready (the
// default 10 s is short on a CI machine running every package at once).
func startRouted(t *testing.T, n int, password string, tweak ...func(i int, o *EmbeddedOptions)) ([]*Bus, []string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		buses, addrs, err := tryRouted(t, n, password, tweak)
		if err == nil {
			for _, b := range buses {
				t.Cleanup(func() { _ = b.Close() })
			}
			return buses, addrs
		}
		if !errors.Is(err, ErrNotReady) || attempt == 3 {
			t.Fatal(err)
		}
		t.Logf("attempt %d: %v; again on other ports", attempt, err)
	}
}

// tryRouted is one attempt of startRouted: the servers all started, or
// none left running and the first error.
func tryRouted(t *testing.T, n int, password string, tweak []func(i int, o *EmbeddedOptions)) ([]*Bus, []string, error) {
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = testutil.FreeAddr(t)
	}
	buses := make([]*Bus, 0, n)
	for i := range n {
		o := EmbeddedOptions{StoreDir: t.TempDir(), ServerName: fmt.Sprintf("n%d", i+1), Replicas: 3,
			Logger: quietLogger(), ReadyTimeout: 30 * time.Second,
			Cluster: &RouteOptions{Listen: addrs[i], Routes: addrs, User: "etaxd", Password: password}}
		for _, f := range tweak {
			f(i, &o)
		}
		b, err := StartEmbedded(o)
		if err != nil {
			for _, started := range buses {
				_ = started.Close()
			}
			return nil, nil, fmt.Errorf("node %d: %w", i+1, err)
		}
		buses = append(buses, b)
	}
	return buses, addrs, nil
}

func TestRoutedServersReplicateABucket(t *testing.T) {
	buses, _ := startRouted(t, 3, "route-secret-0123456789")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, b := range buses {
		if err := b.WaitMetaLeader(ctx); err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		if u := b.ClientURL(); u == "" {
			t.Fatalf("node %d: a routed server must listen for clients", i+1)
		}
	}
	// All three create the same R3 bucket at once, as three nodes starting
	// together do.
	kvs := make([]jetstream.KeyValue, 3)
	errs := make(chan error, 3)
	for i, b := range buses {
		go func() {
			var err error
			kvs[i], err = b.CreateKV(ctx, jetstream.KeyValueConfig{Bucket: "probe", Replicas: 3, Storage: jetstream.FileStorage})
			errs <- err
		}()
	}
	for range buses {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kvs[0].Put(ctx, "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		e, err := kvs[2].Get(ctx, "k")
		if err != nil {
			return err
		}
		if string(e.Value()) != "v1" {
			return fmt.Errorf("node 3 reads %q", e.Value())
		}
		return nil
	})
	st, err := buses[1].JetStream().Stream(ctx, "KV_probe")
	if err != nil {
		t.Fatal(err)
	}
	if info := st.CachedInfo(); info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream not replicated 3 times: %+v", info.Cluster)
	}
	ci := buses[0].ClusterInfo()
	if ci.Server != "n1" || ci.Cluster != "etaxd" || len(ci.Routes) != 2 || ci.MetaLeader == "" {
		t.Fatalf("cluster info %+v", ci)
	}

	// One node goes: the other two keep a quorum, and writes go on (once
	// the stream has a leader again).
	_ = buses[0].Close()
	testutil.Eventually(t, 20*time.Second, func() error {
		_, err := kvs[1].Put(ctx, "k", []byte("v2"))
		return err
	})
	e, err := kvs[2].Get(ctx, "k")
	if err != nil || string(e.Value()) != "v2" {
		t.Fatalf("after a node left: %v %q", err, e.Value())
	}
}

func TestRouteWithoutThePasswordIsRefused(t *testing.T) {
	const password = "route-secret-0123456789"
	buses, addrs := startRouted(t, 3, password)
	// An intruder with a guessed password and, as the control, a fourth
	// node with the right one start together and dial the same routes.
	intruder, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir(), ServerName: "intruder", Logger: quietLogger(),
		Cluster: &RouteOptions{Listen: testutil.FreeAddr(t), Routes: addrs, User: "etaxd", Password: "a-guess-0123456789"}})
	if err != nil {
		t.Fatal(err)
	}
	defer intruder.Close()
	fourth, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir(), ServerName: "n4", Logger: quietLogger(),
		Cluster: &RouteOptions{Listen: testutil.FreeAddr(t), Routes: addrs, User: "etaxd", Password: password}})
	if err != nil {
		t.Fatal(err)
	}
	defer fourth.Close()
	testutil.Eventually(t, 20*time.Second, func() error {
		if names := fourth.ClusterInfo().Routes; len(names) != 3 {
			return fmt.Errorf("the fourth node routes to %v", names)
		}
		return nil
	})
	if names := intruder.ClusterInfo().Routes; len(names) != 0 {
		t.Fatalf("the intruder routes to %v", names)
	}
	for _, b := range buses {
		for _, name := range b.ClusterInfo().Routes {
			if name == "intruder" {
				t.Fatalf("%s lists a route to the intruder", b.ns.Name())
			}
		}
	}
}

func TestRouteOptionsAreChecked(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    RouteOptions
	}{
		{"no port", RouteOptions{Listen: "127.0.0.1", User: "u", Password: "p"}},
		{"random port", RouteOptions{Listen: "127.0.0.1:0", User: "u", Password: "p"}},
		{"no password", RouteOptions{Listen: "127.0.0.1:6222", User: "u"}},
		{"bad route", RouteOptions{Listen: "127.0.0.1:6222", User: "u", Password: "p", Routes: []string{"host"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			if _, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir(), Cluster: &r}); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// TestRoutePortInUse: a node whose route port another program holds is
// refused after ReadyTimeout with ErrNotReady, naming the address.
func TestRoutePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	_, err = StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir(), ServerName: "n1", Replicas: 3, Logger: quietLogger(),
		ReadyTimeout: 500 * time.Millisecond,
		Cluster:      &RouteOptions{Listen: addr, Routes: []string{addr}, User: "etaxd", Password: "route-secret-0123456789"}})
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "route address "+addr) {
		t.Fatalf("StartEmbedded on a held route port: %v", err)
	}
}
