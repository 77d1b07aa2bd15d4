package membership

import "errors"

// Errors of the provider, checked with errors.Is.
var (
	// ErrConfig: a Config field is out of range (Validate).
	ErrConfig = errors.New("membership: bad config")
	// ErrNoMetaLeader: JetStream had no meta leader within StartTimeout.
	ErrNoMetaLeader = errors.New("membership: no JetStream meta leader")
	// ErrBucket: the member bucket could not be created or bound.
	ErrBucket = errors.New("membership: member bucket unavailable")
	// ErrEvicted: this node's own key was deleted by a peer that dropped it;
	// the node must exit (ExitEvicted) and come back with a fresh id.
	ErrEvicted = errors.New("membership: evicted by the cluster")
	// ErrStarted: StartMember or StartClient was called twice.
	ErrStarted = errors.New("membership: already started")
)
