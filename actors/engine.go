package actors

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

// Deps are the parts an Engine is built from. Store, Sealer, Gateway, SMS and
// Prompts are required; Clock defaults to the wall clock, Logger to
// slog.Default.
type Deps struct {
	Store   persistence.Store
	Sealer  Sealer
	Gateway taxbureau.Gateway
	SMS     taxbureau.SMSProvider
	Prompts prompts.Publisher
	// Events receives client events (B6); nil drops them.
	Events prompts.EventSink
	Clock  clock.Clock
	Logger *slog.Logger
}

// Engine is etaxd's actor system seen from outside: every operation of the
// personal center and the client API is a method. It is safe for concurrent
// use. protoactor-go stays behind it.
type Engine struct {
	d       *deps
	sys     *actor.ActorSystem
	root    *actor.PID
	tenants sync.Map // tenant id → *actor.PID
	limiter *attemptLimiter
	// byAddr and total limit wrong activation codes per client address and
	// across etaxd.
	byAddr, total *attemptLimiter
	keys          apiKeyCache
	stop          sync.Once
}

// Start builds the actor system. Nothing is loaded: tenants and accounts
// activate on first use.
func Start(cfg Config, dp Deps) (*Engine, error) {
	if dp.Store == nil || dp.Sealer == nil || dp.Gateway == nil || dp.SMS == nil || dp.Prompts == nil {
		return nil, errors.New("actors: Store, Sealer, Gateway, SMS and Prompts are required")
	}
	if dp.Clock == nil {
		dp.Clock = clock.Real{}
	}
	if dp.Logger == nil {
		dp.Logger = slog.Default()
	}
	cfg = cfg.withDefaults()
	if err := cfg.LockPolicy.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.PasswordGuard.Validate(); err != nil {
		return nil, err
	}
	if dp.Events == nil {
		dp.Events = prompts.Discard{}
	}
	d := &deps{cfg: cfg, store: dp.Store, seal: dp.Sealer, gw: dp.Gateway, sms: dp.SMS, pub: dp.Prompts, ev: dp.Events,
		clk: dp.Clock, log: dp.Logger, stats: &Stats{}, bg: newGoroutines(),
		pwFlows: newAttemptLimiter(cfg.PasswordFlowLimit, cfg.PasswordFlowWindow, dp.Clock)}
	var err error
	if d.linkKey, err = loadLinkKey(d); err != nil {
		return nil, fmt.Errorf("load link key: %w", err)
	}
	logger := dp.Logger.With("component", "protoactor")
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return logger }),
		actor.WithDeadLetterRequestLogging(false),
		actor.WithDeadLetterThrottleCount(3),
		actor.WithDeadLetterThrottleInterval(time.Minute),
	)
	props := actor.PropsFromProducer(func() actor.Actor { return &rootActor{d: d} }, actor.WithSupervisor(supervisor()))
	root, err := sys.Root.SpawnNamed(props, "etaxd")
	if err != nil {
		return nil, fmt.Errorf("spawn root: %w", err)
	}
	return &Engine{d: d, sys: sys, root: root, limiter: newAttemptLimiter(cfg.ActivationLimit, cfg.ActivationWindow, dp.Clock),
		byAddr: newAttemptLimiter(cfg.ActivationPerAddress, cfg.ActivationWindow, dp.Clock),
		total:  newAttemptLimiter(cfg.ActivationTotal, cfg.ActivationWindow, dp.Clock),
		keys:   apiKeyCache{m: map[string]cachedKey{}}}, nil
}

// Stop stops every actor, children first, and waits for it; then it
// cancels every goroutine the engine started (gateway calls in flight,
// notifier callbacks) and waits for them too. Nothing of the engine runs
// after Stop returned. Stopping a stopped engine does nothing.
func (e *Engine) Stop() {
	e.stop.Do(func() {
		_ = e.sys.Root.PoisonFuture(e.root).Wait()
		e.d.bg.stop()
		e.sys.Shutdown()
	})
}

// Stats returns the engine's counters.
func (e *Engine) Stats() StatsSnapshot { return e.d.stats.Snapshot() }

// ask sends msg to the tenant and waits for the reply, within ctx's deadline
// or the configured AskTimeout. A reply that is an error is returned as one.
func (e *Engine) ask(ctx context.Context, tenant string, msg any) (any, error) {
	if !validID(tenant) {
		return nil, domain.ErrTenantNotFound
	}
	timeout := e.d.cfg.AskTimeout
	if dl, has := ctx.Deadline(); has {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return nil, domain.ErrBusy.Wrap(ctx.Err())
		}
	}
	for attempt := 0; attempt < 2; attempt++ {
		_, create := msg.(*tCreate)
		pid, err := e.tenantPID(tenant, timeout, create)
		if err != nil {
			return nil, err
		}
		fut := e.sys.Root.RequestFuture(pid, msg, timeout)
		// A cancelled caller completes its own future: nothing waits on. At
		// the deadline the future's own timer (the same instant) does it: a
		// second completion would race inside protoactor's future.
		stop := context.AfterFunc(ctx, func() {
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				e.sys.Root.Send(fut.PID(), domain.ErrBusy.Wrap(context.Canceled))
			}
		})
		res, err := fut.Result()
		stop()
		if errors.Is(err, actor.ErrDeadLetter) {
			e.tenants.Delete(tenant) // the tenant stopped: resolve again
			continue
		}
		if err != nil {
			return nil, domain.ErrBusy.Wrap(err)
		}
		if re, isErr := res.(error); isErr {
			return nil, re
		}
		return res, nil
	}
	return nil, domain.ErrBusy
}

func (e *Engine) tenantPID(tenant string, timeout time.Duration, create bool) (*actor.PID, error) {
	if v, has := e.tenants.Load(tenant); has {
		return v.(*actor.PID), nil
	}
	// Only tenants that exist get an actor: an id made up by a client must
	// not leave one behind.
	if !create {
		c, cancel := e.d.storeCtx()
		_, err := e.d.store.Get(c, keyTenant(tenant))
		cancel()
		if errors.Is(err, persistence.ErrNotFound) {
			return nil, domain.ErrTenantNotFound
		}
		if err != nil {
			return nil, domain.ErrBusy.Wrap(err)
		}
	}
	res, err := e.sys.Root.RequestFuture(e.root, &resolveTenant{tenant: tenant}, timeout).Result()
	if err != nil {
		return nil, domain.ErrBusy.Wrap(err)
	}
	pid, isPID := res.(*actor.PID)
	if !isPID {
		return nil, domain.ErrBusy
	}
	e.tenants.Store(strings.Clone(tenant), pid) // the caller's string may be reused (a web framework's buffer)
	return pid, nil
}

func askAs[T any](e *Engine, ctx context.Context, tenant string, msg any) (T, error) {
	var zero T
	res, err := e.ask(ctx, tenant, msg)
	if err != nil {
		return zero, err
	}
	v, isT := res.(T)
	if !isT {
		return zero, domain.ErrInternal.Wrap(fmt.Errorf("unexpected reply %T", res))
	}
	return v, nil
}

// Tenants.

// NewActivationCode returns a random 12-character activation code.
func NewActivationCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var b strings.Builder
	for i := 0; i < 12; i++ {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err)
		}
		b.WriteByte(alphabet[n.Int64()])
	}
	return b.String()
}

// CreateTenant creates a tenant with the given id (empty: a new one) and
// activation code (empty: a random one). The code is returned once and
// stored only hashed.
func (e *Engine) CreateTenant(ctx context.Context, id, name, code string) (TenantInfo, error) {
	if id == "" {
		id = newID("t")
	}
	if !validID(id) {
		return TenantInfo{}, domain.Invalid("id", "租户编号只能包含小写字母、数字、-和_")
	}
	if name == "" {
		return TenantInfo{}, domain.Invalid("name", "请输入租户名称")
	}
	if code == "" {
		code = NewActivationCode()
	}
	if len(code) < 6 {
		return TenantInfo{}, domain.Invalid("activation_code", "激活码至少6位")
	}
	v, err := askAs[*TenantInfo](e, ctx, id, &tCreate{name: name, code: code})
	if err != nil {
		return TenantInfo{}, err
	}
	return *v, nil
}

// Tenant returns a tenant's name.
func (e *Engine) Tenant(ctx context.Context, tenant string) (TenantInfo, error) {
	v, err := askAs[*TenantInfo](e, ctx, tenant, &tInfo{})
	if err != nil {
		return TenantInfo{}, err
	}
	return *v, nil
}

// RotateActivationCode replaces a tenant's activation code.
func (e *Engine) RotateActivationCode(ctx context.Context, tenant string) (TenantInfo, error) {
	v, err := askAs[*TenantInfo](e, ctx, tenant, &tRotateCode{code: NewActivationCode()})
	if err != nil {
		return TenantInfo{}, err
	}
	return *v, nil
}

// AddEnterprise registers an enterprise (tax number, name, region; the
// region may be derived from the tax number).
func (e *Engine) AddEnterprise(ctx context.Context, tenant, taxNo, name, region string) (EnterpriseView, error) {
	return askAs[EnterpriseView](e, ctx, tenant, &tAddEnterprise{taxNo: taxNo, name: name, region: region})
}

// Enterprises lists a tenant's enterprises as openid sees them.
func (e *Engine) Enterprises(ctx context.Context, tenant, openid string) ([]EnterpriseView, error) {
	return askAs[[]EnterpriseView](e, ctx, tenant, &tEnterprises{openid: openid})
}

// LinkTenant is F1: a WeChat user links the tenant of an activation code.
// Wrong codes are limited per openid (5 per 10 minutes by default), per
// client address (WithClientAddr; 10) and across etaxd (30): a wrong code
// names no tenant, so the total is the limit that fresh openids and fresh
// addresses cannot escape. While a limit holds even the right code is
// refused, or guessing would go on.
func (e *Engine) LinkTenant(ctx context.Context, openid, code string) (TenantInfo, error) {
	return e.link(ctx, "", openid, code)
}

// LinkTenantAt is LinkTenant for a caller that names the tenant (the ops
// API's /tenants/{id}/links): a code of another tenant is a wrong code,
// and links nothing.
func (e *Engine) LinkTenantAt(ctx context.Context, tenant, openid, code string) (TenantInfo, error) {
	return e.link(ctx, tenant, openid, code)
}

func (e *Engine) link(ctx context.Context, tenant, openid, code string) (TenantInfo, error) {
	if openid == "" {
		return TenantInfo{}, domain.ErrNotLinked
	}
	addr := clientAddrOf(ctx)
	wait := max(e.limiter.wait(openid), e.total.wait(""))
	if addr != "" {
		wait = max(wait, e.byAddr.wait(addr))
	}
	if wait > 0 {
		return TenantInfo{}, domain.ErrActivationRateLimit.RetryIn(wait)
	}
	code = strings.TrimSpace(code)
	c, cancel := e.d.storeCtx()
	rec, err := e.d.store.Get(c, keyActivation(hashCode(code)))
	cancel()
	if errors.Is(err, persistence.ErrNotFound) || code == "" || err == nil && tenant != "" && string(rec.Value) != tenant {
		e.limiter.add(openid)
		e.total.add("")
		if addr != "" {
			e.byAddr.add(addr)
		}
		e.d.audit("", "wx:"+openid, "tenant.link", "tenant/?", domain.ErrActivationCode)
		return TenantInfo{}, domain.ErrActivationCode
	}
	if err != nil {
		return TenantInfo{}, domain.ErrBusy.Wrap(err)
	}
	v, err := askAs[*TenantInfo](e, ctx, string(rec.Value), &tLink{openid: openid})
	if err != nil {
		return TenantInfo{}, err
	}
	return *v, nil
}

// TenantsOf lists the tenants a WeChat user linked. The user's index may
// name a tenant whose link failed or was undone (it is written before the
// link and after the unlink): each tenant confirms the link.
func (e *Engine) TenantsOf(ctx context.Context, openid string) ([]TenantInfo, error) {
	c, cancel := e.d.storeCtx()
	rec, err := e.d.store.Get(c, keyWeChatUser(openid))
	cancel()
	if errors.Is(err, persistence.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, domain.ErrBusy.Wrap(err)
	}
	var u wechatUser
	if err := jsonUnmarshal(rec.Value, &u); err != nil {
		return nil, domain.ErrInternal.Wrap(err)
	}
	out := make([]TenantInfo, 0, len(u.Tenants))
	for _, id := range u.Tenants {
		if info, err := askAs[*TenantInfo](e, ctx, id, &tInfo{linked: openid}); err == nil {
			out = append(out, *info)
		}
	}
	return out, nil
}

// UnlinkPreview lists the accounts openid will stop being bound to (F2).
func (e *Engine) UnlinkPreview(ctx context.Context, tenant, openid string) ([]AccountView, error) {
	return askAs[[]AccountView](e, ctx, tenant, &tUnlink{openid: openid, preview: true})
}

// UnlinkTenant is F2: the user's bindings in the tenant are removed, then
// the link. It returns the accounts that were unbound.
func (e *Engine) UnlinkTenant(ctx context.Context, tenant, openid string) ([]AccountView, error) {
	return askAs[[]AccountView](e, ctx, tenant, &tUnlink{openid: openid})
}

// Accounts.

// AddAccount is F3. The reply is done (AccountID set) or awaiting_code:
// then SubmitFlowCode finishes it.
func (e *Engine) AddAccount(ctx context.Context, tenant string, cmd AddAccount) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &tAddAccount{cmd: cmd})
}

func flowAsk(e *Engine, ctx context.Context, tenant string, msg any) (FlowReply, error) {
	v, err := askAs[*FlowReply](e, ctx, tenant, msg)
	if err != nil {
		return FlowReply{}, err
	}
	return *v, nil
}

// PollFlow reports a 扫码登录 add flow (F3): still awaiting the scan (with
// the QR's state), or done once the person confirmed in the app.
func (e *Engine) PollFlow(ctx context.Context, tenant, flowID, openid string) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &tFlowPoll{flowID: flowID, openid: openid})
}

// SubmitFlowCode passes the SMS code of a verification flow (F3, F8, F9, F11).
func (e *Engine) SubmitFlowCode(ctx context.Context, tenant, flowID, openid, code string) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &tFlowCode{flowID: flowID, openid: openid, code: strings.TrimSpace(code)})
}

// CompleteReset sets the new password of a reset flow (F11) and propagates
// it; the reply's Updated counts the accounts that got it.
func (e *Engine) CompleteReset(ctx context.Context, tenant, flowID, openid string, password, confirm domain.Secret) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &tFlowPassword{flowID: flowID, openid: openid, password: password, confirm: confirm})
}

// Bind is F4.
func (e *Engine) Bind(ctx context.Context, tenant, accountID, openid string) error {
	_, err := e.ask(ctx, tenant, &tBind{accountID: accountID, openid: openid})
	return err
}

// Unbind is F7 for one account.
func (e *Engine) Unbind(ctx context.Context, tenant, accountID, openid string) error {
	_, err := e.ask(ctx, tenant, &tUnbind{accountID: accountID, openid: openid})
	return err
}

// UnbindEnterprise is F7 for every account of an enterprise bound to openid.
func (e *Engine) UnbindEnterprise(ctx context.Context, tenant, taxNo, openid string) (int, error) {
	return askAs[int](e, ctx, tenant, &tUnbindEnt{taxNo: strings.ToUpper(strings.TrimSpace(taxNo)), openid: openid})
}

// ChangeBinding is F8: openid proves with the account's credentials (and
// SMS code, through SubmitFlowCode) and the binding moves to them.
func (e *Engine) ChangeBinding(ctx context.Context, tenant, accountID, openid, username string, password domain.Secret) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &tRebind{accountID: accountID, openid: openid, username: strings.TrimSpace(username), password: password})
}

// SetDefault is F5; which is issue, receive or both.
func (e *Engine) SetDefault(ctx context.Context, tenant, accountID, openid string, which domain.Business) error {
	_, err := e.ask(ctx, tenant, &tSetDefault{accountID: accountID, openid: openid, which: which})
	return err
}

// ApplyAdmin is F9; SubmitFlowCode finishes it.
func (e *Engine) ApplyAdmin(ctx context.Context, tenant, taxNo, openid, username string, password domain.Secret) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &tApplyAdmin{taxNo: strings.ToUpper(strings.TrimSpace(taxNo)), openid: openid, username: strings.TrimSpace(username), password: password})
}

// StepDownAdmin ends openid's admin grant on an enterprise.
func (e *Engine) StepDownAdmin(ctx context.Context, tenant, taxNo, openid string) error {
	_, err := e.ask(ctx, tenant, &tStepDown{taxNo: strings.ToUpper(strings.TrimSpace(taxNo)), openid: openid})
	return err
}

// DeleteAccount is F10.
func (e *Engine) DeleteAccount(ctx context.Context, tenant, accountID, openid string) error {
	_, err := e.ask(ctx, tenant, &tDelete{accountID: accountID, openid: openid})
	return err
}

// Unlock is F13.
func (e *Engine) Unlock(ctx context.Context, tenant, accountID, openid string) error {
	_, err := e.ask(ctx, tenant, &tUnlock{accountID: accountID, openid: openid})
	return err
}

// StartPasswordReset is F11's first step (identity document). The reply is
// awaiting_code; for hosted login types the code is read automatically and
// the reply becomes awaiting_password on the next SubmitFlowCode or poll.
func (e *Engine) StartPasswordReset(ctx context.Context, tenant, accountID, openid, idType, idNumber string) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &tStartReset{accountID: accountID, openid: openid, idType: strings.TrimSpace(idType), idNumber: strings.TrimSpace(idNumber)})
}

// UpdatePassword is F12: the password changed at the bureau is checked there
// and then stored for every account of the same person.
func (e *Engine) UpdatePassword(ctx context.Context, tenant, accountID, openid string, password domain.Secret) (FlowReply, error) {
	return flowAsk(e, ctx, tenant, &tUpdatePass{accountID: accountID, openid: openid, password: password})
}

// Accounts lists a tenant's accounts (of one enterprise when taxNo is set).
func (e *Engine) Accounts(ctx context.Context, tenant, taxNo, openid string) ([]AccountView, error) {
	return askAs[[]AccountView](e, ctx, tenant, &tList{taxNo: strings.ToUpper(strings.TrimSpace(taxNo)), openid: openid})
}

// Sessions.

// RequestSession asks for a session (client API, and F14 with OpenID set).
func (e *Engine) RequestSession(ctx context.Context, tenant string, req SessionRequest) (*SessionReply, error) {
	req.TaxNo = strings.ToUpper(strings.TrimSpace(req.TaxNo))
	r, err := askAs[*SessionReply](e, ctx, tenant, &tSession{req: req})
	if err == nil && r.State == RequestFailed && r.Error != nil {
		return nil, r.Error // failed before a person could act
	}
	return r, err
}

// AwaitRequest returns the outcome of a request of tenant, waiting up to
// wait for it to finish; after that it returns the request's current state.
// A request of another tenant is not found. The wait ends early when ctx
// is cancelled.
func (e *Engine) AwaitRequest(ctx context.Context, tenant, requestID string, wait time.Duration) (*SessionReply, error) {
	t, _, valid := parseRequestID(requestID)
	if !valid || t != tenant {
		return nil, domain.ErrRequestNotFound
	}
	if wait > 0 {
		c, cancel := context.WithTimeout(ctx, wait)
		r, err := askAs[*SessionReply](e, c, tenant, &tAwait{requestID: requestID, wait: true})
		cancel()
		if err == nil || !errors.Is(err, domain.ErrBusy) {
			return r, err
		}
		if ctx.Err() != nil {
			return nil, domain.ErrBusy.Wrap(ctx.Err())
		}
	}
	return askAs[*SessionReply](e, ctx, tenant, &tAwait{requestID: requestID})
}

// Answer passes an SMS code for a request (the ERP's answer call) or, with
// accountID, for the account's pending login (the H5 page).
func (e *Engine) Answer(ctx context.Context, tenant, requestID, accountID, openid, code string) (*SessionReply, error) {
	if requestID != "" {
		t, _, valid := parseRequestID(requestID)
		if !valid || t != tenant {
			return nil, domain.ErrRequestNotFound
		}
	}
	by := originOf(ctx)
	if by == "" {
		by = who(openid)
	}
	return askAs[*SessionReply](e, ctx, tenant, &tAnswer{requestID: requestID, accountID: accountID, openid: openid, code: strings.TrimSpace(code), who: by})
}

// StartQRLogin is F15.
func (e *Engine) StartQRLogin(ctx context.Context, tenant, accountID, openid string, ch domain.Channel, app taxbureau.QRApp) (*QRView, error) {
	return askAs[*QRView](e, ctx, tenant, &tStartQR{accountID: accountID, openid: openid, channel: ch, app: app})
}

// PollQRLogin reports a QR login; confirmed means the account is logged in.
func (e *Engine) PollQRLogin(ctx context.Context, tenant, accountID, openid, qrID string) (*QRView, error) {
	return askAs[*QRView](e, ctx, tenant, &tPollQR{accountID: accountID, openid: openid, qrID: qrID})
}

// ConfirmCertification tells the account that the person finished face
// certification; it checks with the bureau.
func (e *Engine) ConfirmCertification(ctx context.Context, tenant, accountID, openid string) (*SessionReply, error) {
	return askAs[*SessionReply](e, ctx, tenant, &tConfirmCert{accountID: accountID, openid: openid})
}

// ReportInvalid is B4: the client saw the session die.
func (e *Engine) ReportInvalid(ctx context.Context, tenant, accountID string, ch domain.Channel, token string) error {
	by := originOf(ctx)
	if by == "" {
		by = "api"
	}
	_, err := e.ask(ctx, tenant, &tInvalid{accountID: accountID, channel: ch, token: token, who: by})
	return err
}

// PassivateAll stops every idle account actor of a tenant now, as the idle
// timeout would; it returns how many it stopped. Operators and tests use it.
func (e *Engine) PassivateAll(ctx context.Context, tenant string) (int, error) {
	return askAs[int](e, ctx, tenant, &tPassivateAll{})
}

// attemptLimiter counts events per key in a sliding window (domain.RateWindow):
// wrong activation codes (F1) and password-submitting flows. It lives in
// memory: these are rate limits, and a restart that forgets them hands out
// at most one window's worth again. The count that must survive a restart,
// wrong bureau passwords, is stored (see pwguard.go).
type attemptLimiter struct {
	mu   sync.Mutex
	rate domain.RateWindow
	clk  clock.Clock
	seen map[string][]time.Time
}

func newAttemptLimiter(limit int, window time.Duration, clk clock.Clock) *attemptLimiter {
	return &attemptLimiter{rate: domain.RateWindow{Limit: limit, Window: window}, clk: clk, seen: map[string][]time.Time{}}
}

func (l *attemptLimiter) recent(key string, now time.Time) []time.Time {
	keep := l.rate.Recent(l.seen[key], now)
	if len(keep) == 0 {
		delete(l.seen, key)
	} else {
		l.seen[key] = keep
	}
	return keep
}

// wait returns how long until key may try again; zero: now.
func (l *attemptLimiter) wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	return l.rate.Wait(l.recent(key, now), now)
}

// add counts an event of key now.
func (l *attemptLimiter) add(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	l.seen[key] = append(l.recent(key, now), now)
}

// take counts an event of key if it fits and returns its time and zero, or
// returns the wait and counts nothing.
func (l *attemptLimiter) take(key string) (time.Time, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	recent := l.recent(key, now)
	if w := l.rate.Wait(recent, now); w > 0 {
		return time.Time{}, w
	}
	l.seen[key] = append(recent, now)
	return now, 0
}

// release uncounts the event of key taken at at: it turned out not to
// count (a password the bureau accepted).
func (l *attemptLimiter) release(key string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.seen[key]
	if i := slices.IndexFunc(s, at.Equal); i >= 0 {
		l.seen[key] = slices.Delete(s, i, i+1)
	}
}

// PromptUndeliverable tells the account that a prompt reached nobody (the
// notifier gave up on it). It does not wait: notifier workers call it.
func (e *Engine) PromptUndeliverable(tenant, accountID, promptID, reason string) {
	if !validID(tenant) {
		return
	}
	e.d.bg.Go(func(context.Context) {
		pid, err := e.tenantPID(tenant, e.d.cfg.AskTimeout, false)
		if err != nil {
			return
		}
		e.sys.Root.Send(pid, &tUndeliverable{accountID: accountID, promptID: promptID, reason: reason})
	})
}

// PromptDelivered records in the audit log (B7) what WeChat reported of a
// prompt's template message: status "success", or why it failed ("failed:user
// block", "failed: system failed").
func (e *Engine) PromptDelivered(tenant, accountID, promptID, status string) {
	if !validID(tenant) || !validID(accountID) || promptID == "" {
		return
	}
	var err error
	if status != "success" {
		err = domain.ErrPromptUndeliverable
	}
	if len(status) > 64 {
		status = status[:64]
	}
	ev := e.d.event(tenant, "system", "prompt.delivered", "account/"+accountID, err)
	ev.Detail = "prompt " + promptID + ": " + status
	ctx, cancel := e.d.storeCtx()
	defer cancel()
	if err := e.d.store.AppendAudit(ctx, ev); err != nil {
		e.d.log.Error("audit append failed", "tenant", tenant, "action", ev.Action, "err", err)
	}
}

// WeChatSubscription records that openid followed (subscribed) or unfollowed
// the official account, in every tenant the user linked: while unfollowed,
// the accounts bound to them get login links (F16) instead of WeChat
// messages, and clients hear binding.unreachable.
func (e *Engine) WeChatSubscription(ctx context.Context, openid string, subscribed bool) error {
	if openid == "" || len(openid) > 128 {
		return domain.ErrInvalidInput.With("openid无效", "invalid openid")
	}
	r, err := e.d.store.Get(ctx, keyWeChatUser(openid))
	if errors.Is(err, persistence.ErrNotFound) {
		return nil // never linked a tenant: nothing is bound to them
	}
	if err != nil {
		return domain.ErrInternal.Wrap(err)
	}
	var u wechatUser
	if err := jsonUnmarshal(r.Value, &u); err != nil {
		return domain.ErrInternal.Wrap(err)
	}
	var first error
	for _, tenant := range u.Tenants {
		if _, err := e.ask(ctx, tenant, &tSubscription{openid: openid, subscribed: subscribed}); err != nil && first == nil {
			first = err
		}
	}
	return first
}

type originKey struct{}

// WithOrigin returns ctx carrying who is asking ("key:<id>" for an API key,
// "wx:<openid>" for a WeChat user), recorded in the audit log (B7) by the
// commands that take no openid of their own (Answer, ReportInvalid).
func WithOrigin(ctx context.Context, origin string) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

func originOf(ctx context.Context) string {
	s, _ := ctx.Value(originKey{}).(string)
	return s
}

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the network address a request came
// from (the HTTP client's IP). LinkTenant limits wrong activation codes per
// address. It is not an identity, so it is kept apart from WithOrigin, whose
// value the audit log records as who acted.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

func clientAddrOf(ctx context.Context) string {
	s, _ := ctx.Value(clientAddrKey{}).(string)
	return s
}
