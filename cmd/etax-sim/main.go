// Command etax-sim serves the tax-bureau simulator over HTTP: the gateway
// contract of docs/GATEWAY.md under /gateway/v1/ and, for tests, the
// /sim/v1/ endpoints that create persons and read the codes "sent" to their
// phones. etaxd talks to it with taxbureau.Client (taxbureau.url).
//
//	etax-sim [--listen 127.0.0.1:8090] [--token T] [--seed persons.json] [flags]
//
// It prints one line with its URL on stdout, logs on stderr, and stops
// cleanly on SIGINT or SIGTERM. main only wires the process: signals,
// arguments, the environment and the exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
