package disthash

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
)

type IdentityLookup struct {
	partitionManager  *Manager
	activationTimeout time.Duration // etaxd
}

func (p *IdentityLookup) Get(clusterIdentity *cluster.ClusterIdentity) *actor.PID {
	return p.partitionManager.Get(clusterIdentity)
}

func (p *IdentityLookup) RemovePid(clusterIdentity *cluster.ClusterIdentity, pid *actor.PID) {
	activationTerminated := &cluster.ActivationTerminated{
		Pid:             pid,
		ClusterIdentity: clusterIdentity,
	}
	p.partitionManager.cluster.MemberList.BroadcastEvent(activationTerminated, true)
}

func (p *IdentityLookup) Setup(cluster *cluster.Cluster, kinds []string, isClient bool) {
	p.partitionManager = newPartitionManager(cluster, p.activationTimeout)
	p.partitionManager.Start()
}

func (p *IdentityLookup) Shutdown() {
	p.partitionManager.Stop()
}

// DefaultActivationTimeout is how long Get waits for the owner's placement
// actor to answer an activation request (etaxd; upstream: a fixed 5 s).
const DefaultActivationTimeout = time.Second

// New returns the lookup with DefaultActivationTimeout.
func New() cluster.IdentityLookup {
	return NewWithActivationTimeout(DefaultActivationTimeout)
}

// NewWithActivationTimeout returns the lookup whose activation requests wait
// at most d (etaxd); d <= 0 means DefaultActivationTimeout.
func NewWithActivationTimeout(d time.Duration) cluster.IdentityLookup {
	if d <= 0 {
		d = DefaultActivationTimeout
	}
	return &IdentityLookup{activationTimeout: d}
}
