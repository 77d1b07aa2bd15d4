// apikeys.go: the client API's keys (creation, lookup, revocation) and the operator's lists of tenants and of the audit log.

package actors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// APIKey is a client's credential: the id travels in X-Etaxd-Key, the
// secret signs requests (HMAC-SHA256) and is shown once, at creation.
type APIKey struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	Secret    string     `json:"secret,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// apiKeyRecord is the stored form (key apikey/<id>); the secret is sealed.
type apiKeyRecord struct {
	ID        string     `json:"id"`
	Tenant    string     `json:"tenant"`
	Secret    []byte     `json:"secret"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func keyAPIKey(id string) string { return persistence.PrefixAPIKey + id }

// apiKeyCache keeps opened secrets of recently used keys; a revocation
// through this engine drops the entry at once, and entries expire so a
// revocation by another process is seen within its ttl: apiKeyTTL on a
// single node (another process on the same store is the offline CLI),
// clusterAPIKeyTTL in cluster mode, where any node may revoke.
type apiKeyCache struct {
	mu  sync.Mutex
	m   map[string]cachedKey
	ttl time.Duration
}

type cachedKey struct {
	tenant string
	secret []byte
	at     time.Time
}

const (
	apiKeyTTL        = 30 * time.Second
	clusterAPIKeyTTL = 3 * time.Second
)

// CreateAPIKey makes a key for tenant, or with the given id and secret
// (the demo's, so demo.json stays valid across starts). The secret is
// returned once.
func (e *Engine) CreateAPIKey(ctx context.Context, tenant, id, secret string) (APIKey, error) {
	if _, err := e.Tenant(ctx, tenant); err != nil {
		return APIKey{}, err
	}
	if id == "" {
		id = newID("k")
	}
	if !validID(id) {
		return APIKey{}, domain.Invalid("id", "密钥编号只能包含小写字母、数字、-和_")
	}
	if secret == "" {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return APIKey{}, domain.ErrInternal.Wrap(err)
		}
		secret = hex.EncodeToString(b[:])
	}
	if len(secret) < 32 {
		return APIKey{}, domain.Invalid("secret", "密钥至少32个字符")
	}
	sealed, err := e.d.seal.Seal([]byte(secret), keyAPIKey(id))
	if err != nil {
		return APIKey{}, domain.ErrInternal.Wrap(err)
	}
	now := e.d.clk.Now()
	rec := apiKeyRecord{ID: id, Tenant: tenant, Secret: sealed, CreatedAt: now}
	c, cancel := e.d.storeCtx()
	defer cancel()
	_, err = e.d.store.CommitAudited(c, e.d.event(tenant, "cli", "apikey.create", "apikey/"+id, nil),
		persistence.Op{Key: keyAPIKey(id), Value: jsonMarshal(rec)})
	if errors.Is(err, persistence.ErrRevisionMismatch) {
		return APIKey{}, domain.Invalid("id", "密钥编号已存在")
	}
	if err != nil {
		return APIKey{}, domain.ErrBusy.Wrap(err)
	}
	return APIKey{ID: id, Tenant: tenant, Secret: secret, CreatedAt: now}, nil
}

// RevokeAPIKey refuses the key from now on. The revocation and its audit
// event are one write (persistence.UpdateAudited); revoking a revoked key
// writes nothing.
func (e *Engine) RevokeAPIKey(ctx context.Context, id string) error {
	if !validID(id) {
		return domain.ErrAPIKeyNotFound
	}
	c, cancel := e.d.storeCtx()
	defer cancel()
	r, err := e.d.store.Get(c, keyAPIKey(id))
	if errors.Is(err, persistence.ErrNotFound) {
		return domain.ErrAPIKeyNotFound
	}
	if err != nil {
		return domain.ErrBusy.Wrap(err)
	}
	var rec apiKeyRecord
	if err := jsonUnmarshal(r.Value, &rec); err != nil {
		return domain.ErrInternal.Wrap(err)
	}
	// A key's tenant never changes: the event can name it before the update.
	ev := e.d.event(rec.Tenant, "cli", "apikey.revoke", "apikey/"+id, nil)
	_, err = persistence.UpdateAudited(c, e.d.store, ev, keyAPIKey(id), func(old persistence.Record) ([]byte, error) {
		if old.Value == nil {
			return nil, domain.ErrAPIKeyNotFound
		}
		var cur apiKeyRecord
		if err := jsonUnmarshal(old.Value, &cur); err != nil {
			return nil, domain.ErrInternal.Wrap(err)
		}
		if cur.RevokedAt != nil {
			return old.Value, nil
		}
		now := e.d.clk.Now()
		cur.RevokedAt = &now
		return jsonMarshal(cur), nil
	})
	var de *domain.Error
	switch {
	case errors.As(err, &de):
		return de
	case err != nil:
		return domain.ErrBusy.Wrap(err)
	}
	e.keys.mu.Lock()
	delete(e.keys.m, id)
	e.keys.mu.Unlock()
	return nil
}

// LookupAPIKey returns the tenant and secret of a live key, or
// ErrAPIKeyNotFound (unknown or revoked). Hot path: served from a cache.
func (e *Engine) LookupAPIKey(ctx context.Context, id string) (tenant string, secret []byte, err error) {
	now := e.d.clk.Now()
	e.keys.mu.Lock()
	if k, has := e.keys.m[id]; has && now.Sub(k.at) < e.keys.ttl {
		e.keys.mu.Unlock()
		return k.tenant, k.secret, nil
	}
	e.keys.mu.Unlock()
	if !validID(id) {
		return "", nil, domain.ErrAPIKeyNotFound
	}
	c, cancel := e.d.storeCtx()
	defer cancel()
	r, err := e.d.store.Get(c, keyAPIKey(id))
	if errors.Is(err, persistence.ErrNotFound) {
		return "", nil, domain.ErrAPIKeyNotFound
	}
	if err != nil {
		return "", nil, domain.ErrBusy.Wrap(err)
	}
	var rec apiKeyRecord
	if err := jsonUnmarshal(r.Value, &rec); err != nil {
		return "", nil, domain.ErrInternal.Wrap(err)
	}
	if rec.RevokedAt != nil {
		return "", nil, domain.ErrAPIKeyNotFound
	}
	sec, err := e.d.seal.Open(rec.Secret, keyAPIKey(id))
	if err != nil {
		return "", nil, domain.ErrInternal.Wrap(err)
	}
	e.keys.mu.Lock()
	if len(e.keys.m) > 10000 {
		clear(e.keys.m)
	}
	e.keys.m[id] = cachedKey{tenant: rec.Tenant, secret: sec, at: now}
	e.keys.mu.Unlock()
	return rec.Tenant, sec, nil
}

// APIKeys lists a tenant's keys (without secrets).
func (e *Engine) APIKeys(ctx context.Context, tenant string) ([]APIKey, error) {
	var out []APIKey
	c, cancel := e.d.storeCtx()
	defer cancel()
	err := e.d.store.Scan(c, persistence.PrefixAPIKey, func(r persistence.Record) error {
		var rec apiKeyRecord
		if err := jsonUnmarshal(r.Value, &rec); err != nil {
			return err
		}
		if rec.Tenant == tenant {
			out = append(out, APIKey{ID: rec.ID, Tenant: rec.Tenant, CreatedAt: rec.CreatedAt, RevokedAt: rec.RevokedAt})
		}
		return nil
	})
	if err != nil {
		return nil, domain.ErrBusy.Wrap(err)
	}
	return out, nil
}

// Tenants lists every tenant (id and name), for operators.
func (e *Engine) Tenants(ctx context.Context) ([]TenantInfo, error) {
	var out []TenantInfo
	c, cancel := e.d.storeCtx()
	defer cancel()
	err := e.d.store.Scan(c, persistence.PrefixTenant, func(r persistence.Record) error {
		var rec tenantRecord
		if err := jsonUnmarshal(r.Value, &rec); err != nil {
			return err
		}
		out = append(out, TenantInfo{ID: rec.ID, Name: rec.Name})
		return nil
	})
	if err != nil {
		return nil, domain.ErrBusy.Wrap(err)
	}
	return out, nil
}

// Audit calls fn for the tenant's audit events with from <= time < to.
func (e *Engine) Audit(ctx context.Context, tenant string, from, to time.Time, fn func(AuditEvent) error) error {
	if !validID(tenant) {
		return domain.ErrTenantNotFound
	}
	return e.d.store.Audit(ctx, tenant, from, to, func(ev persistence.AuditEvent) error { return fn(auditEventOf(ev)) })
}
