package scale

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// Plan is what Provision and Seed create: Tenants tenants of Enterprises
// enterprises each, and Accounts accounts spread evenly over all the
// enterprises (account i belongs to enterprise i mod the enterprises).
type Plan struct {
	Tenants     int
	Enterprises int // per tenant
	Accounts    int // in all
}

// regions are the provinces the enterprises are in, in turn.
var regions = []string{"11", "44", "31", "32", "33", "51", "42", "37"}

// Tenant is a provisioned tenant: its enterprises and its API key.
type Tenant struct {
	ID          string
	Enterprises []actors.EnterpriseView
	KeyID       string
	KeySecret   string
	// Accounts are the ids Seed wrote, in the order written.
	Accounts []string
}

// TenantID is the id of tenant i of a plan.
func TenantID(i int) string { return fmt.Sprintf("scale-%02d", i) }

// Provision creates the plan's tenants, enterprises and API keys through
// the engine, as an operator does (etaxd tenant create, enterprise add,
// apikey create).
func Provision(ctx context.Context, eng *actors.Engine, p Plan) ([]*Tenant, error) {
	if p.Tenants < 1 || p.Enterprises < 1 || p.Accounts < 0 {
		return nil, fmt.Errorf("scale: plan %+v: need at least one tenant and one enterprise", p)
	}
	var out []*Tenant
	seq := 0
	for i := range p.Tenants {
		id := TenantID(i)
		if _, err := eng.CreateTenant(ctx, id, fmt.Sprintf("规模测试租户%02d", i), ""); err != nil {
			return nil, fmt.Errorf("create tenant %s: %w", id, err)
		}
		t := &Tenant{ID: id}
		for j := range p.Enterprises {
			seq++
			taxNo := domain.MakeTaxNo(regions[seq%len(regions)], 700000+seq)
			e, err := eng.AddEnterprise(ctx, id, taxNo, fmt.Sprintf("规模测试企业%03d有限公司", seq), "")
			if err != nil {
				return nil, fmt.Errorf("tenant %s: add enterprise %d (%s): %w", id, j, taxNo, err)
			}
			t.Enterprises = append(t.Enterprises, e)
		}
		k, err := eng.CreateAPIKey(ctx, id, "", "")
		if err != nil {
			return nil, fmt.Errorf("tenant %s: create API key: %w", id, err)
		}
		t.KeyID, t.KeySecret = k.ID, k.Secret
		out = append(out, t)
	}
	return out, nil
}

// Token is the session token Seed gives the account id: derived from it, so
// a reader can check that an answer carries the account's own session.
func Token(id string) string {
	h := sha256.Sum256([]byte("scale-token:" + id))
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(h[:15])
}

// SeedOptions tune Seed.
type SeedOptions struct {
	// Writers is how many goroutines commit at once; the group commit puts
	// up to the store's MaxBatch of their writes in one transaction. Zero:
	// 4096.
	Writers int
	// Now is the registrations' time; the sessions live from Now for
	// SessionLife (zero: 24 h).
	Now         time.Time
	SessionLife time.Duration
	// Progress, when set, is called now and then with the accounts written.
	Progress func(done int)
}

// Seed writes p.Accounts accounts into st: each as the tenant actor
// registers one (actors.SeedAccountWrite: index entry, sealed record, audit
// event, one CommitAudited), manual-login 开票员 accounts logged in on the
// issue channel. It fills each tenant's Accounts. The tenants' records must
// be in st (Provision) and no engine may run on st meanwhile: a running
// tenant actor would not see accounts added behind its back.
func Seed(ctx context.Context, st persistence.Store, seal actors.Sealer, tenants []*Tenant, p Plan, o SeedOptions) error {
	if len(tenants) == 0 {
		return errors.New("scale: seed: no tenants")
	}
	if o.Writers <= 0 {
		o.Writers = 4096
	}
	if o.SessionLife <= 0 {
		o.SessionLife = 24 * time.Hour
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	type slot struct{ t, e int }
	nEnt := 0
	for _, t := range tenants {
		nEnt += len(t.Enterprises)
		t.Accounts = make([]string, 0, p.Accounts/len(tenants)+1)
	}
	where := make([]slot, 0, nEnt)
	for ti, t := range tenants {
		for ei := range t.Enterprises {
			where = append(where, slot{ti, ei})
		}
	}
	var (
		next     atomic.Int64
		written  atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range min(o.Writers, max(p.Accounts, 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= p.Accounts || ctx.Err() != nil {
					return
				}
				s := where[i%len(where)]
				t, e := tenants[s.t], tenants[s.t].Enterprises[s.e]
				id := actors.NewAccountID()
				a := actors.SeedAccount{
					ID: id, TaxNo: e.TaxNo, Region: e.Region, Username: fmt.Sprintf("kp%07d", i), PersonID: fmt.Sprintf("11010119900101%04d", i%10000),
					Role: domain.RoleInvoicer, Business: domain.BusinessIssue, LoginType: domain.LoginManual,
					Password: fmt.Sprintf("Scale-Pw-%07d", i), PhoneMasked: fmt.Sprintf("138****%04d", i%10000),
					Session: &actors.SeedSession{Channel: domain.ChannelIssue, Token: Token(id), ObtainedAt: o.Now, ExpiresAt: o.Now.Add(o.SessionLife)},
				}
				_, ev, ops, err := actors.SeedAccountWrite(seal, t.ID, a, o.Now)
				if err == nil {
					_, err = st.CommitAudited(ctx, ev, ops...)
				}
				if err != nil {
					fail(fmt.Errorf("seed account %d of tenant %s: %w", i, t.ID, err))
					cancel()
					return
				}
				mu.Lock()
				t.Accounts = append(t.Accounts, id)
				mu.Unlock()
				if n := written.Add(1); o.Progress != nil && n%50_000 == 0 {
					o.Progress(int(n))
				}
			}
		}()
	}
	wg.Wait()
	runtime.GC()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}
