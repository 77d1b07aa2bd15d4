// Package wechat connects etaxd to a WeChat official account (公众号) through
// github.com/silenceper/wechat/v2: it pushes prompts to the bound person as
// template messages and serves the account's message callback.
//
// A Client, built once by New from a validated Config, owns the SDK's
// official account, a race-free access-token cache of our own and the
// service getters, fetched once at start (the SDK builds them lazily and
// races when they are first called concurrently). Only officialaccount/...
// packages are imported: the SDK's root package resets the global logrus
// logger in its init.
//
// # Notifier
//
// Client.Notifier implements prompts.Notifier. For a prompt that asks for
// something (an SMS code, a QR scan, face certification) and has a bound
// OpenID it sends one template message whose link opens the prompt page,
// PublicURL + "/h5/prompt/" + prompt id, with the prompt id as ClientMsgID
// so that WeChat itself drops a resend. Other prompts are skipped: Notify
// returns nil and counts them. A prompt id that was sent is remembered (a
// bounded map) and a redelivery returns nil without a second push.
//
// Errors: a token WeChat rejects (40001, 40014, 42001) is dropped from the
// cache and the send retried once; a user who unsubscribed or refused
// messages, an invalid openid and a template WeChat refuses are permanent
// (prompts.Permanent); everything else (network, HTTP 5xx, -1 system busy,
// quota, a failing token fetch) is transient and retried by the consumer.
// The template send is our own HTTP call through util.DefaultHTTPClient,
// not message.Template.Send: that one takes no context and reports the
// error code only inside a string.
//
// # Callback
//
// Client.Callback returns the http.Handler for /wx/callback. It checks the
// SDK's signature, refuses timestamps outside a ±5 min window (the SDK does
// not look at them), answers URL verification, and with an EncodingAESKey
// refuses any POST that is not encrypted and signed with msg_signature (the
// SDK would take it as plaintext) before decrypting through the SDK. Each
// (signature, timestamp, nonce) is bound to the hash of the first body it
// came with for the window: another body under it is a replay, refused.
// WeChat's retries (the same MsgId, or the same sender, creation time and
// event) are dropped with a bounded TTL map; then it calls the Hooks and
// answers a plain "success".
//
// # Secrets
//
// The app secret, access tokens and OAuth codes never appear in an error or
// a log line: errors that could carry a request URL are redacted.
//
// # Concurrency
//
// Client, Notifier and Callback are safe for concurrent use. Hooks run on
// the request's goroutine while WeChat waits (5 s); they must be quick.
// util.DefaultHTTPClient is process-global: tests that rewrite it must not
// run in parallel.
package wechat
