//go:build etaxdscale

// The memory hook of `make bench-scale` (internal/scale), only in a binary
// built with -tags etaxdscale, never in etaxd's own builds: on SIGUSR1 the
// process collects its garbage and returns the freed memory to the OS
// (debug.FreeOSMemory), then prints one line on stderr,
//
//	etaxd-scale: memory freed heap_inuse=<bytes> heap_released=<bytes> stacks=<bytes> sys=<bytes> goroutines=<n>
//
// so that the benchmark reads VmRSS once it holds what lives, not garbage
// the collector has not reached yet. Only the process's owner (or root)
// can send the signal.
//
// With ETAXD_SCALE_HEAPPROFILE=<prefix> in its environment it also writes
// a heap profile after each collection, to <prefix>.<n>.pb.gz (n = 1, 2, …
// in the order of the signals), for `go tool pprof`.

package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
)

func init() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	prefix := os.Getenv("ETAXD_SCALE_HEAPPROFILE")
	go func() {
		n := 0
		for range c {
			debug.FreeOSMemory()
			if prefix != "" {
				n++
				writeHeapProfile(fmt.Sprintf("%s.%d.pb.gz", prefix, n))
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Fprintf(os.Stderr, "etaxd-scale: memory freed heap_inuse=%d heap_released=%d stacks=%d sys=%d goroutines=%d\n",
				m.HeapInuse, m.HeapReleased, m.StackInuse, m.Sys, runtime.NumGoroutine())
		}
	}()
}

func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "etaxd-scale: heap profile:", err)
	}
}
