// Command scale is `make bench-scale`: it writes a million registered
// accounts into a bbolt store as the engine writes them, starts a real
// etaxd on it and measures readiness, memory and cold activations
// (package scale). It prints its progress, a summary, a Go benchmark
// result line and the BENCH lines of benchreport.ScaleTargets.
//
//	go build -tags etaxdscale -o bin/etaxd-scale ./cmd/etaxd
//	go run ./internal/scale/cmd/scale -etaxd bin/etaxd-scale
//
// Exit code 0 when the run completed (whether or not a target is met; with
// -strict 1 when one is short), 1 on a failed run, 2 on a usage error.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/etaxd/etaxd/internal/scale"
)

func main() {
	etaxd := flag.String("etaxd", "bin/etaxd-scale", "etaxd binary built with -tags etaxdscale")
	dir := flag.String("dir", "", "work directory for the data directories and logs (default: a new one under bin/; removed afterwards unless -keep)")
	keep := flag.Bool("keep", false, "keep the work directory")
	accounts := flag.Int("accounts", 1_000_000, "registered accounts")
	tenants := flag.Int("tenants", 4, "tenants")
	enterprises := flag.Int("enterprises", 5, "enterprises per tenant")
	samples := flag.Int("cold-samples", 10_000, "cold activations timed one at a time, at each of two points")
	coldCache := flag.Bool("cold-cache", false, "drop the store file from the page cache before etaxd starts on it (as after a host's restart)")
	workers := flag.Int("workers", 8, "concurrent clients of the untimed activations")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "seed of the activation order")
	serveArgs := flag.String("serve-args", "", "more arguments for etaxd serve, separated by spaces (e.g. --store-keep-read-pages)")
	strict := flag.Bool("strict", false, "exit 1 when a target is short")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "scale: unexpected argument", flag.Arg(0))
		os.Exit(2)
	}
	active := []int{10_000, 100_000}
	if *accounts < 200_000 { // small runs, for trying the tool
		active = []int{*accounts / 20, *accounts / 4}
		*samples = min(*samples, active[0])
	}
	work := *dir
	if work == "" {
		if err := os.MkdirAll("bin", 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(1)
		}
		var err error
		if work, err = os.MkdirTemp("bin", "bench-scale-"); err != nil {
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(1)
		}
	}
	if !*keep {
		defer os.RemoveAll(work)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	host, _ := os.Hostname()
	fmt.Printf("bench-scale: %d accounts, %d tenants × %d enterprises; %s, GOMAXPROCS %d on %d CPUs, host %s; work dir %s; seed %d\n",
		*accounts, *tenants, *enterprises, runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU(), host, work, *seed)
	res, err := scale.Run(ctx, scale.Config{Etaxd: *etaxd, Dir: work, Plan: scale.Plan{Tenants: *tenants, Enterprises: *enterprises, Accounts: *accounts},
		ColdSamples: *samples, Active: active, Workers: *workers, Seed: *seed, ColdCache: *coldCache, ServeArgs: strings.Fields(*serveArgs), Out: os.Stdout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		if !*keep {
			fmt.Fprintln(os.Stderr, "scale: the etaxd logs were in", filepath.Join(work, "etaxd-*.log"), "(removed; -keep keeps them)")
		}
		stop()
		os.RemoveAll(work)
		os.Exit(1)
	}
	res.Print(os.Stdout)
	lines, err := res.BenchReport()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	short := false
	for _, l := range lines {
		fmt.Println(l)
		short = short || !l.OK
	}
	if *strict && short {
		os.Exit(1)
	}
}
