package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/taxbureau"
)

// shutdownGrace bounds the wait for requests in flight at shutdown.
const shutdownGrace = 10 * time.Second

// run is the whole program: it returns 0 after a clean shutdown when ctx
// ends, 1 when serving fails, 2 for bad flags or configuration.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("etax-sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := taxbureau.DefaultSimConfig()
	listen := fs.String("listen", envOr(getenv, "ETAX_SIM_LISTEN", "127.0.0.1:8090"), "`address` to listen on (env ETAX_SIM_LISTEN; port 0 picks a free one)")
	token := fs.String("token", getenv("ETAX_SIM_TOKEN"), "bearer `token` required on /gateway/v1 (env ETAX_SIM_TOKEN); empty: none")
	testEndpoints := fs.Bool("test-endpoints", true, "serve the test-only /sim/v1 endpoints (unauthenticated)")
	seed := fs.String("seed", "", "JSON `file` with a list of persons to register at start (the shape of POST /sim/v1/persons)")
	sessionLength := fs.Duration("session-length", def.SessionLength, "how long a bureau session lives")
	qrValidity := fs.Duration("qr-validity", def.QRValidity, "how long a login QR code may be scanned")
	faceValidity := fs.Duration("face-validity", def.FaceValidity, "how long a face-certification code may be passed")
	codeValidity := fs.Duration("code-validity", def.CodeValidity, "how long an SMS code may be submitted")
	certValidity := fs.Duration("cert-validity", def.CertValidity, "how long a passed face certification counts (0: one invoice)")
	smsPerDay := fs.Int("sms-per-day", def.SMSPerPhonePerDay, "SMS codes per phone per region per bureau day")
	noSMS := fs.String("no-sms-regions", strings.Join(def.NoSMSRegions, ","), "comma-separated region `codes` whose login skips the SMS step (empty: none)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "etax-sim: unexpected arguments %q\n", fs.Args())
		return 2
	}

	cfg := def
	cfg.SessionLength, cfg.QRValidity, cfg.FaceValidity = *sessionLength, *qrValidity, *faceValidity
	cfg.CodeValidity, cfg.CertValidity, cfg.SMSPerPhonePerDay = *codeValidity, *certValidity, *smsPerDay
	cfg.NoSMSRegions = splitList(*noSMS)
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "etax-sim: configuration: %v\n", err)
		return 2
	}

	log := slog.New(slog.NewTextHandler(stderr, nil))
	sim := taxbureau.NewSimulator(cfg, clock.Real{})
	if *seed != "" {
		n, err := seedPersons(sim, *seed)
		if err != nil {
			fmt.Fprintf(stderr, "etax-sim: seed %s: %v\n", *seed, err)
			return 2
		}
		log.Info("seeded persons", "file", *seed, "count", n)
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "etax-sim: listen on %s: %v\n", *listen, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.Handle("/", taxbureau.NewServer(sim, taxbureau.ServerOptions{
		Token: *token, TestEndpoints: *testEndpoints, Logger: log,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true}`+"\n")
	})
	// Requests hang off base, so a shutdown ends the long polls of
	// sms/fetch at once instead of waiting out their minute.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if *testEndpoints {
		log.Warn("serving the test-only /sim/v1 endpoints without authentication; never expose them")
	}
	fmt.Fprintf(stdout, "etax-sim listening on http://%s\n", ln.Addr())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		log.Error("serve", "err", err)
		return 1
	case <-ctx.Done():
	}
	cancelBase()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	<-served
	log.Info("stopped")
	return 0
}

// seedPersons registers the persons of a JSON file and reports how many.
func seedPersons(sim *taxbureau.Simulator, file string) (int, error) {
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	ps, err := taxbureau.DecodePersons(f)
	if err != nil {
		return 0, err
	}
	for _, p := range ps {
		if err := sim.AddPerson(p); err != nil {
			return 0, fmt.Errorf("person %s: %w", p.Username, err)
		}
	}
	return len(ps), nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
