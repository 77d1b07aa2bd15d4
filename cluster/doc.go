// Package cluster holds the building blocks of etaxd's cluster mode; its
// subpackages carry the code (membership: the protoactor-go cluster provider
// on a JetStream KV bucket). This package itself has no code and no state.
package cluster
