// Package opsapi is etaxd's operator API: tenants, their activation codes,
// API keys and audit log, as JSON over HTTP. The etaxd CLI (etaxd tenant,
// apikey, audit) is its client.
//
// Register adds the routes to a Fiber router; the caller mounts them under
// the /ops group, whose operator token (or loopback-only access) guards
// them. Paths below are relative to that group:
//
//	GET    /v1/tenants                   200 {"tenants":[{"id","name"}]}
//	POST   /v1/tenants                   {"id"?, "name", "activation_code"?}
//	                                     201 {"id","name","activation_code"}
//	POST   /v1/tenants/{id}/rotate-code  200 {"id","name","activation_code"}
//	GET    /v1/tenants/{id}/apikeys      200 {"api_keys":[{"id","tenant","created_at","revoked_at"?}]}
//	POST   /v1/tenants/{id}/apikeys      {"id"?} (body optional)
//	                                     201 {"id","tenant","secret","created_at"}
//	DELETE /v1/apikeys/{id}              204 (revoking a revoked key is not an error)
//	GET    /v1/tenants/{id}/audit        ?from=&to=&format=json|csv
//	                                     200 {"events":[...]} or text/csv
//	POST   /v1/tenants/{id}/import       body: a CSV or XLSX file; ?dry_run=&skip_invalid=&format=ndjson|csv
//	                                     200 (422: invalid rows, nothing written) streaming each row's result
//	                                     (RegisterImport; see package importer and docs/IMPORT.md)
//	GET    /v1/store/dump                200 the whole store as JSON lines (RegisterDump; persistence.Dump),
//	                                     for etaxd cluster dump and etaxd store restore (docs/CLUSTER.md)
//
// An activation code and an API key secret are in a response once, when
// they are made: the store keeps the code hashed and the secret sealed, and
// no listing shows them. from and to are RFC 3339 times or dates
// (2006-01-02, a day in China time); from is inclusive, to exclusive, an
// empty one unbounded. One export holds at most MaxAuditEvents events.
//
// # Errors
//
// Every error is {"error":{"code","message","message_en"}} with a code of
// the domain catalogue (domain.AsError): 400 for invalid input, 404 for an
// unknown tenant or key, 409 for a tenant id in use, 503 when the engine is
// busy, 500 otherwise. A 5xx body is the catalogue's text only; the cause
// goes to the logger with the request id (X-Request-ID), never to the
// client.
//
// # Concurrency
//
// The handlers keep no state: every call goes to the Engine, which is safe
// for concurrent use.
package opsapi
