package benchreport

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Target is one performance target: Metric of Benchmark must be at least
// (AtMost false) or at most (AtMost true) Bound.
type Target struct {
	Name      string  // the name on the BENCH line
	Benchmark string  // the benchmark's name, sub-benchmarks with '/', without the -GOMAXPROCS suffix
	Metric    string  // the unit given to b.ReportMetric
	Bound     float64 // the target
	AtMost    bool    // the metric must not exceed Bound (a latency or a latency ratio)
}

// Targets are the targets `make bench` reports, in the order it reports
// them. Each is a ratio against the raw building block measured in the
// same run, except code-to-last-waiter-p99: B1's promise, the milliseconds
// from an SMS code's submission to the last of 1,000 waiting clients'
// replies, and prompt-to-wechat-p99: the milliseconds from a client's
// request to its prompt's template message reaching WeChat (see
// docs/PERFORMANCE.md).
var Targets = []Target{
	{Name: "durable-1-tenant", Benchmark: "BenchmarkRatioDurable/1-tenant", Metric: "ratio", Bound: 0.5},
	{Name: "durable-16-tenants", Benchmark: "BenchmarkRatioDurable/16-tenants", Metric: "ratio", Bound: 0.5},
	{Name: "session-hot-path", Benchmark: "BenchmarkRatioHotPath", Metric: "ratio", Bound: 0.7},
	{Name: "api-sessions", Benchmark: "BenchmarkRatioAPISessions", Metric: "ratio", Bound: 0.6},
	{Name: "api-sessions-p99", Benchmark: "BenchmarkRatioAPISessions", Metric: "p99-ratio", Bound: 2, AtMost: true},
	{Name: "cluster-nonowner-sessions", Benchmark: "BenchmarkClusterSessions", Metric: "nonowner/owner", Bound: 0.5},
	{Name: "code-to-last-waiter-p99", Benchmark: "BenchmarkB1CodeToLastWaiter", Metric: "code-to-last-ms-p99", Bound: 50, AtMost: true},
	{Name: "api-sessions-shared-nonces", Benchmark: "BenchmarkRatioAPISessionsSharedNonces", Metric: "ratio", Bound: 0.6},
	{Name: "api-sessions-shared-nonces-p99", Benchmark: "BenchmarkRatioAPISessionsSharedNonces", Metric: "p99-ratio", Bound: 2, AtMost: true},
	{Name: "prompt-to-wechat-p99", Benchmark: "BenchmarkPromptToWeChat", Metric: "prompt-out-ms-p99", Bound: 20, AtMost: true},
}

// Results maps a benchmark name (without the -GOMAXPROCS suffix) to its
// metrics, each with the values of every run in output order.
type Results map[string]map[string][]float64

// procSuffix is the -GOMAXPROCS suffix go test appends to a name.
var procSuffix = regexp.MustCompile(`-\d+$`)

// Parse reads `go test -bench` output and collects every benchmark
// result line: name, iterations, then value-unit pairs. Other lines (the
// package headers, PASS, logs) are skipped. It fails only when r does.
func Parse(r io.Reader) (Results, error) {
	res := Results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue // a log line that starts with a benchmark's name
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			if res[name] == nil {
				res[name] = map[string][]float64{}
			}
			res[name][f[i+1]] = append(res[name][f[i+1]], v)
		}
	}
	return res, sc.Err()
}

// Line is one target's outcome.
type Line struct {
	Target
	Measured float64
	Runs     int // how many results the median is of; 0: the benchmark did not run
	OK       bool
}

// String is the BENCH line.
func (l Line) String() string {
	measured, status := "n/a", "short"
	if l.Runs > 0 {
		measured = strconv.FormatFloat(l.Measured, 'f', 3, 64)
	}
	if l.OK {
		status = "ok"
	}
	op := ">="
	if l.AtMost {
		op = "<="
	}
	return fmt.Sprintf("BENCH %s %s %s%s %s", l.Name, measured, op, strconv.FormatFloat(l.Bound, 'g', -1, 64), status)
}

// Report measures each target against res: the median of its metric's
// values, compared with its bound.
func Report(res Results, targets []Target) []Line {
	lines := make([]Line, 0, len(targets))
	for _, t := range targets {
		l := Line{Target: t}
		if vs := res[t.Benchmark][t.Metric]; len(vs) > 0 {
			l.Runs = len(vs)
			l.Measured = median(vs)
			if t.AtMost {
				l.OK = l.Measured <= t.Bound
			} else {
				l.OK = l.Measured >= t.Bound
			}
		}
		lines = append(lines, l)
	}
	return lines
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}
