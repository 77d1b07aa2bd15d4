package httpapi

import (
	"context"
	"log/slog"
)

// reqLog is one request's logger. It is built only when something is
// logged with it (a 5xx cause, a warning): the hot path writes just the
// access line, from attributes, without cloning a logger. Only the
// request's goroutine uses it.
type reqLog struct {
	base          *slog.Logger
	rid           string
	tenant, keyID string
	l             *slog.Logger
}

func newReqLog(base *slog.Logger, rid string) *reqLog { return &reqLog{base: base, rid: rid} }

// authenticated adds the tenant and the key id to every later line.
func (r *reqLog) authenticated(p principal) {
	r.tenant, r.keyID, r.l = p.tenant, p.keyID, nil
}

// logger returns the request's logger: request_id, and tenant and key_id
// once the request is authenticated.
func (r *reqLog) logger() *slog.Logger {
	if r.l == nil {
		r.l = r.base.With(r.attrs()...)
	}
	return r.l
}

func (r *reqLog) attrs() []any {
	a := []any{slog.String("request_id", r.rid)}
	if r.tenant != "" {
		a = append(a, slog.String("tenant", r.tenant), slog.String("key_id", r.keyID))
	}
	return a
}

// line writes one line at level with the request's attributes and more,
// if the level is enabled.
func (r *reqLog) line(ctx context.Context, level slog.Level, msg string, more ...slog.Attr) {
	if !r.base.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 3+len(more))
	attrs = append(attrs, slog.String("request_id", r.rid))
	if r.tenant != "" {
		attrs = append(attrs, slog.String("tenant", r.tenant), slog.String("key_id", r.keyID))
	}
	r.base.LogAttrs(ctx, level, msg, append(attrs, more...)...)
}
