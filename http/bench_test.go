package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/sign"
	"github.com/etaxd/etaxd/internal/teststack"
	"github.com/etaxd/etaxd/internal/teststack/base"
	"github.com/etaxd/etaxd/internal/testutil"
	"github.com/etaxd/etaxd/natsbus"
	"github.com/etaxd/etaxd/taxbureau"
)

// The benchmark compares the client API's hot path with a bare Fiber JSON
// echo in the same process and run, both over real HTTP on 127.0.0.1, so
// both see the same machine. Run it with `make bench`, or:
//
//	go test -run '^$' -bench RatioAPISessions -benchtime 5x ./http/

// benchAPI is a real engine (wall clock) with 8 logged-in accounts (广东:
// no SMS step) of tenant "bench" and an API key for it.
type benchAPI struct {
	eng *actors.Engine
	ids []string
}

func newBenchAPI(b *testing.B, n int) *benchAPI {
	b.Helper()
	st := teststack.New(b, teststack.Options{Options: base.Options{Clock: clock.Real{}, Quiet: true}, Engine: &actors.Config{}})
	eng, sim := st.Engine, st.Sim
	ctx := context.Background()
	if _, err := eng.CreateTenant(ctx, "bench", "bench", "BENCH-CODE"); err != nil {
		b.Fatal(err)
	}
	if _, err := eng.CreateAPIKey(ctx, "bench", key1, secret1); err != nil {
		b.Fatal(err)
	}
	tax := domain.MakeTaxNo("44", 7)
	if _, err := eng.AddEnterprise(ctx, "bench", tax, "广东基准有限公司", ""); err != nil {
		b.Fatal(err)
	}
	env := &benchAPI{eng: eng}
	for i := 0; i < n; i++ {
		user, phone := fmt.Sprintf("u%03d", i), fmt.Sprintf("1380000%04d", i)
		if err := sim.AddPerson(taxbureau.Person{Username: user, Phone: phone, IDNumber: idNumber(phone), Password: pwA,
			Relations: []taxbureau.Relation{{TaxNo: tax, Region: "44", Role: domain.RoleInvoicer}}}); err != nil {
			b.Fatal(err)
		}
		r, err := eng.AddAccount(ctx, "bench", actors.AddAccount{TaxNo: tax, Business: "issue", Username: user, Password: domain.NewSecret(pwA)})
		if err != nil || r.State != actors.FlowDone {
			b.Fatalf("add %s: %+v %v", user, r, err)
		}
		env.ids = append(env.ids, r.AccountID)
	}
	return env
}

// serve runs app on a free port of 127.0.0.1 until the benchmark ends and
// returns its base URL.
func serve(b *testing.B, app *fiber.App) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = app.Listener(ln) }()
	b.Cleanup(func() { _ = app.Shutdown() })
	return "http://" + ln.Addr().String()
}

// echoApp is the reference: Fiber decoding the same JSON body and encoding
// it back, nothing else.
func echoApp() *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/echo", func(c *fiber.Ctx) error {
		var req SessionRequest
		if err := json.Unmarshal(c.Body(), &req); err != nil {
			return fiber.ErrBadRequest
		}
		return c.JSON(req)
	})
	return app
}

// BenchmarkRatioAPISessions is POST /api/v1/sessions for a logged-in
// account (signature check, nonce cache, Fiber, the tenant actor's
// snapshot, JSON both ways, metrics and the request log line into a
// discarding handler) vs a bare Fiber JSON echo, 64 concurrent HTTP/1.1
// clients each, over loopback. Rounds alternate, eight pairs of 2,500
// requests a side per iteration. It reports both
// throughputs, their ratio (target ≥ 0.6), and both p99 latencies with
// their ratio (target ≤ 2).
func BenchmarkRatioAPISessions(b *testing.B) {
	env := newBenchAPI(b, 8)
	ratioAPIvsEcho(b, env, Deps{Engine: env.eng, Logger: slog.New(slog.DiscardHandler), OperatorToken: "x"})
}

// ratioAPIvsEcho measures POST /api/v1/sessions of the API New(d) makes
// for env's accounts against a bare Fiber echo (see
// BenchmarkRatioAPISessions) and reports the metrics.
func ratioAPIvsEcho(b *testing.B, env *benchAPI, d Deps) {
	b.Helper()
	// Short rounds, many of them: a burst of load from elsewhere on the
	// machine then hits both sides alike.
	const clients, perRound, pairs = 64, 2500, 8
	ours := serve(b, New(d))
	echo := serve(b, echoApp())
	tr := &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	bodies := make([][]byte, len(env.ids))
	for i, id := range env.ids {
		bodies[i], _ = json.Marshal(SessionRequest{Business: "issue", Action: "login", AccountID: id})
	}
	post := func(url string, body []byte, signed bool) error {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if signed {
			for k, v := range sign.Headers(key1, []byte(secret1), http.MethodPost, "/api/v1/sessions", body, time.Now()) {
				req.Header.Set(k, v)
			}
		}
		res, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("%s: status %d", url, res.StatusCode)
		}
		return nil
	}
	oursOp := func(i int) error { return post(ours+"/api/v1/sessions", bodies[i%len(bodies)], true) }
	echoOp := func(i int) error { return post(echo+"/echo", bodies[i%len(bodies)], false) }

	// round runs perRound requests over the clients and returns the time
	// taken, appending each request's latency to lat.
	round := func(op func(int) error, lat *[]time.Duration) time.Duration {
		var next atomic.Int64
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < clients; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				local := make([]time.Duration, 0, perRound/clients+1)
				for {
					i := int(next.Add(1))
					if i > perRound {
						break
					}
					t := time.Now()
					if err := op(i); err != nil {
						b.Error(err)
						break
					}
					local = append(local, time.Since(t))
				}
				mu.Lock()
				*lat = append(*lat, local...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	var warm []time.Duration
	round(echoOp, &warm) // warm both up: connections, actors, caches
	round(oursOp, &warm)
	var tEcho, tOurs time.Duration
	var latEcho, latOurs []time.Duration
	b.ResetTimer()
	for r := 0; r < b.N*pairs; r++ {
		tEcho += round(echoOp, &latEcho)
		tOurs += round(oursOp, &latOurs)
	}
	b.StopTimer()
	total := float64(b.N * pairs * perRound)
	pEcho, pOurs := p99(latEcho), p99(latOurs)
	b.ReportMetric(total/tOurs.Seconds(), "ours/s")
	b.ReportMetric(total/tEcho.Seconds(), "echo/s")
	b.ReportMetric(tEcho.Seconds()/tOurs.Seconds(), "ratio")
	b.ReportMetric(float64(pOurs)/1e6, "p99-ours-ms")
	b.ReportMetric(float64(pEcho)/1e6, "p99-echo-ms")
	b.ReportMetric(float64(pOurs)/float64(pEcho), "p99-ratio")
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)*99/100]
}

// BenchmarkRatioAPISessionsSharedNonces is BenchmarkRatioAPISessions with
// the client API as a cluster node runs it: its nonces in the cluster's
// nonce log (natsbus.NonceLog) and its idempotency answers in the shared
// bucket (SharedIdempotency on natsbus.SharedKV), opened as cmd/etaxd opens
// them on an embedded NATS server with JetStream, the default
// nats.sync_always on. The server is one in-process node (R1): what is
// measured is the shared nonces' cost per request, not replication between
// machines. Targets: ratio ≥ 0.6, p99-ratio ≤ 2.
func BenchmarkRatioAPISessionsSharedNonces(b *testing.B) {
	benchSharedNonces(b, startBus(b, natsbus.EmbeddedOptions{}), false)
}

// BenchmarkRatioAPISessionsSharedNoncesKV is the same with the nonces as
// the previous version kept them, for comparison (no target): one KV
// Create per nonce in an in-memory bucket.
func BenchmarkRatioAPISessionsSharedNoncesKV(b *testing.B) {
	benchSharedNonces(b, startBus(b, natsbus.EmbeddedOptions{}), true)
}

// BenchmarkRatioAPISessionsSharedNoncesR3 is BenchmarkRatioAPISessionsSharedNonces
// on three routed servers in this process, the streams replicated three
// times as cluster mode makes them, nats.sync_always on; the API uses the
// first server. For comparison; no target.
func BenchmarkRatioAPISessionsSharedNoncesR3(b *testing.B) {
	const n = 3
	addrs := make([]string, n)
	for i := range addrs {
		addrs[i] = testutil.FreeAddr(b)
	}
	buses := make([]*natsbus.Bus, n)
	for i := range buses {
		buses[i] = startBus(b, natsbus.EmbeddedOptions{ServerName: fmt.Sprintf("n%d", i+1), Replicas: n,
			Logger:  slog.New(slog.DiscardHandler),
			Cluster: &natsbus.RouteOptions{Listen: addrs[i], Routes: addrs, User: "etaxd", Password: "bench-route-secret-0123456789"}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, bus := range buses {
		if err := bus.WaitMetaLeader(ctx); err != nil {
			b.Fatal(err)
		}
	}
	benchSharedNonces(b, buses[0], false)
}

// startBus starts an embedded NATS server with JetStream (file storage in
// a directory of the benchmark) until the benchmark ends.
func startBus(b *testing.B, o natsbus.EmbeddedOptions) *natsbus.Bus {
	b.Helper()
	o.StoreDir = filepath.Join(b.TempDir(), "nats")
	bus, err := natsbus.StartEmbedded(o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = bus.Close() })
	return bus
}

// benchSharedNonces runs ratioAPIvsEcho with the API's nonces and
// idempotency answers shared on bus as cmd/etaxd opens them; kv puts the
// nonces in a KV bucket instead, one Create each (kvNonces).
func benchSharedNonces(b *testing.B, bus *natsbus.Bus, kv bool) {
	env := newBenchAPI(b, 8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var nonces NonceCache
	if kv {
		bucket, err := bus.OpenSharedKV(ctx, "bench_nonces", 15*time.Minute, jetstream.MemoryStorage)
		if err != nil {
			b.Fatal(err)
		}
		nonces = kvNonces{bucket}
	} else {
		log, err := bus.OpenNonceLog(ctx, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(log.Close)
		nonces = log
	}
	idem, err := bus.OpenSharedKV(ctx, natsbus.IdempotencyBucket, natsbus.IdempotencyMaxAge, natsbus.IdempotencyStorage)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	ratioAPIvsEcho(b, env, Deps{Engine: env.eng, Logger: log, OperatorToken: "x",
		Nonces: nonces, Idempotency: NewSharedIdempotency(idem, log)})
}

// kvNonces is the nonce cache of the previous version, kept here to
// compare with: one KV Create of each nonce, the first one wins.
type kvNonces struct{ kv SharedKV }

func (n kvNonces) Use(keyID, nonce string, _, _ time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	return n.kv.Create(ctx, sharedKey("n", keyID, nonce), []byte{1})
}
