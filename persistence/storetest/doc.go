// Package storetest is the conformance suite of persistence.Store: every
// rule of the Store contract (persistence/store.go) as a test, to run
// against every implementation (Bolt, the JetStream KV store).
//
// Run takes a function that opens a fresh, empty store for one test and
// arranges its Close at the test's cleanup (the suite may close it
// earlier; a second Close must then return persistence.ErrClosed). Each
// subtest opens its own store.
//
// Revisions are opaque increasing tokens under the contract: the suite
// checks that a key's revisions grow, that every write returns the
// revision Get then reports, and that a revision from before a write or a
// delete never wins again. A store whose revisions count 1, 2, 3... per key
// (Bolt) is run with ExactRevisions, which also checks the numbers
// themselves and the cases that rely on them: an op expecting the revision
// an earlier op of the same Commit produces (a caller can only know it
// when revisions are consecutive) and the audit seqs 1, 2, 3....
//
// # Concurrency
//
// Run calls t.Run for its subtests one after the other; the stores it opens
// are used from several goroutines by the concurrency cases. Nothing in the
// package holds state between calls.
package storetest
