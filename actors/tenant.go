// tenant.go: the tenant actor: its commands, its state and store commits, and the dispatch of every message.

package actors

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"maps"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

// Commands the engine sends to a tenant actor (through the root). The
// replies are named on each; any may be a *domain.Error instead.
type (
	createTenant struct {
		Name, Code string
	} // reply TenantInfo
	rotateCode      struct{ Code string }                // reply TenantInfo
	describeTenant  struct{ Linked string }              // reply TenantInfo; ErrNotLinked when linked is set and not linked
	addEnterprise   struct{ TaxNo, Name, Region string } // reply EnterpriseView
	listEnterprises struct{ OpenID string }              // reply []EnterpriseView
	linkUser        struct{ OpenID string }              // reply TenantInfo
	unlinkUser      struct {
		OpenID  string
		Preview bool
	} // reply []AccountView (the accounts unbound)
	startAddAccount struct{ Cmd AddAccount }              // reply FlowReply
	submitFlowCode  struct{ FlowID, OpenID, Code string } // reply FlowReply
	pollFlow        struct{ FlowID, OpenID string }       // reply FlowReply
	setFlowPassword struct {
		FlowID, OpenID    string
		Password, Confirm domain.Secret
	} // reply FlowReply
	bindAccount      struct{ AccountID, OpenID string } // reply ok
	unbindAccount    struct{ AccountID, OpenID string } // reply ok
	unbindEnterprise struct{ TaxNo, OpenID string }     // reply int
	changeBinding    struct {
		AccountID, OpenID, Username string
		Password                    domain.Secret
	} // reply FlowReply
	setDefault struct {
		AccountID, OpenID string
		Which             domain.Business
	} // reply ok
	applyAdmin struct {
		TaxNo, OpenID, Username string
		Password                domain.Secret
	} // reply FlowReply
	stepDown       struct{ TaxNo, OpenID string }                       // reply ok
	deleteAccount  struct{ AccountID, OpenID string }                   // reply ok
	unlockAccount  struct{ AccountID, OpenID string }                   // reply ok
	startReset     struct{ AccountID, OpenID, IdType, IdNumber string } // reply FlowReply
	updatePassword struct {
		AccountID, OpenID string
		Password          domain.Secret
	} // reply FlowReply (Updated)
	requestSession struct{ Req SessionRequest } // reply SessionReply
	awaitRequest   struct {
		RequestID string
		Wait      bool
	} // reply SessionReply
	answerCode struct {
		RequestID, AccountID, OpenID, Code, Who string
		PromptID                                string // the prompt page's answer: this prompt only
		Channel                                 domain.Channel
	} // reply SessionReply
	showPrompt struct{ AccountID, OpenID, PromptID string } // reply PromptStatus
	// escalatePrompt: an account's reminder for the enterprise's admins (B5), no reply.
	escalatePrompt struct {
		prompt  prompts.Prompt
		boundTo string
	}
	// recordSubscription: a WeChat user followed or unfollowed the official account (reply ok).
	recordSubscription struct {
		OpenID     string
		Subscribed bool
	}
	startQRLogin struct {
		AccountID, OpenID string
		Channel           domain.Channel
		App               taxbureau.QRApp
	} // reply QRView
	pollQRLogin          struct{ AccountID, OpenID, QRID string } // reply QRView
	confirmCertification struct{ AccountID, OpenID string }       // reply SessionReply
	reportInvalid        struct {
		AccountID, Token, Who string
		Channel               domain.Channel
	} // reply ok
	listAccounts struct {
		TaxNo, OpenID string
		All           bool
	} // reply []AccountView
	reportUndeliverable struct{ AccountID, PromptID, Reason string } // no reply (ok when asked, in cluster mode)
	passivateAll        struct{}                                     // test hook: passivate idle accounts; reply int
	// internal
	passwordVerified struct {
		spec    flowSpec
		err     error
		replyTo *actor.PID
	}
)

type tenantActor struct {
	d        *deps
	id       string
	rec      *tenantRecord
	rev      uint64
	refs     map[string]*accountRef // by account id; each entry carries its revision
	children map[string]*actor.PID
	stopping map[string][]buffered
	flows    map[string]*actor.PID
	// flowOwners: the openid that started each flow.
	flowOwners map[string]string
	snaps      map[string]*atomic.Pointer[snapshot] // by account: what its actor published
}

func newTenantActor(d *deps, id string) actor.Actor {
	return &tenantActor{d: d, id: id}
}

func hashCode(code string) string {
	h := sha256.Sum256([]byte("etaxd-activation:" + code))
	return hex.EncodeToString(h[:])
}

// load reads the tenant record and its account index. A missing tenant
// leaves rec nil: only createTenant is served.
//
// It leaves the live children alone: a reload after a failed write must not
// forget the actors it already spawned. It replaces the state only once it
// read all of it: a failed reload keeps what the actor had.
func (t *tenantActor) load() error {
	if t.children == nil {
		t.children, t.stopping, t.flows = map[string]*actor.PID{}, map[string][]buffered{}, map[string]*actor.PID{}
		t.flowOwners = map[string]string{}
		t.snaps = map[string]*atomic.Pointer[snapshot]{}
	}
	ctx, cancel := t.d.storeCtx()
	defer cancel()
	r, err := t.d.store.Get(ctx, keyTenant(t.id))
	if errors.Is(err, persistence.ErrNotFound) {
		t.rec, t.refs = nil, map[string]*accountRef{}
		return nil
	}
	if err != nil {
		return err
	}
	var rec tenantRecord
	if err := jsonUnmarshal(r.Value, &rec); err != nil {
		return err
	}
	idx := newIndexLoader()
	if err := t.d.store.Scan(ctx, prefixAccountRefs(t.id), idx.add); err != nil {
		return err
	}
	t.rec, t.rev, t.refs = &rec, r.Revision, idx.refs
	return nil
}

// reload reads the stored state again after a failed write, whose outcome
// may be unknown (the store is the truth), and tells the live accounts
// their index entries as stored.
func (t *tenantActor) reload(ctx actor.Context) {
	if err := t.load(); err != nil {
		t.d.log.Error("reload tenant", "tenant", t.id, "err", err)
		return
	}
	for id, pid := range t.children {
		if r := t.refs[id]; r != nil {
			ctx.Send(pid, &setRef{ref: r})
		}
	}
}

// commit stores one change of the tenant and its audit event in one
// transaction: the record next (nil: unchanged), the new values of index
// entries refs, and extra ops. Only once it is stored do next and refs
// become the actor's state, so a failed commit leaves the state as it was;
// the caller acknowledges only after it returned nil. After a failure the
// actor reloads. It returns the revisions of extra.
func (t *tenantActor) commit(ctx actor.Context, ev persistence.AuditEvent, next *tenantRecord, refs []*accountRef, extra ...persistence.Op) ([]uint64, error) {
	ops := make([]persistence.Op, 0, 1+len(refs)+len(extra))
	if next != nil {
		ops = append(ops, persistence.Op{Key: keyTenant(t.id), Value: jsonMarshal(next), Expected: t.rev})
	}
	for _, r := range refs {
		var expected uint64
		if cur := t.refs[r.ID]; cur != nil {
			expected = cur.rev
		}
		ops = append(ops, persistence.Op{Key: keyAccountRef(t.id, r.ID), Value: jsonMarshal(r), Expected: expected})
	}
	ops = append(ops, extra...)
	c, cancel := t.d.storeCtx()
	defer cancel()
	revs, err := t.d.store.CommitAudited(c, ev, ops...)
	if err != nil {
		t.d.log.Error("persist tenant", "tenant", t.id, "action", ev.Action, "err", err)
		t.reload(ctx)
		return nil, domain.ErrBusy.Wrap(err)
	}
	i := 0
	if next != nil {
		t.rec, t.rev = next, revs[0]
		i++
	}
	for _, r := range refs {
		r.rev = revs[i]
		t.refs[r.ID] = r
		i++
	}
	t.d.stats.commits.Add(1)
	return revs[i:], nil
}

// event is the audit event of a change of this tenant.
func (t *tenantActor) event(by, action, target string) persistence.AuditEvent {
	return t.d.event(t.id, by, action, target, nil)
}

// clone returns a copy of the record that a change may modify.
func (r *tenantRecord) clone() *tenantRecord {
	c := *r
	c.Linked = maps.Clone(r.Linked)
	if c.Linked == nil {
		c.Linked = map[string]time.Time{}
	}
	c.Enterprises = make(map[string]*enterpriseRecord, len(r.Enterprises))
	for k, e := range r.Enterprises {
		ec := *e
		ec.Admins = maps.Clone(e.Admins)
		if ec.Admins == nil {
			ec.Admins = map[string]time.Time{}
		}
		c.Enterprises[k] = &ec
	}
	return &c
}

// tellRefs sends index entries that changed to their live actors.
func (t *tenantActor) tellRefs(ctx actor.Context, refs []*accountRef) {
	for _, r := range refs {
		if pid := t.children[r.ID]; pid != nil {
			ctx.Send(pid, &setRef{ref: r})
		}
	}
}

func (t *tenantActor) Receive(ctx actor.Context) {
	// The hot path first, through a small frame: the mailbox goroutine's
	// stack stays small (a deep switch here costs stack growth per run).
	if m, isSession := ctx.Message().(*requestSession); isSession && t.rec != nil {
		t.onSession(ctx, m)
		return
	}
	t.receive(ctx)
}

func (t *tenantActor) receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if err := t.load(); err != nil {
			panic(err) // the root restarts us; Started reloads
		}
		t.d.stats.tenants.Add(1)
		return
	case *actor.Stopped:
		t.d.stats.tenants.Add(-1)
		return
	case *actor.Restarting:
		t.d.stats.tenants.Add(-1)
		return
	case *actor.Terminated:
		t.onTerminated(ctx, m)
		return
	case *passivate:
		if pid := t.children[m.id]; pid != nil && pid.Equal(m.pid) {
			delete(t.children, m.id)
			t.stopping[m.id] = nil
			t.d.stats.passivations.Add(1)
			ctx.Poison(pid)
		}
		return
	case *flowEnded:
		delete(t.flows, m.id)
		delete(t.flowOwners, m.id)
		return
	case *createTenant:
		t.onCreate(ctx, m)
		return
	}
	if t.rec == nil {
		if _, isReply := ctx.Message().(*flowVerified); !isReply {
			ctx.Respond(domain.ErrTenantNotFound)
		}
		return
	}
	t.handle(ctx, ctx.Message())
}

func (t *tenantActor) handle(ctx actor.Context, msg any) {
	switch m := msg.(type) {
	case *describeTenant:
		if _, linked := t.rec.Linked[m.Linked]; m.Linked != "" && !linked {
			ctx.Respond(domain.ErrNotLinked)
			return
		}
		ctx.Respond(&TenantInfo{ID: t.rec.ID, Name: t.rec.Name})
	case *rotateCode:
		t.onRotate(ctx, m)
	case *addEnterprise:
		t.onAddEnterprise(ctx, m)
	case *listEnterprises:
		ctx.Respond(t.enterprises(m.OpenID))
	case *linkUser:
		t.onLink(ctx, m)
	case *unlinkUser:
		t.onUnlink(ctx, m)
	case *startAddAccount:
		t.onAddAccount(ctx, m)
	case *addAwaitingAccount:
		t.onAddAwaiting(ctx, m)
	case *submitFlowCode:
		t.toFlow(ctx, m.FlowID, m.OpenID, &flowSubmitCode{code: m.Code})
	case *pollFlow:
		t.toFlow(ctx, m.FlowID, m.OpenID, &flowPoll{})
	case *resendFlowCode:
		t.onFlowResend(ctx, m)
	case *setFlowPassword:
		t.toFlow(ctx, m.FlowID, m.OpenID, &flowNewPass{password: m.Password, confirm: m.Confirm})
	case *flowVerified:
		t.onVerified(ctx, m)
	case *bindAccount:
		t.onBind(ctx, m)
	case *unbindAccount:
		t.onUnbind(ctx, m)
	case *unbindEnterprise:
		t.onUnbindEnterprise(ctx, m)
	case *changeBinding:
		t.onRebind(ctx, m)
	case *setDefault:
		t.onSetDefault(ctx, m)
	case *applyAdmin:
		t.onApplyAdmin(ctx, m)
	case *stepDown:
		t.onStepDown(ctx, m)
	case *deleteAccount:
		t.onDelete(ctx, m)
	case *unlockAccount:
		if ref, err := t.operable(m.AccountID, m.OpenID); err != nil {
			ctx.Respond(err)
		} else {
			t.forward(ctx, ref.ID, &unlock{who: "wx:" + m.OpenID})
		}
	case *startReset:
		t.onStartReset(ctx, m)
	case *updatePassword:
		t.onUpdatePassword(ctx, m)
	case *passwordVerified:
		t.onVerifyDone(ctx, m)
	case *requestSession:
		t.onSession(ctx, m)
	case *awaitRequest:
		_, acct, _ := parseRequestID(m.RequestID)
		if t.refs[acct] == nil {
			ctx.Respond(domain.ErrRequestNotFound)
			return
		}
		t.forward(ctx, acct, &awaitOutcome{requestID: m.RequestID, wait: m.Wait})
	case *answerCode:
		t.onAnswer(ctx, m)
	case *startQRLogin:
		if ref, err := t.operable(m.AccountID, m.OpenID); err != nil {
			ctx.Respond(err)
		} else if !ref.Business.Has(m.Channel.Business()) {
			ctx.Respond(domain.ErrBusinessNotAllowed)
		} else {
			t.forward(ctx, ref.ID, &startQR{channel: m.Channel, app: m.App})
		}
	case *pollQRLogin:
		if ref, err := t.operable(m.AccountID, m.OpenID); err != nil {
			ctx.Respond(err)
		} else {
			t.forward(ctx, ref.ID, &pollQR{qrID: m.QRID})
		}
	case *resendPromptCode:
		t.onPromptResend(ctx, m)
	case *showPrompt:
		if ref, err := t.operable(m.AccountID, m.OpenID); err != nil {
			ctx.Respond(err)
		} else {
			t.forward(ctx, ref.ID, &describePrompt{id: m.PromptID})
		}
	case *escalatePrompt:
		t.onEscalate(m)
	case *recordSubscription:
		t.onSubscription(ctx, m)
	case *confirmCertification:
		if ref, err := t.operable(m.AccountID, m.OpenID); err != nil {
			ctx.Respond(err)
		} else {
			t.forward(ctx, ref.ID, &checkCertification{})
		}
	case *reportInvalid:
		if t.refs[m.AccountID] == nil {
			ctx.Respond(domain.ErrAccountNotFound)
			return
		}
		t.forward(ctx, m.AccountID, &dropInvalidSession{channel: m.Channel, token: m.Token, who: m.Who})
	case *listAccounts:
		t.onList(ctx, m)
	case *reportUndeliverable:
		if t.refs[m.AccountID] != nil {
			t.d.log.Warn("prompt undeliverable", "tenant", t.id, "account", m.AccountID, "prompt", m.PromptID, "reason", m.Reason)
			t.d.audit(t.id, "system", "prompt.undeliverable", "account/"+m.AccountID, domain.ErrPromptUndeliverable.With("", m.Reason))
		}
		if ctx.Sender() != nil { // asked through the cluster
			ctx.Respond(ok{})
		}
	case *passivateAll:
		n := 0
		for id, pid := range t.children {
			delete(t.children, id)
			t.stopping[id] = nil
			ctx.Poison(pid)
			n++
		}
		ctx.Respond(n)
	}
}

func (t *tenantActor) onCreate(ctx actor.Context, m *createTenant) {
	if t.rec != nil {
		ctx.Respond(domain.ErrTenantExists)
		return
	}
	now := t.d.clk.Now()
	next := &tenantRecord{ID: t.id, Name: m.Name, ActivationHash: hashCode(m.Code),
		Linked: map[string]time.Time{}, Enterprises: map[string]*enterpriseRecord{}, CreatedAt: now}
	t.rev = 0
	_, err := t.commit(ctx, t.event("cli", "tenant.create", "tenant/"+t.id), next, nil,
		persistence.Op{Key: keyActivation(next.ActivationHash), Value: []byte(t.id)})
	if errors.Is(err, persistence.ErrRevisionMismatch) && t.activationTaken(next.ActivationHash) {
		// An operator's own code (CreateTenant's), already another
		// tenant's: nothing was written.
		ctx.Respond(domain.ErrActivationCodeTaken)
		return
	}
	if err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	ctx.Respond(&TenantInfo{ID: t.id, Name: m.Name, ActivationCode: m.Code})
}

// activationTaken reports whether the activation code hash is stored (as
// another tenant's: a create refused on it wrote nothing).
func (t *tenantActor) activationTaken(hash string) bool {
	c, cancel := t.d.storeCtx()
	defer cancel()
	_, err := t.d.store.Get(c, keyActivation(hash))
	return err == nil
}

func (t *tenantActor) onRotate(ctx actor.Context, m *rotateCode) {
	old, next := t.rec.ActivationHash, t.rec.clone()
	next.ActivationHash = hashCode(m.Code)
	_, err := t.commit(ctx, t.event("cli", "tenant.rotate_code", "tenant/"+t.id), next, nil,
		persistence.Op{Key: keyActivation(next.ActivationHash), Value: []byte(t.id)},
		persistence.Op{Key: keyActivation(old), Delete: true, AnyRevision: true})
	respond(ctx, &TenantInfo{ID: t.id, Name: t.rec.Name, ActivationCode: m.Code}, err)
}

// operator describes a WeChat user to the pure permission rules.
func (t *tenantActor) operator(openid, taxNo string) domain.Operator {
	_, linked := t.rec.Linked[openid]
	admin := false
	if e := t.rec.Enterprises[taxNo]; e != nil {
		_, admin = e.Admins[openid]
	}
	return domain.Operator{OpenID: openid, Linked: linked, Admin: admin}
}

// operable returns the account if openid may operate it (F4, F9, F10). An
// empty openid is a client API caller, already authorised for the tenant.
func (t *tenantActor) operable(accountID, openid string) (*accountRef, error) {
	ref := t.refs[accountID]
	if ref == nil {
		return nil, domain.ErrAccountNotFound
	}
	if openid == "" {
		return ref, nil
	}
	if err := domain.CanOperate(t.operator(openid, ref.TaxNo), ref.BoundTo); err != nil {
		return nil, err
	}
	return ref, nil
}

func who(openid string) string {
	if openid == "" {
		return "api"
	}
	return "wx:" + openid
}
