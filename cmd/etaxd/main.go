// Command etaxd is the session manager for Chinese e-tax-bureau accounts.
//
//	etaxd [serve] [flags]   run the server (the default)
//	etaxd version           print the version
//	etaxd status | tenant | enterprise | apikey | audit | call | sign
//	                        clients of a running etaxd
//	etaxd keys init         create the master key file for production
//	etaxd keys rotate       re-encrypt the store under a new master key (offline)
//
// main only wires the process to run: signals, arguments and the exit code.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
