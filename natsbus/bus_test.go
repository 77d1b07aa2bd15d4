package natsbus

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/internal/testutil"
)

func TestEmbeddedBusDoesNotListenByDefault(t *testing.T) {
	b := startBus(t, t.TempDir())
	if !b.Ready() || !b.Embedded() {
		t.Fatalf("ready %v embedded %v", b.Ready(), b.Embedded())
	}
	if u := b.ClientURL(); u != "" {
		t.Fatalf("client URL %q for a server that should not listen", u)
	}
	if b.Replicas() != 1 {
		t.Fatalf("replicas %d", b.Replicas())
	}
	if _, err := b.JetStream().AccountInfo(testCtx(t)); err != nil {
		t.Fatalf("JetStream: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if b.Ready() {
		t.Fatal("ready after Close")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestEmbeddedBusListensWithAuthAndExternalConnect(t *testing.T) {
	srv, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", User: "erp", Password: "s3cret", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url := srv.ClientURL()
	if url == "" {
		t.Fatal("no client URL")
	}

	// Without credentials the server refuses.
	if _, err := Connect([]string{url}, ConnectOptions{Logger: quietLogger(), Timeout: 2 * time.Second}); err == nil {
		t.Fatal("connected without credentials")
	}
	ext, err := Connect([]string{url}, ConnectOptions{User: "erp", Password: "s3cret", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	if !ext.Ready() || ext.Embedded() {
		t.Fatalf("external bus ready %v embedded %v", ext.Ready(), ext.Embedded())
	}

	// What the external client publishes on the API, the in-process one
	// receives.
	sub, err := srv.Conn().SubscribeSync("etaxd.api.v1.hello")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	if err := ext.Conn().Publish("etaxd.api.v1.hello", []byte("world")); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(m.Data) != "world" {
		t.Fatalf("got %v, %v", m, err)
	}
	if err := ext.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestEmbeddedBusTokenAuth(t *testing.T) {
	srv, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Token: "tok", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	nc, err := nats.Connect(srv.ClientURL(), nats.Token("wrong"))
	if err == nil {
		nc.Close()
		t.Fatal("wrong token accepted")
	}
	ext, err := Connect([]string{srv.ClientURL()}, ConnectOptions{Token: "tok", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ext.Close()
}

func TestBusOptionsRefused(t *testing.T) {
	for name, o := range map[string]EmbeddedOptions{
		"no store dir":         {},
		"token and user":       {StoreDir: t.TempDir(), User: "u", Token: "t"},
		"bad listen":           {StoreDir: t.TempDir(), Listen: "nowhere"},
		"bad port":             {StoreDir: t.TempDir(), Listen: "127.0.0.1:99999"},
		"negative replicas":    {StoreDir: t.TempDir(), Replicas: -1},
		"replicas on one node": {StoreDir: t.TempDir(), Replicas: 9},
	} {
		t.Run(name, func(t *testing.T) {
			if b, err := StartEmbedded(o); err == nil {
				b.Close()
				t.Fatal("accepted")
			}
		})
	}
	if _, err := Connect(nil, ConnectOptions{}); err == nil {
		t.Fatal("Connect without URL accepted")
	}
	if _, err := Connect([]string{"nats://127.0.0.1:1"}, ConnectOptions{Token: "a", CredsFile: "b"}); err == nil {
		t.Fatal("two kinds of credentials accepted")
	}
}

func TestBackoff(t *testing.T) {
	for _, c := range []struct {
		attempt int
		want    time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {7, 60 * time.Second}, {100, 60 * time.Second}} {
		if got := Backoff(c.attempt, time.Second, time.Minute); got != c.want {
			t.Errorf("Backoff(%d) = %s, want %s", c.attempt, got, c.want)
		}
	}
}

// TestERPClientIsRestricted: a client of the listener with the ERPs' token
// may call the NATS API and read events, and nothing else: no JetStream
// API (so no stream, consumer or bucket), no prompt or webhook subjects,
// no cluster-internal subjects, no forged events; etaxd's own in-process
// connection keeps every right.
func TestERPClientIsRestricted(t *testing.T) {
	srv, err := StartEmbedded(EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Token: "erp-token-0123456789", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	checkERPRestricted(t, srv, srv)
}

// The same on a node of a cluster (routed servers, nats.listen on the
// first): the ERP's request crosses the routes to the node that answers
// it, its events come back across them, and the restrictions hold.
func TestERPClientIsRestrictedOnARoutedServer(t *testing.T) {
	buses, _ := startRouted(t, 3, "route-secret-0123456789", func(i int, o *EmbeddedOptions) {
		if i == 0 {
			o.Listen, o.Token = "127.0.0.1:0", "erp-token-0123456789"
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := buses[0].WaitMetaLeader(ctx); err != nil {
		t.Fatal(err)
	}
	checkERPRestricted(t, buses[0], buses[1])
}

// checkERPRestricted connects to srv's client port with the ERP token; the
// API is answered and the events published by etaxd's connection on node.
func checkERPRestricted(t *testing.T, srv, node *Bus) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := EnsureStream(ctx, node.JetStream(), jetstream.StreamConfig{Name: "ETAXD_PROMPTS", Subjects: []string{"etaxd.prompts.>"}, Replicas: node.replicas}); err != nil {
		t.Fatalf("in-process connection: %v", err)
	}
	violations := make(chan error, 16)
	nc, err := nats.Connect(srv.ClientURL(), nats.Token("erp-token-0123456789"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	// Allowed: a request to the API, answered by etaxd; events.
	api, err := node.Conn().Subscribe("etaxd.api.v1.sessions", func(m *nats.Msg) { _ = m.Respond([]byte("ok")) })
	if err != nil {
		t.Fatal(err)
	}
	defer api.Unsubscribe()
	_ = node.Conn().Flush()
	// On routed servers the subscription's interest reaches the ERP's
	// server a moment later: until then a request has no responders.
	testutil.Eventually(t, 10*time.Second, func() error {
		m, err := nc.Request("etaxd.api.v1.sessions", []byte("{}"), time.Second)
		if err != nil {
			return err
		}
		if string(m.Data) != "ok" {
			return fmt.Errorf("API reply %q", m.Data)
		}
		return nil
	})
	ev, err := nc.SubscribeSync("etaxd.events.t1.>")
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	testutil.Eventually(t, 10*time.Second, func() error { // the same for the ERP's subscription
		if err := node.Conn().Publish("etaxd.events.t1.session.ready", []byte("e")); err != nil {
			return err
		}
		m, err := ev.NextMsg(200 * time.Millisecond)
		if err != nil {
			return err
		}
		if string(m.Data) != "e" {
			return fmt.Errorf("event %q", m.Data)
		}
		return nil
	})

	// Refused: the JetStream API answers nothing to it.
	if _, err := nc.Request("$JS.API.STREAM.NAMES", nil, time.Second); err == nil {
		t.Fatal("the ERP reached the JetStream API")
	}
	for _, subj := range []string{"etaxd.prompts.sms_code", "etaxd.events.t1.forged", "_ETAXD.cluster.active.x", "_ETAXD.nonces.x", "$KV.etaxd.account/1"} {
		if err := nc.Publish(subj, []byte("x")); err != nil {
			t.Fatal(err)
		}
		_ = nc.Flush()
		select {
		case err := <-violations:
			if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				t.Fatalf("publish %s: %v", subj, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("publish to %s was not refused", subj)
		}
	}
	for _, subj := range []string{"etaxd.prompts.>", "etaxd.webhooks.>", "_ETAXD.nonces.>", "$JS.>", ">"} {
		if _, err := nc.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		_ = nc.Flush()
		select {
		case err := <-violations:
			if !strings.Contains(strings.ToLower(err.Error()), "permissions violation") {
				t.Fatalf("subscribe %s: %v", subj, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("subscription to %s was not refused", subj)
		}
	}
	// The stream holds nothing the ERP sent.
	stream, err := node.JetStream().Stream(ctx, "ETAXD_PROMPTS")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := stream.Info(ctx); err != nil || st.State.Msgs != 0 {
		t.Fatalf("prompt stream: %+v %v", st, err)
	}
}
