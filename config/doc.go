// Package config holds etaxd's settings: one Options value with Default,
// Validate and a loader that reads them from a JSON file, the environment
// and command-line flags.
//
// # Sources and precedence
//
// Every option has a file key, an ETAXD_* environment variable and a flag
// (see Fields, and the table in README.md). Load starts from Default and
// applies, in order, the JSON file named by --config (or ETAXD_CONFIG), the
// environment, then the flags given on the command line, so a flag beats the
// environment, which beats the file, which beats the default. An environment
// variable set to the empty string counts as unset.
//
// # Errors
//
// Nothing is reported one at a time: Load collects every unreadable value
// (a *SourceError naming the file key, variable or flag) and every invalid
// one (a *FieldError from Validate) and returns them joined with errors.Join,
// so an operator fixes a configuration in one pass. Callers list them with
// Problems.
//
// # Invariants
//
// The package reads no configuration in init() and keeps no package-level
// state: the option table is built by a function on every call. It imports
// the domain rules and the actors and taxbureau packages only to hand them
// their configuration (EngineConfig, SimConfig); it never imports http or
// cmd. Options is a plain value, safe to copy; Sim.NoSMSRegions and
// NATS.URLs are its only reference fields (SimConfig and Redacted copy
// them).
//
// # Secrets
//
// OperatorToken, TaxBureau.Token, NATS.Token, NATS.Password and the user
// info of a NATS URL are secrets. Options prints and logs itself redacted (String, GoString,
// LogValue), and no validation problem quotes a secret.
package config
