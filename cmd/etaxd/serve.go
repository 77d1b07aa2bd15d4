package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"

	"github.com/etaxd/etaxd/config"
	httpapi "github.com/etaxd/etaxd/http"
	"github.com/etaxd/etaxd/http/h5"
	"github.com/etaxd/etaxd/taxbureau"
	"github.com/etaxd/etaxd/wechat"
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
		fmt.Fprint(stderr, "\nF1–F16 and B1–B8 are the features of docs/FEATURES.md; README.md has every option.\n")
	}
	loader := config.Bind(fs)
	if code, handled := parseFlags(fs, args, stderr); handled {
		return code
	}
	opts, err := loader.Options(nil)
	if err == nil {
		err = opts.ValidateServe()
	}
	if err != nil {
		reportConfig(stderr, err)
		return exitError
	}
	log := newLogger(opts, stderr)
	log.Info("etaxd starting", "version", version, "node", opts.Node(), "data", opts.DataDir, "config", opts.ConfigFile, "dev", opts.Dev)
	warnExposure(log, opts)

	// Listen first: with port 0 the kernel picks the port, and the login
	// links the engine makes and the URLs printed below must name it.
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "etaxd: listen on %s: %v\n", opts.Listen, err)
		return exitError
	}
	opts.Listen = boundListen(opts.Listen, ln.Addr())

	st, err := openStack(opts, log)
	if err != nil {
		ln.Close()
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
	if !opts.Dev && opts.OperatorToken == "" {
		// Production always guards /ops with a token: one of its own,
		// kept in the data directory (which the store's lock now holds)
		// for the operator commands.
		if opts.OperatorToken, err = operatorToken(opts.OperatorTokenPath(), log); err != nil {
			ln.Close()
			fmt.Fprintf(stderr, "etaxd: operator token: %v\n", err)
			return exitError
		}
		st.opts.OperatorToken = opts.OperatorToken
	}

	var ready atomic.Bool
	deps := st.httpDeps(ctx, ready.Load, started)
	app, err := newApp(st, deps, log)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "etaxd: %v\n", err)
		return exitError
	}
	stopNATS, err := httpapi.ServeNATS(ctx, st.bus.Conn(), deps)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "etaxd: nats api: %v\n", err)
		return exitError
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	stopHTTP := func() {
		ready.Store(false)
		stopNATS()
		if err := app.ShutdownWithTimeout(shutdownTimeout); err != nil {
			log.Warn("http shutdown", "err", err)
		}
	}

	where := fmt.Sprintf("etaxd serving on http://%s (data %s", ln.Addr(), opts.DataDir)
	var df *demoFile
	if opts.Demo {
		seedCtx, cancel := context.WithTimeout(ctx, demoTimeout)
		if opts.Cluster.Enabled() {
			df, err = seedClusterDemo(seedCtx, st, opts.DemoPath())
		} else {
			df, err = seedDemo(seedCtx, st, opts.DemoPath())
		}
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
	printURLs(stdout, app.GetRoutes(true), opts, df, selfCommand())
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

// newApp is the HTTP app serve runs on st: the API and operator surface
// (deps), the simulator's test endpoints in dev mode, the H5 pages and
// WeChat's callback when an official account is configured.
func newApp(st *stack, deps httpapi.Deps, log *slog.Logger) (*fiber.App, error) {
	opts := st.opts
	app := httpapi.New(deps)
	if st.sim != nil && opts.SimTestEndpoints() {
		// The simulator's test-only endpoints (/sim/v1: persons, sent codes,
		// passwords, the person's app), as etax-sim serves them: they reveal
		// SMS codes and pass face checks, so this machine's programs and
		// its browser's own pages only.
		app.All(taxbureau.SimPathPrefix+"*", httpapi.LocalOnly, adaptor.HTTPHandler(taxbureau.NewServer(st.sim,
			taxbureau.ServerOptions{TestEndpoints: true, SMS: st.sms, Logger: log.With("component", "sim")})))
	}
	// The H5 personal center: WeChat OAuth2 sign-in when an official
	// account is configured; dev mode without one also signs in with any
	// openid.
	cookieKey, err := st.engine.CookieKey()
	if err != nil {
		return nil, fmt.Errorf("h5 cookie key: %w", err)
	}
	h5.New(st.h5Deps(cookieKey)).Register(app.Group("/h5"))
	if st.wechat != nil {
		// WeChat's callback (docs/WECHAT.md): signature, safe mode, retries.
		// Unfollowing switches the user's accounts to login links (F16) and
		// tells the tenant; delivery reports go to the audit log.
		wxlog, engine := log.With("component", "wechat"), st.engine
		subscription := func(openid string, subscribed bool) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := engine.WeChatSubscription(ctx, openid, subscribed); err != nil {
				wxlog.Error("record subscription", "subscribed", subscribed, "err", err)
			}
		}
		app.All("/wx/callback", adaptor.HTTPHandler(st.wechat.Callback(wechat.Hooks{
			OnSubscribe:   func(openid string) { subscription(openid, true) },
			OnUnsubscribe: func(openid string) { subscription(openid, false) },
			OnTemplateFinished: func(msgID int64, status string, p wechat.SentPrompt) {
				engine.PromptDelivered(p.Tenant, p.Account, p.ID, status)
			},
		})))
	}
	return app, nil
}

// warnExposure logs, at start, what the configuration exposes that an
// operator must know about: everything dev mode serves, the simulator
// chosen as the tax bureau, and prompts without WeChat.
func warnExposure(log *slog.Logger, o config.Options) {
	if o.Dev {
		var exposed []string
		if !o.WeChat.Enabled() {
			exposed = append(exposed, "/h5/dev/signin signs anyone in as any openid, admins included")
		}
		if o.DevInbox() && !o.WeChat.Enabled() {
			exposed = append(exposed, "/dev/inbox and /h5/dev/inbox list every user's prompts")
		}
		if o.SimTestEndpoints() {
			exposed = append(exposed, "/sim/v1 reveals live SMS codes, sets passwords and passes face checks")
		}
		if o.OperatorToken == "" {
			exposed = append(exposed, "/ops and /metrics answer without a token")
		}
		exposed = append(exposed, "a missing master key file is created next to the data")
		log.Warn("DEV MODE: for this machine only (loopback peers, loopback Host, no cross-site requests); "+
			"for a server run --dev=false with a master key and a tax-bureau gateway (docs/SECURITY.md)",
			"exposes", strings.Join(exposed, "; "))
	}
	if o.TaxBureau.InProcess() {
		msg := "tax bureau: the built-in simulator (taxbureau.url=" + config.SimURL + "): ERPs get FAKE sessions, for trials only"
		if o.Dev {
			log.Info(msg)
		} else {
			log.Warn(msg)
		}
	}
	if !o.WeChat.Enabled() {
		where := "handed to the ERP (login_url, F16)"
		if o.Dev {
			where += " and in the dev inbox"
		}
		log.Warn("no WeChat official account (wechat.app_id): no WeChat message is sent; prompts reach people only as login links " + where)
	}
}

// boundListen returns the listen address with the port the listener got
// when the configured one was 0; otherwise the configured address, whose
// host (":8080", "0.0.0.0:8080") says more than the bound one.
func boundListen(configured string, bound net.Addr) string {
	host, port, err := net.SplitHostPort(configured)
	if err != nil || port != "0" {
		return configured
	}
	if _, p, err := net.SplitHostPort(bound.String()); err == nil {
		return net.JoinHostPort(host, p)
	}
	return configured
}

// printURLs writes, below the serving line, where etaxd's endpoints are
// and, with the demo, its API key and a signed request to paste. It names
// only the routes the app serves (routes), so it never points at an
// endpoint that is not mounted. self is how the user runs etaxd.
func printURLs(w io.Writer, routes []fiber.Route, opts config.Options, df *demoFile, self string) {
	has := func(method, path string, prefix bool) bool {
		return slices.ContainsFunc(routes, func(r fiber.Route) bool {
			return r.Method == method && (r.Path == path || prefix && strings.HasPrefix(r.Path, path+"/"))
		})
	}
	base := opts.BaseURL()
	// The commands printed must work when pasted: they name the server
	// and the data directory unless the client finds them by default.
	def := config.Default()
	serverFlag, dataFlag := "", ""
	if opts.LocalURL() != def.LocalURL() {
		serverFlag = " --server " + shellQuote(opts.LocalURL())
	}
	if filepath.Clean(opts.DataDir) != filepath.Clean(def.DataDir) {
		dataFlag = " --data " + shellQuote(opts.DataDir)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if has(fiber.MethodPost, "/api/v1", true) || has(fiber.MethodGet, "/api/v1", true) {
		fmt.Fprintf(tw, "  client API\t%s/api/v1\n", base)
	}
	if has(fiber.MethodGet, "/ops/status", false) {
		fmt.Fprintf(tw, "  status\t%s/ops/status\t(%s status%s)\n", base, self, serverFlag)
	}
	if has(fiber.MethodGet, "/metrics", false) {
		fmt.Fprintf(tw, "  metrics\t%s/metrics\n", base)
	}
	if has(fiber.MethodGet, "/dev/inbox", false) {
		openid := "OPENID"
		if df != nil {
			openid = df.OpenID
		}
		fmt.Fprintf(tw, "  dev inbox\t%s/dev/inbox?openid=%s\n", base, url.QueryEscape(openid))
	}
	if opts.Dev && has(fiber.MethodGet, "/h5/dev/signin", false) {
		fmt.Fprintf(tw, "  personal center\t%s/h5/dev/signin\t(dev sign-in: pick an openid)\n", base)
	}
	if opts.Dev && has(fiber.MethodGet, "/h5/dev/inbox", false) {
		fmt.Fprintf(tw, "  dev inbox page\t%s/h5/dev/inbox\t(the prompts as a phone shows them)\n", base)
	}
	if df != nil && df.APIKeyID != "" {
		fmt.Fprintf(tw, "  demo API key\t%s\t(secret in %s)\n", df.APIKeyID, opts.DemoPath())
	}
	_ = tw.Flush()
	if df == nil || len(df.Enterprises) == 0 || !has(fiber.MethodPost, "/api/v1/sessions", false) {
		return
	}
	cmd := self + " call --demo" + serverFlag + dataFlag
	body := fmt.Sprintf(`{"tax_no":%q,"business":"issue","action":"login"}`, df.Enterprises[0].TaxNo)
	fmt.Fprintf(w, "  try a signed request (the demo's %s, default account for invoicing):\n    %s POST /api/v1/sessions %s\n",
		df.Enterprises[0].Name, cmd, shellQuote(body))
}

// selfCommand is how the user ran etaxd, for the commands etaxd prints:
// "go run ./cmd/etaxd" under go run (whose binary is temporary), else the
// name or path it was started by.
func selfCommand() string {
	if exe := os.Args[0]; !strings.Contains(exe, "go-build") {
		return exe
	}
	return "go run ./cmd/etaxd"
}
