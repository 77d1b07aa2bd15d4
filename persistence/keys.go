package persistence

// The key prefixes of etaxd's store. Every key etaxd writes starts with one
// of them, and each prefix has one owner: the only code that writes its
// keys while etaxd runs. Revisions catch a breach of that rule (a write
// from a stale owner is refused), they do not make a second writer safe.
// Keys that several writers must share are written with Update only.
//
// The table is mirrored in the package documentation ("Keys"); a test
// checks that both list the same prefixes and owners.
const (
	// PrefixTenant: tenant/<tenant>, the tenant's record (name, activation
	// hash, linked users, enterprises with their admins and defaults).
	PrefixTenant = "tenant/"
	// PrefixAccountRef: accref/<tenant>/<account>, the tenant's index entry
	// of an account (its fixed attributes and its WeChat binding).
	PrefixAccountRef = "accref/"
	// PrefixActivation: actcode/<sha-256 of the code>, the tenant an
	// activation code links to.
	PrefixActivation = "actcode/"
	// PrefixAccount: account/<tenant>/<account>, an account's state with its
	// secrets sealed.
	PrefixAccount = "account/"
	// PrefixWeChatUser: wxuser/<openid>, the tenants a WeChat user linked.
	PrefixWeChatUser = "wxuser/"
	// PrefixSMSBudget: smsbudget/<region>/<person>, the SMS codes sent to a
	// person's phone today (B3).
	PrefixSMSBudget = "smsbudget/"
	// PrefixPasswordTries: pwguard/<sha-256 of the login name>, a person's
	// recent wrong tax-bureau passwords and the tries in flight.
	PrefixPasswordTries = "pwguard/"
	// PrefixAPIKey: apikey/<id>, a client's API key with its secret sealed.
	PrefixAPIKey = "apikey/"
	// PrefixMeta: meta/<name>, the engine's own sealed keys (F16 link
	// signing key, H5 cookie key).
	PrefixMeta = "meta/"
	// PrefixWebhook: webhook/<tenant>/<id>, a B6 webhook registration with
	// its signing secret (sealed).
	PrefixWebhook = "webhook/"
	// PrefixWebhookDelivery: webhookdelivery/<tenant>/<id>, the delivery
	// state of a webhook.
	PrefixWebhookDelivery = "webhookdelivery/"
	// PrefixRateLimit: ratelimit/<limit>/<digest>, cluster mode's counts of
	// wrong activation codes (per openid, per client address, in all) and
	// of a WeChat user's wrong passwords (pwflow).
	PrefixRateLimit = "ratelimit/"
	// PrefixFlow: flow/<tenant>/<flow>, a verification flow waiting for a
	// person (SMS code, new password), sealed as a whole, so that another
	// node (or a restarted etaxd) can resume it; deleted when it ends.
	PrefixFlow = "flow/"
	// PrefixOps: ops/<name>, keys the operations endpoints read (the
	// readiness probe reads ops/readyz-probe and writes nothing) and, in
	// cluster mode, the tenants' placement leases (ops/placement/<tenant>).
	PrefixOps = "ops/"
)

// KeyOwner names the writer of one key prefix.
type KeyOwner struct {
	Prefix string
	// Owner is the code that writes the prefix's keys while etaxd runs.
	Owner string
	// Shared is set when several instances of the owner write one key
	// (they do so through Update only).
	Shared bool
}

// KeyOwners is the key table: every prefix etaxd writes, with its owner.
// "etaxd keys rotate" (actors.Reseal, events.ResealWebhookSecrets) also
// rewrites sealed values under account/, apikey/, meta/ and webhook/, but
// only while no engine runs.
var KeyOwners = []KeyOwner{
	{PrefixTenant, "the tenant actor", false},
	{PrefixAccountRef, "the tenant actor (the account actor deletes it with the account)", false},
	{PrefixActivation, "the tenant actor", false},
	{PrefixAccount, "the account actor (the tenant actor creates it, F3)", false},
	{PrefixWeChatUser, "the tenant actors of the user's tenants, through Update", true},
	{PrefixSMSBudget, "the account actors of one person, through Update", true},
	{PrefixPasswordTries, "the flows, tenant and account actors that submit one person's password, through Update", true},
	{PrefixAPIKey, "Engine.CreateAPIKey and RevokeAPIKey, through Update", false},
	{PrefixMeta, "the engine at start, create-once; in cluster mode the node that seeds the demo (meta/demo) and the key check (meta/keycheck)", false},
	{PrefixWebhook, "events.Webhooks Register and Delete", false},
	{PrefixWebhookDelivery, "events.Webhooks' delivery workers, through Update", true},
	{PrefixRateLimit, "cluster mode's engines (wrong activation codes, a WeChat user's wrong passwords), through Update", true},
	{PrefixFlow, "the flow actor (the tenant actor resumes it, and deletes it once expired)", false},
	{PrefixOps, "cluster mode's tenant grains (the placement leases ops/placement/<tenant>); else read only (the readiness probe)", true},
}
