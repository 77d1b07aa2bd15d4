// Package scale is `make bench-scale`: a million registered accounts in a
// real etaxd (docs/PERFORMANCE.md, "(d) A real million").
//
// Setup (setup.go), in the benchmark's own process:
//
//  1. Provision: the tenants, their enterprises and one API key each,
//     created through the engine (actors.Engine: CreateTenant,
//     AddEnterprise, CreateAPIKey) on the store in the data directory, with
//     the master key file etaxd's dev mode reads.
//  2. Seed: the accounts, written with actors.SeedAccountWrite — the index
//     entry, the sealed record and the audit event the tenant actor commits
//     when F3 registers an account — through the store's own Commit path
//     (persistence.Bolt.CommitAudited), many writers at once so that the
//     group commit makes large transactions.
//
// Measurement (measure.go; the process itself in proc.go): a real
// `etaxd serve --dev` process on that data directory, on 127.0.0.1 and a
// free port; the time from its start to /readyz answering 200; its VmRSS (/proc/<pid>/status) after it collected
// its garbage, at each stage; cold activations through the signed client
// API (POST /api/v1/sessions of an idle account); the store file's size.
// With Config.ColdCache (-cold-cache) the store file's pages are dropped
// from the page cache before etaxd starts, as after a host's restart;
// Config.ServeArgs (-serve-args) adds to etaxd's command line, e.g.
// --store-keep-read-pages to measure bbolt's own mapping of the file. The
// etaxd binary is built with -tags etaxdscale, which adds one thing only:
// on SIGUSR1 it runs debug.FreeOSMemory and says so on stderr (with
// ETAXD_SCALE_HEAPPROFILE set, it also writes a heap profile;
// cmd/etaxd/memhook_scale.go).
//
// The results end with Go-benchmark-format lines (BenchmarkScaleMillion)
// and their BENCH lines for benchreport.ScaleTargets.
package scale
