package taxbureau

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/etaxd/etaxd/domain"
)

// DefaultMaxBodyBytes is the largest request body NewServer reads unless
// ServerOptions.MaxBodyBytes says otherwise.
const DefaultMaxBodyBytes = 64 << 10

// ServerOptions configure NewServer. The zero value is usable: the gateway
// contract without a token and without the test endpoints.
type ServerOptions struct {
	// Token, when set, is the bearer token every /gateway/v1 request must
	// carry ("Authorization: Bearer <token>"); others get 401. The /sim/v1
	// endpoints never ask for it: they are for tests only.
	Token string
	// TestEndpoints serves /sim/v1: creating persons, reading the codes
	// sent to a phone, scanning QR codes and passing face certifications.
	TestEndpoints bool
	// SMS is the hosted-number provider served at /gateway/v1/sms/fetch;
	// nil means NewSimSMSProvider(sim). Pass your own to steer its faults.
	SMS *SimSMSProvider
	// MaxBodyBytes bounds a request body; zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxFetchWait caps the long poll of sms/fetch; zero (and anything
	// longer) means 60 s.
	MaxFetchWait time.Duration
	// Logger receives failures that are not the bureau's answers (panics,
	// injected transport faults); nil discards them. Bodies, passwords and
	// codes are never logged.
	Logger *slog.Logger
}

// server serves one Simulator over the gateway contract.
type server struct {
	sim     *Simulator
	sms     *SimSMSProvider
	token   string
	maxBody int64
	maxWait time.Duration
	log     *slog.Logger
	methods map[string]string // known path → its method, for 405s
}

// NewServer returns an http.Handler serving sim over the gateway contract
// (docs/GATEWAY.md) under GatewayPathPrefix and, with TestEndpoints, the
// test-only endpoints under SimPathPrefix. Every route is absolute, so the
// handler may be mounted at the root of any mux or, through Fiber's
// adaptor, on both prefixes of etaxd's app. Bad input always gets a 4xx
// with a JSON error body, never a panic or a 5xx; 503 means the bureau is
// unavailable. The handler is safe for concurrent use.
func NewServer(sim *Simulator, opts ServerOptions) http.Handler {
	s := &server{
		sim:     sim,
		sms:     opts.SMS,
		token:   opts.Token,
		maxBody: opts.MaxBodyBytes,
		maxWait: opts.MaxFetchWait,
		log:     opts.Logger,
		methods: make(map[string]string),
	}
	if s.sms == nil {
		s.sms = NewSimSMSProvider(sim)
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.maxWait <= 0 || s.maxWait > maxFetchWait {
		s.maxWait = maxFetchWait
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}

	mux := http.NewServeMux()
	gw := func(path string, h http.HandlerFunc) {
		s.methods[path] = http.MethodPost
		mux.Handle(http.MethodPost+" "+path, s.authorize(h))
	}
	gw(pathLogin, s.login)
	gw(pathSubmitCode, s.submitCode)
	gw(pathQRStart, s.startQR)
	gw(pathQRPoll, s.pollQR)
	gw(pathCertStart, s.startCertification)
	gw(pathCertPoll, s.pollCertification)
	gw(pathRelations, s.relations)
	gw(pathVerify, s.verifyPassword)
	gw(pathResetStart, s.startReset)
	gw(pathResetDone, s.completeReset)
	gw(pathSessionCheck, s.checkSession)
	gw(pathSMSFetch, s.fetchCode)
	mux.Handle(GatewayPathPrefix, s.authorize(http.HandlerFunc(s.unknownRoute)))

	if opts.TestEndpoints {
		test := func(method, path string, h http.HandlerFunc) {
			s.methods[path] = method
			mux.Handle(method+" "+path, h)
		}
		test(http.MethodPost, SimPathPrefix+"persons", s.addPerson)
		test(http.MethodGet, SimPathPrefix+"sms", s.sentCodes)
		test(http.MethodPost, SimPathPrefix+"qr/{id}/scan", s.scanQR)
		test(http.MethodPost, SimPathPrefix+"face/{id}/pass", s.passFace)
		test(http.MethodPost, SimPathPrefix+"persons/{username}/password", s.setPassword)
		mux.HandleFunc(SimPathPrefix, s.unknownRoute)
	}
	return s.recoverer(s.onlyOurs(mux, opts.TestEndpoints))
}

// onlyOurs answers a JSON 404 for every path the contract does not hold,
// and for unclean paths ("//", "/./", "/../") that http.ServeMux would
// otherwise redirect with an HTML body.
func (s *server) onlyOurs(next http.Handler, sim bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		ours := strings.HasPrefix(p, GatewayPathPrefix) || sim && strings.HasPrefix(p, SimPathPrefix)
		if c := path.Clean(p); !ours || c != p && c+"/" != p {
			writeError(w, errNotFound)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// recoverer turns a panic into a logged 500 so one bad request never takes
// the process down. The fuzz target fails on any 5xx, so a panic here is
// still a test failure.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("gateway handler panicked", "path", r.URL.Path, "panic", fmt.Sprint(v))
				writeError(w, domain.ErrInternal)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// authorize checks the bearer token, in constant time, when one is set.
func (s *server) authorize(next http.Handler) http.Handler {
	if s.token == "" {
		return next
	}
	want := []byte(s.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="etax-gateway"`)
			writeError(w, errUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// unknownRoute answers 405 for a known path with the wrong method and 404
// otherwise, in the contract's JSON shape.
func (s *server) unknownRoute(w http.ResponseWriter, r *http.Request) {
	if m, ok := s.methods[r.URL.Path]; ok {
		w.Header().Set("Allow", m)
		writeError(w, errMethodNotAllowed)
		return
	}
	writeError(w, errNotFound)
}

// decode reads a JSON body of at most maxBody bytes into v, refusing
// unknown fields and trailing data. It writes the 4xx and reports false
// when the body is not acceptable.
func (s *server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	return s.decodeBody(w, r, v, false)
}

// decodeBody is decode; optional accepts an empty body and leaves v alone.
func (s *server) decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			writeErrorStatus(w, http.StatusUnsupportedMediaType,
				domain.ErrInvalidInput.With("请求体须为JSON", "Content-Type must be application/json"))
			return false
		}
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, s.maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(new(json.RawMessage)) != io.EOF {
			err = errors.New("trailing data after the JSON value")
		}
	}
	var tooBig *http.MaxBytesError
	switch {
	case err == nil:
		return true
	case errors.As(err, &tooBig):
		writeErrorStatus(w, http.StatusRequestEntityTooLarge,
			domain.ErrInvalidInput.With("请求体过大", fmt.Sprintf("body larger than %d bytes", s.maxBody)))
	case errors.Is(err, io.EOF) && optional:
		return true
	case errors.Is(err, io.EOF):
		writeError(w, domain.ErrInvalidInput.With("请求体为空", "empty body"))
	default:
		writeError(w, domain.ErrInvalidInput.With("请求体不是有效的JSON或含有未知字段", "body: "+clip(err.Error(), 200)))
	}
	return false
}

// fail answers a call that failed. Catalogue errors go to the client as they
// are; anything else (an injected transport fault, a done ctx) becomes
// domain.ErrBureauUnavailable, and its text goes to the log only.
func (s *server) fail(w http.ResponseWriter, r *http.Request, method string, err error) {
	var e *domain.Error
	if !errors.As(err, &e) {
		if r.Context().Err() == nil {
			s.log.Warn("gateway call failed", "method", method, "err", err)
		}
		e = domain.ErrBureauUnavailable
	}
	writeError(w, e)
}

// handle decodes the body into a B, runs f, and writes its reply or error.
func handle[B any](s *server, method string, w http.ResponseWriter, r *http.Request, f func(context.Context, *B) (any, error)) {
	var b B
	if !s.decode(w, r, &b) {
		return
	}
	out, err := f(r.Context(), &b)
	if err != nil {
		s.fail(w, r, method, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	handle(s, MethodLogin, w, r, func(ctx context.Context, b *loginBody) (any, error) {
		res, err := s.sim.Login(ctx, LoginRequest{Region: b.Region, TaxNo: b.TaxNo, Username: b.Username,
			Password: b.Password, Channel: b.Channel})
		if err != nil {
			return nil, err
		}
		return loginReply{PersonID: res.PersonID, Role: res.Role, Session: toWireSession(res.Session),
			Challenge: toWireChallenge(res.Challenge)}, nil
	})
}

func (s *server) submitCode(w http.ResponseWriter, r *http.Request) {
	handle(s, MethodSubmitCode, w, r, func(ctx context.Context, b *submitCodeBody) (any, error) {
		sess, err := s.sim.SubmitCode(ctx, b.ChallengeID, b.Code)
		if err != nil {
			return nil, err
		}
		return toWireSession(&sess), nil
	})
}

func (s *server) startQR(w http.ResponseWriter, r *http.Request) {
	handle(s, MethodStartQR, w, r, func(ctx context.Context, b *qrStartBody) (any, error) {
		qr, err := s.sim.StartQR(ctx, QRRequest{Region: b.Region, TaxNo: b.TaxNo, Channel: b.Channel, App: b.App})
		if err != nil {
			return nil, err
		}
		return codeReply{ID: qr.ID, Content: qr.Content, ExpiresAt: qr.ExpiresAt}, nil
	})
}

func (s *server) pollQR(w http.ResponseWriter, r *http.Request) {
	handle(s, MethodPollQR, w, r, func(ctx context.Context, b *qrPollBody) (any, error) {
		st, err := s.sim.PollQR(ctx, b.QRID)
		if err != nil {
			return nil, err
		}
		return qrStatusReply{State: st.State, PersonID: st.PersonID, Role: st.Role, Session: toWireSession(st.Session)}, nil
	})
}

func (s *server) startCertification(w http.ResponseWriter, r *http.Request) {
	handle(s, MethodStartCertification, w, r, func(ctx context.Context, b *certStartBody) (any, error) {
		fc, err := s.sim.StartCertification(ctx, b.Token)
		if err != nil {
			return nil, err
		}
		return codeReply{ID: fc.ID, Content: fc.Content, ExpiresAt: fc.ExpiresAt}, nil
	})
}

func (s *server) pollCertification(w http.ResponseWriter, r *http.Request) {
	handle(s, MethodPollCertification, w, r, func(ctx context.Context, b *certPollBody) (any, error) {
		st, err := s.sim.PollCertification(ctx, b.CertID)
		if err != nil {
			return nil, err
		}
		return certStatusReply{State: st.State, ValidUntil: st.ValidUntil}, nil
	})
}

func (s *server) relations(w http.ResponseWriter, r *http.Request) {
	handle(s, MethodRelations, w, r, func(ctx context.Context, b *credentialsBody) (any, error) {
		rels, err := s.sim.Relations(ctx, b.Region, b.Username, b.Password)
		if err != nil {
			return nil, err
		}
		if rels == nil {
			rels = []Relation{}
		}
		return relationsReply{Relations: rels}, nil
	})
}

func (s *server) verifyPassword(w http.ResponseWriter, r *http.Request) {
	handle(s, MethodVerifyPassword, w, r, func(ctx context.Context, b *credentialsBody) (any, error) {
		if err := s.sim.VerifyPassword(ctx, b.Region, b.Username, b.Password); err != nil {
			return nil, err
		}
		return okReply{OK: true}, nil
	})
}

func (s *server) startReset(w http.ResponseWriter, r *http.Request) {
	handle(s, MethodStartReset, w, r, func(ctx context.Context, b *resetStartBody) (any, error) {
		c, err := s.sim.StartReset(ctx, ResetRequest{Region: b.Region, Username: b.Username, IDType: b.IDType, IDNumber: b.IDNumber})
		if err != nil {
			return nil, err
		}
		return toWireChallenge(&c), nil
	})
}

func (s *server) completeReset(w http.ResponseWriter, r *http.Request) {
	handle(s, MethodCompleteReset, w, r, func(ctx context.Context, b *resetCompleteBody) (any, error) {
		if err := s.sim.CompleteReset(ctx, b.ChallengeID, b.Code, b.NewPassword); err != nil {
			return nil, err
		}
		return okReply{OK: true}, nil
	})
}

func (s *server) checkSession(w http.ResponseWriter, r *http.Request) {
	handle(s, MethodCheckSession, w, r, func(ctx context.Context, b *sessionCheckBody) (any, error) {
		st, err := s.sim.CheckSession(ctx, b.Token)
		if err != nil {
			return nil, err
		}
		return sessionStatusReply{Alive: st.Alive, ExpiresAt: st.ExpiresAt}, nil
	})
}

// fetchCode is the hosted-number long poll: it waits up to wait_ms (capped
// at MaxFetchWait) for a code and answers domain.ErrHostedCodeTimeout (404)
// when none came. A request cut short by the client or by the server's
// shutdown gets 503 instead: the wait did not run its course.
func (s *server) fetchCode(w http.ResponseWriter, r *http.Request) {
	handle(s, "FetchCode", w, r, func(ctx context.Context, b *smsFetchBody) (any, error) {
		if b.WaitMS < 0 {
			return nil, domain.Invalid("wait_ms", "等待时间不能为负")
		}
		wait := s.maxWait
		if b.WaitMS < s.maxWait.Milliseconds() {
			wait = time.Duration(b.WaitMS) * time.Millisecond
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		code, err := s.sms.FetchCode(wctx, b.LoginType, b.Username, b.Since)
		if err != nil {
			if ctx.Err() != nil {
				return nil, domain.ErrBureauUnavailable.Wrap(ctx.Err())
			}
			return nil, err
		}
		return smsFetchReply{Code: code}, nil
	})
}

// The test-only endpoints.

func (s *server) addPerson(w http.ResponseWriter, r *http.Request) {
	var b personBody
	if !s.decode(w, r, &b) {
		return
	}
	p, err := b.person()
	if err == nil {
		err = s.sim.AddPerson(p)
	}
	if err != nil {
		s.failSim(w, r, err)
		return
	}
	id := p.ID
	if found, ok := s.sim.FindPerson(p.Username); ok {
		id = found.ID
	}
	writeJSON(w, http.StatusCreated, personReply{ID: id})
}

func (s *server) sentCodes(w http.ResponseWriter, r *http.Request) {
	phone := strings.TrimSpace(r.URL.Query().Get("phone"))
	if phone == "" {
		writeError(w, domain.Invalid("phone", "请提供手机号（?phone=）"))
		return
	}
	codes := s.sim.SentCodes(phone)
	if codes == nil {
		codes = []SMS{}
	}
	writeJSON(w, http.StatusOK, codes)
}

func (s *server) scanQR(w http.ResponseWriter, r *http.Request) {
	var b scanBody
	if !s.decode(w, r, &b) {
		return
	}
	id := r.PathValue("id")
	var err error
	if b.Confirm != nil && !*b.Confirm {
		err = s.sim.ScanQRUnconfirmed(id, b.Username)
	} else {
		err = s.sim.ScanQR(id, b.Username)
	}
	if err != nil {
		s.failSim(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, okReply{OK: true})
}

// setPassword changes a person's password at the bureau, as the person
// would on the bureau's own site: etaxd is not told (F12's situation).
func (s *server) setPassword(w http.ResponseWriter, r *http.Request) {
	var b struct {
		Password string `json:"password"`
	}
	if !s.decode(w, r, &b) {
		return
	}
	if b.Password == "" {
		s.failSim(w, r, domain.Invalid("password", "请输入新密码"))
		return
	}
	if err := s.sim.SetPassword(r.PathValue("username"), b.Password); err != nil {
		s.failSim(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, okReply{OK: true})
}

func (s *server) passFace(w http.ResponseWriter, r *http.Request) {
	// The body is optional; when present it must be an empty object.
	var b struct{}
	if !s.decodeBody(w, r, &b, true) {
		return
	}
	if err := s.sim.PassFace(r.PathValue("id")); err != nil {
		s.failSim(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, okReply{OK: true})
}

// failSim answers a failed test-only call, mapping the simulator's own
// errors onto the contract's codes.
func (s *server) failSim(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrPersonExists):
		writeError(w, errPersonExists)
	case errors.Is(err, ErrUnknownPerson):
		writeError(w, errUnknownPerson)
	default:
		s.fail(w, r, "sim", err)
	}
}

// writeError writes e as the contract's error body with e's status.
func writeError(w http.ResponseWriter, e *domain.Error) {
	writeErrorStatus(w, statusOf(e.Code), e)
}

func writeErrorStatus(w http.ResponseWriter, status int, e *domain.Error) {
	writeJSON(w, status, errorReply{Error: toWireError(e)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Our reply types always marshal; this is a bug, not bad input.
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"系统内部错误，请稍后再试","message_en":"internal error"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// clip shortens s to at most n bytes, on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// EncodePersons writes ps as the JSON array DecodePersons reads (the shape
// of POST /sim/v1/persons, ids and passwords included): what
// Simulator.KeepPersons is given, kept in a file, is an etax-sim --seed
// file.
func EncodePersons(w io.Writer, ps []Person) error {
	bodies := make([]personBody, 0, len(ps))
	for _, p := range ps {
		b := personBody{ID: p.ID, Name: p.Name, IDType: p.IDType, IDNumber: p.IDNumber, Phone: p.Phone,
			Username: p.Username, Password: p.Password, Relations: make([]relationBody, 0, len(p.Relations))}
		for _, r := range p.Relations {
			b.Relations = append(b.Relations, relationBody{TaxNo: r.TaxNo, Region: r.Region, Role: string(r.Role)})
		}
		bodies = append(bodies, b)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(bodies); err != nil {
		return fmt.Errorf("encode persons: %w", err)
	}
	return nil
}

// DecodePersons reads a JSON array of persons in the shape of POST
// /sim/v1/persons (docs/GATEWAY.md), as etax-sim's --seed file holds them.
// Unknown fields, bad roles and unknown region codes are refused; AddPerson
// checks the rest.
func DecodePersons(r io.Reader) ([]Person, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var bodies []personBody
	if err := dec.Decode(&bodies); err != nil {
		return nil, fmt.Errorf("decode persons: %w", err)
	}
	ps := make([]Person, 0, len(bodies))
	for i := range bodies {
		p, err := bodies[i].person()
		if err != nil {
			return nil, fmt.Errorf("person %d (%s): %w", i, bodies[i].Username, err)
		}
		ps = append(ps, p)
	}
	return ps, nil
}
