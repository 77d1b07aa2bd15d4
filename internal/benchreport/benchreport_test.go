package benchreport

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: github.com/etaxd/etaxd/actors
BenchmarkRatioDurable/1-tenant-2         	       3	 958708140 ns/op	      5330 ours/s	         0.2774 ratio	     19212 raw/s
BenchmarkRatioDurable/1-tenant-2         	       3	 958708140 ns/op	      5330 ours/s	         0.5100 ratio	     19212 raw/s
BenchmarkRatioDurable/1-tenant-2         	       3	 958708140 ns/op	      5330 ours/s	         0.4900 ratio	     19212 raw/s
BenchmarkRatioDurable/16-tenants-2       	       3	1435328694 ns/op	      3395 ours/s	         0.6181 ratio	     15565 raw/s
BenchmarkRatioDurable/16-tenants logged something: 1 2
BenchmarkRatioHotPath-16                 	       8	  81234567 ns/op	    250000 ours/s	         0.75 ratio
BenchmarkB1CodeToLastWaiter-2   	       5	 133504689 ns/op	         4.854 answer-ms-p50	         5.578 code-to-last-ms-p50	         8.524 code-to-last-ms-p99
BenchmarkB1CodeToLastWaiter-2   	       5	 133504689 ns/op	         4.854 answer-ms-p50	         5.578 code-to-last-ms-p50	        61.5 code-to-last-ms-p99
BenchmarkB1CodeToLastWaiter-2   	       5	 133504689 ns/op	         4.854 answer-ms-p50	         5.578 code-to-last-ms-p50	        12.25 code-to-last-ms-p99
PASS
pkg: github.com/etaxd/etaxd/http
BenchmarkRatioAPISessions-2 	       8	 1000 ns/op	 0.68 ratio	 2.5 p99-ratio	 12 p99-ours-ms
ok  	github.com/etaxd/etaxd/http	12.3s
pkg: github.com/etaxd/etaxd/tests/cluster
BenchmarkClusterSessions-2 	       1	11705892785 ns/op	         0.9133 nonowner/owner	         0.9054 p99-nonowner/owner
`

func TestReport(t *testing.T) {
	res, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := res["BenchmarkRatioDurable/1-tenant"]["ratio"]; len(got) != 3 {
		t.Fatalf("1-tenant ratios %v, want three", got)
	}
	targets := append(Targets[:len(Targets):len(Targets)], Target{Name: "absent", Benchmark: "BenchmarkNone", Metric: "ratio", Bound: 1})
	var got []string
	for _, l := range Report(res, targets) {
		got = append(got, l.String())
	}
	want := []string{
		"BENCH durable-1-tenant 0.490 >=0.5 short", // median of three
		"BENCH durable-16-tenants 0.618 >=0.5 ok",
		"BENCH session-hot-path 0.750 >=0.7 ok",
		"BENCH api-sessions 0.680 >=0.6 ok",
		"BENCH api-sessions-p99 2.500 <=2 short",
		"BENCH cluster-nonowner-sessions 0.913 >=0.5 ok",
		"BENCH code-to-last-waiter-p99 12.250 <=50 ok", // median of three, one over the bound
		"BENCH api-sessions-shared-nonces n/a >=0.6 short",
		"BENCH api-sessions-shared-nonces-p99 n/a <=2 short",
		"BENCH prompt-to-wechat-p99 n/a <=20 short",
		"BENCH absent n/a >=1 short",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("report:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestMedianEven(t *testing.T) {
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Fatalf("median = %v", m)
	}
}

// TestTargetsExist: every target names a benchmark of the module that
// reports its metric, so a renamed benchmark or unit fails here rather
// than turning its line into a silent "n/a".
func TestTargetsExist(t *testing.T) {
	root := filepath.Join("..", "..")
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "third_party" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, "_test.go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range Targets {
		top, sub, _ := strings.Cut(tg.Benchmark, "/")
		found := false
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			src := string(b)
			if strings.Contains(src, "func "+top+"(b *testing.B)") &&
				(sub == "" || strings.Contains(src, `b.Run("`+sub+`"`)) {
				found = true
				if !strings.Contains(src, `"`+tg.Metric+`")`) {
					t.Errorf("target %s: %s does not report %q", tg.Name, f, tg.Metric)
				}
			}
		}
		if !found {
			t.Errorf("target %s: no benchmark %s in the module", tg.Name, tg.Benchmark)
		}
	}
}
