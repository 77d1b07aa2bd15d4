package scale

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/internal/benchreport"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/sign"
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
	p, err := startEtaxd(ctx, c.Etaxd, empty, filepath.Join(c.Dir, "etaxd-empty.log"))
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

	p, err = startEtaxd(ctx, c.Etaxd, dir, filepath.Join(c.Dir, "etaxd-million.log"))
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

// proc is a running etaxd.
type proc struct {
	cmd    *exec.Cmd
	base   string
	ready  time.Duration
	client *http.Client
	freed  chan string // the memory hook's lines
	done   chan error  // Wait's outcome
	log    *os.File
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startEtaxd starts `etaxd serve --dev` on dir and returns once /readyz
// answers 200, with the time since the process was started.
func startEtaxd(ctx context.Context, bin, dir, logPath string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &proc{base: "http://127.0.0.1:" + strconv.Itoa(port), freed: make(chan string, 4), done: make(chan error, 1), log: lf,
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	// Idle accounts would passivate after 10 min; the run must see every
	// activated account still active. Request log lines at info level
	// would be written for every request: warn keeps stderr quiet.
	p.cmd = exec.Command(bin, "serve", "--dev", "--data", dir, "--listen", "127.0.0.1:"+strconv.Itoa(port),
		"--idle-timeout", "2h", "--log-level", "warn")
	p.cmd.Stdout = lf
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(lf, line)
			if strings.HasPrefix(line, "etaxd-scale: memory freed") {
				p.freed <- line
			}
		}
		p.done <- p.cmd.Wait()
	}()
	for {
		if r, err := p.client.Get(p.base + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				p.ready = time.Since(start)
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("etaxd exited before it was ready (%v); see %s", err, logPath)
		case <-ctx.Done():
			p.kill()
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
		if time.Since(start) > 5*time.Minute {
			p.kill()
			return nil, fmt.Errorf("etaxd not ready after 5 min; see %s", logPath)
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case err := <-p.done:
		p.log.Close()
		p.done <- err // for kill
		if err != nil {
			return fmt.Errorf("etaxd: %w", err)
		}
		return nil
	case <-time.After(2 * time.Minute):
		p.kill()
		return errors.New("etaxd did not stop within 2 min of SIGTERM")
	}
}

// kill ends the process if it still runs.
func (p *proc) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
	}
}

// memory asks the process to collect its garbage and return it to the OS
// (SIGUSR1, the etaxdscale hook), waits for its line, then reads VmRSS.
func (p *proc) memory(ctx context.Context, stage string) (Memory, error) {
	m := Memory{Stage: stage}
	var err error
	var before procStatus
	if before, err = procMem(p.cmd.Process.Pid); err != nil {
		return m, err
	}
	m.RSSBefore = before.rss
	if err := p.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return m, err
	}
	var line string
	select {
	case line = <-p.freed:
	case <-time.After(2 * time.Minute):
		return m, errors.New("etaxd did not answer SIGUSR1 within 2 min: was it built with -tags etaxdscale?")
	case <-ctx.Done():
		return m, ctx.Err()
	}
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "heap_inuse":
			m.HeapInuse = n
		case "stacks":
			m.Stacks = n
		case "goroutines":
			m.Goroutines = int(n)
		}
	}
	after, err := procMem(p.cmd.Process.Pid)
	if err != nil {
		return m, err
	}
	m.RSS, m.HWM, m.RSSAnon, m.RSSFile = after.rss, after.hwm, after.anon, after.file
	var st struct {
		Engine struct {
			ActiveAccounts int64 `json:"active_accounts"`
		} `json:"engine"`
		Caches map[string]int `json:"caches"`
	}
	if err := p.ops(ctx, "/ops/status", &st); err != nil {
		return m, err
	}
	m.ActiveAccounts, m.Nonces = st.Engine.ActiveAccounts, st.Caches["nonces"]
	return m, nil
}

type procStatus struct{ rss, hwm, anon, file int64 }

// procMem reads VmRSS, VmHWM, RssAnon and RssFile of pid, in bytes.
func procMem(pid int) (procStatus, error) {
	var s procStatus
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			s.rss = kb << 10
		case "VmHWM:":
			s.hwm = kb << 10
		case "RssAnon:":
			s.anon = kb << 10
		case "RssFile:":
			s.file = kb << 10
		}
	}
	if s.rss == 0 {
		return s, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return s, nil
}

// ops GETs an operator endpoint (dev mode: no token, from this machine)
// into v.
func (p *proc) ops(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	if err != nil {
		return err
	}
	r, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, r.Status, b)
	}
	return json.Unmarshal(b, v)
}

// session is POST /api/v1/sessions for the account, signed with its
// tenant's key; it checks the answer is ready with the account's own
// session, and returns the round trip's time.
func (p *proc) session(ctx context.Context, t *Tenant, id string) (time.Duration, error) {
	body := []byte(`{"account_id":"` + id + `","business":"issue"}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+"/api/v1/sessions", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range sign.Headers(t.KeyID, []byte(t.KeySecret), http.MethodPost, "/api/v1/sessions", body, time.Now()) {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	r, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	b, err := io.ReadAll(r.Body)
	d := time.Since(start)
	r.Body.Close()
	if err != nil {
		return 0, err
	}
	var sr actors.SessionReply
	if r.StatusCode != http.StatusOK || json.Unmarshal(b, &sr) != nil || sr.State != actors.RequestReady ||
		sr.Session == nil || sr.Session.Token != Token(id) {
		return 0, fmt.Errorf("session of %s/%s: %s %s", t.ID, id, r.Status, b)
	}
	return d, nil
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

// dropFromCache syncs the file at path and asks the kernel to drop its
// pages from the page cache.
func dropFromCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return err
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("scale: drop %s from the page cache: %w", path, err)
	}
	return nil
}
