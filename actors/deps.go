// deps.go: the engine's configuration and the dependencies every actor shares.

package actors

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

// Config holds the engine's rules and timings. Zero fields take the defaults
// of DefaultConfig.
type Config struct {
	LockPolicy domain.LockPolicy
	SMSPolicy  domain.SMSPolicy
	// CodeTTL is how long a person has to enter an SMS code (5 min).
	CodeTTL time.Duration
	// HostedCodeTimeout bounds the wait for a hosting provider's code.
	HostedCodeTimeout time.Duration
	// GatewayTimeout bounds every tax-bureau call.
	GatewayTimeout time.Duration
	// StoreTimeout bounds every store call made inside an actor.
	StoreTimeout time.Duration
	// AskTimeout bounds a caller's wait for an actor's reply.
	AskTimeout time.Duration
	// IdleTimeout passivates an account actor idle that long.
	IdleTimeout time.Duration
	// RequestRetention keeps a finished client request for long polls.
	RequestRetention time.Duration
	// ServiceName is the official account named in prompts (F6).
	ServiceName string
	// PublicURL is where browsers reach etaxd (F16 login links).
	PublicURL string
	// PromptReminder re-sends a prompt still unanswered after this long
	// (B5, 60 min); negative: never. A reminder needs a prompt that lives
	// longer than the delay (a code prompt lives CodeTTL).
	PromptReminder time.Duration
	// PromptEscalate also sends the reminder to the enterprise's admins
	// (数电配置管理员), who may answer for the account (B5).
	PromptEscalate bool
	// LoginLinksOnly says no notifier reaches a person (production
	// without a WeChat official account): every prompt, a bound account's
	// too, is handed to the client as a login link (F16), so no client is
	// told that a WeChat message went out.
	LoginLinksOnly bool
	// ActivationLimit and ActivationWindow rate-limit wrong activation codes
	// per openid (F1: 5 per 10 min).
	ActivationLimit  int
	ActivationWindow time.Duration
	// ActivationPerAddress and ActivationTotal limit wrong activation codes
	// within ActivationWindow per client address and across the whole etaxd:
	// fresh openids do not reset them. A wrong code names no tenant, so the
	// total is what bounds guessing of every tenant's code at once.
	ActivationPerAddress int
	ActivationTotal      int

	// PasswordGuard limits wrong tax-bureau passwords per natural person
	// (2 in 24 hours), below the bureau's own lock.
	PasswordGuard domain.PasswordGuard
	// PasswordFlowLimit limits the wrong passwords one WeChat user may
	// submit through F3, F8, F9 and F12 within PasswordFlowWindow (5 per 10
	// min), whoever's they are.
	PasswordFlowLimit  int
	PasswordFlowWindow time.Duration
}

// DefaultConfig is the manual's numbers.
func DefaultConfig() Config {
	return Config{
		LockPolicy:        domain.DefaultLockPolicy(),
		SMSPolicy:         domain.DefaultSMSPolicy(),
		CodeTTL:           5 * time.Minute,
		HostedCodeTimeout: 60 * time.Second,
		GatewayTimeout:    30 * time.Second,
		StoreTimeout:      10 * time.Second,
		AskTimeout:        45 * time.Second,
		IdleTimeout:       10 * time.Minute,
		RequestRetention:  10 * time.Minute,
		ServiceName:       "发票云",
		ActivationLimit:   5,
		ActivationWindow:  10 * time.Minute,
		PromptReminder:    60 * time.Minute,
		PromptEscalate:    true,

		ActivationPerAddress: 10,
		ActivationTotal:      30,
		PasswordGuard:        domain.DefaultPasswordGuard(),
		PasswordFlowLimit:    5,
		PasswordFlowWindow:   10 * time.Minute,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.LockPolicy == (domain.LockPolicy{}) {
		c.LockPolicy = d.LockPolicy
	}
	if c.SMSPolicy == (domain.SMSPolicy{}) {
		c.SMSPolicy = d.SMSPolicy
	}
	set := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	set(&c.CodeTTL, d.CodeTTL)
	set(&c.HostedCodeTimeout, d.HostedCodeTimeout)
	set(&c.GatewayTimeout, d.GatewayTimeout)
	set(&c.StoreTimeout, d.StoreTimeout)
	set(&c.AskTimeout, d.AskTimeout)
	set(&c.IdleTimeout, d.IdleTimeout)
	set(&c.RequestRetention, d.RequestRetention)
	set(&c.ActivationWindow, d.ActivationWindow)
	if c.PromptReminder == 0 {
		c.PromptReminder = d.PromptReminder
	}
	if c.ServiceName == "" {
		c.ServiceName = d.ServiceName
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://127.0.0.1:8080"
	}
	if c.ActivationLimit <= 0 {
		c.ActivationLimit = d.ActivationLimit
	}
	if c.ActivationPerAddress <= 0 {
		c.ActivationPerAddress = d.ActivationPerAddress
	}
	if c.ActivationTotal <= 0 {
		c.ActivationTotal = d.ActivationTotal
	}
	if c.PasswordGuard == (domain.PasswordGuard{}) {
		c.PasswordGuard = d.PasswordGuard
	}
	if c.PasswordFlowLimit <= 0 {
		c.PasswordFlowLimit = d.PasswordFlowLimit
	}
	set(&c.PasswordFlowWindow, d.PasswordFlowWindow)
	return c
}

// deps is what every actor of an engine shares. It is read-only after Start.
type deps struct {
	cfg   Config
	store persistence.Store
	seal  Sealer
	gw    taxbureau.Gateway
	sms   taxbureau.SMSProvider
	pub   prompts.Publisher
	ev    events.EventSink
	clk   clock.Clock
	// linkKey signs F16 browser login links.
	linkKey []byte
	log     *slog.Logger
	stats   *Stats
	// bg owns the goroutines started off the actors: Stop cancels and
	// waits for them.
	bg *goroutines
	// workers runs the actors' mailboxes (see workers).
	workers *workers
	// pwFlows counts the wrong password submissions of each WeChat user
	// (see tryPassword): in memory on a single node, in the store in
	// cluster mode.
	pwFlows tokenLimiter
	// active lists the tenant grains running on this node (cluster mode).
	active activeTenants
	// clustered is set in cluster mode: the root then spawns no tenant.
	clustered bool
	// storeDeadline is the context storeCtx hands out (a *storeDeadline).
	storeDeadline atomic.Pointer[storeDeadline]
}

// storeDeadline is a context with a deadline that storeCtx shares between
// the store calls of a short while.
type storeDeadline struct {
	ctx      context.Context
	deadline time.Time
}

// storeCtxSlack is how much earlier than StoreTimeout from its start a
// store call's deadline may be (a tenth of StoreTimeout when that is
// less): storeCtx makes a new context at most this often, instead of a
// context and a timer for every call (one per state change: 3.7 % of the
// CPU of a durable change in a profile).
const storeCtxSlack = 100 * time.Millisecond

// goroutines owns every goroutine the engine starts off its actors
// (gateway calls, notifier callbacks): Stop cancels their context and waits
// for every one, so none outlives the engine.
type goroutines struct {
	ctx     context.Context
	cancel  context.CancelFunc
	mu      sync.Mutex
	stopped bool
	wg      sync.WaitGroup
}

func newGoroutines() *goroutines {
	ctx, cancel := context.WithCancel(context.Background())
	return &goroutines{ctx: ctx, cancel: cancel}
}

// Go runs f on a goroutine of its own with the engine's context, and
// reports whether it did: after stop it starts nothing.
func (g *goroutines) Go(f func(ctx context.Context)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f(g.ctx)
	}()
	return true
}

// stop cancels the goroutines' context and waits until every one returned.
func (g *goroutines) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}

// storeCtx bounds a store call made inside an actor: its context ends
// StoreTimeout after now, or up to storeCtxSlack earlier. The cancel
// function is for the caller's defer; the context is shared, so it does
// nothing, and the context's own timer releases it at the deadline.
func (d *deps) storeCtx() (context.Context, context.CancelFunc) {
	now := time.Now()
	slack := min(storeCtxSlack, d.cfg.StoreTimeout/10)
	if sd := d.storeDeadline.Load(); sd != nil && sd.deadline.Sub(now) > d.cfg.StoreTimeout-slack {
		return sd.ctx, noCancel
	}
	deadline := now.Add(d.cfg.StoreTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	_ = cancel // the timer cancels it at the deadline
	d.storeDeadline.Store(&storeDeadline{ctx: ctx, deadline: deadline})
	return ctx, noCancel
}

func noCancel() {}

// event builds an audit event; outcome is "ok" or the error's code.
func (d *deps) event(tenant, who, action, target string, err error) persistence.AuditEvent {
	outcome := "ok"
	if err != nil {
		outcome = domain.AsError(err).Code
	}
	return persistence.AuditEvent{Time: d.clk.Now(), Tenant: tenant, Actor: who, Action: action, Target: target, Outcome: outcome}
}

// audit appends an audit event on its own. The audit log is best effort for reads but
// every state change audits after its commit; a failed append is logged.
func (d *deps) audit(tenant, who, action, target string, err error) {
	ctx, cancel := d.storeCtx()
	defer cancel()
	if e := d.store.AppendAudit(ctx, d.event(tenant, who, action, target, err)); e != nil {
		d.log.Error("audit append failed", "tenant", tenant, "action", action, "err", e)
	}
}

// goAsync runs f off the actor's goroutine with the gateway timeout and sends
// its result back to the actor as a message: the mailbox never blocks on the
// tax bureau. The goroutine is the engine's: Engine.Stop cancels f's context
// and waits for it.
func (d *deps) goAsync(ctx actor.Context, timeout time.Duration, f func(context.Context) any) {
	self, sys := ctx.Self(), ctx.ActorSystem()
	d.bg.Go(func(bg context.Context) {
		c, cancel := context.WithTimeout(bg, timeout)
		defer cancel()
		sys.Root.Send(self, f(c))
	})
}

// bureauError maps a gateway failure onto the catalogue: our errors pass,
// timeouts and transport failures become ErrBureauUnavailable.
func bureauError(err error) *domain.Error {
	var e *domain.Error
	if errors.As(err, &e) {
		return e
	}
	return domain.ErrBureauUnavailable.Wrap(err)
}

var idEnc = base32.NewEncoding("abcdefghijkmnpqrstuvwxyz23456789").WithPadding(base32.NoPadding)

// newID returns prefix + 16 random base32 characters (80 bits).
func newID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // cannot happen on Linux
	}
	return prefix + idEnc.EncodeToString(b[:])
}

// requestID makes a request id that carries its route: tenant, account and
// a random part, so a long poll reaches the right actor without a table.
// The random part need not be secret (a request id grants nothing outside
// its tenant), only unique: a fast generator suffices on the hot path.
func requestID(tenant, account string) string {
	var b [10]byte
	binary.LittleEndian.PutUint64(b[:8], mrand.Uint64())
	binary.LittleEndian.PutUint16(b[8:], uint16(mrand.Uint32()))
	return domain.RequestID(tenant, account, idEnc.EncodeToString(b[:]))
}

// parseRequestID splits a request id into tenant and account
// (domain.ParseRequestID).
func parseRequestID(id string) (tenant, account string, ok bool) {
	return domain.ParseRequestID(id)
}

// validID reports whether s looks like one of our ids: short, lower-case
// base32 with a one-letter prefix. Ids go into store keys and actor names.
func validID(s string) bool {
	if len(s) < 2 || len(s) > 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// budget reads the B3 budget of a person's phone in a region.
func (d *deps) budget(region, person string) (domain.PhoneBudget, uint64, error) {
	var b domain.PhoneBudget
	if person == "" {
		return b, 0, persistence.ErrNotFound
	}
	ctx, cancel := d.storeCtx()
	defer cancel()
	rec, err := d.store.Get(ctx, keySMSBudget(region, person))
	if err != nil {
		return b, 0, err
	}
	if err := jsonUnmarshal(rec.Value, &b); err != nil {
		return b, 0, err
	}
	return b, rec.Revision, nil
}

// checkSMSBudget is B3's daily budget of the person's phone in region
// (domain.PhoneBudget.Check); nil while the person is not known.
func (d *deps) checkSMSBudget(region, person string, now time.Time) error {
	if b, _, err := d.budget(region, person); err == nil {
		return b.Check(d.cfg.SMSPolicy, now)
	}
	return nil
}

// spendSMS records a code sent to the person's phone (B3). The actors of
// one person share the budget: persistence.Update. A budget already spent
// stays as it is (the bureau sent the code anyway).
func (d *deps) spendSMS(region, person string, now time.Time) {
	if person == "" {
		return
	}
	ctx, cancel := d.storeCtx()
	defer cancel()
	_, err := persistence.Update(ctx, d.store, keySMSBudget(region, person), func(old persistence.Record) ([]byte, error) {
		var b domain.PhoneBudget
		if old.Value != nil {
			if err := jsonUnmarshal(old.Value, &b); err != nil {
				return nil, err
			}
		}
		nb, err := b.Spend(d.cfg.SMSPolicy, now)
		if err != nil {
			return old.Value, nil
		}
		return jsonMarshal(nb), nil
	})
	if err != nil {
		d.log.Warn("record sms budget", "region", region, "err", err)
	}
}

// emit sends a client event (B6); the sink never blocks.
func (d *deps) emit(ev events.Event) {
	if ev.ID == "" {
		ev.ID = newID("e")
	}
	if ev.Time.IsZero() {
		ev.Time = d.clk.Now()
	}
	d.ev.Emit(ev)
}
