// tenant_flows.go: the tenant's verification flows (F3, F8, F9, F11) and password updates (F11, F12).

package actors

import (
	"context"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/taxbureau"
)

func (t *tenantActor) onAddAccount(ctx actor.Context, m *startAddAccount) {
	c := m.Cmd
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
		if err := domain.CheckRoleBusiness(role, b); err != nil {
			return flowSpec{}, err
		}
	}
	user := c.Username
	if err := domain.CheckUsername(user); err != nil {
		return flowSpec{}, err
	}
	if err := domain.CheckPassword(c.Password, "请输入密码"); err != nil {
		return flowSpec{}, err
	}
	if t.findRef(tn.Value, user) != nil {
		return flowSpec{}, domain.ErrAccountExists
	}
	switch c.QRApp {
	case "", AppTax, AppIIT:
	default:
		return flowSpec{}, domain.Invalid("qr_app", "请选择税务APP或个人所得税APP扫码")
	}
	return flowSpec{purpose: purposeAdd, openid: c.OpenID, taxNo: tn.Value, region: e.Region, username: user,
		password: c.Password, loginType: lt, business: b, role: role, qrApp: taxbureau.QRApp(c.QRApp)}, nil
}

// holder is who holds the account at the bureau (domain.SamePerson).
func (r *accountRef) holder() domain.Holder {
	return domain.Holder{PersonID: r.PersonID, Username: r.Username}
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
	props := actor.PropsFromProducer(func() actor.Actor { return &flowActor{d: t.d, tenant: t.id, spec: spec} })
	pid, err := ctx.SpawnNamed(props, "f-"+spec.id)
	if err != nil {
		ctx.Respond(domain.ErrBusy.Wrap(err))
		return
	}
	t.flows[spec.id], t.flowOwners[spec.id] = pid, spec.openid
	ctx.RequestWithCustomSender(pid, &flowStart{}, ctx.Sender())
}

// lookupFlow returns the flow flowID of this tenant, resumed from the
// store when it waited for a person elsewhere (flow_park.go); nil when
// there is none.
func (t *tenantActor) lookupFlow(ctx actor.Context, flowID string) *actor.PID {
	if pid := t.flows[flowID]; pid != nil {
		return pid
	}
	return t.resumeFlow(ctx, flowID)
}

// toFlow hands msg to a flow of openid's: a flow id alone grants nothing to
// another user.
func (t *tenantActor) toFlow(ctx actor.Context, flowID, openid string, msg any) {
	pid := t.lookupFlow(ctx, flowID)
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
	st := &accountState{password: s.password, phoneMasked: m.phone,
		lock: domain.LockState{Hosted: s.loginType.Hosted()}}
	if m.session != nil {
		ch := m.session.Channel
		if ch == "" {
			ch = domain.ChannelIssue
		}
		st.sessions = st.sessions.with(ch, session{token: domain.NewSecret(m.session.Token), obtainedAt: m.session.ObtainedAt, expiresAt: m.session.ExpiresAt})
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

func (t *tenantActor) onStartReset(ctx actor.Context, m *startReset) {
	ref, err := t.operable(m.AccountID, m.OpenID)
	if err != nil {
		ctx.Respond(err)
		return
	}
	if m.IdType == "" || m.IdNumber == "" {
		ctx.Respond(domain.Invalid("id_number", "请输入证件类型和证件号码"))
		return
	}
	t.startFlow(ctx, flowSpec{purpose: purposeReset, openid: m.OpenID, accountID: ref.ID, taxNo: ref.TaxNo, region: ref.Region,
		username: ref.Username, loginType: ref.LoginType, idType: m.IdType, idNumber: m.IdNumber, personID: ref.PersonID})
}

func (t *tenantActor) onUpdatePassword(ctx actor.Context, m *updatePassword) {
	ref, err := t.operable(m.AccountID, m.OpenID)
	if err != nil {
		ctx.Respond(err)
		return
	}
	if err := domain.CheckPassword(m.Password, "请输入税局最新密码"); err != nil {
		ctx.Respond(err)
		return
	}
	spec := flowSpec{accountID: ref.ID, openid: m.OpenID, password: m.Password}
	region, user, pw, replyTo := ref.Region, ref.Username, m.Password, ctx.Sender()
	t.d.goAsync(ctx, t.d.cfg.GatewayTimeout, func(c context.Context) any {
		err := t.d.tryPassword(m.OpenID, user, func() error { return t.d.gw.VerifyPassword(c, region, user, pw.Reveal()) })
		return &passwordVerified{spec: spec, err: err, replyTo: replyTo}
	})
}

func (t *tenantActor) onVerifyDone(ctx actor.Context, m *passwordVerified) {
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
		if r.ID == src.ID || domain.SamePerson(src.holder(), r.holder()) {
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
		t.sendAccount(ctx, id, &setPassword{password: pw, who: by}, f.PID())
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
