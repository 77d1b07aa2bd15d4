// Package httpapi is etaxd's HTTP surface, a Fiber app. It lives in the
// directory http/ but is named httpapi so that it never clashes with
// net/http in an import list.
//
// For now it serves only the operator endpoints:
//
//	GET /healthz     200 {"status":"ok"} while the process serves HTTP
//	GET /readyz      200 {"status":"ready"} when the engine and the store are
//	                 up; 503 {"status":"not_ready","reasons":[...]} otherwise
//	GET /ops/status  the node, its uptime, the engine's counters and the
//	                 store's counters, as JSON
//
// The client API (/api/v1), the H5 pages and the WeChat callback arrive in
// later issues and mount on the same app.
//
// # Contracts
//
// The app only reads: it never touches the store or the tax bureau for an
// account (it will ask the account's actor), and it reads the store here only
// for a readiness probe (a Get of a key that is never written) and its
// counters. A response body never carries internal error text: a 5xx says
// "internal" and the cause goes to the log with the request id
// (X-Request-ID). Handlers are safe for concurrent use; New keeps no state
// outside the app it returns. The endpoints carry no secret and, until the
// operator token arrives with the client API, no authentication: etaxd
// listens on 127.0.0.1 by default.
package httpapi
