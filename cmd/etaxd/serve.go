package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/etaxd/etaxd/config"
	httpapi "github.com/etaxd/etaxd/http"
)

// shutdownTimeout bounds the wait for open HTTP requests at shutdown.
const shutdownTimeout = 10 * time.Second

// serve runs etaxd until ctx ends: load the options, build the stack, seed
// the demo when asked, serve HTTP, then shut down in reverse order.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	started := time.Now()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: etaxd serve [flags]\n\nFlags:\n")
		config.PrintUsage(stderr)
	}
	loader := config.Bind(fs)
	if code, handled := parseFlags(fs, args, stderr); handled {
		return code
	}
	opts, err := loader.Options(nil)
	if err != nil {
		reportConfig(stderr, err)
		return exitError
	}
	log := newLogger(opts, stderr)
	log.Info("etaxd starting", "version", version, "node", opts.Node(), "data", opts.DataDir, "config", opts.ConfigFile, "dev", opts.Dev)

	st, err := openStack(opts, log)
	if err != nil {
		fmt.Fprintf(stderr, "etaxd: %v\n", err)
		return exitError
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("close store", "err", err)
			return
		}
		log.Info("etaxd stopped")
	}()

	var ready atomic.Bool
	app := httpapi.New(httpapi.Deps{
		Engine: st.engine, Store: st.store, Ready: ready.Load,
		Node: opts.Node(), Version: version, Started: started, Logger: log.With("component", "http"),
	})
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "etaxd: listen on %s: %v\n", opts.Listen, err)
		return exitError
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	stopHTTP := func() {
		ready.Store(false)
		if err := app.ShutdownWithTimeout(shutdownTimeout); err != nil {
			log.Warn("http shutdown", "err", err)
		}
	}

	where := fmt.Sprintf("etaxd serving on http://%s (data %s", ln.Addr(), opts.DataDir)
	if opts.Demo {
		seedCtx, cancel := context.WithTimeout(ctx, demoTimeout)
		df, err := seedDemo(seedCtx, st, opts.DemoPath())
		cancel()
		if err != nil {
			stopHTTP()
			if ctx.Err() != nil { // SIGINT or SIGTERM while seeding
				log.Info("etaxd shutting down", "reason", "signal during start")
				return exitOK
			}
			fmt.Fprintf(stderr, "etaxd: demo: %v\n", err)
			return exitError
		}
		where += fmt.Sprintf("; demo tenant %q described in %s", df.TenantID, opts.DemoPath())
	}
	ready.Store(true)
	where += ")"
	fmt.Fprintln(stdout, where)
	log.Info("etaxd ready", "listen", ln.Addr().String(), "data", opts.DataDir, "demo", opts.Demo)

	code := exitOK
	select {
	case <-ctx.Done():
		log.Info("etaxd shutting down", "reason", "signal")
	case err := <-served:
		log.Error("http server stopped", "err", err)
		code = exitError
	}
	stopHTTP()
	return code // the deferred Close stops the actors, then closes the store
}
