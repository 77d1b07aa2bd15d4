// Package base builds the parts of etaxd's engine stack below the engine,
// for tests: a bbolt store in t.TempDir() (checked for consistency and
// closed when the test ends), a keyring with one random master key, the
// tax bureau simulator with its SMS provider, the prompts channel, the
// client event log, a logger writing into a buffer, and a fake clock they
// all read.
//
// Package teststack starts the engine (and, when asked, NATS) on these
// parts; base exists apart so that the engine's own tests (package actors),
// which cannot import a package that imports actors, build on the same
// parts.
//
// Only test files import it. New registers every cleanup with t.Cleanup, so
// a test never closes what it built. A Stack is built by one goroutine; its
// parts are safe for concurrent use as their own packages say.
package base
