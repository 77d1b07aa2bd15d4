package opsapi

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/errbody"
)

// Engine is what the ops API needs of the actor system; *actors.Engine
// implements it.
type Engine interface {
	Tenants(ctx context.Context) ([]actors.TenantInfo, error)
	Tenant(ctx context.Context, tenant string) (actors.TenantInfo, error)
	CreateTenant(ctx context.Context, id, name, code string) (actors.TenantInfo, error)
	RotateActivationCode(ctx context.Context, tenant string) (actors.TenantInfo, error)
	APIKeys(ctx context.Context, tenant string) ([]actors.APIKey, error)
	CreateAPIKey(ctx context.Context, tenant, id, secret string) (actors.APIKey, error)
	RevokeAPIKey(ctx context.Context, id string) error
	Audit(ctx context.Context, tenant string, from, to time.Time, fn func(actors.AuditEvent) error) error
}

var _ Engine = (*actors.Engine)(nil)

// MaxAuditEvents bounds one audit export: an export is built in memory so
// that a failure midway is an error status, not a truncated file. A larger
// range is refused with invalid_input; export it in parts.
const MaxAuditEvents = 100_000

// callTimeout bounds every engine call of a request.
const callTimeout = 60 * time.Second

// Option configures Register.
type Option func(*api)

// WithLogger sets the logger that receives the causes of 5xx answers (nil
// or not set: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(a *api) {
		if l != nil {
			a.log = l
		}
	}
}

// WithClock sets the clock of audit export file names (tests; default
// time.Now).
func WithClock(now func() time.Time) Option {
	return func(a *api) {
		if now != nil {
			a.now = now
		}
	}
}

// WithBaseContext sets the context of work that outlives its request, the
// dump's stream (nil or not set: context.Background()): when ctx ends (the
// server is shutting down), a dump still streaming ends with it, cut short
// without its end line, which the reader then refuses.
func WithBaseContext(ctx context.Context) Option {
	return func(a *api) {
		if ctx != nil {
			a.base = ctx
		}
	}
}

// Register adds the ops API's routes to r (see the package doc). r is
// normally the operator-token-guarded /ops group.
func Register(r fiber.Router, e Engine, opts ...Option) {
	a := &api{e: e, log: slog.Default(), now: time.Now}
	for _, o := range opts {
		o(a)
	}
	r.Get("/v1/tenants", a.listTenants)
	r.Post("/v1/tenants", a.createTenant)
	r.Post("/v1/tenants/:id/rotate-code", a.rotateCode)
	r.Get("/v1/tenants/:id/apikeys", a.listAPIKeys)
	r.Post("/v1/tenants/:id/apikeys", a.createAPIKey)
	r.Delete("/v1/apikeys/:id", a.revokeAPIKey)
	r.Get("/v1/tenants/:id/audit", a.audit)
}

type api struct {
	e    Engine
	log  *slog.Logger
	now  func() time.Time
	base context.Context // of work that outlives its request (the dump's stream)
}

// Tenant is a tenant in a response; ActivationCode only when it was just
// made.
type Tenant struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	ActivationCode string `json:"activation_code,omitempty"`
}

// CreateTenantRequest is the body of POST /v1/tenants.
type CreateTenantRequest struct {
	// ID is the tenant id; empty: a new one.
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	// ActivationCode is the code users link the tenant with; empty: a
	// random one.
	ActivationCode string `json:"activation_code,omitempty"`
}

// CreateAPIKeyRequest is the body of POST /v1/tenants/{id}/apikeys; the
// body may be empty.
type CreateAPIKeyRequest struct {
	// ID is the key id; empty: a new one. The secret is always random.
	ID string `json:"id,omitempty"`
}

// APIKey is a key in a response; Secret only when it was just made.
type APIKey struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	Secret    string     `json:"secret,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// ErrorBody is every error answer, the client API's own shape.
type ErrorBody = errbody.Body

// ErrorDetail is a catalogue error as the client sees it.
type ErrorDetail = errbody.Detail

func (a *api) listTenants(c *fiber.Ctx) error {
	ctx, cancel := a.ctx(c)
	defer cancel()
	ts, err := a.e.Tenants(ctx)
	if err != nil {
		return a.fail(c, err)
	}
	out := make([]Tenant, 0, len(ts))
	for _, t := range ts {
		out = append(out, Tenant{ID: t.ID, Name: t.Name})
	}
	return c.JSON(fiber.Map{"tenants": out})
}

func (a *api) createTenant(c *fiber.Ctx) error {
	var req CreateTenantRequest
	if err := decode(c.Body(), &req, false); err != nil {
		return a.fail(c, err)
	}
	ctx, cancel := a.ctx(c)
	defer cancel()
	t, err := a.e.CreateTenant(ctx, strings.TrimSpace(req.ID), strings.TrimSpace(req.Name), req.ActivationCode)
	if err != nil {
		return a.fail(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(Tenant{ID: t.ID, Name: t.Name, ActivationCode: t.ActivationCode})
}

func (a *api) rotateCode(c *fiber.Ctx) error {
	ctx, cancel := a.ctx(c)
	defer cancel()
	t, err := a.e.RotateActivationCode(ctx, param(c, "id"))
	if err != nil {
		return a.fail(c, err)
	}
	return c.JSON(Tenant{ID: t.ID, Name: t.Name, ActivationCode: t.ActivationCode})
}

func (a *api) listAPIKeys(c *fiber.Ctx) error {
	ctx, cancel := a.ctx(c)
	defer cancel()
	tenant := param(c, "id")
	if _, err := a.e.Tenant(ctx, tenant); err != nil {
		return a.fail(c, err) // an unknown tenant is 404, not an empty list
	}
	ks, err := a.e.APIKeys(ctx, tenant)
	if err != nil {
		return a.fail(c, err)
	}
	out := make([]APIKey, 0, len(ks))
	for _, k := range ks {
		out = append(out, APIKey{ID: k.ID, Tenant: k.Tenant, CreatedAt: k.CreatedAt, RevokedAt: k.RevokedAt})
	}
	return c.JSON(fiber.Map{"api_keys": out})
}

func (a *api) createAPIKey(c *fiber.Ctx) error {
	var req CreateAPIKeyRequest
	if err := decode(c.Body(), &req, true); err != nil {
		return a.fail(c, err)
	}
	ctx, cancel := a.ctx(c)
	defer cancel()
	k, err := a.e.CreateAPIKey(ctx, param(c, "id"), strings.TrimSpace(req.ID), "")
	if err != nil {
		return a.fail(c, err)
	}
	return c.Status(fiber.StatusCreated).JSON(APIKey{ID: k.ID, Tenant: k.Tenant, Secret: k.Secret, CreatedAt: k.CreatedAt})
}

func (a *api) revokeAPIKey(c *fiber.Ctx) error {
	ctx, cancel := a.ctx(c)
	defer cancel()
	if err := a.e.RevokeAPIKey(ctx, param(c, "id")); err != nil {
		return a.fail(c, err)
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// auditColumns are the CSV export's columns, in order.
var auditColumns = []string{"seq", "time", "tenant", "actor", "action", "target", "outcome", "detail"}

func (a *api) audit(c *fiber.Ctx) error {
	tenant := param(c, "id")
	from, err := parseTime("from", c.Query("from"))
	if err != nil {
		return a.fail(c, err)
	}
	to, err := parseTime("to", c.Query("to"))
	if err != nil {
		return a.fail(c, err)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return a.fail(c, domain.Invalid("to", "结束时间须晚于开始时间"))
	}
	format := strings.ToLower(c.Query("format", "json"))
	if format != "json" && format != "csv" {
		return a.fail(c, domain.Invalid("format", "格式须为json或csv"))
	}
	ctx, cancel := a.ctx(c)
	defer cancel()
	if _, err := a.e.Tenant(ctx, tenant); err != nil {
		return a.fail(c, err)
	}
	events := []actors.AuditEvent{}
	errTooMany := errors.New("too many events")
	err = a.e.Audit(ctx, tenant, from, to, func(ev actors.AuditEvent) error {
		if len(events) == MaxAuditEvents {
			return errTooMany
		}
		// RFC 3339 in UTC, in JSON and CSV alike, as every machine-readable
		// time etaxd writes.
		ev.Time = ev.Time.UTC()
		events = append(events, ev)
		return nil
	})
	if errors.Is(err, errTooMany) {
		return a.fail(c, domain.Invalid("to", fmt.Sprintf("一次最多导出%d条，请缩小时间范围", MaxAuditEvents)))
	}
	if err != nil {
		return a.fail(c, err)
	}
	if format == "json" {
		return c.JSON(fiber.Map{"events": events})
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(auditColumns)
	for _, ev := range events {
		_ = w.Write([]string{strconv.FormatUint(ev.Seq, 10), ev.Time.Format(time.RFC3339Nano),
			ev.Tenant, ev.Actor, ev.Action, ev.Target, ev.Outcome, ev.Detail})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return a.fail(c, err)
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="audit-%s-%s.csv"`,
		tenant, a.now().In(domain.ChinaTime).Format("20060102-150405")))
	return c.Send(b.Bytes())
}

// ctx bounds the engine calls of a request.
func (a *api) ctx(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), callTimeout)
}

// fail answers err as a catalogue error. A 5xx carries the catalogue's
// text only; its cause is logged with the request id.
func (a *api) fail(c *fiber.Ctx, err error) error {
	e := domain.AsError(err)
	status := errbody.Status(errbody.Ops, e)
	if status >= fiber.StatusInternalServerError {
		level := slog.LevelError
		if status == fiber.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		a.log.Log(c.UserContext(), level, "ops api: request failed", "request_id", c.GetRespHeader(fiber.HeaderXRequestID),
			"method", c.Method(), "path", c.Path(), "code", e.Code, "err", err)
	}
	e = errbody.Public(errbody.Ops, e)
	if ra := errbody.RetryAfter(errbody.Ops, e); ra != "" {
		c.Set(fiber.HeaderRetryAfter, ra)
	}
	return c.Status(status).JSON(errbody.BodyOf(e))
}

// decode reads a JSON object into v, refusing unknown fields and trailing
// data; an empty body is fine when optional.
func decode(body []byte, v any, optional bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return domain.Invalid("body", "请求体须为JSON对象")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return domain.ErrInvalidInput.With("请求体不是有效的JSON对象", "body: "+jsonProblem(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return domain.Invalid("body", "请求体只能包含一个JSON对象")
	}
	return nil
}

// jsonProblem describes a decoding error without quoting the body.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %s must be a %s", te.Field, te.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "not a JSON object"
}

// param returns a path parameter as a string of its own: Fiber's point
// into the request buffer, which is reused after the handler returns, and
// the engine may keep what it is given.
func param(c *fiber.Ctx, name string) string { return strings.Clone(c.Params(name)) }

// parseTime reads an audit bound: RFC 3339, or a date (a day in China
// time); empty is zero (unbounded).
func parseTime(field, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, domain.ChinaTime); err == nil {
		return t, nil
	}
	return time.Time{}, domain.Invalid(field, "时间格式须为RFC 3339（2026-11-27T09:00:00+08:00）或日期（2026-11-27）")
}
