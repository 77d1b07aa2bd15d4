// Package teststack builds etaxd's engine stack for tests, in one call, as
// nats-server's test.RunServer builds a server: New(t, Options{}) returns
// a running actors.Engine on the parts of package base — a bbolt store in
// t.TempDir(), a keyring with a random master key, the tax bureau
// simulator with its SMS provider, the prompts channel, the client event
// log, debug logs into a buffer — all on one fake clock (clock.Fake at
// base.T0) unless Options.Clock says otherwise.
//
// Options have safe defaults: the zero value is that stack. Options.NATS
// adds embedded NATS with JetStream (in-process: no port is opened; its
// store in t.TempDir()), the prompt queue the engine then publishes to,
// and a consumer that delivers into a dev inbox, as etaxd runs them.
// Nothing here listens on a network; tests that serve HTTP mount the
// Fiber app on Stack.Engine themselves and listen on 127.0.0.1:0. The
// package imports neither http (package httpapi) nor anything under it, so
// those packages' own tests can build on it.
//
// Every part is stopped with t.Cleanup, in reverse order of construction:
// the consumer, the queue and the bus, the engine, then the store is
// checked for consistency and closed. Only test files import it. A Stack is
// built by one goroutine; its parts are safe for concurrent use as their
// own packages say.
package teststack
