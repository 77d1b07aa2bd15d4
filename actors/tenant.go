package actors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
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
	tCreate struct {
		name, code string
	} // reply TenantInfo
	tRotateCode    struct{ code string }                // reply TenantInfo
	tInfo          struct{ linked string }              // reply TenantInfo; ErrNotLinked when linked is set and not linked
	tAddEnterprise struct{ taxNo, name, region string } // reply EnterpriseView
	tEnterprises   struct{ openid string }              // reply []EnterpriseView
	tLink          struct{ openid string }              // reply TenantInfo
	tUnlink        struct {
		openid  string
		preview bool
	} // reply []AccountView (the accounts unbound)
	tAddAccount   struct{ cmd AddAccount }              // reply FlowReply
	tFlowCode     struct{ flowID, openid, code string } // reply FlowReply
	tFlowPoll     struct{ flowID, openid string }       // reply FlowReply
	tFlowPassword struct {
		flowID, openid    string
		password, confirm domain.Secret
	} // reply FlowReply
	tBind      struct{ accountID, openid string } // reply ok
	tUnbind    struct{ accountID, openid string } // reply ok
	tUnbindEnt struct{ taxNo, openid string }     // reply int
	tRebind    struct {
		accountID, openid, username string
		password                    domain.Secret
	} // reply FlowReply
	tSetDefault struct {
		accountID, openid string
		which             domain.Business
	} // reply ok
	tApplyAdmin struct {
		taxNo, openid, username string
		password                domain.Secret
	} // reply FlowReply
	tStepDown   struct{ taxNo, openid string }                       // reply ok
	tDelete     struct{ accountID, openid string }                   // reply ok
	tUnlock     struct{ accountID, openid string }                   // reply ok
	tStartReset struct{ accountID, openid, idType, idNumber string } // reply FlowReply
	tUpdatePass struct {
		accountID, openid string
		password          domain.Secret
	} // reply FlowReply (Updated)
	tSession struct{ req SessionRequest } // reply SessionReply
	tAwait   struct {
		requestID string
		wait      bool
	} // reply SessionReply
	tAnswer struct {
		requestID, accountID, openid, code, who string
		promptID                                string // the prompt page's answer: this prompt only
		channel                                 domain.Channel
	} // reply SessionReply
	tPrompt struct{ accountID, openid, promptID string } // reply PromptStatus
	// tEscalate: an account's reminder for the enterprise's admins (B5), no reply.
	tEscalate struct {
		prompt  prompts.Prompt
		boundTo string
	}
	// tSubscription: a WeChat user followed or unfollowed the official account (reply ok).
	tSubscription struct {
		openid     string
		subscribed bool
	}
	tStartQR struct {
		accountID, openid string
		channel           domain.Channel
		app               taxbureau.QRApp
	} // reply QRView
	tPollQR      struct{ accountID, openid, qrID string } // reply QRView
	tConfirmCert struct{ accountID, openid string }       // reply SessionReply
	tInvalid     struct {
		accountID, token, who string
		channel               domain.Channel
	} // reply ok
	tList struct {
		taxNo, openid string
		all           bool
	} // reply []AccountView
	tUndeliverable struct{ accountID, promptID, reason string } // no reply
	tPassivateAll  struct{}                                     // test hook: passivate idle accounts; reply int
	// internal
	tVerifyDone struct {
		spec    flowSpec
		err     error
		replyTo *actor.PID
	}
)

// buffered is a message that arrived for an account while its actor was
// stopping; it is replayed with its original sender.
type buffered struct {
	msg    any
	sender *actor.PID
}

type tenantActor struct {
	d        *deps
	id       string
	rec      *tenantRecord
	rev      uint64
	refs     map[string]*accountRef
	refRevs  map[string]uint64
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
// leaves rec nil: only tCreate is served.
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
		t.rec, t.refs, t.refRevs = nil, map[string]*accountRef{}, map[string]uint64{}
		return nil
	}
	if err != nil {
		return err
	}
	var rec tenantRecord
	if err := jsonUnmarshal(r.Value, &rec); err != nil {
		return err
	}
	refs, refRevs := map[string]*accountRef{}, map[string]uint64{}
	err = t.d.store.Scan(ctx, prefixAccountRefs(t.id), func(r persistence.Record) error {
		var ref accountRef
		if err := jsonUnmarshal(r.Value, &ref); err != nil {
			return err
		}
		refs[ref.ID], refRevs[ref.ID] = &ref, r.Revision
		return nil
	})
	if err != nil {
		return err
	}
	t.rec, t.rev, t.refs, t.refRevs = &rec, r.Revision, refs, refRevs
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
			ctx.Send(pid, &accountSetRef{ref: *r})
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
		ops = append(ops, persistence.Op{Key: keyAccountRef(t.id, r.ID), Value: jsonMarshal(r), Expected: t.refRevs[r.ID]})
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
		t.refs[r.ID], t.refRevs[r.ID] = r, revs[i]
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

// withBinding returns a copy of ref bound to openid ("" unbinds).
func withBinding(ref *accountRef, openid string) *accountRef {
	c := *ref
	c.BoundTo, c.Unreachable = openid, false
	return &c
}

// tellRefs sends index entries that changed to their live actors.
func (t *tenantActor) tellRefs(ctx actor.Context, refs []*accountRef) {
	for _, r := range refs {
		if pid := t.children[r.ID]; pid != nil {
			ctx.Send(pid, &accountSetRef{ref: *r})
		}
	}
}

func (t *tenantActor) Receive(ctx actor.Context) {
	// The hot path first, through a small frame: the mailbox goroutine's
	// stack stays small (a deep switch here costs stack growth per run).
	if m, isSession := ctx.Message().(*tSession); isSession && t.rec != nil {
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
	case *tCreate:
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
	case *tInfo:
		if _, linked := t.rec.Linked[m.linked]; m.linked != "" && !linked {
			ctx.Respond(domain.ErrNotLinked)
			return
		}
		ctx.Respond(&TenantInfo{ID: t.rec.ID, Name: t.rec.Name})
	case *tRotateCode:
		t.onRotate(ctx, m)
	case *tAddEnterprise:
		t.onAddEnterprise(ctx, m)
	case *tEnterprises:
		ctx.Respond(t.enterprises(m.openid))
	case *tLink:
		t.onLink(ctx, m)
	case *tUnlink:
		t.onUnlink(ctx, m)
	case *tAddAccount:
		t.onAddAccount(ctx, m)
	case *tAddAwaiting:
		t.onAddAwaiting(ctx, m)
	case *tFlowCode:
		t.toFlow(ctx, m.flowID, m.openid, &flowSubmitCode{code: m.code})
	case *tFlowPoll:
		t.toFlow(ctx, m.flowID, m.openid, &flowPoll{})
	case *tFlowResend:
		t.onFlowResend(ctx, m)
	case *tFlowPassword:
		t.toFlow(ctx, m.flowID, m.openid, &flowNewPass{password: m.password, confirm: m.confirm})
	case *flowVerified:
		t.onVerified(ctx, m)
	case *tBind:
		t.onBind(ctx, m)
	case *tUnbind:
		t.onUnbind(ctx, m)
	case *tUnbindEnt:
		t.onUnbindEnterprise(ctx, m)
	case *tRebind:
		t.onRebind(ctx, m)
	case *tSetDefault:
		t.onSetDefault(ctx, m)
	case *tApplyAdmin:
		t.onApplyAdmin(ctx, m)
	case *tStepDown:
		t.onStepDown(ctx, m)
	case *tDelete:
		t.onDelete(ctx, m)
	case *tUnlock:
		if ref, err := t.operable(m.accountID, m.openid); err != nil {
			ctx.Respond(err)
		} else {
			t.forward(ctx, ref.ID, &accountUnlock{who: "wx:" + m.openid})
		}
	case *tStartReset:
		t.onStartReset(ctx, m)
	case *tUpdatePass:
		t.onUpdatePassword(ctx, m)
	case *tVerifyDone:
		t.onVerifyDone(ctx, m)
	case *tSession:
		t.onSession(ctx, m)
	case *tAwait:
		_, acct, _ := parseRequestID(m.requestID)
		if t.refs[acct] == nil {
			ctx.Respond(domain.ErrRequestNotFound)
			return
		}
		t.forward(ctx, acct, &accountAwait{requestID: m.requestID, wait: m.wait})
	case *tAnswer:
		t.onAnswer(ctx, m)
	case *tStartQR:
		if ref, err := t.operable(m.accountID, m.openid); err != nil {
			ctx.Respond(err)
		} else if !ref.Business.Has(m.channel.Business()) {
			ctx.Respond(domain.ErrBusinessNotAllowed)
		} else {
			t.forward(ctx, ref.ID, &accountStartQR{channel: m.channel, app: m.app})
		}
	case *tPollQR:
		if ref, err := t.operable(m.accountID, m.openid); err != nil {
			ctx.Respond(err)
		} else {
			t.forward(ctx, ref.ID, &accountPollQR{qrID: m.qrID})
		}
	case *tPromptResend:
		t.onPromptResend(ctx, m)
	case *tPrompt:
		if ref, err := t.operable(m.accountID, m.openid); err != nil {
			ctx.Respond(err)
		} else {
			t.forward(ctx, ref.ID, &accountPrompt{id: m.promptID})
		}
	case *tEscalate:
		t.onEscalate(m)
	case *tSubscription:
		t.onSubscription(ctx, m)
	case *tConfirmCert:
		if ref, err := t.operable(m.accountID, m.openid); err != nil {
			ctx.Respond(err)
		} else {
			t.forward(ctx, ref.ID, &accountConfirmCert{})
		}
	case *tInvalid:
		if t.refs[m.accountID] == nil {
			ctx.Respond(domain.ErrAccountNotFound)
			return
		}
		t.forward(ctx, m.accountID, &accountInvalid{channel: m.channel, token: m.token, who: m.who})
	case *tList:
		t.onList(ctx, m)
	case *tUndeliverable:
		if t.refs[m.accountID] != nil {
			t.d.log.Warn("prompt undeliverable", "tenant", t.id, "account", m.accountID, "prompt", m.promptID, "reason", m.reason)
			t.d.audit(t.id, "system", "prompt.undeliverable", "account/"+m.accountID, domain.ErrPromptUndeliverable.With("", m.reason))
		}
	case *tPassivateAll:
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

// forward sends msg to the account's actor, spawning it on demand, with
// the current sender as the reply address.
func (t *tenantActor) forward(ctx actor.Context, accountID string, msg any) {
	t.sendAccount(ctx, accountID, msg, ctx.Sender())
}

func (t *tenantActor) sendAccount(ctx actor.Context, accountID string, msg any, sender *actor.PID) {
	if buf, isStopping := t.stopping[accountID]; isStopping {
		t.stopping[accountID] = append(buf, buffered{msg: msg, sender: sender})
		return
	}
	pid := t.children[accountID]
	if pid == nil {
		ref := t.refs[accountID]
		if ref == nil {
			if sender != nil {
				ctx.Send(sender, domain.ErrAccountNotFound)
			}
			return
		}
		r := *ref
		snap := t.snaps[accountID]
		if snap == nil {
			snap = &atomic.Pointer[snapshot]{}
			t.snaps[accountID] = snap
		}
		props := actor.PropsFromProducer(func() actor.Actor { return newAccountActor(t.d, t.id, r, snap) },
			actor.WithSupervisor(supervisor()))
		var err error
		pid, err = ctx.SpawnNamed(props, "a-"+accountID)
		if err != nil {
			t.d.log.Error("spawn account", "tenant", t.id, "account", accountID, "err", err)
			if sender != nil {
				ctx.Send(sender, domain.ErrBusy)
			}
			return
		}
		t.children[accountID] = pid
	}
	if sender != nil {
		ctx.RequestWithCustomSender(pid, msg, sender)
	} else {
		ctx.Send(pid, msg)
	}
}

func (t *tenantActor) onTerminated(ctx actor.Context, m *actor.Terminated) {
	for id, pid := range t.children {
		if pid.Equal(m.Who) {
			delete(t.children, id) // crashed beyond restarts; respawn on demand
			return
		}
	}
	for id, buf := range t.stopping {
		if m.Who.Id == ctx.Self().Id+"/a-"+id {
			delete(t.stopping, id)
			for _, b := range buf {
				t.sendAccount(ctx, id, b.msg, b.sender)
			}
			return
		}
	}
}

func (t *tenantActor) onCreate(ctx actor.Context, m *tCreate) {
	if t.rec != nil {
		ctx.Respond(domain.ErrTenantExists)
		return
	}
	now := t.d.clk.Now()
	next := &tenantRecord{ID: t.id, Name: m.name, ActivationHash: hashCode(m.code),
		Linked: map[string]time.Time{}, Enterprises: map[string]*enterpriseRecord{}, CreatedAt: now}
	t.rev = 0
	_, err := t.commit(ctx, t.event("cli", "tenant.create", "tenant/"+t.id), next, nil,
		persistence.Op{Key: keyActivation(next.ActivationHash), Value: []byte(t.id)})
	if err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	ctx.Respond(&TenantInfo{ID: t.id, Name: m.name, ActivationCode: m.code})
}

func (t *tenantActor) onRotate(ctx actor.Context, m *tRotateCode) {
	old, next := t.rec.ActivationHash, t.rec.clone()
	next.ActivationHash = hashCode(m.code)
	_, err := t.commit(ctx, t.event("cli", "tenant.rotate_code", "tenant/"+t.id), next, nil,
		persistence.Op{Key: keyActivation(next.ActivationHash), Value: []byte(t.id)},
		persistence.Op{Key: keyActivation(old), Delete: true, AnyRevision: true})
	respond(ctx, &TenantInfo{ID: t.id, Name: t.rec.Name, ActivationCode: m.code}, err)
}

func (t *tenantActor) onAddEnterprise(ctx actor.Context, m *tAddEnterprise) {
	tn, err := domain.ParseTaxNo(m.taxNo)
	if err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	if _, exists := t.rec.Enterprises[tn.Value]; exists {
		ctx.Respond(domain.ErrEnterpriseExists)
		return
	}
	region, derived := domain.RegionOf(tn)
	if m.region != "" {
		r, err := domain.ParseRegion(m.region)
		if err != nil {
			ctx.Respond(domain.AsError(err))
			return
		}
		if derived && r.Code != region.Code {
			ctx.Respond(domain.ErrInvalidRegion.With("地区与税号不一致（税号属于"+region.Name+"）", "region differs from the tax number's"))
			return
		}
		region, derived = r, true
	}
	if !derived {
		ctx.Respond(domain.ErrInvalidRegion.With("请选择企业所在地区", "region required"))
		return
	}
	if m.name == "" || len([]rune(m.name)) > 100 {
		ctx.Respond(domain.Invalid("name", "企业名称不能为空且不超过100字"))
		return
	}
	next := t.rec.clone()
	next.Enterprises[tn.Value] = &enterpriseRecord{TaxNo: tn.Value, Name: m.name, Region: region.Code, Legacy: tn.Legacy, Admins: map[string]time.Time{}}
	if _, err := t.commit(ctx, t.event("cli", "enterprise.add", "enterprise/"+tn.Value), next, nil); err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	ctx.Respond(t.enterpriseView(t.rec.Enterprises[tn.Value], ""))
}

func (t *tenantActor) enterpriseView(e *enterpriseRecord, openid string) EnterpriseView {
	n := 0
	for _, r := range t.refs {
		if r.TaxNo == e.TaxNo {
			n++
		}
	}
	_, admin := e.Admins[openid]
	return EnterpriseView{TaxNo: e.TaxNo, Name: e.Name, Region: e.Region, Legacy: e.Legacy, Admins: len(e.Admins),
		IsAdmin: openid != "" && admin, Defaults: e.Defaults, Accounts: n}
}

func (t *tenantActor) enterprises(openid string) []EnterpriseView {
	out := make([]EnterpriseView, 0, len(t.rec.Enterprises))
	for _, e := range t.rec.Enterprises {
		out = append(out, t.enterpriseView(e, openid))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TaxNo < out[j].TaxNo })
	return out
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

func (t *tenantActor) onLink(ctx actor.Context, m *tLink) {
	if _, linked := t.rec.Linked[m.openid]; linked {
		ctx.Respond(domain.ErrAlreadyLinked)
		return
	}
	// The user's index lists the tenant first: it may then list a tenant
	// the link did not reach, which its readers check, never miss one.
	if err := t.updateWeChatUser(m.openid, true); err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	next := t.rec.clone()
	next.Linked[m.openid] = t.d.clk.Now()
	if _, err := t.commit(ctx, t.event("wx:"+m.openid, "tenant.link", "tenant/"+t.id), next, nil); err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	ctx.Respond(&TenantInfo{ID: t.id, Name: t.rec.Name})
}

// wechatUser is the wxuser/<openid> record: the tenants a user linked.
type wechatUser struct {
	OpenID  string   `json:"openid"`
	Tenants []string `json:"tenants"`
}

// updateWeChatUser adds or removes this tenant in the user's record. The
// tenants of one user share it: persistence.Update.
func (t *tenantActor) updateWeChatUser(openid string, add bool) error {
	ctx, cancel := t.d.storeCtx()
	defer cancel()
	_, err := persistence.Update(ctx, t.d.store, keyWeChatUser(openid), func(old persistence.Record) ([]byte, error) {
		u := wechatUser{OpenID: openid}
		if old.Value != nil {
			if err := jsonUnmarshal(old.Value, &u); err != nil {
				return nil, err
			}
		}
		ts := []string{}
		for _, id := range u.Tenants {
			if id != t.id {
				ts = append(ts, id)
			}
		}
		if add {
			ts = append(ts, t.id)
		}
		if old.Value != nil && slices.Equal(ts, u.Tenants) {
			return old.Value, nil
		}
		u.Tenants = ts
		return jsonMarshal(u), nil
	})
	if err != nil {
		t.d.log.Error("persist wechat user", "tenant", t.id, "err", err)
		return domain.ErrBusy.Wrap(err)
	}
	return nil
}

func (t *tenantActor) boundTo(openid string, taxNo string) []*accountRef {
	var out []*accountRef
	for _, r := range t.refs {
		if r.BoundTo == openid && (taxNo == "" || r.TaxNo == taxNo) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// setBinding stores a ref's new binding with its audit event and tells a
// live actor.
func (t *tenantActor) setBinding(ctx actor.Context, ref *accountRef, openid string, ev persistence.AuditEvent) error {
	nr := withBinding(ref, openid)
	if _, err := t.commit(ctx, ev, nil, []*accountRef{nr}); err != nil {
		return err
	}
	t.tellRefs(ctx, []*accountRef{nr})
	return nil
}

func (t *tenantActor) onUnlink(ctx actor.Context, m *tUnlink) {
	if _, linked := t.rec.Linked[m.openid]; !linked {
		ctx.Respond(domain.ErrNotLinked)
		return
	}
	refs := t.boundTo(m.openid, "")
	views := make([]AccountView, 0, len(refs))
	for _, r := range refs {
		views = append(views, t.refView(r, m.openid))
	}
	if m.preview {
		ctx.Respond(views)
		return
	}
	// The bindings, the link and the admin grants go in one transaction.
	unbound := make([]*accountRef, len(refs))
	for i, r := range refs {
		unbound[i] = withBinding(r, "")
	}
	next := t.rec.clone()
	delete(next.Linked, m.openid)
	for _, e := range next.Enterprises {
		delete(e.Admins, m.openid)
	}
	if _, err := t.commit(ctx, t.event("wx:"+m.openid, "tenant.unlink", "tenant/"+t.id), next, unbound); err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	t.tellRefs(ctx, unbound)
	// A failure here leaves the tenant in the user's index, which its
	// readers check against the link.
	_ = t.updateWeChatUser(m.openid, false)
	ctx.Respond(views)
}

// refView is an account's view from the tenant's index only.
func (t *tenantActor) refView(r *accountRef, openid string) AccountView {
	v := AccountView{ID: r.ID, TaxNo: r.TaxNo, Region: r.Region, Username: r.Username, Role: r.Role, RoleName: r.Role.Name(),
		Business: r.Business, LoginType: r.LoginType, Bound: r.BoundTo != "", BoundOpenID: r.BoundTo,
		BoundToMe: openid != "" && r.BoundTo == openid}
	if e := t.rec.Enterprises[r.TaxNo]; e != nil {
		v.EnterpriseName = e.Name
		v.DefaultFor = e.Defaults.Flags(r.ID)
	}
	return v
}

func (t *tenantActor) onAddAccount(ctx actor.Context, m *tAddAccount) {
	c := m.cmd
	spec, err := t.validateAdd(c)
	if err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	t.startFlow(ctx, spec)
}

func (t *tenantActor) validateAdd(c AddAccount) (flowSpec, error) {
	if _, linked := t.rec.Linked[c.OpenID]; !linked && c.OpenID != "" {
		return flowSpec{}, domain.ErrNotLinked
	}
	tn, err := domain.ParseTaxNo(c.TaxNo)
	if err != nil {
		return flowSpec{}, err
	}
	e := t.rec.Enterprises[tn.Value]
	if e == nil {
		return flowSpec{}, domain.ErrEnterpriseNotFound
	}
	b, err := domain.ParseBusiness(c.Business)
	if err != nil {
		return flowSpec{}, err
	}
	lt, err := domain.ParseLoginType(c.LoginType)
	if err != nil {
		return flowSpec{}, err
	}
	var role domain.Role
	if c.Role != "" {
		if role, err = domain.ParseRole(c.Role); err != nil {
			return flowSpec{}, err
		}
		if !role.Allows(b) {
			return flowSpec{}, domain.ErrRoleBusiness.With(role.Name()+"无权办理"+b.Name()+"业务", "")
		}
	}
	user := c.Username
	if user == "" || len(user) > 64 {
		return flowSpec{}, domain.Invalid("username", "请输入电子税局账号")
	}
	if c.Password.IsZero() || len(c.Password.Reveal()) > 64 {
		return flowSpec{}, domain.Invalid("password", "请输入密码")
	}
	if t.findRef(tn.Value, user) != nil {
		return flowSpec{}, domain.ErrAccountExists
	}
	switch c.QRApp {
	case "", taxbureau.AppTax, taxbureau.AppIIT:
	default:
		return flowSpec{}, domain.Invalid("qr_app", "请选择税务APP或个人所得税APP扫码")
	}
	return flowSpec{purpose: purposeAdd, openid: c.OpenID, taxNo: tn.Value, region: e.Region, username: user,
		password: c.Password, loginType: lt, business: b, role: role, qrApp: c.QRApp}, nil
}

func (t *tenantActor) findRef(taxNo, username string) *accountRef {
	for _, r := range t.refs {
		if r.TaxNo == taxNo && r.Username == username {
			return r
		}
	}
	return nil
}

func (t *tenantActor) startFlow(ctx actor.Context, spec flowSpec) {
	spec.id = newID("f")
	props := actor.PropsFromProducer(func() actor.Actor { return &flowActor{d: t.d, spec: spec} })
	pid, err := ctx.SpawnNamed(props, "f-"+spec.id)
	if err != nil {
		ctx.Respond(domain.ErrBusy.Wrap(err))
		return
	}
	t.flows[spec.id], t.flowOwners[spec.id] = pid, spec.openid
	ctx.RequestWithCustomSender(pid, &flowStart{}, ctx.Sender())
}

// toFlow hands msg to a flow of openid's: a flow id alone grants nothing to
// another user.
func (t *tenantActor) toFlow(ctx actor.Context, flowID, openid string, msg any) {
	pid := t.flows[flowID]
	if pid == nil || t.flowOwners[flowID] != openid {
		ctx.Respond(domain.ErrNoChallenge.With("验证已过期，请重新开始", "flow not found or expired"))
		return
	}
	ctx.RequestWithCustomSender(pid, msg, ctx.Sender())
}

// onVerified applies what a flow proved.
func (t *tenantActor) onVerified(ctx actor.Context, m *flowVerified) {
	delete(t.flows, m.spec.id)
	delete(t.flowOwners, m.spec.id)
	reply := func(v any, err error) {
		if m.replyTo == nil {
			return
		}
		if err != nil {
			ctx.Send(m.replyTo, domain.AsError(err))
			return
		}
		ctx.Send(m.replyTo, v)
	}
	s := m.spec
	switch s.purpose {
	case purposeAdd:
		id, err := t.createAccount(ctx, m)
		reply(&FlowReply{FlowID: s.id, State: FlowDone, AccountID: id}, err)
	case purposeAdmin:
		e := t.rec.Enterprises[s.taxNo]
		if e == nil {
			reply(nil, domain.ErrEnterpriseNotFound)
			return
		}
		next := t.rec.clone()
		next.Enterprises[s.taxNo].Admins[s.openid] = t.d.clk.Now()
		_, err := t.commit(ctx, t.event(who(s.openid), "admin.apply", "enterprise/"+s.taxNo), next, nil)
		reply(&FlowReply{FlowID: s.id, State: FlowDone}, err)
	case purposeRebind:
		ref := t.refs[s.accountID]
		if ref == nil {
			reply(nil, domain.ErrAccountNotFound)
			return
		}
		prev := ref.BoundTo
		err := t.setBinding(ctx, ref, s.openid, t.event(who(s.openid), "account.rebind", "account/"+ref.ID))
		if err == nil && prev != "" {
			now := t.d.clk.Now()
			_ = t.d.pub.Publish(context.Background(), prompts.Prompt{ID: newID("p"), Tenant: t.id, Account: ref.ID,
				Kind: prompts.KindNotice, OpenID: prev, TaxNo: ref.TaxNo, Username: ref.Username, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour),
				Message: "您绑定的电子税局账号" + ref.Username + "（" + ref.TaxNo + "）已被号主更换绑定至其他微信"})
		}
		reply(&FlowReply{FlowID: s.id, State: FlowDone, AccountID: ref.ID}, err)
	case purposeReset:
		t.propagate(ctx, s.accountID, s.password, m.replyTo, s.id, who(s.openid))
	}
}

func who(openid string) string {
	if openid == "" {
		return "api"
	}
	return "wx:" + openid
}

// createAccount writes the new account's index entry, its first state
// (logged in on the verified channel) and its audit event in one commit. A
// refusal is audited on its own.
func (t *tenantActor) createAccount(ctx actor.Context, m *flowVerified) (string, error) {
	s := m.spec
	refuse := func(err error) (string, error) {
		t.d.audit(t.id, who(s.openid), "account.add", "enterprise/"+s.taxNo, err)
		return "", err
	}
	if t.findRef(s.taxNo, s.username) != nil {
		return refuse(domain.ErrAccountExists)
	}
	if _, linked := t.rec.Linked[s.openid]; !linked && s.openid != "" {
		return refuse(domain.ErrNotLinked)
	}
	now := t.d.clk.Now()
	ref := &accountRef{ID: newID("a"), TaxNo: s.taxNo, Region: s.region, Username: s.username, PersonID: m.personID,
		Role: m.role, Business: s.business, LoginType: s.loginType, CreatedAt: now}
	st := &accountState{password: s.password, phoneMasked: m.phone, sessions: map[domain.Channel]session{},
		lock: domain.LockState{Hosted: s.loginType.Hosted()}}
	if m.session != nil {
		ch := m.session.Channel
		if ch == "" {
			ch = domain.ChannelIssue
		}
		st.sessions[ch] = session{token: domain.NewSecret(m.session.Token), obtainedAt: m.session.ObtainedAt, expiresAt: m.session.ExpiresAt}
	}
	if m.phone != "" {
		st.lastCodeAt = now
	}
	b, err := encodeAccount(t.d.seal, t.id, ref.ID, st, now)
	if err != nil {
		return refuse(domain.ErrInternal.Wrap(err))
	}
	_, err = t.commit(ctx, t.event(who(s.openid), "account.add", "account/"+ref.ID), nil, []*accountRef{ref},
		persistence.Op{Key: keyAccount(t.id, ref.ID), Value: b})
	if err != nil {
		return "", err
	}
	return ref.ID, nil
}

func (t *tenantActor) onBind(ctx actor.Context, m *tBind) {
	ref := t.refs[m.accountID]
	if ref == nil {
		ctx.Respond(domain.ErrAccountNotFound)
		return
	}
	if err := domain.CanBind(t.operator(m.openid, ref.TaxNo), ref.BoundTo); err != nil {
		t.d.audit(t.id, who(m.openid), "account.bind", "account/"+ref.ID, err)
		ctx.Respond(domain.AsError(err))
		return
	}
	err := t.setBinding(ctx, ref, m.openid, t.event(who(m.openid), "account.bind", "account/"+ref.ID))
	respond(ctx, ok{}, err)
}

func (t *tenantActor) onUnbind(ctx actor.Context, m *tUnbind) {
	ref, err := t.operable(m.accountID, m.openid)
	if err == nil && ref.BoundTo == "" {
		err = domain.ErrNotBound
	}
	if err != nil {
		t.d.audit(t.id, who(m.openid), "account.unbind", "account/"+m.accountID, err)
		ctx.Respond(domain.AsError(err))
		return
	}
	err = t.setBinding(ctx, ref, "", t.event(who(m.openid), "account.unbind", "account/"+m.accountID))
	respond(ctx, ok{}, err)
}

func (t *tenantActor) onUnbindEnterprise(ctx actor.Context, m *tUnbindEnt) {
	if _, linked := t.rec.Linked[m.openid]; !linked {
		ctx.Respond(domain.ErrNotLinked)
		return
	}
	if t.rec.Enterprises[m.taxNo] == nil {
		ctx.Respond(domain.ErrEnterpriseNotFound)
		return
	}
	var unbound []*accountRef
	for _, r := range t.boundTo(m.openid, m.taxNo) {
		unbound = append(unbound, withBinding(r, ""))
	}
	if _, err := t.commit(ctx, t.event(who(m.openid), "enterprise.unbind", "enterprise/"+m.taxNo), nil, unbound); err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	t.tellRefs(ctx, unbound)
	ctx.Respond(len(unbound))
}

func (t *tenantActor) onRebind(ctx actor.Context, m *tRebind) {
	ref := t.refs[m.accountID]
	switch {
	case ref == nil:
		ctx.Respond(domain.ErrAccountNotFound)
	case !t.operator(m.openid, "").Linked:
		ctx.Respond(domain.ErrNotLinked)
	case ref.BoundTo == m.openid:
		ctx.Respond(domain.ErrSameWeChat)
	case m.username != ref.Username:
		ctx.Respond(domain.Invalid("username", "请输入该电子税局账号的用户名"))
	case m.password.IsZero():
		ctx.Respond(domain.Invalid("password", "请输入密码"))
	default:
		t.startFlow(ctx, flowSpec{purpose: purposeRebind, openid: m.openid, accountID: ref.ID, taxNo: ref.TaxNo,
			region: ref.Region, username: ref.Username, password: m.password, loginType: ref.LoginType, business: ref.Business})
	}
}

func (t *tenantActor) onSetDefault(ctx actor.Context, m *tSetDefault) {
	ref, err := t.operable(m.accountID, m.openid)
	if err != nil {
		ctx.Respond(err)
		return
	}
	e := t.rec.Enterprises[ref.TaxNo]
	count := 0
	for _, r := range t.refs {
		if r.TaxNo == ref.TaxNo {
			count++
		}
	}
	nd, err := e.Defaults.SetDefault(ref.ID, ref.Business, m.which, count)
	if err != nil {
		t.d.audit(t.id, who(m.openid), "account.set_default", "account/"+ref.ID, err)
		ctx.Respond(domain.AsError(err))
		return
	}
	next := t.rec.clone()
	next.Enterprises[ref.TaxNo].Defaults = nd
	_, err = t.commit(ctx, t.event(who(m.openid), "account.set_default", "account/"+ref.ID), next, nil)
	respond(ctx, ok{}, err)
}

func (t *tenantActor) onApplyAdmin(ctx actor.Context, m *tApplyAdmin) {
	e := t.rec.Enterprises[m.taxNo]
	switch {
	case !t.operator(m.openid, "").Linked:
		ctx.Respond(domain.ErrNotLinked)
	case e == nil:
		ctx.Respond(domain.ErrEnterpriseNotFound)
	case m.username == "" || m.password.IsZero():
		ctx.Respond(domain.Invalid("username", "请输入法人或财务负责人的电子税局账号和密码"))
	default:
		if _, is := e.Admins[m.openid]; is {
			ctx.Respond(domain.ErrAlreadyAdmin)
			return
		}
		lt := domain.LoginManual
		if r := t.findRef(m.taxNo, m.username); r != nil {
			lt = r.LoginType
		}
		t.startFlow(ctx, flowSpec{purpose: purposeAdmin, openid: m.openid, taxNo: e.TaxNo, region: e.Region,
			username: m.username, password: m.password, loginType: lt})
	}
}

func (t *tenantActor) onStepDown(ctx actor.Context, m *tStepDown) {
	e := t.rec.Enterprises[m.taxNo]
	if e == nil {
		ctx.Respond(domain.ErrEnterpriseNotFound)
		return
	}
	if _, is := e.Admins[m.openid]; !is {
		ctx.Respond(domain.ErrNotAdmin)
		return
	}
	next := t.rec.clone()
	delete(next.Enterprises[m.taxNo].Admins, m.openid)
	_, err := t.commit(ctx, t.event(who(m.openid), "admin.step_down", "enterprise/"+m.taxNo), next, nil)
	respond(ctx, ok{}, err)
}

// accountName is an account as the audit names it: 用户名（企业名）, the
// account.delete event's Detail, so that the deleted account keeps a name.
func (t *tenantActor) accountName(ref *accountRef) string {
	if e := t.rec.Enterprises[ref.TaxNo]; e != nil && e.Name != "" {
		return ref.Username + "（" + e.Name + "）"
	}
	return ref.Username
}

func (t *tenantActor) onDelete(ctx actor.Context, m *tDelete) {
	ref, err := t.operable(m.accountID, m.openid)
	if err != nil {
		t.d.audit(t.id, who(m.openid), "account.delete", "account/"+m.accountID, err)
		ctx.Respond(err)
		return
	}
	id := ref.ID
	// The enterprise's defaults lose the account in the transaction that
	// deletes it (the account actor commits it, the tenant's op checked
	// against the revision it has now).
	var next *tenantRecord
	var extra []persistence.Op
	if e := t.rec.Enterprises[ref.TaxNo]; e != nil && e.Defaults.Flags(id) != 0 {
		next = t.rec.clone()
		next.Enterprises[ref.TaxNo].Defaults = e.Defaults.Without(id)
		extra = []persistence.Op{{Key: keyTenant(t.id), Value: jsonMarshal(next), Expected: t.rev}}
	}
	fut := actor.NewFuture(ctx.ActorSystem(), t.d.cfg.AskTimeout)
	t.sendAccount(ctx, id, &accountErase{who: who(m.openid), name: t.accountName(ref), extra: extra}, fut.PID())
	replyTo := ctx.Sender()
	ctx.ReenterAfter(fut, func(res any, ferr error) {
		revs, erased := res.([]uint64)
		if ferr == nil && !erased {
			ferr, _ = res.(error)
			if ferr == nil {
				ferr = fmt.Errorf("unexpected reply %T", res)
			}
		}
		if ferr != nil {
			t.reload(ctx) // the tenant's op may have landed with the account's
			ctx.Send(replyTo, domain.ErrBusy.Wrap(ferr))
			return
		}
		delete(t.refs, id)
		delete(t.refRevs, id)
		if next != nil {
			t.rec, t.rev = next, revs[0]
		}
		if pid := t.children[id]; pid != nil {
			delete(t.children, id)
			t.stopping[id] = nil
			ctx.Poison(pid)
		}
		ctx.Send(replyTo, ok{})
	})
}

func (t *tenantActor) onStartReset(ctx actor.Context, m *tStartReset) {
	ref, err := t.operable(m.accountID, m.openid)
	if err != nil {
		ctx.Respond(err)
		return
	}
	if m.idType == "" || m.idNumber == "" {
		ctx.Respond(domain.Invalid("id_number", "请输入证件类型和证件号码"))
		return
	}
	t.startFlow(ctx, flowSpec{purpose: purposeReset, openid: m.openid, accountID: ref.ID, taxNo: ref.TaxNo, region: ref.Region,
		username: ref.Username, loginType: ref.LoginType, idType: m.idType, idNumber: m.idNumber, personID: ref.PersonID})
}

func (t *tenantActor) onUpdatePassword(ctx actor.Context, m *tUpdatePass) {
	ref, err := t.operable(m.accountID, m.openid)
	if err != nil {
		ctx.Respond(err)
		return
	}
	if m.password.IsZero() || len(m.password.Reveal()) > 64 {
		ctx.Respond(domain.Invalid("password", "请输入税局最新密码"))
		return
	}
	spec := flowSpec{accountID: ref.ID, openid: m.openid, password: m.password}
	region, user, pw, replyTo := ref.Region, ref.Username, m.password, ctx.Sender()
	t.d.goAsync(ctx, t.d.cfg.GatewayTimeout, func(c context.Context) any {
		err := t.d.tryPassword(m.openid, user, func() error { return t.d.gw.VerifyPassword(c, region, user, pw.Reveal()) })
		return &tVerifyDone{spec: spec, err: err, replyTo: replyTo}
	})
}

func (t *tenantActor) onVerifyDone(ctx actor.Context, m *tVerifyDone) {
	if m.err != nil {
		e := bureauError(m.err)
		t.d.audit(t.id, who(m.spec.openid), "account.update_password", "account/"+m.spec.accountID, e)
		ctx.Send(m.replyTo, e)
		return
	}
	t.propagate(ctx, m.spec.accountID, m.spec.password, m.replyTo, "", who(m.spec.openid))
}

// propagate gives every account of the same natural person in this tenant
// the new password (F11, F12) and answers with how many were updated.
func (t *tenantActor) propagate(ctx actor.Context, accountID string, pw domain.Secret, replyTo *actor.PID, flowID, by string) {
	src := t.refs[accountID]
	if src == nil {
		ctx.Send(replyTo, domain.ErrAccountNotFound)
		return
	}
	var ids []string
	for _, r := range t.refs {
		same := r.PersonID != "" && r.PersonID == src.PersonID
		if same || r.ID == src.ID || (r.PersonID == "" && r.Username == src.Username) {
			ids = append(ids, r.ID)
		}
	}
	sort.Strings(ids)
	// The replies come back to this actor (ReenterAfter): no goroutine
	// waits for them, and none outlives the engine.
	n, pending := 0, len(ids)
	done := func() {
		if n == 0 {
			t.d.audit(t.id, by, "account.password_propagate", "account/"+accountID, domain.ErrBusy)
			if replyTo != nil {
				ctx.Send(replyTo, domain.ErrBusy.With("密码未能保存，请重试", "no account took the new password"))
			}
			return
		}
		t.d.audit(t.id, by, "account.password_propagate", "account/"+accountID, nil)
		if replyTo != nil {
			ctx.Send(replyTo, &FlowReply{FlowID: flowID, State: FlowDone, AccountID: accountID, Updated: n})
		}
	}
	for _, id := range ids {
		f := actor.NewFuture(ctx.ActorSystem(), t.d.cfg.AskTimeout)
		t.sendAccount(ctx, id, &accountSetPassword{password: pw, who: by}, f.PID())
		ctx.ReenterAfter(f, func(res any, err error) {
			if _, good := res.(ok); err == nil && good {
				n++
			} else {
				t.d.log.Error("propagate password", "tenant", t.id, "account", id, "err", err, "reply", res)
			}
			if pending--; pending == 0 {
				done()
			}
		})
	}
}

func (t *tenantActor) onSession(ctx actor.Context, m *tSession) {
	req := m.req
	ch := req.Business
	if ch != domain.ChannelIssue && ch != domain.ChannelReceive {
		ctx.Respond(domain.ErrInvalidBusiness)
		return
	}
	if req.Action == "" {
		req.Action = ActionLogin
	}
	if req.Action != ActionLogin && req.Action != ActionCertify {
		ctx.Respond(domain.Invalid("action", "操作类型应为login或certify"))
		return
	}
	id := req.AccountID
	if id == "" {
		e := t.rec.Enterprises[req.TaxNo]
		if e == nil {
			ctx.Respond(domain.ErrEnterpriseNotFound)
			return
		}
		var err error
		if id, err = e.Defaults.Resolve(ch.Business()); err != nil || t.refs[id] == nil {
			ctx.Respond(domain.ErrNoDefaultAccount)
			return
		}
	}
	ref, err := t.operable(id, req.OpenID)
	if err != nil {
		ctx.Respond(err)
		return
	}
	if req.TaxNo != "" && req.TaxNo != ref.TaxNo {
		ctx.Respond(domain.ErrAccountNotFound)
		return
	}
	if !ref.Business.Has(ch.Business()) {
		ctx.Respond(domain.ErrBusinessNotAllowed)
		return
	}
	// The hot path: a live session answers from the account's snapshot. A
	// person's request (OpenID set) goes to the account, which checks the
	// session with the bureau first (B4).
	if snap := t.snaps[ref.ID]; snap != nil && t.children[ref.ID] != nil && req.OpenID == "" {
		if r := snap.Load().ready(ref.ID, ch, req.Action, t.d.clk.Now()); r != nil {
			t.d.stats.sessionRequests.Add(1)
			r.RequestID = requestID(t.id, ref.ID)
			ctx.Respond(r)
			return
		}
	}
	t.forward(ctx, ref.ID, &accountSession{req: req, channel: ch})
}

func (t *tenantActor) onAnswer(ctx actor.Context, m *tAnswer) {
	acct := m.accountID
	if m.requestID != "" {
		_, acct, _ = parseRequestID(m.requestID)
	}
	ref, err := t.operable(acct, m.openid)
	if err != nil {
		if m.requestID != "" && errors.Is(err, domain.ErrAccountNotFound) {
			err = domain.ErrRequestNotFound
		}
		ctx.Respond(err)
		return
	}
	t.forward(ctx, ref.ID, &accountSubmitCode{requestID: m.requestID, promptID: m.promptID, channel: m.channel, code: m.code, who: m.who})
}

// onList answers with the accounts' views: live actors are asked, idle
// accounts are read from the store without activating them.
func (t *tenantActor) onList(ctx actor.Context, m *tList) {
	if m.openid != "" && !t.operator(m.openid, "").Linked {
		ctx.Respond(domain.ErrNotLinked)
		return
	}
	var refs []*accountRef
	for _, r := range t.refs {
		if m.taxNo == "" || r.TaxNo == m.taxNo {
			refs = append(refs, r)
		}
	}
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].TaxNo != refs[j].TaxNo {
			return refs[i].TaxNo < refs[j].TaxNo
		}
		return refs[i].CreatedAt.Before(refs[j].CreatedAt) || refs[i].CreatedAt.Equal(refs[j].CreatedAt) && refs[i].ID < refs[j].ID
	})
	base := make([]AccountView, len(refs))
	persons := make([]string, len(refs))
	out := make([]AccountView, len(refs))
	replyTo := ctx.Sender()
	// A live account is asked; the replies come back to this actor
	// (ReenterAfter), so no goroutine waits for them. An idle account is
	// read from the store, and one whose actor does not answer too.
	fill := func(i int, live *AccountView) {
		if live == nil {
			live = storedView(t.d, t.id, base[i], persons[i])
		}
		b, v := base[i], *live
		v.EnterpriseName, v.DefaultFor, v.Bound, v.BoundOpenID, v.BoundToMe = b.EnterpriseName, b.DefaultFor, b.Bound, b.BoundOpenID, b.BoundToMe
		out[i] = v
	}
	pending := 1 // this handler's own share, released below
	release := func() {
		if pending--; pending == 0 {
			ctx.Send(replyTo, out)
		}
	}
	for i, r := range refs {
		base[i], persons[i] = t.refView(r, m.openid), r.PersonID
		pid := t.children[r.ID]
		if pid == nil {
			fill(i, nil)
			continue
		}
		pending++
		ctx.ReenterAfter(ctx.RequestFuture(pid, &accountView{}, t.d.cfg.AskTimeout), func(res any, err error) {
			var live *AccountView
			if err == nil {
				live, _ = res.(*AccountView)
			}
			fill(i, live)
			release()
		})
	}
	release()
}

// storedView builds an idle account's view from its committed record
// without opening its secrets.
func storedView(d *deps, tenant string, b AccountView, person string) *AccountView {
	v := b
	v.Channels = map[domain.Channel]ChannelView{}
	ctx, cancel := d.storeCtx()
	defer cancel()
	rec, err := d.store.Get(ctx, keyAccount(tenant, b.ID))
	var ar accountRecord
	if err == nil {
		_ = jsonUnmarshal(rec.Value, &ar)
	}
	now := d.clk.Now()
	for _, ch := range b.Business.Channels() {
		cv := ChannelView{State: domain.StateLoggedOut}
		if c := ar.Channels[ch]; c != nil && now.Before(c.ExpiresAt) {
			exp := c.ExpiresAt
			cv = ChannelView{State: domain.StateLoggedIn, ExpiresAt: &exp}
		}
		cv.Text = cv.State.Text()
		v.Channels[ch] = cv
	}
	if now.Before(ar.CertifiedUntil) {
		cu := ar.CertifiedUntil
		v.CertifiedUntil = &cu
	}
	v.PhoneMasked, v.PasswordInvalid = ar.PhoneMasked, ar.Lock.PasswordInvalid
	if ar.Lock.Lock != nil {
		v.Locked, v.LockReason, v.LockReasonText = true, ar.Lock.Lock.Reason, ar.Lock.Lock.Reason.Text()
	}
	v.SMSRemaining = d.cfg.SMSPolicy.PerPhonePerDay
	if pb, _, err := d.budget(b.Region, person); err == nil {
		v.SMSRemaining = pb.Remaining(d.cfg.SMSPolicy, now)
	}
	return &v
}

// onEscalate sends an account's unanswered prompt to its enterprise's admins
// (B5), who may answer for any account of the enterprise (F9). Each copy has
// an ID of its own and opens the original prompt's page.
func (t *tenantActor) onEscalate(m *tEscalate) {
	ent := t.rec.Enterprises[m.prompt.TaxNo]
	if ent == nil {
		return
	}
	admins := make([]string, 0, len(ent.Admins))
	for openid := range ent.Admins {
		if openid != m.boundTo {
			admins = append(admins, openid)
		}
	}
	sort.Strings(admins)
	for i, openid := range admins {
		p := m.prompt
		p.ID, p.OpenID, p.Reminder, p.Escalated = fmt.Sprintf("%se%d", m.prompt.Of, i), openid, false, true
		ctx, cancel := t.d.storeCtx()
		if err := t.d.pub.Publish(ctx, p); err != nil {
			t.d.log.Error("publish escalation", "tenant", t.id, "account", p.Account, "prompt", p.ID, "err", err)
		}
		cancel()
	}
	if len(admins) > 0 {
		t.d.audit(t.id, "system", "prompt.escalate", "account/"+m.prompt.Account, nil)
	}
}

// onSubscription marks the accounts bound to a user who unfollowed the
// official account unreachable: their prompts come as login links (F16) and
// clients hear binding.unreachable (B6). Following again restores WeChat
// delivery.
func (t *tenantActor) onSubscription(ctx actor.Context, m *tSubscription) {
	for _, ref := range t.boundTo(m.openid, "") {
		if ref.Unreachable == !m.subscribed {
			continue
		}
		nr := *ref
		nr.Unreachable = !m.subscribed
		action := "wechat.subscribe"
		if !m.subscribed {
			action = "wechat.unsubscribe"
		}
		if _, err := t.commit(ctx, t.event("wx:"+m.openid, action, "account/"+ref.ID), nil, []*accountRef{&nr}); err != nil {
			ctx.Respond(domain.AsError(err))
			return
		}
		t.tellRefs(ctx, []*accountRef{&nr})
		if !m.subscribed {
			t.d.emit(prompts.Event{Type: prompts.EventBindingUnreachable, Tenant: t.id, Account: ref.ID, TaxNo: ref.TaxNo,
				Reason: "unsubscribed"})
		}
	}
	ctx.Respond(ok{})
}
