package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/internal/errbody"
)

// Engine is what the HTTP and NATS sides need of the actor system;
// *actors.Engine implements it.
type Engine interface {
	Stats() actors.StatsSnapshot
	LookupAPIKey(ctx context.Context, id string) (tenant string, secret []byte, err error)
	RequestSession(ctx context.Context, tenant string, req actors.SessionRequest) (*actors.SessionReply, error)
	AwaitRequest(ctx context.Context, tenant, requestID string, wait time.Duration) (*actors.SessionReply, error)
	Answer(ctx context.Context, tenant, requestID, accountID, openid, code string) (*actors.SessionReply, error)
	ReportInvalid(ctx context.Context, tenant, accountID string, ch domain.Channel, token string) error
	Accounts(ctx context.Context, tenant, taxNo, openid string) ([]actors.AccountView, error)
	Audit(ctx context.Context, tenant string, from, to time.Time, fn func(actors.AuditEvent) error) error
	Tenant(ctx context.Context, tenant string) (actors.TenantInfo, error)
}

// Store is what the ops endpoints read of the store; *actors.StoreProbe
// implements it.
type Store interface {
	// Probe returns nil when the store answers a read.
	Probe(ctx context.Context) error
	// Stats returns the store's write counters.
	Stats() actors.StoreStats
}

// Check is a named readiness check: /readyz lists Name among its reasons
// while Fn returns an error. Fn must return within a second or two; it gets
// a context bounded by probeTimeout.
type Check struct {
	Name string
	Fn   func(context.Context) error
}

// ReadyCheck is a Check named name that fails while ready reports false,
// e.g. ReadyCheck("nats", bus.Ready).
func ReadyCheck(name string, ready func() bool) Check {
	return Check{Name: name, Fn: func(context.Context) error {
		if !ready() {
			return errors.New(name + " not ready")
		}
		return nil
	}}
}

// BureauStat is the tax-bureau client's count of one operation and
// outcome, cumulative since start, for /metrics.
type BureauStat struct {
	Op      string // "login", "send_sms", ...
	Outcome string // "ok" or an error code
	Count   uint64
	// Seconds is the total time of these calls.
	Seconds float64
	// Buckets, when set, are cumulative counts of calls that took at most
	// the key (seconds), as a Prometheus histogram has them.
	Buckets map[float64]uint64
}

// StoreLatency is one latency histogram of the store, cumulative since
// it opened, for /metrics (etaxd_store_commit_seconds,
// etaxd_store_read_seconds).
type StoreLatency struct {
	Store string // "kv" (JetStream KV, cluster mode) or "bbolt"
	Op    string // "commit" or "read"
	Kind  string // of a commit: "single" (one record) or "batch" (several)
	Count uint64
	// Seconds is the total time of these calls.
	Seconds float64
	// Buckets are cumulative counts of calls that took at most the key
	// (seconds).
	Buckets map[float64]uint64
}

// Deps are the parts the app is built from. Every field is optional: the
// zero Deps serves /healthz, and /readyz says why it is not ready.
type Deps struct {
	// Engine serves the client API. Nil: /readyz answers 503 and the API
	// answers busy.
	Engine Engine
	// Store is probed by /readyz and counted by /ops/status and /metrics.
	Store Store
	// Ready, when set, is asked by /readyz as well, so the caller can hold
	// readiness back (during demo seeding) and withdraw it before shutdown.
	Ready func() bool
	// Checks are further readiness checks (NATS connected, ...), by name.
	Checks []Check
	// Node and Version are shown by /ops/status.
	Node    string
	Version string
	// Started is when the node started; zero means when New was called.
	Started time.Time
	// Clock is the clock for uptime, signature freshness and idempotency
	// expiry; nil means the real clock (clock.Real).
	Clock clock.Clock
	// Logger receives one line per request and every 5xx cause; nil means
	// slog.Default().
	Logger *slog.Logger

	// OperatorToken guards /ops/*, /metrics and /dev/*: requests must carry
	// "Authorization: Bearer <token>". Empty (dev mode only: etaxd always
	// sets one in production): only programs on this machine are served,
	// never a web page in its browser — loopback peer and Host, not
	// cross-site, JSON bodies (see handlers.operator). A reverse proxy on
	// the same host must then not forward those paths.
	OperatorToken string

	// Webhooks serves /api/v1/webhooks; nil answers 501 not_implemented.
	Webhooks Webhooks
	// Nonces remembers used nonces; nil means a new MemoryNonces. Give New
	// and ServeNATS the same one to share the bound.
	Nonces NonceCache
	// Idempotency keeps POST answers by Idempotency-Key; nil means a new
	// MemoryIdempotency. Give New and ServeNATS the same one so that a key
	// used over HTTP is seen over NATS.
	Idempotency Idempotency

	// Registry receives the app's metrics; nil means a new private
	// registry (never the global default one). Pass one to add collectors
	// of other parts or to share it with ServeNATS.
	Registry *prometheus.Registry
	// QueueDepths reports named queue depths (e.g. "webhooks.pending") for
	// /ops/status and the etaxd_queue_depth gauge; nil reports none.
	QueueDepths func() map[string]int64
	// PromptStates counts prompts by state (queued, delivered, failed,
	// ...) for /ops/status and the etaxd_prompts gauge.
	PromptStates func() map[string]int64
	// NATSPending reports each JetStream consumer's pending messages for
	// /ops/status and the etaxd_nats_pending gauge.
	NATSPending func() map[string]int64
	// BureauStats reports the tax-bureau client's calls for /metrics.
	BureauStats func() []BureauStat
	// StoreLatency reports the store's commit and read latency for
	// /metrics; nil reports none.
	StoreLatency func() []StoreLatency

	// DevInbox, set only in dev mode, serves GET /dev/inbox?openid=: the
	// prompts the dev notifier kept for a WeChat user. It answers this
	// machine's programs only (LocalOnly), behind the operator guard too.
	DevInbox func(openid string) []actors.Prompt
	// Cluster answers GET /ops/cluster: this node, the members, NATS and,
	// for a tenant id ("" for none), where that tenant lives. The value is
	// sent as JSON; an error is answered as the catalogue says
	// (ErrTenantNotFound: 404). Nil: the route answers for a single node.
	Cluster func(ctx context.Context, tenant string) (any, error)
	// ClusterCounters, in cluster mode, reports the cluster's counters for
	// /metrics (etaxd_cluster_events_total by event) and, under
	// "members_alive", the members this node counts alive
	// (etaxd_cluster_members). Nil on a single node.
	ClusterCounters func() map[string]int64
	// OpsRoutes, when set, adds routes to the /ops group, behind the
	// operator guard (opsapi.Register mounts the operator API there).
	OpsRoutes func(ops fiber.Router)
}

// probeTimeout bounds the readiness probe.
const probeTimeout = 2 * time.Second

// bodyLimit is the largest request body Fiber reads at all; the client API
// allows less (maxAPIBody).
const bodyLimit = 1 << 20

// Locals keys.
const (
	localLog       = "etaxd.log"
	localPrincipal = "etaxd.principal"
)

// now is the time on d's clock, the real one when Clock is nil.
func (d Deps) now() time.Time {
	if d.Clock == nil {
		return clock.Real{}.Now()
	}
	return d.Clock.Now()
}

// New returns the Fiber app serving d. Its startup banner is off: etaxd
// prints its own line saying where it listens.
func New(d Deps) *fiber.App {
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.Started.IsZero() {
		d.Started = d.now()
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	h := &handlers{d: d, api: newAPI(d), log: d.Logger}
	h.metrics = newMetrics(d)
	h.api.authFailed = h.metrics.authFailed
	if d.OperatorToken != "" {
		sum := sha256.Sum256([]byte(d.OperatorToken))
		h.tokenHash = sum[:]
	}
	app := fiber.New(fiber.Config{
		AppName:               "etaxd",
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           2 * time.Minute,
		BodyLimit:             bodyLimit,
		ErrorHandler:          h.errorHandler,
		// Strings from the request (params, queries, form values, cookies)
		// are copies: the engine keeps some of them (tenant ids in its
		// cache, openids in actor state) past the handler, and Fiber
		// reuses its buffers after each request. Every route mounted on
		// this app (/h5, /ops, /sim) gets the same guarantee.
		Immutable: true,
	})
	app.Use(h.observe)
	app.Use(h.checkFraming)
	app.Use(recover.New())

	app.Get("/healthz", h.healthz)
	app.Get("/readyz", h.readyz)
	ops := app.Group("/ops", h.operator)
	ops.Get("/status", h.status)
	ops.Get("/cluster", h.cluster)
	if d.OpsRoutes != nil {
		d.OpsRoutes(ops)
	}
	app.Get("/metrics", h.operator, h.metrics.handler())
	if d.DevInbox != nil {
		app.Get("/dev/inbox", LocalOnly, h.operator, h.devInbox)
	}

	// The guard is on each route, not on the group, so that refused
	// requests are counted under their route.
	api := app.Group("/api/v1")
	api.Post("/sessions", h.authed, h.postSessions)
	api.Post("/sessions/invalid", h.authed, h.postInvalid)
	api.Get("/requests/:id", h.authed, h.getRequest)
	api.Post("/requests/:id/answer", h.authed, h.postAnswer)
	api.Get("/accounts", h.authed, h.getAccounts)
	api.Get("/audit", h.authed, h.getAudit)
	api.Post("/webhooks", h.authed, h.postWebhook)
	api.Get("/webhooks", h.authed, h.getWebhooks)
	api.Delete("/webhooks/:id", h.authed, h.deleteWebhook)
	return app
}

type handlers struct {
	d         Deps
	api       *api
	log       *slog.Logger
	metrics   *metrics
	tokenHash []byte
}

// observe gives each request an id (the client's X-Request-ID when it is
// sane, else a new one) and a logger carrying it, answers the chain's error,
// then counts the request and logs one line: route, status, latency, and
// the tenant and key once authenticated. Nothing secret is logged: no
// header value but the key id, no body, no query.
func (h *handlers) observe(c *fiber.Ctx) error {
	start := time.Now()
	rid := c.Get(fiber.HeaderXRequestID)
	if !saneRequestID(rid) {
		rid = newRequestID()
	} else {
		rid = string([]byte(rid)) // the header's bytes are reused after the request
	}
	c.Set(fiber.HeaderXRequestID, rid)
	rl := newReqLog(h.log, rid)
	c.Locals(localLog, rl)
	if err := c.Next(); err != nil {
		_ = h.errorHandler(c, err)
	}
	route := routeLabel(c.Route())
	status := c.Response().StatusCode()
	elapsed := time.Since(start)
	method := methodLabel(c.Method())
	h.metrics.observeHTTP(method, route, status, elapsed)
	level := slog.LevelInfo
	if route == "/healthz" || route == "/readyz" || route == "/metrics" {
		level = slog.LevelDebug
	}
	rl.line(c.UserContext(), level, "http request", slog.String("method", method), slog.String("route", route),
		slog.Int("status", status), slog.Duration("latency", elapsed))
	return nil
}

// routeLabel is a request's route template for metrics and logs. A
// request that ended in a middleware of the app (no route matched, or the
// /ops group's guard refused it) gets "unmatched" or "/ops/*": the label
// set stays bounded. (Fiber gives a middleware's Route the request's
// method, so the path tells them apart.)
func routeLabel(r *fiber.Route) string {
	switch r.Path {
	case "", "/":
		return "unmatched"
	case "/ops":
		return "/ops/*"
	}
	return r.Path
}

// methodLabel returns a method as a string that outlives the request
// (Fiber's strings point into buffers that are reused): the metrics keep
// their label values.
func methodLabel(m string) string {
	switch m {
	case fiber.MethodGet:
		return fiber.MethodGet
	case fiber.MethodPost:
		return fiber.MethodPost
	case fiber.MethodDelete:
		return fiber.MethodDelete
	case fiber.MethodHead:
		return fiber.MethodHead
	case fiber.MethodPut:
		return fiber.MethodPut
	case fiber.MethodPatch:
		return fiber.MethodPatch
	case fiber.MethodOptions:
		return fiber.MethodOptions
	}
	return "other"
}

// logOf returns the request's logger (see reqLog).
func logOf(c *fiber.Ctx) *reqLog {
	if l, ok := c.Locals(localLog).(*reqLog); ok {
		return l
	}
	return newReqLog(slog.Default(), "")
}

// errorHandler answers every error as {"error":{...}}. Fiber's own errors
// (unknown route, wrong method, body too large) get their catalogue code;
// anything else goes through publicError: a 5xx logs its cause with the
// request id and never shows it.
func (h *handlers) errorHandler(c *fiber.Ctx, err error) error {
	log, ok := c.Locals(localLog).(*reqLog)
	if !ok { // fasthttp refused the request before the app saw it
		log = newReqLog(h.log, newRequestID())
	}
	var fe *fiber.Error
	if errors.As(err, &fe) && fe.Code < fiber.StatusInternalServerError {
		var e *domain.Error
		switch fe.Code {
		case fiber.StatusNotFound:
			e = ErrRouteNotFound
		case fiber.StatusMethodNotAllowed:
			e = ErrMethodNotAllowed
		case fiber.StatusRequestEntityTooLarge:
			e = ErrBodyTooLarge
		default:
			e = domain.ErrInvalidInput
		}
		r := answer(fe.Code, errbody.BodyOf(e))
		r.code = e.Code
		return h.write(c, r)
	}
	if errors.As(err, &fe) {
		err = domain.ErrInternal.Wrap(err)
	}
	return h.write(c, failure(log, err))
}

// write sends r as JSON (or nothing for 204).
func (h *handlers) write(c *fiber.Ctx, r result) error { return send(c, r) }

// send sends r as JSON (or nothing for 204).
func send(c *fiber.Ctx, r result) error {
	c.Status(r.status)
	if r.status == fiber.StatusNoContent {
		return nil
	}
	c.Set(fiber.HeaderContentType, "application/json; charset=utf-8")
	if ra := r.retryAfter; ra != "" {
		c.Set(fiber.HeaderRetryAfter, ra)
	} else if ra := errbody.RetryAfter(errbody.API, &domain.Error{Code: r.code}); ra != "" {
		c.Set(fiber.HeaderRetryAfter, ra) // an answer kept without its header (an idempotent replay)
	}
	return c.Send(r.body)
}

// saneRequestID reports whether a client's X-Request-ID may be used: 1 to
// 64 characters of [A-Za-z0-9._-].
func saneRequestID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// newRequestID returns 16 random hex characters. Unlike Fiber's default it
// does not count requests. An id must be unique, not secret: math/rand/v2
// (a per-thread ChaCha8) is enough and costs no system call.
func newRequestID() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], mrand.Uint64())
	return hex.EncodeToString(b[:])
}
