package actors

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	bolt "go.etcd.io/bbolt"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/teststack/base"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/taxbureau"
)

// The benchmarks compare etaxd with the raw building block in the same run;
// docs/PERFORMANCE.md records the ratios. Run them with `make bench`.

type benchEnv struct {
	eng     *Engine
	store   *persistence.Bolt
	sim     *taxbureau.Simulator
	tenant  string
	ids     []string
	tenants []string // the tenant of each of ids
}

// newBenchEnv registers n logged-in accounts (广东: no SMS step) of one
// tenant through the real flows.
func newBenchEnv(b *testing.B, n int) *benchEnv { return newBenchEnvTenants(b, n, 1) }

// newBenchEnvTenants spreads n accounts over tenants tenants.
func newBenchEnvTenants(b *testing.B, n, tenants int) *benchEnv {
	b.Helper()
	s := base.New(b, base.Options{Clock: clock.Real{}, Quiet: true})
	st, sim := s.Store, s.Sim
	eng, err := Start(Config{}, Deps{Store: st, Sealer: s.Keys, Gateway: sim, SMS: s.SMS, Prompts: s.Prompts, Logger: s.Logger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(eng.Stop)
	ctx := context.Background()
	tax := domain.MakeTaxNo("44", 7)
	for t := 0; t < tenants; t++ {
		id := "bench"
		if t > 0 {
			id = fmt.Sprintf("bench%d", t)
		}
		if _, err := eng.CreateTenant(ctx, id, "bench", "BENCH-CODE-"+id); err != nil {
			b.Fatal(err)
		}
		if _, err := eng.AddEnterprise(ctx, id, tax, "广东基准有限公司", ""); err != nil {
			b.Fatal(err)
		}
	}
	env := &benchEnv{eng: eng, store: st, sim: sim, tenant: "bench"}
	for i := 0; i < n; i++ {
		tenant := "bench"
		if t := i % tenants; t > 0 {
			tenant = fmt.Sprintf("bench%d", t)
		}
		user := fmt.Sprintf("u%03d", i)
		phone := fmt.Sprintf("1380000%04d", i)
		if err := sim.AddPerson(taxbureau.Person{Username: user, Phone: phone, IDNumber: idNumber(phone), Password: pwA,
			Relations: []taxbureau.Relation{rel(tax, "44", domain.RoleInvoicer)}}); err != nil {
			b.Fatal(err)
		}
		r, err := eng.AddAccount(ctx, tenant, AddAccount{TaxNo: tax, Business: "issue", Username: user, Password: domain.NewSecret(pwA)})
		if err != nil || r.State != FlowDone {
			b.Fatalf("add %s: %+v %v", user, r, err)
		}
		env.ids = append(env.ids, r.AccountID)
		env.tenants = append(env.tenants, tenant)
	}
	return env
}

// BenchmarkDurableChange64 is (a): durable state changes (unlock: the
// account's record and its audit event, each committed before the reply)
// spread over 64 accounts driven by 64 clients.
func BenchmarkDurableChange64(b *testing.B) {
	env := newBenchEnv(b, 64)
	ctx := context.Background()
	var next atomic.Int64
	b.ResetTimer()
	runWorkers(b, 64, func(w int) {
		id := env.ids[w]
		for next.Add(1) <= int64(b.N) {
			if err := env.eng.Unlock(ctx, env.tenant, id, ""); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}

// BenchmarkRawBoltBatch64 is (a)'s reference: 64 goroutines doing bbolt
// Batch puts of a 512-byte value with MaxBatchSize 64, fsync on.
func BenchmarkRawBoltBatch64(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.MaxBatchSize = 64
	_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("kv")); return err })
	val := make([]byte, 512)
	var next atomic.Int64
	b.ResetTimer()
	runWorkers(b, 64, func(w int) {
		key := []byte("account/" + strconv.Itoa(w))
		for next.Add(1) <= int64(b.N) {
			if err := db.Batch(func(tx *bolt.Tx) error { return tx.Bucket([]byte("kv")).Put(key, val) }); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}

func runWorkers(b *testing.B, n int, f func(w int)) {
	var wg sync.WaitGroup
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func(w int) { defer wg.Done(); f(w) }(w)
	}
	wg.Wait()
}

// BenchmarkSessionHotPath is (b): "the session of a logged-in account"
// through the engine, the tenant actor and the account actor.
func BenchmarkSessionHotPath(b *testing.B) {
	env := newBenchEnv(b, 8)
	ctx := context.Background()
	var i atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := env.ids[int(i.Add(1))%len(env.ids)]
			r, err := env.eng.RequestSession(ctx, env.tenant, SessionRequest{AccountID: id, Business: domain.ChannelIssue})
			if err != nil || r.State != RequestReady {
				b.Errorf("%+v %v", r, err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

type echo struct{}

func (echo) Receive(ctx actor.Context) {
	if m, isStr := ctx.Message().(string); isStr {
		ctx.Respond(m)
	}
}

// BenchmarkEchoRequestFuture is (b)'s reference: a bare protoactor echo
// actor asked with RequestFuture.
func BenchmarkEchoRequestFuture(b *testing.B) {
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	pids := make([]*actor.PID, 8)
	for i := range pids {
		pids[i] = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return echo{} }))
	}
	var i atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			pid := pids[int(i.Add(1))%len(pids)]
			if _, err := sys.Root.RequestFuture(pid, "ping", time.Second).Result(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	sys.Shutdown()
}

// BenchmarkColdActivation100k is (c): 100,000 registered accounts in one
// tenant (written straight to the store, as a long-running installation
// would have them); the tenant activates with its index, then accounts are
// activated cold, one at a time. It reports RSS per registered account, the
// p99 cold activation, and the RSS projected for 1,000,000 accounts.
func BenchmarkColdActivation100k(b *testing.B) {
	const n = 100_000
	s := base.New(b, base.Options{Clock: clock.Real{}, Quiet: true, NoCheck: true})
	st, keys := s.Store, s.Keys
	ctx := context.Background()
	ids := seedAccounts(b, st, keys, "big", n)
	debug.FreeOSMemory() // give the seeding's garbage back so RSS shows what lives
	before, heapBefore := rss(), heapInUse()
	eng, err := Start(Config{}, Deps{Store: st, Sealer: keys, Gateway: s.Sim, SMS: s.SMS, Prompts: s.Prompts, Logger: s.Logger})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Stop()
	if _, err := eng.Tenant(ctx, "big"); err != nil { // activates the tenant and its index
		b.Fatal(err)
	}
	debug.FreeOSMemory()
	after := rss()
	perAccount := float64(after-before) / n
	heapPerAccount := float64(heapInUse()-heapBefore) / n
	b.ResetTimer()
	lat := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		id := ids[(i*7919)%n]
		start := time.Now()
		r, err := eng.RequestSession(ctx, "big", SessionRequest{AccountID: id, Business: domain.ChannelIssue})
		lat = append(lat, time.Since(start))
		if err != nil || r.State != RequestReady {
			b.Fatalf("%+v %v", r, err)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p99 := lat[len(lat)*99/100]
	// Active actors cost memory too; the projection assumes 10% of accounts
	// active at once, at the measured cost per active actor.
	debug.FreeOSMemory()
	active := eng.Stats().ActiveAccounts
	perActive := 0.0
	if active > 0 {
		perActive = float64(rss()-after) / float64(active)
	}
	projected := float64(before) + 1_000_000*perAccount + 100_000*max(perActive, 0)
	b.ReportMetric(perAccount, "rss-B/registered")
	b.ReportMetric(heapPerAccount, "heap-B/registered")
	b.ReportMetric(float64(after)/(1<<20), "rss-MiB-100k")
	b.ReportMetric(perActive, "rss-B/active")
	b.ReportMetric(float64(p99.Microseconds()), "p99-activation-µs")
	b.ReportMetric(projected/(1<<30), "projected-1M-GiB")
}

// seedAccounts writes n logged-in account records and their index entries
// (sealed like the engine's) in batches.
func seedAccounts(b *testing.B, st *persistence.Bolt, keys *persistence.Keyring, tenant string, n int) []string {
	b.Helper()
	ctx := context.Background()
	tax := domain.MakeTaxNo("44", 8)
	now := time.Now()
	rec := tenantRecord{ID: tenant, Name: tenant, ActivationHash: hashCode("BIG-CODE"), Linked: map[string]time.Time{},
		Enterprises: map[string]*enterpriseRecord{tax: {TaxNo: tax, Name: "大型企业", Region: "44", Admins: map[string]time.Time{}}}, CreatedAt: now}
	if _, err := persistence.Put(ctx, st, keyTenant(tenant), jsonMarshal(rec), 0); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	const batch = 2000
	for lo := 0; lo < n; lo += batch {
		var ops []persistence.Op
		for i := lo; i < min(lo+batch, n); i++ {
			id := newID("a")
			ids[i] = id
			ref := accountRef{ID: id, TaxNo: tax, Region: "44", Username: fmt.Sprintf("user%06d", i), PersonID: fmt.Sprintf("P%06d", i),
				Role: domain.RoleInvoicer, Business: domain.BusinessIssue, LoginType: domain.LoginManual, CreatedAt: now}
			s := &accountState{password: domain.NewSecret(pwA), phoneMasked: "138****0000", sessions: sessionSet{}.with(
				domain.ChannelIssue, session{token: domain.NewSecret("tok-" + id), obtainedAt: now, expiresAt: now.Add(3 * time.Hour)})}
			v, err := encodeAccount(keys, tenant, id, s, now)
			if err != nil {
				b.Fatal(err)
			}
			ops = append(ops, persistence.Op{Key: keyAccountRef(tenant, id), Value: jsonMarshal(ref)},
				persistence.Op{Key: keyAccount(tenant, id), Value: v})
		}
		if _, err := st.Commit(ctx, ops...); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

func heapInUse() int64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}

// rss is the process's resident set size in bytes.
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// interleave runs raw and ours in alternating rounds of n operations spread
// over workers goroutines, so both see the same machine, and reports ours'
// throughput as a fraction of raw's. Each b.N is one round of each.
func interleave(b *testing.B, workers, n int, ours, raw func(w, i int) error) {
	b.Helper()
	run := func(f func(w, i int) error) time.Duration {
		var next atomic.Int64
		start := time.Now()
		runWorkers(b, workers, func(w int) {
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := f(w, i); err != nil {
					b.Error(err)
					return
				}
			}
		})
		return time.Since(start)
	}
	run(raw) // warm both up
	run(ours)
	var tRaw, tOurs time.Duration
	b.ResetTimer()
	for r := 0; r < b.N; r++ {
		tRaw += run(raw)
		tOurs += run(ours)
	}
	b.StopTimer()
	total := float64(b.N * n)
	b.ReportMetric(total/tOurs.Seconds(), "ours/s")
	b.ReportMetric(total/tRaw.Seconds(), "raw/s")
	b.ReportMetric(tRaw.Seconds()/tOurs.Seconds(), "ratio")
}

// BenchmarkRatioDurable is (a) as a ratio measured in one run: durable state
// changes over 64 accounts (64 clients) vs raw bbolt Batch puts from 64
// goroutines with MaxBatchSize 64, fsync on. Target ≥ 0.5. The accounts
// belong to one tenant (its actor is on every change's path) or, in the
// second variant, to 16 tenants.
func BenchmarkRatioDurable(b *testing.B) {
	b.Run("1-tenant", func(b *testing.B) { ratioDurable(b, 1) })
	b.Run("16-tenants", func(b *testing.B) { ratioDurable(b, 16) })
}

func ratioDurable(b *testing.B, tenants int) {
	env := newBenchEnvTenants(b, 64, tenants)
	db, err := bolt.Open(filepath.Join(b.TempDir(), "raw.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.MaxBatchSize = 64
	_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucketIfNotExists([]byte("kv")); return err })
	val := make([]byte, 512)
	ctx := context.Background()
	// Writes per fsync over the measured changes alone, not the setup's.
	// ms/txn: how long the store's transactions took (fsyncs included),
	// against raw bbolt's whole cycle of 64 writes (64/raw/s).
	before := env.store.Stats()
	defer func() {
		after := env.store.Stats()
		if n := after.Transactions - before.Transactions; n > 0 {
			b.ReportMetric(float64(after.Commits-before.Commits)/float64(n), "writes/txn")
			b.ReportMetric((after.CommitTime-before.CommitTime).Seconds()*1e3/float64(n), "ms/txn")
		}
	}()
	interleave(b, 64, 4000,
		func(w, _ int) error { return env.eng.Unlock(ctx, env.tenants[w], env.ids[w], "") },
		func(w, _ int) error {
			key := []byte("account/" + strconv.Itoa(w))
			return db.Batch(func(tx *bolt.Tx) error { return tx.Bucket([]byte("kv")).Put(key, val) })
		})
}

// BenchmarkRatioHotPath is (b) as a ratio measured in one run: the session
// of a logged-in account through the engine and the actors vs a bare echo
// actor asked with RequestFuture, 64 clients each. Target ≥ 0.7.
func BenchmarkRatioHotPath(b *testing.B) {
	env := newBenchEnv(b, 8)
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }))
	defer sys.Shutdown()
	pids := make([]*actor.PID, 8)
	for i := range pids {
		pids[i] = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return echo{} }))
	}
	ctx := context.Background()
	interleave(b, 64, 50000,
		func(_, i int) error {
			r, err := env.eng.RequestSession(ctx, env.tenant, SessionRequest{AccountID: env.ids[i%len(env.ids)], Business: domain.ChannelIssue})
			if err == nil && r.State != RequestReady {
				err = fmt.Errorf("state %s", r.State)
			}
			return err
		},
		func(_, i int) error {
			_, err := sys.Root.RequestFuture(pids[i%len(pids)], "ping", time.Second).Result()
			return err
		})
}
