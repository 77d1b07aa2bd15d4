package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"runtime"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/persistence"
)

// Engine is what the HTTP side needs of the actor system for now;
// *actors.Engine implements it.
type Engine interface {
	Stats() actors.StatsSnapshot
}

// Store is what the ops endpoints read of the store; *persistence.Bolt
// implements it.
type Store interface {
	Get(ctx context.Context, key string) (persistence.Record, error)
	Stats() persistence.BoltStats
}

// Deps are the parts the app is built from. Engine and Store may be nil
// while etaxd starts (readyz then answers 503); Ready, when set, is asked as
// well, so the caller can hold readiness back (during demo seeding) and
// withdraw it before shutdown.
type Deps struct {
	Engine  Engine
	Store   Store
	Ready   func() bool
	Node    string
	Version string
	// Started is when the node started; zero means when New was called.
	Started time.Time
	// Now is the clock for uptime; nil means time.Now.
	Now func() time.Time
	// Logger receives 5xx causes; nil means slog.Default().
	Logger *slog.Logger
}

// probeKey is read by /readyz to see that the store answers. Nothing
// writes it: a healthy store answers persistence.ErrNotFound.
const probeKey = "ops/readyz-probe"

// probeTimeout bounds the readiness probe.
const probeTimeout = 2 * time.Second

// New returns the Fiber app serving d. Its startup banner is off: etaxd
// prints its own line saying where it listens.
func New(d Deps) *fiber.App {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Started.IsZero() {
		d.Started = d.Now()
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	app := fiber.New(fiber.Config{
		AppName:               "etaxd",
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		ErrorHandler:          errorHandler(d.Logger),
	})
	app.Use(requestid.New(requestid.Config{Generator: newRequestID}))
	app.Use(recover.New())
	h := &handlers{d: d}
	app.Get("/healthz", h.healthz)
	app.Get("/readyz", h.readyz)
	app.Get("/ops/status", h.status)
	return app
}

type handlers struct{ d Deps }

func (h *handlers) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

func (h *handlers) readyz(c *fiber.Ctx) error {
	reasons := h.notReady(c.UserContext())
	if len(reasons) > 0 {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "not_ready", "reasons": reasons})
	}
	return c.JSON(fiber.Map{"status": "ready"})
}

// notReady lists why the node cannot take work: "engine", "store",
// "starting" (Ready said no). Empty means ready.
func (h *handlers) notReady(ctx context.Context) []string {
	var reasons []string
	if h.d.Engine == nil {
		reasons = append(reasons, "engine")
	}
	if h.d.Store == nil {
		reasons = append(reasons, "store")
	} else {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		_, err := h.d.Store.Get(ctx, probeKey)
		cancel()
		if err != nil && !errors.Is(err, persistence.ErrNotFound) {
			h.d.Logger.Warn("readyz: store probe failed", "err", err)
			reasons = append(reasons, "store")
		}
	}
	if h.d.Ready != nil && !h.d.Ready() {
		reasons = append(reasons, "starting")
	}
	return reasons
}

// Status is the body of GET /ops/status.
type Status struct {
	Node          string                `json:"node"`
	Version       string                `json:"version"`
	GoVersion     string                `json:"go_version"`
	StartedAt     time.Time             `json:"started_at"`
	UptimeSeconds float64               `json:"uptime_seconds"`
	Ready         bool                  `json:"ready"`
	Goroutines    int                   `json:"goroutines"`
	Engine        *actors.StatsSnapshot `json:"engine"`
	Store         *StoreStatus          `json:"store"`
}

// StoreStatus is persistence.BoltStats as JSON, latencies in milliseconds.
type StoreStatus struct {
	Commits             uint64  `json:"commits"`
	Refused             uint64  `json:"refused"`
	Failed              uint64  `json:"failed"`
	Cancelled           uint64  `json:"cancelled"`
	Transactions        uint64  `json:"transactions"`
	Ops                 uint64  `json:"ops"`
	AvgBatch            float64 `json:"avg_batch"`
	LastBatch           int     `json:"last_batch"`
	LastCommitLatencyMS float64 `json:"last_commit_latency_ms"`
	MaxCommitLatencyMS  float64 `json:"max_commit_latency_ms"`
}

func (h *handlers) status(c *fiber.Ctx) error {
	now := h.d.Now()
	s := Status{
		Node: h.d.Node, Version: h.d.Version, GoVersion: runtime.Version(),
		StartedAt: h.d.Started.UTC(), UptimeSeconds: now.Sub(h.d.Started).Seconds(),
		Ready: len(h.notReady(c.UserContext())) == 0, Goroutines: runtime.NumGoroutine(),
	}
	if h.d.Engine != nil {
		es := h.d.Engine.Stats()
		s.Engine = &es
	}
	if h.d.Store != nil {
		bs := h.d.Store.Stats()
		s.Store = &StoreStatus{
			Commits: bs.Commits, Refused: bs.Refused, Failed: bs.Failed, Cancelled: bs.Cancelled,
			Transactions: bs.Transactions, Ops: bs.Ops, AvgBatch: bs.AvgBatch, LastBatch: bs.LastBatch,
			LastCommitLatencyMS: ms(bs.LastCommitLatency), MaxCommitLatencyMS: ms(bs.MaxCommitLatency),
		}
	}
	return c.JSON(s)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// errorHandler answers every error as JSON. Fiber's own 4xx (unknown route,
// wrong method) keep their short text; anything else is a 500 whose cause
// goes to the log with the request id, never to the client.
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var fe *fiber.Error
		if errors.As(err, &fe) && fe.Code < fiber.StatusInternalServerError {
			return c.Status(fe.Code).JSON(fiber.Map{"code": codeOf(fe.Code), "message": fe.Message})
		}
		log.Error("http: request failed", "request_id", c.GetRespHeader(fiber.HeaderXRequestID),
			"method", c.Method(), "path", c.Path(), "err", err)
		return c.Status(fiber.StatusInternalServerError).JSON(fiber.Map{"code": "internal", "message": "系统内部错误，请稍后再试"})
	}
}

func codeOf(status int) string {
	switch status {
	case fiber.StatusNotFound:
		return "not_found"
	case fiber.StatusMethodNotAllowed:
		return "method_not_allowed"
	}
	return "bad_request"
}

// newRequestID returns 16 random hex characters. Unlike Fiber's default it
// does not count requests.
func newRequestID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "unknown"
	}
	return hex.EncodeToString(b[:])
}
