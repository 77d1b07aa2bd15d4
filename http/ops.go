package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"runtime"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
)

// The operator surface: probes, status, metrics and the dev inbox.

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
		_, err := h.d.Store.Get(ctx, probeKey)
		cancel()
		if err != nil && !errors.Is(err, persistence.ErrNotFound) {
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

// operator guards the operator surface: a Bearer token when one is
// configured, else loopback clients only. Tokens are compared in constant
// time through their hashes, so their length does not leak either.
func (h *handlers) operator(c *fiber.Ctx) error {
	if h.tokenHash == nil {
		if !c.Context().RemoteIP().IsLoopback() {
			return h.write(c, failure(logOf(c), ErrOperatorLoopback))
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
	// Caches are the sizes of the API's in-memory nonce and idempotency
	// stores, when they are the in-memory ones.
	Caches map[string]int `json:"caches,omitempty"`
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
	if n, ok := h.api.nonces.(*MemoryNonces); ok {
		s.Caches["nonces"] = n.Len()
	}
	if m, ok := h.api.idem.(*MemoryIdempotency); ok {
		s.Caches["idempotency"] = m.Len()
	}
	return c.JSON(s)
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
		ps = []prompts.Prompt{}
	}
	return h.write(c, answer(200, fiber.Map{"openid": openid, "prompts": ps}))
}
