package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"mime"
	"net/url"
	"runtime"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/loopback"
)

// The operator surface: probes, status, metrics and the dev inbox, and
// the guards of the operator and dev-mode endpoints.

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
// "starting" (Ready said no), then the name of each failing Check. Empty
// means ready.
func (h *handlers) notReady(ctx context.Context) []string {
	var reasons []string
	if h.d.Engine == nil {
		reasons = append(reasons, "engine")
	}
	if h.d.Store == nil {
		reasons = append(reasons, "store")
	} else {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := h.d.Store.Probe(ctx)
		cancel()
		if err != nil {
			h.log.Warn("readyz: store probe failed", "err", err)
			reasons = append(reasons, "store")
		}
	}
	if h.d.Ready != nil && !h.d.Ready() {
		reasons = append(reasons, "starting")
	}
	for _, chk := range h.d.Checks {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		err := chk.Fn(ctx)
		cancel()
		if err != nil {
			h.log.Warn("readyz: check failed", "check", chk.Name, "err", err)
			reasons = append(reasons, chk.Name)
		}
	}
	return reasons
}

// operator guards the operator surface. With a token configured (always,
// outside dev mode) a request must carry it as a Bearer token; tokens are
// compared in constant time through their hashes, so their length does not
// leak either. Without one (dev mode) it must come from a program on this
// machine and not from a web page open in its browser: a loopback peer, a
// loopback Host, not cross-site (checkLocal), and a POST, PUT or PATCH must
// say its body is JSON — a page may send forms and text/plain to any
// address without a CORS preflight, never JSON.
func (h *handlers) operator(c *fiber.Ctx) error {
	if h.tokenHash == nil {
		if err := checkLocal(c, ErrOperatorLoopback); err != nil {
			return h.write(c, failure(logOf(c), err))
		}
		if !safeMethod(c.Method()) && !jsonBody(c) {
			return h.write(c, failure(logOf(c), ErrUnsupportedMedia))
		}
		return c.Next()
	}
	auth := c.Get(fiber.HeaderAuthorization)
	scheme, token, _ := strings.Cut(auth, " ")
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare(sum[:], h.tokenHash) != 1 {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="etaxd-ops"`)
		return h.write(c, failure(logOf(c), ErrOperatorToken))
	}
	return c.Next()
}

// CheckLocal reports why c may not use a dev-mode endpoint, or nil: the
// peer must be a loopback address (ErrDevLoopback), the Host header a
// loopback name or address (ErrLocalHost: a DNS-rebinding page sends its
// own name), and the request must not come from a page of another origin
// (ErrCrossSite, by Origin and Sec-Fetch-Site). The H5 dev pages show the
// error their own way; LocalOnly answers it as JSON.
func CheckLocal(c *fiber.Ctx) error { return checkLocal(c, ErrDevLoopback) }

// LocalOnly is a handler that lets through what CheckLocal accepts and
// answers the rest with its error: etaxd puts it before /dev/inbox and the
// simulator's test endpoints (/sim/v1).
func LocalOnly(c *fiber.Ctx) error {
	if err := CheckLocal(c); err != nil {
		return send(c, failure(logOf(c), err))
	}
	return c.Next()
}

// checkLocal is CheckLocal answering notLoopback for a remote peer.
func checkLocal(c *fiber.Ctx, notLoopback *domain.Error) error {
	if !c.Context().RemoteIP().IsLoopback() {
		return notLoopback
	}
	host := string(c.Request().Host())
	if !loopback.HostPort(host) {
		return ErrLocalHost
	}
	if crossSite(c, host) {
		return ErrCrossSite
	}
	return nil
}

// crossSite reports whether a browser says the request comes from a page
// of another origin than host: Sec-Fetch-Site other than same-origin or
// none (typed in, a bookmark), or an Origin that is not this server's own
// ("null" included: sandboxed frames, file: pages). Programs send neither
// header. Another port of this machine is another origin too: a local dev
// server is a web page like any other.
func crossSite(c *fiber.Ctx, host string) bool {
	switch site := strings.ToLower(c.Get("Sec-Fetch-Site")); site {
	case "", "same-origin", "none":
	default:
		return true
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" {
		return true
	}
	return !strings.EqualFold(u.Host, host)
}

// safeMethod reports whether m reads only.
func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}

// jsonBody reports whether the request's Content-Type is application/json
// (parameters such as charset allowed), with or without a body, or one of
// the import file's types (text/csv, XLSX), which no page can send without
// a CORS preflight either. DELETE is accepted without one: no page can send
// it without a preflight.
func jsonBody(c *fiber.Ctx) bool {
	ct := c.Get(fiber.HeaderContentType)
	if ct == "" && c.Method() == fiber.MethodDelete && len(c.Body()) == 0 {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == fiber.MIMEApplicationJSON || mt == "text/csv" ||
		mt == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
}

// Status is the body of GET /ops/status.
type Status struct {
	Node          string                `json:"node"`
	Version       string                `json:"version"`
	GoVersion     string                `json:"go_version"`
	StartedAt     time.Time             `json:"started_at"`
	UptimeSeconds float64               `json:"uptime_seconds"`
	Ready         bool                  `json:"ready"`
	NotReady      []string              `json:"not_ready,omitempty"`
	Goroutines    int                   `json:"goroutines"`
	Engine        *actors.StatsSnapshot `json:"engine"`
	Store         *StoreStatus          `json:"store"`
	// Queues are Deps.QueueDepths, NATSPending the JetStream consumers'
	// pending messages, Prompts the prompts by state: each omitted when
	// its Deps func is not set.
	Queues      map[string]int64 `json:"queues,omitempty"`
	NATSPending map[string]int64 `json:"nats_pending,omitempty"`
	Prompts     map[string]int64 `json:"prompts,omitempty"`
	// Caches are the sizes of the API's nonce and idempotency stores that
	// know theirs: the in-memory ones, and the nonces a cluster node holds
	// from the nonce log.
	Caches map[string]int `json:"caches,omitempty"`
}

// sized is a store that knows how many entries it holds.
type sized interface{ Len() int }

// StoreStatus is actors.StoreStats as JSON, latencies in milliseconds.
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
	now := h.d.now()
	notReady := h.notReady(c.UserContext())
	s := Status{
		Node: h.d.Node, Version: h.d.Version, GoVersion: runtime.Version(),
		StartedAt: h.d.Started.UTC(), UptimeSeconds: now.Sub(h.d.Started).Seconds(),
		Ready: len(notReady) == 0, NotReady: notReady, Goroutines: runtime.NumGoroutine(),
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
	if h.d.QueueDepths != nil {
		s.Queues = h.d.QueueDepths()
	}
	if h.d.NATSPending != nil {
		s.NATSPending = h.d.NATSPending()
	}
	if h.d.PromptStates != nil {
		s.Prompts = h.d.PromptStates()
	}
	s.Caches = map[string]int{}
	if n, ok := h.api.nonces.(sized); ok {
		s.Caches["nonces"] = n.Len()
	}
	if m, ok := h.api.idem.(sized); ok {
		s.Caches["idempotency"] = m.Len()
	}
	return c.JSON(s)
}

// SingleNode is GET /ops/cluster's body on a single node: the node is the
// only member.
type SingleNode struct {
	Node    string         `json:"node"`
	Mode    string         `json:"mode"` // "single"
	Members []SingleMember `json:"members"`
	Tenant  *TenantNode    `json:"tenant,omitempty"`
}

// SingleMember is the one member of a single node.
type SingleMember struct {
	Name  string `json:"name"`
	Alive bool   `json:"alive"`
}

// TenantNode says where a tenant lives.
type TenantNode struct {
	ID   string `json:"id"`
	Node string `json:"node"`
}

// cluster is GET /ops/cluster[?tenant=ID]: the cluster as this node sees
// it (Deps.Cluster), or this node alone.
func (h *handlers) cluster(c *fiber.Ctx) error {
	tenant := strings.Clone(c.Query("tenant"))
	if len(tenant) > 128 {
		return h.write(c, failure(logOf(c), domain.ErrTenantNotFound))
	}
	if h.d.Cluster != nil {
		v, err := h.d.Cluster(c.UserContext(), tenant)
		if err != nil {
			return h.write(c, failure(logOf(c), err))
		}
		return c.JSON(v)
	}
	doc := SingleNode{Node: h.d.Node, Mode: "single", Members: []SingleMember{{Name: h.d.Node, Alive: true}}}
	if tenant != "" {
		if _, err := h.d.Engine.Tenant(c.UserContext(), tenant); err != nil {
			return h.write(c, failure(logOf(c), err))
		}
		doc.Tenant = &TenantNode{ID: tenant, Node: h.d.Node}
	}
	return c.JSON(doc)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// devInbox is GET /dev/inbox?openid=: what the dev notifier kept for a
// WeChat user, newest last.
func (h *handlers) devInbox(c *fiber.Ctx) error {
	openid := strings.Clone(c.Query("openid"))
	if openid == "" || len(openid) > 128 {
		return h.write(c, failure(logOf(c), domain.Invalid("openid", "请填写openid")))
	}
	ps := h.d.DevInbox(openid)
	if ps == nil {
		ps = []actors.Prompt{}
	}
	return h.write(c, answer(200, fiber.Map{"openid": openid, "prompts": ps}))
}
