package scale

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/internal/benchreport"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

// Config is one run of the benchmark.
type Config struct {
	// Etaxd is the etaxd binary, built with -tags etaxdscale.
	Etaxd string
	// Dir holds the run's data directories (million/ and empty/); it must
	// not hold an earlier run's.
	Dir  string
	Plan Plan
	// ColdSamples is how many cold activations are timed one at a time,
	// twice: with no account active yet, and with Active[len-1] active.
	ColdSamples int
	// Active are the numbers of active accounts RSS is read at, ascending;
	// the first ColdSamples activations are the first timed sample.
	Active []int
	// Workers activate the accounts beyond the timed samples concurrently.
	Workers int
	Seed    uint64 // of the random order accounts are activated in
	// ColdCache drops the store file's pages from the page cache before
	// etaxd starts on it (posix_fadvise DONTNEED on that file only), as
	// after a host's restart: the file was just written, so otherwise all
	// of it is cached, and the kernel maps cached neighbours of every page
	// etaxd faults in ("fault-around"), which VmRSS counts.
	ColdCache bool
	// ServeArgs are added to both etaxd serve command lines (e.g.
	// --store-keep-read-pages, to compare with bbolt's own mapping).
	ServeArgs []string
	Out       io.Writer
}

// Memory is the process's memory at one stage, after debug.FreeOSMemory
// in it: VmRSS and VmHWM from /proc, the Go heap's figures from the hook.
type Memory struct {
	Stage          string
	Active         int   // accounts activated by the run; -1: before the tenants were loaded
	RSS, HWM       int64 // bytes
	RSSAnon        int64 // of RSS: anonymous memory (the Go heap, stacks, the runtime)
	RSSFile        int64 // of RSS: file pages mapped, the bbolt file's above all
	RSSBefore      int64 // VmRSS just before the collection was asked for
	HeapInuse      int64
	Stacks         int64
	Goroutines     int
	ActiveAccounts int64
	Nonces         int
}

// Result is what a run measured.
type Result struct {
	Plan            Plan
	SeedTime        time.Duration
	StoreBytes      int64
	ReadyEmpty      time.Duration // etaxd start → /readyz 200 on an empty data directory
	Ready           time.Duration // the same on the million
	TenantLoad      []time.Duration
	Memory          []Memory
	ColdFirst       []time.Duration // cold activations timed with few accounts active
	ColdLater       []time.Duration // and with Active[len-1] active
	Warm            []time.Duration // requests to active accounts, interleaved with the cold ones
	BulkRate        float64         // activations/s of the concurrent part
	StoreBytesAfter int64
}

// Run sets up the store (Provision, Seed) and measures a real etaxd on it.
func Run(ctx context.Context, c Config) (*Result, error) {
	if c.Out == nil {
		c.Out = io.Discard
	}
	if c.ColdSamples <= 0 || len(c.Active) == 0 || c.Active[0] < c.ColdSamples ||
		c.Active[len(c.Active)-1]+c.ColdSamples > c.Plan.Accounts {
		return nil, fmt.Errorf("scale: %d cold samples, active %v, %d accounts: need ColdSamples <= Active[0] and Active[last]+ColdSamples <= Accounts",
			c.ColdSamples, c.Active, c.Plan.Accounts)
	}
	res := &Result{Plan: c.Plan}
	logf := func(format string, args ...any) {
		fmt.Fprintf(c.Out, "%s  "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
	}

	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return nil, err
	}
	// The reference: etaxd ready on an empty data directory.
	empty := filepath.Join(c.Dir, "empty")
	p, err := startEtaxd(ctx, c.Etaxd, empty, filepath.Join(c.Dir, "etaxd-empty.log"), c.ServeArgs)
	if err != nil {
		return nil, err
	}
	res.ReadyEmpty = p.ready
	logf("etaxd on an empty data directory ready after %s", p.ready)
	if err := p.stop(); err != nil {
		return nil, err
	}

	dir := filepath.Join(c.Dir, "million")
	start := time.Now()
	tenants, err := setup(ctx, dir, c.Plan, logf)
	if err != nil {
		return nil, err
	}
	res.SeedTime = time.Since(start)
	if res.StoreBytes, err = fileSize(filepath.Join(dir, "etaxd.db")); err != nil {
		return nil, err
	}
	logf("setup done in %s: %d accounts, store %.1f MiB", res.SeedTime.Round(time.Second), c.Plan.Accounts, mib(res.StoreBytes))
	if c.ColdCache {
		if err := dropFromCache(filepath.Join(dir, "etaxd.db")); err != nil {
			return nil, err
		}
		logf("the store file's pages dropped from the page cache (-cold-cache)")
	}

	p, err = startEtaxd(ctx, c.Etaxd, dir, filepath.Join(c.Dir, "etaxd-million.log"), c.ServeArgs)
	if err != nil {
		return nil, err
	}
	defer p.kill()
	res.Ready = p.ready
	logf("etaxd on the million ready after %s (pid %d, %s)", p.ready, p.cmd.Process.Pid, p.base)

	measure := func(stage string, active int) error {
		m, err := p.memory(ctx, stage)
		if err != nil {
			return err
		}
		m.Active = active
		res.Memory = append(res.Memory, m)
		logf("%-34s VmRSS %7.1f MiB (anon %7.1f, file %7.1f; before the collection %7.1f), heap in use %7.1f MiB, stacks %5.1f MiB, %d goroutines, %d accounts active, %d nonces",
			stage, mib(m.RSS), mib(m.RSSAnon), mib(m.RSSFile), mib(m.RSSBefore), mib(m.HeapInuse), mib(m.Stacks), m.Goroutines, m.ActiveAccounts, m.Nonces)
		return nil
	}
	if err := measure("ready, no tenant loaded", -1); err != nil {
		return nil, err
	}
	for _, t := range tenants {
		start := time.Now()
		var es struct {
			Enterprises []actors.EnterpriseView `json:"enterprises"`
		}
		if err := p.ops(ctx, "/ops/v1/tenants/"+t.ID+"/enterprises", &es); err != nil {
			return nil, err
		}
		res.TenantLoad = append(res.TenantLoad, time.Since(start))
		n := 0
		for _, e := range es.Enterprises {
			n += e.Accounts
		}
		if n != len(t.Accounts) {
			return nil, fmt.Errorf("tenant %s lists %d accounts, %d were written", t.ID, n, len(t.Accounts))
		}
	}
	logf("tenants' indexes loaded in %v", res.TenantLoad)
	if err := measure(fmt.Sprintf("%d registered, 0 active", c.Plan.Accounts), 0); err != nil {
		return nil, err
	}

	// The activation order: every account once, at random.
	type acct struct {
		t  *Tenant
		id string
	}
	var all []acct
	for _, t := range tenants {
		for _, id := range t.Accounts {
			all = append(all, acct{t, id})
		}
	}
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x5ca1e))
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	activated := 0
	timed := func(n int) ([]time.Duration, error) {
		cold := make([]time.Duration, 0, n)
		for range n {
			a := all[activated]
			d, err := p.session(ctx, a.t, a.id)
			if err != nil {
				return nil, err
			}
			cold = append(cold, d)
			activated++
			w := all[rng.IntN(activated)]
			if d, err = p.session(ctx, w.t, w.id); err != nil {
				return nil, err
			}
			res.Warm = append(res.Warm, d)
		}
		return cold, nil
	}
	bulk := func(upto int) error {
		var next atomic.Int64
		next.Store(int64(activated))
		var wg sync.WaitGroup
		errs := make(chan error, c.Workers)
		start := time.Now()
		for range c.Workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= upto {
						return
					}
					if _, err := p.session(ctx, all[i].t, all[i].id); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
		if n := upto - activated; n > 0 {
			res.BulkRate = float64(n) / time.Since(start).Seconds()
		}
		activated = upto
		return nil
	}
	if res.ColdFirst, err = timed(c.ColdSamples); err != nil {
		return nil, err
	}
	logf("%d cold activations timed: p50 %s p99 %s", len(res.ColdFirst), pct(res.ColdFirst, 50), pct(res.ColdFirst, 99))
	for _, n := range c.Active {
		if err := bulk(n); err != nil {
			return nil, err
		}
		if err := measure(fmt.Sprintf("%d registered, %d active", c.Plan.Accounts, n), n); err != nil {
			return nil, err
		}
		if got := res.Memory[len(res.Memory)-1].ActiveAccounts; got != int64(n) {
			return nil, fmt.Errorf("%d accounts active, %d were activated (did some passivate?)", got, n)
		}
	}
	if res.ColdLater, err = timed(c.ColdSamples); err != nil {
		return nil, err
	}
	logf("%d more cold activations timed with %d active: p50 %s p99 %s", len(res.ColdLater), c.Active[len(c.Active)-1],
		pct(res.ColdLater, 50), pct(res.ColdLater, 99))
	if err := p.stop(); err != nil {
		return nil, err
	}
	if res.StoreBytesAfter, err = fileSize(filepath.Join(dir, "etaxd.db")); err != nil {
		return nil, err
	}
	return res, nil
}

// setup provisions the plan through an engine on dir's store and master
// key file (created as etaxd's dev mode creates it), then seeds the
// accounts with the engine stopped.
func setup(ctx context.Context, dir string, p Plan, logf func(string, ...any)) ([]*Tenant, error) {
	quiet := slog.New(slog.DiscardHandler)
	keys, err := persistence.LoadKeyring(persistence.KeyringOptions{File: filepath.Join(dir, "master.keys"), CreateIfMissing: true, Logger: quiet})
	if err != nil {
		return nil, err
	}
	// Large groups: up to 2,048 registrations per transaction (fsync).
	st, err := persistence.OpenBolt(filepath.Join(dir, "etaxd.db"), persistence.BoltOptions{MaxBatch: 2048})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	sim := taxbureau.NewSimulator(taxbureau.DefaultSimConfig(), clock.Real{})
	eng, err := actors.Start(actors.DefaultConfig(), actors.Deps{Store: st, Sealer: keys, Gateway: sim,
		SMS: taxbureau.NewSimSMSProvider(sim), Prompts: prompts.NewChan(), Logger: quiet})
	if err != nil {
		return nil, err
	}
	tenants, err := Provision(ctx, eng, p)
	eng.Stop()
	if err != nil {
		return nil, err
	}
	logf("provisioned %d tenants × %d enterprises through the engine; seeding %d accounts", p.Tenants, p.Enterprises, p.Accounts)
	start := time.Now()
	err = Seed(ctx, st, keys, tenants, p, SeedOptions{Writers: 2048, Progress: func(n int) {
		if n%200_000 == 0 {
			logf("  %d accounts written (%.0f/s)", n, float64(n)/time.Since(start).Seconds())
		}
	}})
	if err != nil {
		return nil, err
	}
	s := st.Stats()
	logf("  %d writes in %d transactions (%.0f per transaction)", s.Commits, s.Transactions, s.AvgBatch)
	return tenants, st.Close()
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// pct is the p-th percentile of ds (nearest rank).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchLine is the result as a Go benchmark result line, the form
// benchreport parses: BenchmarkScaleMillion 1 <value> <unit> ....
func (r *Result) BenchLine() string {
	metrics := []struct {
		v    float64
		unit string
	}{
		{r.Ready.Seconds(), "ready-s"},
		{r.ReadyEmpty.Seconds(), "ready-empty-s"},
	}
	for _, m := range r.Memory {
		unit := "rss-ready-MiB"
		if m.Active >= 0 {
			unit = "rss-" + activeLabel(m.Active) + "-active-MiB"
		}
		metrics = append(metrics, struct {
			v    float64
			unit string
		}{mib(m.RSS), unit}, struct {
			v    float64
			unit string
		}{mib(m.RSSAnon), strings.Replace(unit, "rss-", "rss-anon-", 1)})
	}
	all := append(slices.Clone(r.ColdFirst), r.ColdLater...)
	metrics = append(metrics, []struct {
		v    float64
		unit string
	}{
		{ms(pct(all, 50)), "cold-p50-ms"},
		{ms(pct(all, 99)), "cold-p99-ms"},
		{ms(pct(r.Warm, 50)), "warm-p50-ms"},
		{ms(pct(r.Warm, 99)), "warm-p99-ms"},
		{mib(r.StoreBytes), "store-MiB"},
		{r.SeedTime.Seconds(), "setup-s"},
	}...)
	var b strings.Builder
	fmt.Fprintf(&b, "%s 1", BenchName)
	for _, m := range metrics {
		fmt.Fprintf(&b, " %s %s", strconv.FormatFloat(m.v, 'f', 3, 64), m.unit)
	}
	return b.String()
}

// BenchName is the benchmark name of BenchLine (benchreport.ScaleTargets).
const BenchName = "BenchmarkScaleMillion"

// activeLabel writes 0, 10000, 100000 as 0, 10k, 100k.
func activeLabel(n int) string {
	if n >= 1000 && n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// BenchReport is the BENCH lines of the result's targets.
func (r *Result) BenchReport() ([]benchreport.Line, error) {
	res, err := benchreport.Parse(strings.NewReader(r.BenchLine() + "\n"))
	if err != nil {
		return nil, err
	}
	return benchreport.Report(res, benchreport.ScaleTargets), nil
}

// Print writes the summary.
func (r *Result) Print(w io.Writer) {
	fmt.Fprintf(w, "\nresults (%d accounts, %d tenants × %d enterprises)\n", r.Plan.Accounts, r.Plan.Tenants, r.Plan.Enterprises)
	fmt.Fprintf(w, "  setup (provision + seed)          %s\n", r.SeedTime.Round(time.Millisecond))
	fmt.Fprintf(w, "  store file                        %.1f MiB after setup, %.1f MiB after the run\n", mib(r.StoreBytes), mib(r.StoreBytesAfter))
	fmt.Fprintf(w, "  start → /readyz 200               %s (empty data directory: %s)\n", r.Ready.Round(time.Millisecond), r.ReadyEmpty.Round(time.Millisecond))
	fmt.Fprintf(w, "  tenant index loads                %v\n", r.TenantLoad)
	for _, m := range r.Memory {
		fmt.Fprintf(w, "  VmRSS %-30s %7.1f MiB after GC = anon %7.1f + file %7.1f (%7.1f before; heap in use %.1f MiB; VmHWM %.1f MiB)\n",
			m.Stage, mib(m.RSS), mib(m.RSSAnon), mib(m.RSSFile), mib(m.RSSBefore), mib(m.HeapInuse), mib(m.HWM))
	}
	all := append(slices.Clone(r.ColdFirst), r.ColdLater...)
	fmt.Fprintf(w, "  cold activation, first %d         p50 %s p99 %s max %s\n", len(r.ColdFirst), pct(r.ColdFirst, 50), pct(r.ColdFirst, 99), pct(r.ColdFirst, 100))
	fmt.Fprintf(w, "  cold activation, later %d         p50 %s p99 %s max %s\n", len(r.ColdLater), pct(r.ColdLater, 50), pct(r.ColdLater, 99), pct(r.ColdLater, 100))
	fmt.Fprintf(w, "  cold activation, all %d           p50 %s p99 %s\n", len(all), pct(all, 50), pct(all, 99))
	fmt.Fprintf(w, "  warm request (active account)     p50 %s p99 %s (%d, interleaved with the cold ones)\n", pct(r.Warm, 50), pct(r.Warm, 99), len(r.Warm))
	fmt.Fprintf(w, "  untimed activations, concurrent   %.0f/s\n", r.BulkRate)
	fmt.Fprintln(w, r.BenchLine())
}
