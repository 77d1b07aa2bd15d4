package events

import "errors"

// Webhook registry errors (B6). They are safe to show to the tenant.
var (
	// ErrWebhookNotFound is returned for a webhook id the tenant does not
	// have (another tenant's webhook included).
	ErrWebhookNotFound = errors.New("events: webhook not found")
	// ErrInvalidWebhook is returned by Register for a URL, tenant or event
	// list it refuses; the wrapping error says which. The client API shows
	// that text (message_en), so it keeps the prefix it had before this
	// package split off prompts.
	ErrInvalidWebhook = errors.New("prompts: invalid webhook")
	// ErrWebhookURLForbidden is returned by Register for a URL whose host
	// is or resolves to a loopback, private, link-local, multicast,
	// unspecified or otherwise non-public address, unless
	// WebhookOptions.AllowPrivate is set; a delivery dialled to such an
	// address fails with it too, and is not retried.
	ErrWebhookURLForbidden = errors.New("events: webhook URL points at a non-public address")
	// ErrTooManyWebhooks is returned by Register when the tenant already has
	// WebhookOptions.MaxPerTenant webhooks.
	ErrTooManyWebhooks = errors.New("events: too many webhooks")
)
