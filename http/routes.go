package httpapi

import (
	"bytes"
	"encoding/csv"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/sign"
)

// The client API's HTTP handlers: each reads the transport, calls the
// shared api, and writes its result.

// authed is the client API's middleware: it bounds the body, checks the
// signature over the request URI exactly as sent, and puts the principal
// and a logger with tenant and key_id in the context.
func (h *handlers) authed(c *fiber.Ctx) error {
	log := logOf(c)
	body := c.Body()
	if len(body) > maxAPIBody {
		return h.write(c, failure(log, ErrBodyTooLarge))
	}
	p, err := h.api.authenticate(c.UserContext(), c.Method(), string(c.Request().RequestURI()),
		func(k string) string { return c.Get(k) }, body)
	if err != nil {
		return h.write(c, failure(log, err))
	}
	log.authenticated(p)
	c.Locals(localPrincipal, p)
	return c.Next()
}

func principalOf(c *fiber.Ctx) principal {
	p, _ := c.Locals(localPrincipal).(principal)
	return p
}

// isJSON reports whether a Content-Type is application/json, with or
// without parameters.
func isJSON(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), fiber.MIMEApplicationJSON)
}

// post runs a POST handler's op under the request's Idempotency-Key.
func (h *handlers) post(c *fiber.Ctx, op func(p principal, body []byte) result) error {
	log := logOf(c)
	if !isJSON(c.Get(fiber.HeaderContentType)) {
		return h.write(c, failure(log, ErrUnsupportedMedia))
	}
	p := principalOf(c)
	body := c.Body()
	res, replayed, err := h.api.idempotent(c.UserContext(), p, c.Get(sign.HeaderIdem), c.Method(), string(c.Request().RequestURI()), body,
		func() result { return op(p, body) })
	if err != nil {
		return h.write(c, failure(log, err))
	}
	if replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	return h.write(c, res)
}

func (h *handlers) postSessions(c *fiber.Ctx) error {
	return h.post(c, func(p principal, body []byte) result {
		return h.api.createSession(c.UserContext(), logOf(c), p, body)
	})
}

func (h *handlers) postInvalid(c *fiber.Ctx) error {
	return h.post(c, func(p principal, body []byte) result {
		return h.api.reportInvalid(c.UserContext(), logOf(c), p, body)
	})
}

func (h *handlers) postAnswer(c *fiber.Ctx) error {
	id := strings.Clone(c.Params("id"))
	return h.post(c, func(p principal, body []byte) result {
		return h.api.answerCode(c.UserContext(), logOf(c), p, id, body)
	})
}

func (h *handlers) getRequest(c *fiber.Ctx) error {
	log := logOf(c)
	wait, err := parseWait(c.Query("wait"))
	if err != nil {
		return h.write(c, failure(log, err))
	}
	return h.write(c, h.api.getRequest(c.UserContext(), log, principalOf(c), strings.Clone(c.Params("id")), wait))
}

func (h *handlers) getAccounts(c *fiber.Ctx) error {
	return h.write(c, h.api.listAccounts(c.UserContext(), logOf(c), principalOf(c), strings.Clone(c.Query("tax_no"))))
}

func (h *handlers) postWebhook(c *fiber.Ctx) error {
	return h.post(c, func(p principal, body []byte) result {
		return h.api.registerWebhook(c.UserContext(), logOf(c), p, body)
	})
}

func (h *handlers) getWebhooks(c *fiber.Ctx) error {
	return h.write(c, h.api.listWebhooks(c.UserContext(), logOf(c), principalOf(c)))
}

func (h *handlers) deleteWebhook(c *fiber.Ctx) error {
	return h.write(c, h.api.deleteWebhook(c.UserContext(), logOf(c), principalOf(c), strings.Clone(c.Params("id"))))
}

// maxAuditEvents bounds one audit answer; a longer range is truncated and
// says where to continue.
const maxAuditEvents = 10_000

// AuditPage is the JSON answer of GET /api/v1/audit.
type AuditPage struct {
	Events []actors.AuditEvent `json:"events"`
	// Truncated is true when the range held more than maxAuditEvents
	// events; NextFrom is then the time of the first one left out. Asking
	// again from there may repeat events of that same instant: dedupe by
	// seq.
	Truncated bool       `json:"truncated"`
	NextFrom  *time.Time `json:"next_from,omitempty"`
}

var errEnough = errors.New("enough audit events")

// getAudit is GET /api/v1/audit?from=&to=&format=json|csv: the tenant's
// audit events with from <= time < to (RFC 3339; either may be left out).
func (h *handlers) getAudit(c *fiber.Ctx) error {
	log := logOf(c)
	from, to, format, err := auditQuery(c.Query("from"), c.Query("to"), c.Query("format"))
	if err != nil {
		return h.write(c, failure(log, err))
	}
	page := AuditPage{Events: []actors.AuditEvent{}}
	err = h.d.Engine.Audit(c.UserContext(), principalOf(c).tenant, from, to, func(ev actors.AuditEvent) error {
		// Every machine-readable time etaxd writes is RFC 3339 in UTC,
		// whatever offset the event was recorded with.
		ev.Time = ev.Time.UTC()
		if len(page.Events) == maxAuditEvents {
			t := ev.Time
			page.Truncated, page.NextFrom = true, &t
			return errEnough
		}
		page.Events = append(page.Events, ev)
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return h.write(c, failure(log, err))
	}
	if format == "json" {
		return h.write(c, answer(200, page))
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write([]string{"seq", "time", "actor", "action", "target", "outcome", "detail"})
	for _, ev := range page.Events {
		_ = w.Write([]string{strconv.FormatUint(ev.Seq, 10), ev.Time.Format(time.RFC3339Nano), ev.Actor, ev.Action, ev.Target, ev.Outcome, ev.Detail})
	}
	w.Flush()
	if page.Truncated {
		c.Set("X-Etaxd-Truncated", "true")
		c.Set("X-Etaxd-Next-From", page.NextFrom.Format(time.RFC3339Nano))
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="audit.csv"`)
	return c.Send(buf.Bytes())
}

// auditQuery parses the audit parameters.
func auditQuery(fromS, toS, format string) (from, to time.Time, _ string, err error) {
	if fromS != "" {
		if from, err = time.Parse(time.RFC3339, fromS); err != nil {
			return from, to, "", domain.Invalid("from", "from须为RFC 3339时间，如2026-11-27T09:00:00+08:00")
		}
	}
	if toS != "" {
		if to, err = time.Parse(time.RFC3339, toS); err != nil {
			return from, to, "", domain.Invalid("to", "to须为RFC 3339时间，如2026-11-28T09:00:00+08:00")
		}
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, "", domain.Invalid("to", "to须晚于from")
	}
	switch format {
	case "":
		format = "json"
	case "json", "csv":
	default:
		return from, to, "", domain.Invalid("format", "format须为json或csv")
	}
	return from, to, format, nil
}
