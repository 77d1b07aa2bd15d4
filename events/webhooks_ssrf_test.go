package events

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/testutil"
)

// attackURL is the URL of issue 8: a tenant's webhook that rotated another
// tenant's activation code through the operator API on loopback.
const attackURL = "http://127.0.0.1:8080/ops/v1/tenants/victim/rotate-code"

func TestWebhookRegistrationRefusesNonPublicHosts(t *testing.T) {
	ctx := testCtx(t)
	res := newFakeResolver()
	res.set("loop.example.com", "127.0.0.1")
	res.set("v6loop.example.com", "::1")
	res.set("mapped.example.com", "::ffff:10.0.0.7")
	res.set("meta.example.com", "169.254.169.254")
	res.set("mixed.example.com", publicAddr.String(), "192.168.1.20")
	w := newWebhooks(t, openStore(t), nil, WebhookOptions{Resolver: res})

	for _, u := range []string{
		attackURL,
		"http://127.9.9.9/",
		"http://localhost:8080/x",
		"http://LOCALHOST./x",
		"http://api.localhost/x",
		"http://10.0.0.5:8080/hook",
		"http://172.16.0.1/",
		"http://192.168.1.1/",
		"http://169.254.169.254/latest/meta-data/",
		"http://[::1]:8080/",
		"http://[::ffff:127.0.0.1]/",
		"http://[::ffff:7f00:1]/",
		"http://0.0.0.0:8080/",
		"http://[::]/",
		"http://0.1.2.3/",
		"http://100.64.0.1/",
		"http://[fc00::1]/",
		"http://[fd12:3456::1]/",
		"http://[fe80::1%25eth0]/",
		"http://224.0.0.1/",
		"http://[ff02::1]/",
		"http://255.255.255.255/",
		"http://[64:ff9b::7f00:1]/", // NAT64 of 127.0.0.1
		"http://[2002:a00:1::1]/",   // 6to4 of 10.0.0.1
		"http://loop.example.com:8080/",
		"http://v6loop.example.com/",
		"http://mapped.example.com/",
		"http://meta.example.com/",
		"http://mixed.example.com/",
	} {
		_, err := w.Register(ctx, "t1", u, nil)
		if !errors.Is(err, ErrWebhookURLForbidden) {
			t.Errorf("%s: %v, want ErrWebhookURLForbidden", u, err)
		}
		for _, leak := range []string{"127.0.0.1", "::1", "10.0.0.7", "169.254", "192.168"} {
			if err != nil && strings.Contains(u, ".example.com") && strings.Contains(err.Error(), leak) {
				t.Errorf("%s: the error %q tells the tenant what the name resolves to", u, err)
			}
		}
	}
	// Numeric hosts that only a lenient parser reads as IPv4, and names
	// that do not resolve, are refused whatever the resolver says.
	res.set("2130706433", "127.0.0.1")
	for _, u := range []string{"http://2130706433/", "http://0177.0.0.1/", "http://0x7f.0.0.1/", "http://127.1/", "http://nx.invalid/"} {
		if _, err := w.Register(ctx, "t1", u, nil); !errors.Is(err, ErrInvalidWebhook) {
			t.Errorf("%s: %v, want ErrInvalidWebhook", u, err)
		}
	}
	if l, err := w.List(ctx, "t1"); err != nil || len(l) != 0 {
		t.Fatalf("refused webhooks were stored: %+v, %v", l, err)
	}
	for _, u := range []string{"https://erp.example.com/etaxd", "http://93.184.215.14:8080/hook", "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/h"} {
		if _, err := w.Register(ctx, "t2", u, nil); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}

	// An operator who allows private networks (on-premises ERPs) may
	// register them; the host must still parse and resolve.
	res.set("erp.corp", "10.20.0.5")
	onPrem := newWebhooks(t, openStore(t), nil, WebhookOptions{Resolver: res, AllowPrivate: true})
	for _, u := range []string{"http://erp.corp:8080/etaxd", "http://10.0.0.5/h", "http://[::1]:9000/h", "http://loop.example.com/"} {
		if _, err := onPrem.Register(ctx, "t1", u, nil); err != nil {
			t.Errorf("allowed private %s: %v", u, err)
		}
	}
	for _, u := range []string{"http://2130706433/", "http://nx.invalid/"} {
		if _, err := onPrem.Register(ctx, "t1", u, nil); !errors.Is(err, ErrInvalidWebhook) {
			t.Errorf("allowed private %s: %v, want ErrInvalidWebhook", u, err)
		}
	}
}

func TestNonPublicAddresses(t *testing.T) {
	for _, a := range []string{"127.0.0.1", "10.255.0.1", "172.31.255.255", "192.168.0.1", "169.254.1.1", "100.127.255.254",
		"0.0.0.0", "0.255.0.1", "192.0.0.8", "198.18.0.1", "240.0.0.1", "255.255.255.255", "224.0.0.251", "239.1.1.1",
		"::", "::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1", "fe80::1", "fe80::1%eth0", "fec0::1",
		"fc00::1", "fdff::1", "ff02::1", "ff05::2", "64:ff9b::a00:1", "64:ff9b:1::1", "2002:c0a8:101::1", "2002:7f00:1::1", "100::1"} {
		if nonPublic(netip.MustParseAddr(a)) == "" {
			t.Errorf("%s counted as public", a)
		}
	}
	for _, a := range []string{"93.184.215.14", "8.8.8.8", "100.63.255.255", "100.128.0.1", "172.32.0.1", "192.169.0.1", "11.0.0.1",
		"::ffff:8.8.8.8", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "2001:4860:4860::8888", "64:ff9b::808:808", "2002:808:808::1"} {
		if why := nonPublic(netip.MustParseAddr(a)); why != "" {
			t.Errorf("%s refused as %s", a, why)
		}
	}
}

// TestWebhookDeliveryRefusesNonPublicAtDial: the delivery checks the
// address it dials, so a name that resolved publicly at registration and
// to loopback at delivery (DNS rebinding) is refused, and so is a webhook
// stored before private addresses were refused. Neither reaches the
// receiver, neither is retried, and the state says why.
func TestWebhookDeliveryRefusesNonPublicAtDial(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	store := openStore(t)
	es := newEventStream(t, b, EventStreamOptions{})
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	srv, err := url.Parse(rcv.srv.URL)
	if err != nil {
		t.Fatal(err)
	}

	// Registered while private networks were allowed (or before they were
	// refused at all).
	old := newWebhooks(t, store, nil, WebhookOptions{AllowPrivate: true})
	stored, err := old.Register(ctx, "t1", rcv.srv.URL+"/old", nil)
	if err != nil {
		t.Fatal(err)
	}

	res := newFakeResolver()
	w := newWebhooks(t, store, b, WebhookOptions{Resolver: res, MaxAttempts: 5, RetryBase: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	rebind, err := w.Register(ctx, "t1", "http://rebind.example.com:"+srv.Port()+"/hook", nil)
	if err != nil {
		t.Fatal(err)
	}
	res.set("rebind.example.com", "127.0.0.1")

	es.Emit(Event{ID: "e1", Type: EventSessionReady, Tenant: "t1", Account: "a1", Time: time.Now()})
	for _, wh := range []Webhook{stored, rebind} {
		testutil.Eventually(t, 10*time.Second, deliveryIs(ctx, w, "t1", wh.ID, DeliveryFailed))
		d, _ := delivery(ctx, w, "t1", wh.ID)
		if d.Attempts != 1 || d.GaveUp != 1 || d.Delivered != 0 || d.LastStatus != 0 || !strings.Contains(d.LastError, "not allowed") ||
			strings.Contains(d.LastError, "127.0.0.1") {
			t.Errorf("%s: delivery %+v", wh.URL, d)
		}
	}
	testutil.Eventually(t, 10*time.Second, dispatcherIdle(ctx, b))
	if n := rcv.hits(); n != 0 {
		t.Fatalf("%d requests reached the loopback receiver", n)
	}
}

// TestWebhookAllowPrivateDelivers: with private networks allowed, a name
// that resolves (through the configured resolver) to a loopback receiver
// gets the event.
func TestWebhookAllowPrivateDelivers(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	es := newEventStream(t, b, EventStreamOptions{})
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	srv, err := url.Parse(rcv.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res := newFakeResolver()
	res.set("erp.corp", "127.0.0.1")
	w := newWebhooks(t, openStore(t), b, WebhookOptions{Resolver: res, AllowPrivate: true})
	wh, err := w.Register(ctx, "t1", "http://erp.corp:"+srv.Port()+"/hook", nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv.expect(wh)
	es.Emit(Event{ID: "e1", Type: EventSessionReady, Tenant: "t1", Account: "a1", Time: time.Now()})
	testutil.Eventually(t, 10*time.Second, deliveryIs(ctx, w, "t1", wh.ID, DeliveryOK))
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bodies) != 1 || len(rcv.bad) != 0 {
		t.Fatalf("receiver got %d requests, bad: %v", len(rcv.bodies), rcv.bad)
	}
}

// TestWebhookRedirectIsNotFollowed: a 3xx is a failed attempt; the signed
// body never goes where the receiver points.
func TestWebhookRedirectIsNotFollowed(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	es := newEventStream(t, b, EventStreamOptions{})
	target := newReceiver(t, func(int) int { return http.StatusOK })
	var redirected atomic.Int64
	redirector := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		redirected.Add(1)
		http.Redirect(rw, r, target.srv.URL+"/stolen", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirector.Close)
	w := newWebhooks(t, openStore(t), b, WebhookOptions{AllowPrivate: true, MaxAttempts: 2, RetryBase: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	wh, err := w.Register(ctx, "t1", redirector.URL+"/hook", nil)
	if err != nil {
		t.Fatal(err)
	}
	es.Emit(Event{ID: "e1", Type: EventSessionLost, Tenant: "t1", Account: "a1", Time: time.Now()})
	testutil.Eventually(t, 10*time.Second, deliveryIs(ctx, w, "t1", wh.ID, DeliveryFailed))
	testutil.Eventually(t, 10*time.Second, dispatcherIdle(ctx, b))
	d, _ := delivery(ctx, w, "t1", wh.ID)
	if d.LastStatus != http.StatusTemporaryRedirect || d.Attempts != 2 || redirected.Load() != 2 || target.hits() != 0 {
		t.Fatalf("delivery %+v, %d redirects, %d requests reached the redirect's target", d, redirected.Load(), target.hits())
	}
}
