// Package httpapi is etaxd's HTTP surface, a Fiber app, and the same client
// API over NATS request/reply. It lives in the directory http/ but is named
// httpapi so that it never clashes with net/http in an import list.
//
// # Routes
//
//	GET    /healthz                      200 while the process serves HTTP
//	GET    /readyz                       200 ready, or 503 with the reasons (engine, store,
//	                                     starting, and each failing Deps.Checks name)
//	GET    /ops/status                   node, uptime, counters, queue depths (operator)
//	GET    /metrics                      Prometheus, from a registry of our own (operator)
//	GET    /dev/inbox?openid=            the dev notifier's prompts (operator; dev mode only)
//	POST   /api/v1/sessions              a session: 200 ready, 202 awaiting_user
//	POST   /api/v1/sessions/invalid      the client saw the session die (B4)
//	GET    /api/v1/requests/{id}?wait=N  a request's state, long-polled up to 60 s
//	POST   /api/v1/requests/{id}/answer  an SMS code collected by the client
//	GET    /api/v1/accounts?tax_no=      the tenant's accounts, no secret
//	GET    /api/v1/audit?from=&to=&format=json|csv
//	POST   /api/v1/webhooks              register a receiver: 201 with its secret, once
//	GET    /api/v1/webhooks              receivers with their delivery state
//	DELETE /api/v1/webhooks/{id}
//
// ServeNATS offers sessions, answer and the request read on the subjects
// etaxd.api.v1.sessions, etaxd.api.v1.requests.answer and
// etaxd.api.v1.requests.get. docs/API.md is the client's contract and
// docs/openapi.yaml its machine-readable form; this package is their
// implementation.
//
// # Files
//
// api.go holds the client API's logic, shared by both transports
// (authentication, idempotency, decoding, the engine call, the answer's
// shape); routes.go and nats.go are the two transports; errors.go the API's
// own catalogue entries and the status of every code; nonces.go and
// idempotency.go the two bounded in-memory stores; ops.go and metrics.go the
// operator surface; webhooks.go the interface actors.WebhookRegistry
// implements. The HTTP packages import actors, domain, importer and
// internal/* only (layering_test.go checks it).
//
// # Contracts
//
//   - Every /api/v1 request is signed (package internal/sign): the key id,
//     a timestamp within ±300 s, a nonce never accepted twice while its
//     timestamp is fresh, and HMAC-SHA256 over the method, the request URI
//     exactly as sent, the timestamp, the nonce and the body's hash. A nonce
//     is recorded only once the signature is valid. The nonce cache and the
//     idempotency store are in this process's memory and bounded: they
//     protect one node (a cluster needs shared stores behind the same
//     NonceCache and Idempotency interfaces). A full nonce cache refuses
//     requests (busy) rather than forget a nonce.
//   - A key belongs to one tenant; the tenant comes from the key, never
//     from the request. Anything of another tenant answers 404, never 403.
//   - Errors are {"error":{"code","message","message_en"}} from the
//     catalogue (domain/errors.go and errors.go), with the status
//     internal/errbody gives the entry's kind. A 5xx body never carries internal text: the cause goes to
//     the log with the request id.
//   - Bodies are JSON objects of at most 16 KiB with no unknown field.
//   - Logs: one line per request (request_id, tenant and key_id once
//     authenticated, method, route template, status, latency), and the
//     cause of each 5xx. Never a header value other than the key id, a body,
//     a query, a token or a signature.
//   - The operator surface (/ops/*, /metrics, /dev/*) wants
//     "Authorization: Bearer <Deps.OperatorToken>"; with no token set (dev
//     mode) it serves programs on this machine only, never a web page in
//     its browser: loopback peer and Host, not cross-site, JSON bodies.
//     /dev/inbox and what etaxd puts behind LocalOnly (the simulator's
//     test endpoints) answer this machine only, token or not.
//   - Handlers are safe for concurrent use. Fiber reuses its buffers after
//     a request, so any string kept beyond one (a metric label, a map key)
//     is copied first.
package httpapi
