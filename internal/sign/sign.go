// Package sign is the request signature of etaxd's client API, shared by the
// HTTP API, the NATS request/reply API, outgoing webhooks and the CLI.
//
// A signed request carries a key id, a unix timestamp (seconds), a nonce and
// the signature: lower-case hex HMAC-SHA256, under the key's secret, of
//
//	METHOD "\n" PATH_WITH_QUERY "\n" TIMESTAMP "\n" NONCE "\n" hex(SHA256(body))
//
// For NATS the method is "NATS" and the path is the subject; for webhooks
// the method is "POST" and the path is the receiver URL's path and query.
package sign

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Header names.
const (
	HeaderKey       = "X-Etaxd-Key"
	HeaderTimestamp = "X-Etaxd-Timestamp"
	HeaderNonce     = "X-Etaxd-Nonce"
	HeaderSignature = "X-Etaxd-Signature"
	HeaderIdem      = "Idempotency-Key"
)

// Skew is how far a timestamp may be from the server's clock.
const Skew = 300 * time.Second

// Canonical is the string that is signed.
func Canonical(method, pathWithQuery, timestamp, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	return method + "\n" + pathWithQuery + "\n" + timestamp + "\n" + nonce + "\n" + hex.EncodeToString(sum[:])
}

// Signature returns the hex HMAC-SHA256 of the canonical string.
func Signature(secret []byte, method, pathWithQuery, timestamp, nonce string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(Canonical(method, pathWithQuery, timestamp, nonce, body)))
	return hex.EncodeToString(m.Sum(nil))
}

// Valid reports whether sig is the signature of the request, in constant
// time.
func Valid(secret []byte, sig, method, pathWithQuery, timestamp, nonce string, body []byte) bool {
	want := Signature(secret, method, pathWithQuery, timestamp, nonce, body)
	return hmac.Equal([]byte(want), []byte(sig))
}

// Fresh reports whether a timestamp (unix seconds) is within Skew of now.
func Fresh(timestamp string, now time.Time) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return false
	}
	d := now.Sub(time.Unix(ts, 0))
	return d <= Skew && d >= -Skew
}

// Headers returns the four headers that sign a request made now.
func Headers(keyID string, secret []byte, method, pathWithQuery string, body []byte, now time.Time) map[string]string {
	ts := strconv.FormatInt(now.Unix(), 10)
	var b [12]byte
	_, _ = rand.Read(b[:])
	nonce := hex.EncodeToString(b[:])
	return map[string]string{
		HeaderKey:       keyID,
		HeaderTimestamp: ts,
		HeaderNonce:     nonce,
		HeaderSignature: Signature(secret, method, pathWithQuery, ts, nonce, body),
	}
}
