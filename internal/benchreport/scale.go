package benchreport

// ScaleTargets are the targets `make bench-scale` reports (internal/scale):
// absolute figures of one real etaxd process holding 1,000,000 registered
// accounts, not ratios, measured by one run of the scale tool, which prints
// them as metrics of BenchmarkScaleMillion (see docs/PERFORMANCE.md, "(b) A
// real million"). They are not in Targets: `make bench` does not run the
// tool, and TestTargetsExist looks for benchmarks in test files;
// internal/scale's TestBenchLineHasTargets checks these.
var ScaleTargets = []Target{
	{Name: "scale-ready-s", Benchmark: "BenchmarkScaleMillion", Metric: "ready-s", Bound: 3, AtMost: true},
	{Name: "scale-rss-100k-active-mib", Benchmark: "BenchmarkScaleMillion", Metric: "rss-100k-active-MiB", Bound: 1024, AtMost: true},
	{Name: "scale-cold-activation-p99-ms", Benchmark: "BenchmarkScaleMillion", Metric: "cold-p99-ms", Bound: 2, AtMost: true},
}
