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

package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

func init() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	go func() {
		for range c {
			debug.FreeOSMemory()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Fprintf(os.Stderr, "etaxd-scale: memory freed heap_inuse=%d heap_released=%d stacks=%d sys=%d goroutines=%d\n",
				m.HeapInuse, m.HeapReleased, m.StackInuse, m.Sys, runtime.NumGoroutine())
		}
	}()
}
