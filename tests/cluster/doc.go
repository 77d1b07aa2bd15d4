// Package cluster tests etaxd's cluster mode from outside: three etaxd
// processes and one etax-sim on 127.0.0.1, driven over HTTP, killed with
// SIGKILL, paused with SIGSTOP. The test is cluster_test.go; this package
// has no other code.
package cluster
