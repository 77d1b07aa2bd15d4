// account.go: the account actor: its commands, its state and store commits, passivation and erasure (F10).

package actors

import (
	"errors"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/taxbureau"
)

// Messages the tenant sends to an account actor. Each names its reply.
type (
	// serveSession asks for a session (reply SessionReply, maybe later).
	serveSession struct {
		req     SessionRequest
		channel domain.Channel
	}
	// awaitOutcome asks for a request's outcome (reply SessionReply); with
	// wait set the reply comes when the request finishes.
	awaitOutcome struct {
		requestID string
		wait      bool
	}
	// submitCode passes an SMS code (reply SessionReply).
	submitCode struct {
		requestID string
		promptID  string
		channel   domain.Channel
		code      string
		who       string
	}
	// describePrompt asks where a prompt stands (reply PromptStatus).
	describePrompt struct{ id string }
	// startQR opens a QR login (reply QRView).
	startQR struct {
		channel domain.Channel
		app     taxbureau.QRApp
	}
	// pollQR polls it (reply QRView).
	pollQR struct{ qrID string }
	// checkCertification tells the actor the person finished face
	// certification (reply SessionReply).
	checkCertification struct{}
	// unlock is F13 (reply ok).
	unlock struct{ who string }
	// setPassword stores a new password and unlocks (reply ok).
	setPassword struct {
		password domain.Secret
		who      string
	}
	// dropInvalidSession reports a dead session (reply ok), B4.
	dropInvalidSession struct {
		channel domain.Channel
		token   string
		who     string
	}
	// describeAccount asks for the account's view (reply AccountView).
	describeAccount struct{}
	// eraseAccount deletes the account, F10, in one transaction with the
	// tenant's extra ops (reply []uint64, the revisions of extra).
	eraseAccount struct {
		who string
		// name is the account as people know it, kept in the audit
		// event: after the erase nothing else remembers it.
		name  string
		extra []persistence.Op
	}
	// setRef updates the tenant's entry (binding), no reply.
	setRef struct{ ref *accountRef }
)

// ok is the reply of commands that return nothing.
type ok struct{}

type accountActor struct {
	snap   *atomic.Pointer[snapshot]
	d      *deps
	tenant string
	// ref is the tenant's index entry, shared with the tenant: an entry
	// is never written once in the index (a change is a new entry, sent
	// in a setRef).
	ref  *accountRef
	st   *accountState
	rev  uint64
	gone bool // the record is missing: deleted
	seq  uint64
	// logins, reqs and qrs are nil while empty (most active accounts
	// have nothing in progress): made by their first entry.
	logins map[domain.Channel]*login
	cert   *certOp
	closed *recentPrompts // how the last prompts ended, for the prompt page; nil before the first
	reqs   map[string]*clientRequest
	qrs    map[string]domain.Channel

	// Names built from tenant and ref.ID (namesFor); see key.
	namesFor, recKey, auditTarget string
}

func newAccountActor(d *deps, tenant string, ref *accountRef, snap *atomic.Pointer[snapshot]) actor.Actor {
	return &accountActor{d: d, tenant: tenant, ref: ref, snap: snap}
}

// addRequest keeps r by its id.
func (a *accountActor) addRequest(r *clientRequest) {
	if a.reqs == nil {
		a.reqs = map[string]*clientRequest{}
	}
	a.reqs[r.id] = r
}

// key is the account's record key. It and target are built once per
// activation (for the ref's ID they were built for), not on every change.
func (a *accountActor) key() string {
	a.names()
	return a.recKey
}

// target is the account as an audit event's target.
func (a *accountActor) target() string {
	a.names()
	return a.auditTarget
}

func (a *accountActor) names() {
	if a.namesFor != a.ref.ID || a.recKey == "" {
		a.namesFor, a.recKey, a.auditTarget = a.ref.ID, keyAccount(a.tenant, a.ref.ID), "account/"+a.ref.ID
	}
}

func (a *accountActor) load() error {
	ctx, cancel := a.d.storeCtx()
	defer cancel()
	rec, err := a.d.store.Get(ctx, a.key())
	if errors.Is(err, persistence.ErrNotFound) {
		a.gone = true
		return nil
	}
	if err != nil {
		return err
	}
	st, err := decodeAccount(a.d.seal, a.tenant, a.ref.ID, rec.Value)
	if err != nil {
		return err
	}
	st.lock.Hosted = a.ref.LoginType.Hosted()
	a.st, a.rev = st, rec.Revision
	a.publishSnapshot()
	return nil
}

// change computes the next state on a copy of the current one, commits it
// with its audit event (when action is set) in one transaction, and only
// then makes it the actor's state: the caller acknowledges only after it
// returned nil, and a change the store did not take is never seen. After a
// failed commit the actor reloads what the store holds: a write whose fsync
// failed may have landed, and the store is the truth (persistence,
// "Acknowledgement"). When the reload fails too, the state stays as it was.
func (a *accountActor) change(who, action string, outcome error, mutate func(*accountState)) error {
	next := a.st.clone()
	mutate(next)
	if err := a.commit(next, who, action, outcome); err != nil {
		if lerr := a.load(); lerr != nil {
			a.d.log.Error("reload account", "tenant", a.tenant, "account", a.ref.ID, "err", lerr)
		}
		return err
	}
	a.st = next
	a.publishSnapshot() // before anyone hears of the change
	return nil
}

// clone returns a copy of st that a change may modify: the session set and
// the secrets are immutable values, shared.
func (st *accountState) clone() *accountState {
	c := *st
	return &c
}

// saveAudited commits the state as the caller changed it in place and, when
// action is set, its audit event in the same transaction. The caller
// restores the state when it fails; change is the safer form.
func (a *accountActor) saveAudited(who, action string, outcome error) error {
	if err := a.commit(a.st, who, action, outcome); err != nil {
		if errors.Is(err, persistence.ErrRevisionMismatch) {
			_ = a.load()
		}
		return err
	}
	a.publishSnapshot() // before anyone hears of the change
	return nil
}

// commit writes st as the account's record, with its audit event when
// action is set, and advances the revision. A revision conflict means
// another activation wrote.
func (a *accountActor) commit(st *accountState, who, action string, outcome error) error {
	now := a.d.clk.Now()
	b, err := encodeAccountAt(a.d.seal, a.key(), a.tenant, a.ref.ID, st, now)
	if err != nil {
		return domain.ErrInternal.Wrap(err)
	}
	ctx, cancel := a.d.storeCtx()
	defer cancel()
	op := persistence.Op{Key: a.key(), Value: b, Expected: a.rev}
	var revs []uint64
	if action != "" {
		revs, err = a.d.store.CommitAudited(ctx, a.d.event(a.tenant, who, action, a.target(), outcome), op)
	} else {
		revs, err = a.d.store.Commit(ctx, op)
	}
	var rev uint64
	if err == nil {
		rev = revs[0]
	}
	if err != nil {
		a.d.log.Error("persist account", "tenant", a.tenant, "account", a.ref.ID, "err", err)
		return domain.ErrBusy.Wrap(err)
	}
	a.rev = rev
	a.d.stats.commits.Add(1)
	return nil
}

func (a *accountActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if err := a.load(); err != nil {
			// Escalate: the supervisor restarts us and Started reloads.
			panic(err)
		}
		a.d.stats.activations.Add(1)
		a.d.stats.active.Add(1)
		ctx.SetReceiveTimeout(a.d.cfg.IdleTimeout)
	case *actor.Stopped:
		a.d.stats.active.Add(-1)
		a.stopTimers()
		a.snap.Store(nil)
		return
	case *actor.Restarting:
		a.d.stats.active.Add(-1)
		a.stopTimers()
		a.snap.Store(nil)
		return
	case *actor.ReceiveTimeout:
		if a.idle() {
			ctx.Send(ctx.Parent(), &passivate{id: a.ref.ID, pid: ctx.Self()})
		}
	case *remindPrompt:
		a.onPromptReminder(ctx, m.prompt)
	case *setRef:
		a.ref = m.ref
		if a.st != nil {
			a.st.lock.Hosted = a.ref.LoginType.Hosted()
		}
	default:
		if a.gone {
			a.replyGone(ctx)
			return
		}
		a.handle(ctx, m)
	}
}

func (a *accountActor) replyGone(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *serveSession, *awaitOutcome, *submitCode, *describePrompt, *startQR, *pollQR,
		*checkCertification, *unlock, *setPassword, *dropInvalidSession, *describeAccount, *eraseAccount, *resendCode:
		ctx.Respond(domain.ErrAccountNotFound)
	}
}

func (a *accountActor) handle(ctx actor.Context, msg any) {
	switch m := msg.(type) {
	case *serveSession:
		a.onSession(ctx, m)
	case *awaitOutcome:
		a.onAwait(ctx, m)
	case *submitCode:
		a.onSubmitCode(ctx, m)
	case *describePrompt:
		ctx.Respond(a.promptStatus(m.id))
	case *resendCode:
		a.onResend(ctx, m)
	case *loginResent:
		a.onLoginResent(ctx, m)
	case *loginDone:
		a.onLoginDone(ctx, m)
	case *codeDone:
		a.onCodeDone(ctx, m)
	case *hostedCode:
		a.onHostedCode(ctx, m)
	case *codeExpired:
		a.onCodeExpired(ctx, m)
	case *startQR:
		a.onStartQR(ctx, m)
	case *qrStarted:
		a.onQRStarted(ctx, m)
	case *pollQR:
		a.onPollQR(ctx, m)
	case *qrPolled:
		a.onQRPolled(ctx, m)
	case *certStarted:
		a.onCertStarted(ctx, m)
	case *sessionChecked:
		a.onSessionChecked(ctx, m)
	case *checkCertification:
		a.onConfirmCert(ctx)
	case *certPolled:
		a.onCertPolled(ctx, m)
	case *certExpired:
		if evs, _ := a.decide(domain.CertTimedOut{Nonce: m.nonce}); len(evs) > 0 {
			a.failCert(ctx, ending(evs))
		}
	case *unlock:
		evs, err := a.decide(domain.Unlock{})
		if err == nil {
			err = a.commitEvents(m.who, "account.unlock", nil, evs, nil)
		}
		respond(ctx, ok{}, err)
	case *setPassword:
		evs, err := a.decide(domain.UpdatePassword{})
		if err == nil {
			err = a.commitEvents("", "", nil, evs, func(st *accountState) {
				st.password, st.sealedPassword = m.password, nil
			})
		}
		respond(ctx, ok{}, err)
	case *dropInvalidSession:
		a.onInvalid(ctx, m)
	case *describeAccount:
		ctx.Respond(a.view())
	case *eraseAccount:
		a.onErase(ctx, m)
	}
}

func respond(ctx actor.Context, v any, err error) {
	if err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	ctx.Respond(v)
}

func (a *accountActor) idle() bool {
	if len(a.logins) > 0 || a.cert != nil || len(a.qrs) > 0 {
		return false
	}
	a.purge()
	return len(a.reqs) == 0
}

func (a *accountActor) stopTimers() {
	for _, l := range a.logins {
		if l.timer != nil {
			l.timer.Stop()
		}
	}
	if a.cert != nil && a.cert.timer != nil {
		a.cert.timer.Stop()
	}
}

// purge drops finished requests older than the retention.
func (a *accountActor) purge() {
	now := a.d.clk.Now()
	for id, r := range a.reqs {
		if r.final != nil && now.Sub(r.doneAt) > a.d.cfg.RequestRetention {
			delete(a.reqs, id)
		}
	}
	if len(a.reqs) == 0 {
		a.reqs = nil // a map keeps the room of its past entries
	}
}

func (a *accountActor) sendTo(ctx actor.Context, pid *actor.PID, v any) {
	if pid != nil {
		ctx.Send(pid, v)
	}
}

func (a *accountActor) onErase(ctx actor.Context, m *eraseAccount) {
	c, cancel := a.d.storeCtx()
	defer cancel()
	ops := append([]persistence.Op{
		{Key: a.key(), Delete: true, Expected: a.rev},
		{Key: keyAccountRef(a.tenant, a.ref.ID), Delete: true, AnyRevision: true},
	}, m.extra...)
	ev := a.d.event(a.tenant, m.who, "account.delete", "account/"+a.ref.ID, nil)
	ev.Detail = m.name
	revs, err := a.d.store.CommitAudited(c, ev, ops...)
	if err != nil {
		a.d.log.Error("erase account", "tenant", a.tenant, "account", a.ref.ID, "err", err)
		if lerr := a.load(); lerr != nil { // the erase may have landed
			a.d.log.Error("reload account", "tenant", a.tenant, "account", a.ref.ID, "err", lerr)
		}
		ctx.Respond(domain.ErrBusy.Wrap(err))
		return
	}
	a.stopTimers()
	for _, l := range a.logins {
		for _, r := range l.requests {
			a.finish(ctx, r, failed(r.id, a.ref.ID, domain.ErrAccountDeleted))
		}
	}
	if a.cert != nil {
		for _, r := range a.cert.requests {
			a.finish(ctx, r, failed(r.id, a.ref.ID, domain.ErrAccountDeleted))
		}
	}
	a.logins, a.cert, a.reqs, a.qrs = nil, nil, nil, nil
	a.st = nil
	a.gone = true
	a.snap.Store(nil)
	ctx.Respond(revs[2:])
}
