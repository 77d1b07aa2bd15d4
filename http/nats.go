package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/sign"
)

// Subjects of the NATS request/reply API, and the queue group every etaxd
// node subscribes them in (so each request reaches one node).
const (
	SubjectSessions   = "etaxd.api.v1.sessions"
	SubjectAnswer     = "etaxd.api.v1.requests.answer"
	SubjectGetRequest = "etaxd.api.v1.requests.get"
	NATSQueueGroup    = "etaxd-api"
	// NATSMethod is what a NATS request signs in place of an HTTP method;
	// the subject takes the place of the path.
	NATSMethod = "NATS"
)

// maxNATSInFlight bounds the NATS requests served at once; beyond it a
// request is answered busy at once.
const maxNATSInFlight = 1024

// NATSAnswerRequest is the body on SubjectAnswer: HTTP carries the request
// id in the path, NATS in the body.
type NATSAnswerRequest struct {
	RequestID string `json:"request_id"`
	SMSCode   string `json:"sms_code"`
}

// NATSGetRequest is the body on SubjectGetRequest; Wait is the long poll in
// seconds (0 to 60).
type NATSGetRequest struct {
	RequestID string `json:"request_id"`
	Wait      int    `json:"wait"`
}

// ServeNATS serves the client API's sessions, answer and request-status
// operations over NATS request/reply until ctx ends or stop is called.
//
// A request carries the four signature values as NATS headers
// (X-Etaxd-Key, X-Etaxd-Timestamp, X-Etaxd-Nonce, X-Etaxd-Signature; also
// Idempotency-Key on sessions and answer), signed with method "NATS" and
// the subject as the path, and the same JSON body as HTTP. The reply is the
// HTTP answer's JSON with a "status" field holding the HTTP status, plus an
// X-Request-ID header.
//
// ServeNATS uses d's Engine, Logger, Clock, Nonces, Idempotency and Registry
// (for etaxd_nats_api_requests_total; nil: a private registry). stop
// unsubscribes, then returns once the requests in flight have answered (a
// long poll answers within its wait).
func ServeNATS(ctx context.Context, nc *nats.Conn, d Deps) (stop func(), err error) {
	if nc == nil {
		return nil, errors.New("httpapi: ServeNATS needs a connection")
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	reg := d.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &natsServer{api: newAPI(d), log: d.Logger.With("transport", "nats"), requests: natsCounter(reg),
		sem: make(chan struct{}, maxNATSInFlight)}
	refused := refusedCounter(reg)
	s.api.authFailed = func(code string) { refused.WithLabelValues(code).Inc() }
	s.ctx, s.cancel = context.WithCancel(ctx)

	ops := []struct {
		subject    string
		idempotent bool
		op         natsOp
	}{
		{SubjectSessions, true, func(ctx context.Context, log *reqLog, p principal, body []byte) result {
			return s.api.createSession(ctx, log, p, body)
		}},
		{SubjectAnswer, true, s.answer},
		{SubjectGetRequest, false, s.get},
	}
	for _, o := range ops {
		sub, err := nc.QueueSubscribe(o.subject, NATSQueueGroup, s.handler(o.subject, o.idempotent, o.op))
		if err != nil {
			s.stop()
			return nil, fmt.Errorf("subscribe %s: %w", o.subject, err)
		}
		s.subs = append(s.subs, sub)
	}
	if err := nc.Flush(); err != nil {
		s.stop()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	go func() {
		<-s.ctx.Done()
		s.stop()
	}()
	return s.stop, nil
}

type natsOp func(ctx context.Context, log *reqLog, p principal, body []byte) result

type natsServer struct {
	api      *api
	log      *slog.Logger
	requests *prometheus.CounterVec
	sem      chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	subs     []*nats.Subscription

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	once   sync.Once
}

func (s *natsServer) stop() {
	s.once.Do(func() {
		for _, sub := range s.subs {
			_ = sub.Unsubscribe()
		}
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
	})
}

// handler runs each request on its own goroutine: an engine call may wait
// (a long poll up to a minute) and must not hold up the subscription.
func (s *natsServer) handler(subject string, idempotent bool, op natsOp) nats.MsgHandler {
	return func(m *nats.Msg) {
		if m.Reply == "" {
			return // nobody to answer
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		select {
		case s.sem <- struct{}{}:
		default:
			s.mu.Unlock()
			rid := newRequestID()
			s.respond(m, rid, failure(newReqLog(s.log, rid), domain.ErrBusy), false)
			return
		}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() { <-s.sem; s.wg.Done() }()
			s.serve(m, subject, idempotent, op)
		}()
	}
}

func (s *natsServer) serve(m *nats.Msg, subject string, idempotent bool, op natsOp) {
	start := time.Now()
	rid := newRequestID()
	log := newReqLog(s.log, rid)
	header := func(k string) string { return natsHeader(m.Header, k) }
	var res result
	var replayed bool
	defer func() {
		if r := recover(); r != nil {
			res, replayed = failure(log, domain.ErrInternal.Wrap(fmt.Errorf("panic: %v", r))), false
			s.respond(m, rid, res, false)
		}
	}()
	body := m.Data
	if len(body) > maxAPIBody {
		res = failure(log, ErrBodyTooLarge)
	} else if p, err := s.api.authenticate(s.ctx, NATSMethod, m.Subject, header, body); err != nil {
		res = failure(log, err)
	} else {
		log.authenticated(p)
		run := func() result { return op(s.ctx, log, p, body) }
		if !idempotent {
			res = run()
		} else if res, replayed, err = s.api.idempotent(s.ctx, p, header(sign.HeaderIdem), NATSMethod, m.Subject, body, run); err != nil {
			res = failure(log, err)
		}
	}
	s.respond(m, rid, res, replayed)
	s.requests.WithLabelValues(subject, strconv.Itoa(res.status)).Inc()
	log.line(s.ctx, slog.LevelInfo, "nats request", slog.String("subject", subject), slog.Int("status", res.status),
		slog.Duration("latency", time.Since(start)))
}

func (s *natsServer) respond(m *nats.Msg, rid string, res result, replayed bool) {
	out := nats.NewMsg(m.Reply)
	out.Data = withStatus(res)
	out.Header.Set("X-Request-ID", rid)
	if replayed {
		out.Header.Set("Idempotent-Replayed", "true")
	}
	if err := m.RespondMsg(out); err != nil {
		s.log.Warn("nats reply failed", "request_id", rid, "err", err)
	}
}

func (s *natsServer) answer(ctx context.Context, log *reqLog, p principal, body []byte) result {
	var req NATSAnswerRequest
	if err := decodeStrict(body, &req); err != nil {
		return failure(log, err)
	}
	return s.api.answerParsed(ctx, log, p, req.RequestID, req.SMSCode)
}

func (s *natsServer) get(ctx context.Context, log *reqLog, p principal, body []byte) result {
	var req NATSGetRequest
	if err := decodeStrict(body, &req); err != nil {
		return failure(log, err)
	}
	if req.Wait < 0 || req.Wait > MaxWait {
		return failure(log, domain.Invalid("wait", "wait须为0到60之间的整数（秒）"))
	}
	return s.api.getRequest(ctx, log, p, req.RequestID, time.Duration(req.Wait)*time.Second)
}

// natsHeader reads a header by exact name, then case-insensitively (NATS
// headers are case-sensitive; clients do not always keep the case).
func natsHeader(h nats.Header, key string) string {
	if v := h.Get(key); v != "" {
		return v
	}
	for k, vs := range h {
		if len(vs) > 0 && vs[0] != "" && strings.EqualFold(k, key) {
			return vs[0]
		}
	}
	return ""
}

// withStatus returns the answer's JSON object with "status" as its first
// field.
func withStatus(r result) []byte {
	head := `{"status":` + strconv.Itoa(r.status)
	if len(r.body) <= 2 { // no body (204) or {}
		return []byte(head + "}")
	}
	out := make([]byte, 0, len(head)+len(r.body))
	out = append(out, head...)
	out = append(out, ',')
	return append(out, r.body[1:]...)
}
