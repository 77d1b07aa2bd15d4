package taxbureau

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
)

var (
	_ Gateway     = (*Client)(nil)
	_ SMSProvider = (*Client)(nil)
)

// The Client's defaults, used where ClientOptions leave a zero.
const (
	DefaultClientTimeout    = 10 * time.Second
	DefaultMaxAttempts      = 3
	DefaultRetryBackoff     = 100 * time.Millisecond
	DefaultBreakerThreshold = 5
	DefaultBreakerCoolDown  = 30 * time.Second
)

// maxRetryBackoff caps the doubling back-off between retries.
const maxRetryBackoff = 2 * time.Second

// maxResponseBytes bounds a gateway answer the Client reads.
const maxResponseBytes = 1 << 20

const userAgent = "etaxd-gateway-client/1"

// ClientOptions configure NewClient. The zero value is usable: no token and
// the Default* values.
type ClientOptions struct {
	// Token is sent as "Authorization: Bearer <token>" when set.
	Token string
	// Timeout bounds each attempt of a call (DefaultClientTimeout when
	// zero); the call as a whole is bounded by ctx. A FetchCode long poll
	// gets its wait on top.
	Timeout time.Duration
	// MaxAttempts is how often a call is tried at most, the first try
	// included (DefaultMaxAttempts when zero; 1 disables retries). Only
	// retry-safe calls are retried once the request may have reached the
	// bureau; see Client.
	MaxAttempts int
	// RetryBackoff is the wait before the first retry (DefaultRetryBackoff
	// when zero). It doubles per retry up to 2 s, with jitter, on a real
	// timer that ends early with ctx.
	RetryBackoff time.Duration
	// BreakerThreshold is how many consecutive failed attempts open the
	// circuit breaker (DefaultBreakerThreshold when zero).
	BreakerThreshold int
	// BreakerCoolDown is how long the breaker stays open before one probe
	// may test the bureau (DefaultBreakerCoolDown when zero).
	BreakerCoolDown time.Duration
	// Clock is the breaker's time source; nil means clock.Real.
	Clock clock.Clock
	// HTTPClient sends the requests; nil means a client of the Client's
	// own. Its transport should be an *http.Transport (or wrap one) so the
	// Client can tell whether a failed request was written; redirects should
	// not be followed.
	HTTPClient *http.Client
	// Observe, when set, is called after every call with the method name
	// (a Method constant, or "FetchCode"), its duration and its error: the
	// hook for latency metrics. It must not block.
	Observe func(method string, took time.Duration, err error)
}

// ClientStats are a Client's counters since NewClient, for metrics.
type ClientStats struct {
	// Calls counts Gateway and SMSProvider calls; each long-poll round of
	// FetchCode counts once.
	Calls int64
	// Attempts counts the HTTP requests sent, retries included.
	Attempts int64
	// Retries counts the attempts after a call's first.
	Retries int64
	// Failures counts calls that ended without the bureau's answer: a
	// transport failure, a timeout, a 5xx, an answer outside the contract,
	// or a refusal by the open breaker. A catalogue refusal (wrong password
	// and friends) is an answer, and a call whose caller cancelled it counts
	// as neither.
	Failures int64
	// Rejected counts the calls the open breaker failed at once.
	Rejected int64
	// Breaker is the breaker's state now.
	Breaker BreakerState
}

// Client is a Gateway and an SMSProvider over HTTP: it speaks the gateway
// contract (docs/GATEWAY.md) to etax-sim or to a real bureau connector.
// Create it with NewClient; the zero value is not usable. It is safe for
// concurrent use.
//
// Errors are the catalogue errors the server sent, so errors.Is holds as it
// does against the in-process Simulator. Every failure that is not the
// bureau's answer (transport errors, timeouts, 5xx, answers outside the
// contract, a refused token, the open breaker) is domain.ErrBureauUnavailable
// wrapping the cause: context.DeadlineExceeded, ErrBreakerOpen,
// ErrUnauthorized or ErrBadResponse.
//
// Retries. A request that failed before it was written (the connection was
// refused) never reached the bureau, so any call is tried again, up to
// MaxAttempts. Once a request may have reached the bureau, only the
// retry-safe calls are: PollQR, PollCertification, CheckSession and
// FetchCode, which change nothing there. Login, SubmitCode, StartReset and
// CompleteReset are never retried then: they send SMS, spend the budget or
// use up a code, so a second try could do the deed twice. Relations and
// VerifyPassword count wrong passwords toward the bureau's lock, and
// StartQR and StartCertification open a new code each time, so they are not
// retried either. Catalogue refusals (4xx) are answers and never retried.
//
// The circuit breaker counts attempts. Closed, it opens after
// BreakerThreshold consecutive failures (transport errors, timeouts, 5xx,
// answers outside the contract; an answer resets the count). Open, it fails
// every call at once for BreakerCoolDown; then the next call is a probe and
// the others fail at once until it ends: its success closes the breaker,
// its failure opens it again. A FetchCode probe asks the server not to
// wait, so a long poll never holds the probe.
type Client struct {
	base  string
	opts  ClientOptions
	hc    *http.Client
	ownHC bool
	br    *breaker

	calls, attempts, retries, failures, rejected atomic.Int64
}

// NewClient returns a Client for the gateway at baseURL, the root the
// server's routes hang under ("http://127.0.0.1:8090", or with a path
// prefix). It reports every problem of baseURL and opts at once.
func NewClient(baseURL string, opts ClientOptions) (*Client, error) {
	var errs []error
	u, err := url.Parse(strings.TrimSpace(baseURL))
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("gateway URL %q: %w; want http:// or https:// and a host", baseURL, err))
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		errs = append(errs, fmt.Errorf("gateway URL %q: want http:// or https:// and a host", baseURL))
	case u.User != nil:
		errs = append(errs, errors.New("gateway URL: must not carry credentials; set ClientOptions.Token"))
	case u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		errs = append(errs, fmt.Errorf("gateway URL %q: must not have a query or a fragment", baseURL))
	}
	if opts.Timeout < 0 {
		errs = append(errs, errors.New("gateway client: Timeout must not be negative"))
	}
	if opts.MaxAttempts < 0 {
		errs = append(errs, errors.New("gateway client: MaxAttempts must not be negative"))
	}
	if opts.RetryBackoff < 0 {
		errs = append(errs, errors.New("gateway client: RetryBackoff must not be negative"))
	}
	if opts.BreakerThreshold < 0 {
		errs = append(errs, errors.New("gateway client: BreakerThreshold must not be negative"))
	}
	if opts.BreakerCoolDown < 0 {
		errs = append(errs, errors.New("gateway client: BreakerCoolDown must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("taxbureau: %w", err)
	}

	opts.Timeout = orDefault(opts.Timeout, DefaultClientTimeout)
	opts.MaxAttempts = orDefault(opts.MaxAttempts, DefaultMaxAttempts)
	opts.RetryBackoff = orDefault(opts.RetryBackoff, DefaultRetryBackoff)
	opts.BreakerThreshold = orDefault(opts.BreakerThreshold, DefaultBreakerThreshold)
	opts.BreakerCoolDown = orDefault(opts.BreakerCoolDown, DefaultBreakerCoolDown)
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	c := &Client{
		base: u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/"),
		opts: opts,
		hc:   opts.HTTPClient,
		br:   newBreaker(opts.Clock, opts.BreakerThreshold, opts.BreakerCoolDown),
	}
	if c.hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		c.hc = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		c.ownHC = true
	}
	return c, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Stats returns the Client's counters and the breaker's state.
func (c *Client) Stats() ClientStats {
	return ClientStats{
		Calls:    c.calls.Load(),
		Attempts: c.attempts.Load(),
		Retries:  c.retries.Load(),
		Failures: c.failures.Load(),
		Rejected: c.rejected.Load(),
		Breaker:  c.br.State(),
	}
}

// Close closes the idle connections of the Client's own HTTP client; a
// Client given an HTTPClient leaves it alone. Calls after Close still work.
func (c *Client) Close() error {
	if c.ownHC {
		c.hc.CloseIdleConnections()
	}
	return nil
}

// spec describes one endpoint of the contract.
type spec struct {
	method    string
	path      string
	retrySafe bool // safe to retry after the request may have reached the bureau
	// fetch is the body of a FetchCode long poll: its wait is added to the
	// attempt's timeout, a probe asks for no wait, and the caller's deadline
	// ending it is the normal end of a wait, not a failure.
	fetch *smsFetchBody
}

// Login implements Gateway. It is not retried once the request may have
// reached the bureau: a second try could send a second code.
func (c *Client) Login(ctx context.Context, req LoginRequest) (LoginResult, error) {
	var out loginReply
	err := c.call(ctx, spec{method: MethodLogin, path: pathLogin}, loginBody{Region: req.Region, TaxNo: req.TaxNo,
		Username: req.Username, Password: req.Password, Channel: req.Channel}, &out)
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{PersonID: out.PersonID, Role: out.Role, Session: out.Session.session(),
		Challenge: out.Challenge.challenge()}, nil
}

// SubmitCode implements Gateway. It is not retried once the request may have
// reached the bureau: the code may have been used up.
func (c *Client) SubmitCode(ctx context.Context, challengeID, code string) (Session, error) {
	var out wireSession
	err := c.call(ctx, spec{method: MethodSubmitCode, path: pathSubmitCode}, submitCodeBody{ChallengeID: challengeID, Code: code}, &out)
	if err != nil {
		return Session{}, err
	}
	return *out.session(), nil
}

// StartQR implements Gateway. It is not retried once the request may have
// reached the bureau.
func (c *Client) StartQR(ctx context.Context, req QRRequest) (QRChallenge, error) {
	var out codeReply
	err := c.call(ctx, spec{method: MethodStartQR, path: pathQRStart}, qrStartBody{Region: req.Region, TaxNo: req.TaxNo,
		Channel: req.Channel, App: req.App}, &out)
	if err != nil {
		return QRChallenge{}, err
	}
	return QRChallenge{ID: out.ID, Content: out.Content, ExpiresAt: out.ExpiresAt}, nil
}

// PollQR implements Gateway; it is retry-safe.
func (c *Client) PollQR(ctx context.Context, qrID string) (QRStatus, error) {
	var out qrStatusReply
	err := c.call(ctx, spec{method: MethodPollQR, path: pathQRPoll, retrySafe: true}, qrPollBody{QRID: qrID}, &out)
	if err != nil {
		return QRStatus{}, err
	}
	return QRStatus{State: out.State, PersonID: out.PersonID, Role: out.Role, Session: out.Session.session()}, nil
}

// StartCertification implements Gateway. It is not retried once the request
// may have reached the bureau.
func (c *Client) StartCertification(ctx context.Context, token string) (FaceChallenge, error) {
	var out codeReply
	err := c.call(ctx, spec{method: MethodStartCertification, path: pathCertStart}, certStartBody{Token: token}, &out)
	if err != nil {
		return FaceChallenge{}, err
	}
	return FaceChallenge{ID: out.ID, Content: out.Content, ExpiresAt: out.ExpiresAt}, nil
}

// PollCertification implements Gateway; it is retry-safe.
func (c *Client) PollCertification(ctx context.Context, certID string) (CertStatus, error) {
	var out certStatusReply
	err := c.call(ctx, spec{method: MethodPollCertification, path: pathCertPoll, retrySafe: true}, certPollBody{CertID: certID}, &out)
	if err != nil {
		return CertStatus{}, err
	}
	return CertStatus{State: out.State, ValidUntil: out.ValidUntil}, nil
}

// Relations implements Gateway. It is not retried once the request may have
// reached the bureau: a wrong password counts toward the bureau's lock.
func (c *Client) Relations(ctx context.Context, region, username, password string) ([]Relation, error) {
	var out relationsReply
	err := c.call(ctx, spec{method: MethodRelations, path: pathRelations},
		credentialsBody{Region: region, Username: username, Password: password}, &out)
	if err != nil {
		return nil, err
	}
	if out.Relations == nil {
		out.Relations = []Relation{}
	}
	return out.Relations, nil
}

// VerifyPassword implements Gateway. It is not retried once the request may
// have reached the bureau: a wrong password counts toward the bureau's lock.
func (c *Client) VerifyPassword(ctx context.Context, region, username, password string) error {
	var out okReply
	return c.call(ctx, spec{method: MethodVerifyPassword, path: pathVerify},
		credentialsBody{Region: region, Username: username, Password: password}, &out)
}

// StartReset implements Gateway. It is not retried once the request may have
// reached the bureau: a second try could send a second code.
func (c *Client) StartReset(ctx context.Context, req ResetRequest) (Challenge, error) {
	var out wireChallenge
	err := c.call(ctx, spec{method: MethodStartReset, path: pathResetStart}, resetStartBody{Region: req.Region,
		Username: req.Username, IDType: req.IDType, IDNumber: req.IDNumber}, &out)
	if err != nil {
		return Challenge{}, err
	}
	return *out.challenge(), nil
}

// CompleteReset implements Gateway. It is not retried once the request may
// have reached the bureau: the code may have been used up.
func (c *Client) CompleteReset(ctx context.Context, challengeID, code, newPassword string) error {
	var out okReply
	return c.call(ctx, spec{method: MethodCompleteReset, path: pathResetDone},
		resetCompleteBody{ChallengeID: challengeID, Code: code, NewPassword: newPassword}, &out)
}

// CheckSession implements Gateway; it is retry-safe.
func (c *Client) CheckSession(ctx context.Context, token string) (SessionStatus, error) {
	var out sessionStatusReply
	err := c.call(ctx, spec{method: MethodCheckSession, path: pathSessionCheck, retrySafe: true}, sessionCheckBody{Token: token}, &out)
	if err != nil {
		return SessionStatus{}, err
	}
	return SessionStatus{Alive: out.Alive, ExpiresAt: out.ExpiresAt}, nil
}

// FetchCode implements SMSProvider with long polls of sms/fetch: each asks
// the server to wait up to 60 s, or nine tenths of what is left of ctx, and
// FetchCode asks again while ctx has time left that one poll could not
// cover. It is retry-safe. When ctx ends first it returns
// domain.ErrHostedCodeTimeout wrapping ctx.Err(), as SimSMSProvider does.
func (c *Client) FetchCode(ctx context.Context, loginType domain.LoginType, username string, since time.Time) (string, error) {
	for {
		wait, final := fetchWait(ctx)
		body := &smsFetchBody{LoginType: loginType, Username: username, Since: since, WaitMS: wait.Milliseconds()}
		start := time.Now()
		var out smsFetchReply
		err := c.call(ctx, spec{method: "FetchCode", path: pathSMSFetch, retrySafe: true, fetch: body}, body, &out)
		asked := time.Duration(body.WaitMS) * time.Millisecond
		switch {
		case err == nil:
			return out.Code, nil
		case ctx.Err() != nil:
			return "", domain.ErrHostedCodeTimeout.Wrap(ctx.Err())
		case errors.Is(err, domain.ErrHostedCodeTimeout) && (!final || asked < wait) && time.Since(start) >= asked:
			continue // the server waited all it was asked to; time is left
		}
		return "", err
	}
}

// fetchWait is how long one long poll may wait, and whether that covers
// what is left of ctx (so no further poll should follow).
func fetchWait(ctx context.Context) (time.Duration, bool) {
	dl, ok := ctx.Deadline()
	if !ok {
		return maxFetchWait, false
	}
	left := time.Until(dl)
	w := left - left/10 // leave a tenth for the answer to travel back
	if w > maxFetchWait {
		return maxFetchWait, false
	}
	return max(w, 0), true
}

// call runs one call of the contract: the breaker, the attempts and the
// retries. in is encoded per attempt; out receives a 2xx answer.
func (c *Client) call(ctx context.Context, sp spec, in, out any) (err error) {
	c.calls.Add(1)
	if c.opts.Observe != nil {
		start := time.Now()
		defer func() { c.opts.Observe(sp.method, time.Since(start), err) }()
	}
	if err := ctx.Err(); err != nil {
		return domain.ErrBureauUnavailable.Wrap(fmt.Errorf("gateway %s: %w", sp.method, err))
	}
	backoff := c.opts.RetryBackoff
	wait := time.Duration(0)
	if sp.fetch != nil {
		wait = time.Duration(sp.fetch.WaitMS) * time.Millisecond
	}
	for try := 1; ; try++ {
		t, err := c.br.allow()
		if err != nil {
			c.rejected.Add(1)
			c.failures.Add(1)
			return err
		}
		extra := wait
		if sp.fetch != nil {
			if t.probe {
				extra = 0 // a probe must not hold the breaker for a long poll
			}
			sp.fetch.WaitMS = extra.Milliseconds()
		}
		body, err := json.Marshal(in)
		if err != nil {
			c.br.record(t, abandoned)
			return fmt.Errorf("taxbureau: encode %s: %w", sp.method, err)
		}
		c.attempts.Add(1)
		o, sent, err := c.attempt(ctx, sp, extra, body, out)
		c.br.record(t, o)
		if o != failed {
			return err
		}
		if try >= c.opts.MaxAttempts || (sent && !sp.retrySafe) || !sleep(ctx, jitter(backoff)) {
			c.failures.Add(1)
			return err
		}
		backoff = min(2*backoff, maxRetryBackoff)
		c.retries.Add(1)
	}
}

// attempt sends one request and reads its answer. sent reports whether the
// request may have reached the bureau: only a failure to connect, before a
// header was written, proves it did not.
func (c *Client) attempt(ctx context.Context, sp spec, extra time.Duration, body []byte, out any) (o outcome, sent bool, err error) {
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout+extra)
	defer cancel()
	var wrote atomic.Bool
	actx = httptrace.WithClientTrace(actx, &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }})
	req, err := http.NewRequestWithContext(actx, http.MethodPost, c.base+sp.path, bytes.NewReader(body))
	if err != nil {
		return failed, false, c.unavailable(sp, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if c.opts.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.opts.Token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.transportOutcome(ctx, sp), wrote.Load() || !isDialError(err), c.unavailable(sp, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return c.transportOutcome(ctx, sp), true, c.unavailable(sp, err)
	}
	if len(data) > maxResponseBytes {
		return failed, true, c.unavailable(sp, fmt.Errorf("%w: HTTP %d, body over %d bytes", ErrBadResponse, resp.StatusCode, maxResponseBytes))
	}
	o, err = c.answer(sp, resp.StatusCode, data, out)
	return o, true, err
}

// answer reads a response: 2xx decodes into out; a 4xx with the contract's
// error body is the bureau's refusal; 5xx and anything outside the contract
// are failures.
func (c *Client) answer(sp spec, status int, data []byte, out any) (outcome, error) {
	if status >= 200 && status < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return failed, c.unavailable(sp, fmt.Errorf("%w: HTTP %d: %v", ErrBadResponse, status, err))
		}
		return answered, nil
	}
	var er errorReply
	if err := json.Unmarshal(data, &er); err != nil || er.Error == nil || er.Error.Code == "" {
		return failed, c.unavailable(sp, fmt.Errorf("%w: HTTP %d without an error body", ErrBadResponse, status))
	}
	e := er.Error.domainError()
	switch {
	case status >= 500:
		return failed, c.unavailable(sp, fmt.Errorf("HTTP %d: %w", status, e))
	case status == http.StatusUnauthorized:
		return answered, c.unavailable(sp, fmt.Errorf("%w: %s", ErrUnauthorized, e.MessageEN))
	case status >= 400:
		return answered, e
	}
	return failed, c.unavailable(sp, fmt.Errorf("%w: HTTP %d", ErrBadResponse, status))
}

// transportOutcome classifies a transport failure: the caller cancelling, or
// a long poll's caller reaching its deadline, says nothing about the bureau;
// anything else (including the caller's deadline on a normal call: the
// bureau was too slow) is a failure.
func (c *Client) transportOutcome(ctx context.Context, sp spec) outcome {
	switch err := ctx.Err(); {
	case errors.Is(err, context.Canceled):
		return abandoned
	case err != nil && sp.fetch != nil:
		return abandoned
	}
	return failed
}

func (c *Client) unavailable(sp spec, err error) error {
	return domain.ErrBureauUnavailable.Wrap(fmt.Errorf("gateway %s: %w", sp.method, err))
}

// isDialError reports whether err is a failure to connect, so the request
// was never written.
func isDialError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// jitter returns a duration between d/2 and d.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// sleep waits d on a real timer and reports whether ctx is still live
// after it; it does not start a wait that would outlast ctx's deadline.
func sleep(ctx context.Context, d time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
