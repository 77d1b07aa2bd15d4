package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etaxd/etaxd/internal/sign"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/natsbus"
	"github.com/etaxd/etaxd/persistence"
)

func openStore(t *testing.T) *persistence.Bolt {
	t.Helper()
	s, err := persistence.OpenBolt(filepath.Join(t.TempDir(), "etaxd.db"), persistence.BoltOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Check(); err != nil {
			t.Error(err)
		}
		_ = s.Close()
	})
	return s
}

func keyring(t *testing.T, versions ...uint32) *persistence.Keyring {
	t.Helper()
	keys := map[uint32][]byte{}
	for _, v := range versions {
		keys[v] = bytes.Repeat([]byte{byte(v)}, persistence.KeyLen)
	}
	k, err := persistence.NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newWebhooks builds Webhooks on store (and b, when not nil). Without a
// Resolver in o, names resolve with a fakeResolver that knows no name but
// those under example.com, which resolve to publicAddr: tests need no DNS.
func newWebhooks(t *testing.T, store persistence.Store, b *natsbus.Bus, o WebhookOptions) *Webhooks {
	t.Helper()
	o.Logger = quietLogger()
	if o.Resolver == nil {
		o.Resolver = newFakeResolver()
	}
	w, err := NewWebhooks(store, b, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

// publicAddr is a public unicast address (example.com's) that fake names
// resolve to.
var publicAddr = netip.MustParseAddr("93.184.215.14")

// fakeResolver answers lookups from a map that tests may change between
// registration and delivery (DNS rebinding). A name under example.com
// not in the map resolves to publicAddr; any other is not found.
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string][]netip.Addr
}

func newFakeResolver() *fakeResolver { return &fakeResolver{hosts: map[string][]netip.Addr{}} }

// set makes host resolve to addrs.
func (f *fakeResolver) set(host string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[host] = nil
	for _, a := range addrs {
		f.hosts[host] = append(f.hosts[host], netip.MustParseAddr(a))
	}
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.hosts[host]; ok {
		return slices.Clone(a), nil
	}
	if strings.HasSuffix(host, ".example.com") {
		return []netip.Addr{publicAddr}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// receiver is a webhook endpoint that checks every request's signature
// and answers with status(n) for the n-th request.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	status func(n int) int

	mu       sync.Mutex
	secret   []byte
	keyID    string
	bodies   [][]byte
	attempts []string
	bad      []string // signature or header problems
}

func newReceiver(t *testing.T, status func(n int) int) *receiver {
	r := &receiver{t: t, status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	h := req.Header
	ts, nonce, sig := h.Get(sign.HeaderTimestamp), h.Get(sign.HeaderNonce), h.Get(sign.HeaderSignature)
	switch {
	case req.Method != http.MethodPost:
		r.bad = append(r.bad, "method "+req.Method)
	case h.Get(sign.HeaderKey) != r.keyID:
		r.bad = append(r.bad, "key "+h.Get(sign.HeaderKey))
	case !sign.Fresh(ts, time.Now()):
		r.bad = append(r.bad, "stale timestamp "+ts)
	case !sign.Valid(r.secret, sig, http.MethodPost, req.RequestURI, ts, nonce, body):
		r.bad = append(r.bad, "bad signature for "+req.RequestURI)
	case h.Get("Content-Type") != "application/json" || h.Get(HeaderEventID) == "" || h.Get(HeaderEvent) == "":
		r.bad = append(r.bad, fmt.Sprintf("headers %v", h))
	}
	r.bodies = append(r.bodies, body)
	r.attempts = append(r.attempts, h.Get(HeaderDelivery))
	w.WriteHeader(r.status(len(r.bodies)))
}

func (r *receiver) expect(wh Webhook) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keyID, r.secret = wh.ID, []byte(wh.Secret)
}

func (r *receiver) hits() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

// delivery returns the delivery state of webhook id.
func delivery(ctx context.Context, w *Webhooks, tenant, id string) (WebhookDelivery, error) {
	ds, err := w.Deliveries(ctx, tenant)
	if err != nil {
		return WebhookDelivery{}, err
	}
	for _, d := range ds {
		if d.WebhookID == id {
			return d, nil
		}
	}
	return WebhookDelivery{}, fmt.Errorf("no delivery state for %s", id)
}

// deliveryIs returns nil once webhook id's delivery state is state.
func deliveryIs(ctx context.Context, w *Webhooks, tenant, id, state string) func() error {
	return func() error {
		d, err := delivery(ctx, w, tenant, id)
		if err != nil {
			return err
		}
		if d.State != state {
			return fmt.Errorf("delivery of %s: %+v", id, d)
		}
		return nil
	}
}

// dispatcherIdle returns nil once both webhook consumers have nothing
// pending or unacked.
func dispatcherIdle(ctx context.Context, b *natsbus.Bus) func() error {
	return func() error {
		for stream, name := range map[string]string{EventStreamName: webhookFanoutConsumer, WebhookStream: webhookDeliverConsumer} {
			c, err := b.JetStream().Consumer(ctx, stream, name)
			if err != nil {
				return err
			}
			info, err := c.Info(ctx)
			if err != nil {
				return err
			}
			if info.NumPending != 0 || info.NumAckPending != 0 {
				return fmt.Errorf("%s: %d pending, %d unacked", name, info.NumPending, info.NumAckPending)
			}
		}
		return nil
	}
}

func TestWebhookIsRetriedUntilDeliveredAndSigned(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	store := openStore(t)
	es := newEventStream(t, b, EventStreamOptions{})
	w := newWebhooks(t, store, b, WebhookOptions{AllowPrivate: true, Sealer: keyring(t, 1), MaxAttempts: 5,
		RetryBase: 20 * time.Millisecond, RetryMax: 50 * time.Millisecond, Timeout: 2 * time.Second})

	flaky := newReceiver(t, func(n int) int {
		if n <= 2 {
			return http.StatusServiceUnavailable
		}
		return http.StatusNoContent
	})
	wh, err := w.Register(ctx, "t1", flaky.srv.URL+"/hooks/etaxd?src=test&x=%20y", []EventType{EventSessionReady, EventAccountLocked})
	if err != nil {
		t.Fatal(err)
	}
	if wh.Secret == "" || wh.ID == "" || len(wh.Events) != 2 {
		t.Fatalf("registered %+v", wh)
	}
	flaky.expect(wh)
	// Webhooks that must not get this event: another type, another tenant.
	otherType := newReceiver(t, func(int) int { return http.StatusOK })
	whType, err := w.Register(ctx, "t1", otherType.srv.URL, []EventType{EventAuthRequired})
	if err != nil {
		t.Fatal(err)
	}
	otherTenant := newReceiver(t, func(int) int { return http.StatusOK })
	if _, err := w.Register(ctx, "t2", otherTenant.srv.URL, nil); err != nil {
		t.Fatal(err)
	}

	exp := time.Now().Add(3 * time.Hour).UTC().Truncate(time.Second)
	ev := Event{ID: "e1", Type: EventSessionReady, Tenant: "t1", Account: "a1", Channel: "issue", Time: time.Now().UTC(), ExpiresAt: &exp}
	es.Emit(ev)

	testutil.Eventually(t, 10*time.Second, deliveryIs(ctx, w, "t1", wh.ID, DeliveryOK))
	d, _ := delivery(ctx, w, "t1", wh.ID)
	if d.Attempts != 3 || d.LastStatus != http.StatusNoContent || d.LastEventID != "e1" || d.LastEventType != EventSessionReady ||
		d.Delivered != 1 || d.GaveUp != 0 || d.LastError != "" || d.LastSuccessAt.IsZero() || d.URL != wh.URL {
		t.Fatalf("delivery %+v", d)
	}
	testutil.Eventually(t, 10*time.Second, dispatcherIdle(ctx, b))

	flaky.mu.Lock()
	if len(flaky.bad) != 0 {
		t.Errorf("receiver saw bad requests: %v", flaky.bad)
	}
	if got := strings.Join(flaky.attempts, ","); got != "1,2,3" {
		t.Errorf("attempt headers %s", got)
	}
	for _, body := range flaky.bodies {
		var got Event
		if err := json.Unmarshal(body, &got); err != nil || got.ID != "e1" || got.Tenant != "t1" || !got.ExpiresAt.Equal(exp) {
			t.Errorf("body %s: %v", body, err)
		}
	}
	flaky.mu.Unlock()
	if otherType.hits() != 0 || otherTenant.hits() != 0 {
		t.Fatalf("event went to %d unsubscribed and %d foreign webhooks", otherType.hits(), otherTenant.hits())
	}
	if d, _ := delivery(ctx, w, "t1", whType.ID); d.State != "" || d.Delivered != 0 {
		t.Fatalf("untouched webhook's state %+v", d)
	}

	// The secret is sealed at rest and never listed.
	rec, err := store.Get(ctx, webhookKey("t1", wh.ID))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(rec.Value, []byte(wh.Secret)) {
		t.Fatal("webhook secret stored in the clear")
	}
	list, err := w.List(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("list %+v", list)
	}
	for _, l := range list {
		if l.Secret != "" {
			t.Fatal("List returned a secret")
		}
	}
}

func TestWebhookGivesUpAfterMaxAttempts(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	store := openStore(t)
	es := newEventStream(t, b, EventStreamOptions{})
	w := newWebhooks(t, store, b, WebhookOptions{AllowPrivate: true, MaxAttempts: 3, RetryBase: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	down := newReceiver(t, func(int) int { return http.StatusInternalServerError })
	wh, err := w.Register(ctx, "t1", down.srv.URL+"/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	down.expect(wh)
	es.Emit(Event{ID: "e1", Type: EventAccountLocked, Tenant: "t1", Account: "a1", Reason: "password", Time: time.Now()})
	testutil.Eventually(t, 10*time.Second, deliveryIs(ctx, w, "t1", wh.ID, DeliveryFailed))
	d, _ := delivery(ctx, w, "t1", wh.ID)
	if d.Attempts != 3 || d.GaveUp != 1 || d.Delivered != 0 || d.LastStatus != 500 || d.LastError != "HTTP 500" || !d.LastSuccessAt.IsZero() {
		t.Fatalf("delivery %+v", d)
	}
	testutil.Eventually(t, 10*time.Second, dispatcherIdle(ctx, b))
	if down.hits() != 3 {
		t.Fatalf("%d POSTs, want 3", down.hits())
	}

	// A deleted webhook is called no more, and its state goes with it.
	if err := w.Delete(ctx, "t1", wh.ID); err != nil {
		t.Fatal(err)
	}
	es.Emit(Event{ID: "e2", Type: EventAccountLocked, Tenant: "t1", Account: "a1", Time: time.Now()})
	testutil.Eventually(t, 10*time.Second, dispatcherIdle(ctx, b))
	if down.hits() != 3 {
		t.Fatal("a deleted webhook was called")
	}
	if _, err := store.Get(ctx, deliveryKey("t1", wh.ID)); !errors.Is(err, persistence.ErrNotFound) {
		t.Fatalf("delivery state outlived its webhook: %v", err)
	}
}

func TestWebhookRegistry(t *testing.T) {
	ctx := testCtx(t)
	store := openStore(t)
	w := newWebhooks(t, store, nil, WebhookOptions{MaxPerTenant: 2}) // registry only

	for name, c := range map[string]struct {
		tenant, url string
		events      []EventType
	}{
		"ftp scheme":     {"t1", "ftp://example.com/x", nil},
		"no scheme":      {"t1", "example.com/x", nil},
		"no host":        {"t1", "http:///x", nil},
		"credentials":    {"t1", "https://user:pw@example.com/x", nil},
		"fragment":       {"t1", "https://example.com/x#frag", nil},
		"garbage":        {"t1", "http://exa mple.com/%zz", nil},
		"unknown event":  {"t1", "https://example.com/x", []EventType{"session.stolen"}},
		"bad tenant":     {"t.1", "https://example.com/x", nil},
		"slash tenant":   {"t1/t2", "https://example.com/x", nil},
		"empty tenant":   {"", "https://example.com/x", nil},
		"very long url":  {"t1", "https://example.com/" + strings.Repeat("a", 3000), nil},
		"javascript url": {"t1", "javascript:alert(1)", nil},
	} {
		if _, err := w.Register(ctx, c.tenant, c.url, c.events); !errors.Is(err, ErrInvalidWebhook) {
			t.Errorf("%s: %v", name, err)
		}
	}

	a, err := w.Register(ctx, "t1", "https://erp.example.com/etaxd?k=1", []EventType{EventSessionLost, EventSessionLost, EventAuthRequired})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(a.Events); got != "[auth.required session.lost]" {
		t.Fatalf("events %s, want sorted and deduplicated", got)
	}
	bb, err := w.Register(ctx, "t1", "http://93.184.215.14:8080/hook", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bb.Events) != len(AllEventTypes) || a.Secret == bb.Secret || a.ID == bb.ID {
		t.Fatalf("second webhook %+v", bb)
	}
	if _, err := w.Register(ctx, "t1", "https://third.example.com", nil); !errors.Is(err, ErrTooManyWebhooks) {
		t.Fatalf("third webhook: %v", err)
	}
	if _, err := w.Register(ctx, "t10", "https://t10.example.com", nil); err != nil {
		t.Fatalf("another tenant's limit is its own: %v", err)
	}

	// Another tenant sees nothing of t1's and cannot delete them.
	if l, _ := w.List(ctx, "t2"); len(l) != 0 {
		t.Fatalf("t2 lists %+v", l)
	}
	if err := w.Delete(ctx, "t2", a.ID); !errors.Is(err, ErrWebhookNotFound) {
		t.Fatalf("cross-tenant delete: %v", err)
	}
	if err := w.Delete(ctx, "t1", "wh_nope"); !errors.Is(err, ErrWebhookNotFound) {
		t.Fatalf("delete unknown: %v", err)
	}
	if err := w.Delete(ctx, "t1", a.ID); err != nil {
		t.Fatal(err)
	}
	l, err := w.List(ctx, "t1")
	if err != nil || len(l) != 1 || l[0].ID != bb.ID || l[0].Secret != "" {
		t.Fatalf("after delete: %+v, %v", l, err)
	}
	ds, err := w.Deliveries(ctx, "t1")
	if err != nil || len(ds) != 1 || ds[0].WebhookID != bb.ID || ds[0].State != "" {
		t.Fatalf("deliveries %+v, %v", ds, err)
	}
}

func TestResealWebhookSecrets(t *testing.T) {
	ctx := testCtx(t)
	b := startBus(t, t.TempDir())
	store := openStore(t)
	old := keyring(t, 1)
	reg := newWebhooks(t, store, nil, WebhookOptions{AllowPrivate: true, Sealer: old})
	rcv := newReceiver(t, func(int) int { return http.StatusOK })
	wh, err := reg.Register(ctx, "t1", rcv.srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcv.expect(wh)

	rotated := keyring(t, 1, 2)
	n, err := ResealWebhookSecrets(ctx, store, rotated)
	if err != nil || n != 1 {
		t.Fatalf("resealed %d: %v", n, err)
	}
	if n, _ := ResealWebhookSecrets(ctx, store, rotated); n != 0 {
		t.Fatalf("resealed %d again", n)
	}
	// Only the new key version opens it now, and deliveries still sign.
	w := newWebhooks(t, store, b, WebhookOptions{AllowPrivate: true, Sealer: keyring(t, 2)})
	es := newEventStream(t, b, EventStreamOptions{})
	es.Emit(Event{ID: "e1", Type: EventSessionLost, Tenant: "t1", Account: "a1", Time: time.Now()})
	testutil.Eventually(t, 10*time.Second, deliveryIs(ctx, w, "t1", wh.ID, DeliveryOK))
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.bad) != 0 {
		t.Fatalf("bad requests %v", rcv.bad)
	}
}

func TestSubjects(t *testing.T) {
	if got := EventSubject("t1", EventSessionReady); got != "etaxd.events.t1.session.ready" {
		t.Fatal(got)
	}
}
