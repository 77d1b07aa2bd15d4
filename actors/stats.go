// stats.go: the engine's counters.

package actors

import "sync/atomic"

// Stats are the engine's counters, read by the status endpoint and metrics.
// Every field is updated atomically; a zero Stats is ready to use.
type Stats struct {
	activations     atomic.Int64
	active          atomic.Int64
	tenants         atomic.Int64
	sessionRequests atomic.Int64
	bureauLogins    atomic.Int64
	prompts         atomic.Int64
	commits         atomic.Int64
	passivations    atomic.Int64
}

// StatsSnapshot is a copy of the counters.
type StatsSnapshot struct {
	Activations     int64 `json:"activations"`
	ActiveAccounts  int64 `json:"active_accounts"`
	ActiveTenants   int64 `json:"active_tenants"`
	SessionRequests int64 `json:"session_requests"`
	BureauLogins    int64 `json:"bureau_logins"`
	Prompts         int64 `json:"prompts"`
	Commits         int64 `json:"commits"`
	Passivations    int64 `json:"passivations"`
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnapshot {
	return StatsSnapshot{
		Activations: s.activations.Load(), ActiveAccounts: s.active.Load(), ActiveTenants: s.tenants.Load(),
		SessionRequests: s.sessionRequests.Load(), BureauLogins: s.bureauLogins.Load(), Prompts: s.prompts.Load(),
		Commits: s.commits.Load(), Passivations: s.passivations.Load(),
	}
}
