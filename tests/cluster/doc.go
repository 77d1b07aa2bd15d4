// Package cluster tests etaxd's cluster mode from outside: three etaxd
// processes and one etax-sim on 127.0.0.1, driven over HTTP, killed with
// SIGKILL, paused with SIGSTOP (TestCluster), and measures failover and
// the cost of a request through a node that does not host the tenant
// (BenchmarkClusterFailover, BenchmarkClusterSessions). TestClusterOnExternalNATS
// runs the three nodes on an external NATS cluster of three nats-server
// processes (built from the module cache) instead. The package has no
// other code. ETAXD_CLUSTER_RACE=1 builds the node binaries with the race
// detector; a race reported in a node's log with a frame of etaxd's code in
// a racing access then fails the test, one entirely inside a library is
// logged (raceInOurCode).
package cluster
