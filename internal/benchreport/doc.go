// Package benchreport turns the output of `go test -bench` into one line
// per performance target of docs/PERFORMANCE.md:
//
//	BENCH <name> <measured> <target> <ok|short>
//
// A target names a benchmark, the metric it reports with b.ReportMetric
// (mostly a ratio against the raw building block, measured in the same
// run; B1's code-to-last-waiter target is a latency in milliseconds) and
// the bound the metric must meet (Targets; adding a target is one line
// there). When the benchmark ran several times (-count), the measured value
// is the median; a target whose benchmark did not run is short, with "n/a"
// measured. `make bench` pipes its benchmarks through cmd/benchreport.
// ScaleTargets are `make bench-scale`'s: internal/scale prints its figures
// as one Go-benchmark-format line and reports them with Parse and Report.
//
// Concurrency: Parse and Report are pure functions of their arguments; the
// package holds no state but the Targets and ScaleTargets tables, which are read only.
package benchreport
