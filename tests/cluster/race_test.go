package cluster

import "testing"

// TestRaceInOurCode checks the split of race reports: a frame of etaxd's
// module in a racing access makes the race ours, one only in the
// goroutine's creation stack does not.
func TestRaceInOurCode(t *testing.T) {
	library := `WARNING: DATA RACE
Read at 0x00c0001a2b30 by goroutine 91:
  github.com/asynkron/protoactor-go/remote.(*BlockList).IsBlocked()
      /root/go/pkg/mod/github.com/asynkron/protoactor-go@v0.0.0/remote/blocklist.go:44 +0x3c
  github.com/asynkron/protoactor-go/remote.(*endpointReader).onConnectionRequest()
      /root/go/pkg/mod/github.com/asynkron/protoactor-go@v0.0.0/remote/endpoint_reader.go:216 +0x9e

Previous write at 0x00c0001a2b30 by goroutine 57:
  github.com/asynkron/protoactor-go/remote.(*BlockList).Block()
      /root/go/pkg/mod/github.com/asynkron/protoactor-go@v0.0.0/remote/blocklist.go:37 +0x1c4

Goroutine 91 (running) created at:
  github.com/etaxd/etaxd/cmd/etaxd.(*stack).startCluster()
      /src/cmd/etaxd/cluster.go:70 +0x44
`
	ours := `WARNING: DATA RACE
Write at 0x00c0001a2b30 by goroutine 12:
  github.com/asynkron/protoactor-go/cluster.(*Cluster).GetBlockedMembers()
      /root/go/pkg/mod/github.com/asynkron/protoactor-go@v0.0.0/cluster/cluster.go:81 +0x3c
  github.com/etaxd/etaxd/cluster/membership.(*Provider).Snapshot()
      /src/cluster/membership/snapshot.go:183 +0x9e

Previous read at 0x00c0001a2b30 by goroutine 57:
  github.com/asynkron/protoactor-go/remote.(*BlockList).Block()
      /root/go/pkg/mod/github.com/asynkron/protoactor-go@v0.0.0/remote/blocklist.go:37 +0x1c4
`
	if raceInOurCode(library) {
		t.Error("a race inside protoactor-go, with etaxd only in the creation stack, counted as etaxd's")
	}
	if !raceInOurCode(ours) {
		t.Error("a race with an etaxd frame in a racing access not counted as etaxd's")
	}
}
