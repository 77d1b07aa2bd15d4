// tenant_enterprises.go: the tenant's enterprises: registration, defaults (F5), admins (F9) and the admins' reminders (B5).

package actors

import (
	"fmt"
	"sort"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
)

func (t *tenantActor) onAddEnterprise(ctx actor.Context, m *addEnterprise) {
	tn, err := domain.ParseTaxNo(m.TaxNo)
	if err != nil {
		ctx.Respond(domain.AsError(err))
		return
	}
	if _, exists := t.rec.Enterprises[tn.Value]; exists {
		ctx.Respond(domain.ErrEnterpriseExists)
		return
	}
	region, derived := domain.RegionOf(tn)
	if m.Region != "" {
		r, err := domain.ParseRegion(m.Region)
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
	if err := domain.CheckEnterpriseName(m.Name); err != nil {
		ctx.Respond(err)
		return
	}
	next := t.rec.clone()
	next.Enterprises[tn.Value] = &enterpriseRecord{TaxNo: tn.Value, Name: m.Name, Region: region.Code, Legacy: tn.Legacy, Admins: map[string]time.Time{}}
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

func (t *tenantActor) onSetDefault(ctx actor.Context, m *setDefault) {
	ref, err := t.operable(m.AccountID, m.OpenID)
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
	nd, err := e.Defaults.SetDefault(ref.ID, ref.Business, m.Which, count)
	if err != nil {
		t.d.audit(t.id, who(m.OpenID), "account.set_default", "account/"+ref.ID, err)
		ctx.Respond(domain.AsError(err))
		return
	}
	next := t.rec.clone()
	next.Enterprises[ref.TaxNo].Defaults = nd
	_, err = t.commit(ctx, t.event(who(m.OpenID), "account.set_default", "account/"+ref.ID), next, nil)
	respond(ctx, ok{}, err)
}

func (t *tenantActor) onApplyAdmin(ctx actor.Context, m *applyAdmin) {
	e := t.rec.Enterprises[m.TaxNo]
	switch {
	case !t.operator(m.OpenID, "").Linked:
		ctx.Respond(domain.ErrNotLinked)
	case e == nil:
		ctx.Respond(domain.ErrEnterpriseNotFound)
	case m.Username == "" || m.Password.IsZero():
		ctx.Respond(domain.Invalid("username", "请输入法人或财务负责人的电子税局账号和密码"))
	default:
		if _, is := e.Admins[m.OpenID]; is {
			ctx.Respond(domain.ErrAlreadyAdmin)
			return
		}
		lt := domain.LoginManual
		if r := t.findRef(m.TaxNo, m.Username); r != nil {
			lt = r.LoginType
		}
		t.startFlow(ctx, flowSpec{purpose: purposeAdmin, openid: m.OpenID, taxNo: e.TaxNo, region: e.Region,
			username: m.Username, password: m.Password, loginType: lt})
	}
}

func (t *tenantActor) onStepDown(ctx actor.Context, m *stepDown) {
	e := t.rec.Enterprises[m.TaxNo]
	if e == nil {
		ctx.Respond(domain.ErrEnterpriseNotFound)
		return
	}
	if _, is := e.Admins[m.OpenID]; !is {
		ctx.Respond(domain.ErrNotAdmin)
		return
	}
	next := t.rec.clone()
	delete(next.Enterprises[m.TaxNo].Admins, m.OpenID)
	_, err := t.commit(ctx, t.event(who(m.OpenID), "admin.step_down", "enterprise/"+m.TaxNo), next, nil)
	respond(ctx, ok{}, err)
}

// onEscalate sends an account's unanswered prompt to its enterprise's admins
// (B5), who may answer for any account of the enterprise (F9). Each copy has
// an ID of its own and opens the original prompt's page.
func (t *tenantActor) onEscalate(m *escalatePrompt) {
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
