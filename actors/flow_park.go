// flow_park.go: a flow waiting for a person (an SMS code, a new password) is parked in the store, so that it survives its tenant moving to another node or etaxd restarting.

package actors

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/taxbureau"
)

// A flow is an actor of its tenant, in memory. While it waits for a person
// — the SMS code of F3, F8, F9 or F11, or F11's new password — everything
// it needs to go on is written to flow/<tenant>/<flow>, sealed as a whole
// (it holds the password and, for F11, the identity number). When a
// message for a flow the tenant does not run arrives (the tenant's node
// died, a joining node took the tenant over, etaxd restarted), the tenant
// resumes the flow from that record. A flow deletes its record when it
// ends; a record past its expiry is never resumed and is deleted when met
// (and at engine start). A flow that waits for the bureau or for a hosted
// provider's code, or for a QR scan, is not parked: after a move it is
// started again.

func keyFlow(tenant, id string) string { return persistence.PrefixFlow + tenant + "/" + id }

// parkedFlow is the sealed content of flow/<tenant>/<flow>, format 1.
type parkedFlow struct {
	V         int              `json:"v"`
	Purpose   flowPurpose      `json:"purpose"`
	OpenID    string           `json:"openid,omitempty"`
	AccountID string           `json:"account_id,omitempty"`
	TaxNo     string           `json:"tax_no,omitempty"`
	Region    string           `json:"region,omitempty"`
	Username  string           `json:"username,omitempty"`
	Password  string           `json:"password,omitempty"`
	LoginType domain.LoginType `json:"login_type,omitempty"`
	Business  domain.Business  `json:"business,omitempty"`
	Claim     domain.Role      `json:"claim,omitempty"` // spec.role
	IDType    string           `json:"id_type,omitempty"`
	IDNumber  string           `json:"id_number,omitempty"`
	Person    string           `json:"person,omitempty"` // spec.personID

	Challenge taxbureau.Challenge `json:"challenge"`
	Role      domain.Role         `json:"role,omitempty"`      // what the bureau said
	PersonID  string              `json:"person_id,omitempty"` // idem
	Code      string              `json:"code,omitempty"`      // F11: the code, awaiting the new password
	Since     time.Time           `json:"since"`
	CodeAt    time.Time           `json:"code_at"`
	Expires   time.Time           `json:"expires"`
}

// parkable reports whether the flow waits for a person only.
func (f *flowActor) parkable() bool {
	return !f.busy && f.qr == nil && f.challenge.ID != "" && !f.spec.loginType.Hosted()
}

// park writes (or rewrites) the flow's record. A failed write leaves the
// flow running here, only not resumable elsewhere: it is logged, and the
// person is answered as usual.
func (f *flowActor) park() {
	tenant := f.tenant
	if !f.parkable() {
		return
	}
	now := f.d.clk.Now()
	p := parkedFlow{V: 1, Purpose: f.spec.purpose, OpenID: f.spec.openid, AccountID: f.spec.accountID, TaxNo: f.spec.taxNo,
		Region: f.spec.region, Username: f.spec.username, Password: f.spec.password.Reveal(), LoginType: f.spec.loginType,
		Business: f.spec.business, Claim: f.spec.role, IDType: f.spec.idType, IDNumber: f.spec.idNumber, Person: f.spec.personID,
		Challenge: f.challenge, Role: f.role, PersonID: f.personID, Code: f.code, Since: f.since, CodeAt: f.codeAt,
		Expires: now.Add(f.d.cfg.CodeTTL + time.Minute)}
	plain, err := json.Marshal(p)
	if err == nil {
		key := keyFlow(tenant, f.spec.id)
		var sealed []byte
		if sealed, err = f.d.seal.Seal(plain, key); err == nil {
			ctx, cancel := f.d.storeCtx()
			_, err = f.d.store.Commit(ctx, persistence.Op{Key: key, Value: sealed, AnyRevision: true})
			cancel()
		}
	}
	clear(plain)
	if err != nil {
		f.d.log.Warn("flow: park (it cannot be resumed elsewhere)", "tenant", tenant, "flow", f.spec.id, "err", err)
		return
	}
	f.parked = true
}

// unpark deletes the flow's record, once the flow ended.
func (f *flowActor) unpark() {
	tenant := f.tenant
	if !f.parked {
		return
	}
	f.parked = false
	ctx, cancel := f.d.storeCtx()
	defer cancel()
	if _, err := f.d.store.Commit(ctx, persistence.Op{Key: keyFlow(tenant, f.spec.id), Delete: true, AnyRevision: true}); err != nil {
		f.d.log.Warn("flow: delete its record (it expires by itself)", "tenant", tenant, "flow", f.spec.id, "err", err)
	}
}

// errFlowGone: no record, or one past its expiry.
var errFlowGone = errors.New("flow not parked")

// loadParked reads and opens flow/<tenant>/<id>; an expired record is
// deleted.
func loadParked(d *deps, tenant, id string) (parkedFlow, error) {
	var p parkedFlow
	if !validID(id) {
		return p, errFlowGone
	}
	key := keyFlow(tenant, id)
	ctx, cancel := d.storeCtx()
	defer cancel()
	r, err := d.store.Get(ctx, key)
	if errors.Is(err, persistence.ErrNotFound) {
		return p, errFlowGone
	}
	if err != nil {
		return p, err
	}
	plain, err := d.seal.Open(r.Value, key)
	if err != nil {
		return p, err
	}
	err = json.Unmarshal(plain, &p)
	clear(plain)
	if err != nil || p.V != 1 {
		return p, errors.Join(errors.New("flow record: unknown format"), err)
	}
	if !d.clk.Now().Before(p.Expires) {
		_, _ = d.store.Commit(ctx, persistence.Op{Key: key, Delete: true, Expected: r.Revision})
		return p, errFlowGone
	}
	return p, nil
}

// resumeFlow starts the parked flow id again as a child of this tenant
// and returns it, or nil when there is none to resume.
func (t *tenantActor) resumeFlow(ctx actor.Context, id string) *actor.PID {
	p, err := loadParked(t.d, t.id, id)
	if err != nil {
		if !errors.Is(err, errFlowGone) {
			t.d.log.Warn("flow: resume", "tenant", t.id, "flow", id, "err", err)
		}
		return nil
	}
	spec := flowSpec{purpose: p.Purpose, id: id, openid: p.OpenID, accountID: p.AccountID, taxNo: p.TaxNo, region: p.Region,
		username: p.Username, password: domain.NewSecret(p.Password), loginType: p.LoginType, business: p.Business,
		role: p.Claim, idType: p.IDType, idNumber: p.IDNumber, personID: p.Person}
	f := &flowActor{d: t.d, tenant: t.id, spec: spec, challenge: p.Challenge, role: p.Role, personID: p.PersonID, code: p.Code,
		since: p.Since, codeAt: p.CodeAt, parked: true, ttl: p.Expires.Sub(t.d.clk.Now())}
	pid, err := ctx.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return f }), "f-"+id)
	if err != nil {
		t.d.log.Warn("flow: resume", "tenant", t.id, "flow", id, "err", err)
		return nil
	}
	t.flows[id], t.flowOwners[id] = pid, p.OpenID
	t.d.log.Info("flow: resumed from the store", "tenant", t.id, "flow", id)
	return pid
}

// sweepParkedFlows deletes the flow records past their expiry (flows whose
// tenant nobody came back to). The engine runs it at start.
func sweepParkedFlows(d *deps) {
	ctx, cancel := d.storeCtx()
	defer cancel()
	now := d.clk.Now()
	var stale []persistence.Op
	err := d.store.Scan(ctx, persistence.PrefixFlow, func(r persistence.Record) error {
		var p parkedFlow
		plain, err := d.seal.Open(r.Value, r.Key)
		if err == nil {
			err = json.Unmarshal(plain, &p)
			clear(plain)
		}
		if err != nil || !now.Before(p.Expires) {
			stale = append(stale, persistence.Op{Key: r.Key, Delete: true, Expected: r.Revision})
		}
		return nil
	})
	for _, op := range stale {
		if err == nil {
			_, err = d.store.Commit(ctx, op)
		}
	}
	if err != nil && !errors.Is(err, persistence.ErrRevisionMismatch) {
		d.log.Warn("flow: sweep expired records", "err", err)
	}
}
