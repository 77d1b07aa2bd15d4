// Package testutil holds the helpers etaxd's tests share: a log buffer
// that handler goroutines may write to, THE poller (Eventually) that
// replaces sleeps and retry loops, the goroutines goleak ignores, and
// helpers that build and run etaxd's binaries on 127.0.0.1 for the tests
// that drive them from outside. Only test files import it. SyncBuffer is
// safe for concurrent use; the other helpers run in the test's goroutine.
// The engine stack tests build on is package teststack.
package testutil
