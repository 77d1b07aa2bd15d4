package prompts

import "errors"

// Errors of the prompt pipeline, grouped by when they happen. Callers check
// them with errors.Is: the returned errors usually wrap them with the prompt,
// webhook or subject involved.
var (
	// ErrClosed is returned by Publish (of Chan, Queue) after Close, and by
	// operations on a closed Bus.
	ErrClosed = errors.New("prompts: publisher closed")

	// ErrQueueFull is returned by Queue.Publish when its local buffer stayed
	// full for QueueOptions.MaxBlock: the bus is down or far behind. The
	// prompt was not accepted.
	ErrQueueFull = errors.New("prompts: queue full")

	// ErrInvalidPrompt is returned by Queue.Publish for a prompt without an
	// ID or with a kind that cannot be a subject token.
	ErrInvalidPrompt = errors.New("prompts: invalid prompt")

	// ErrNotReady is returned by StartEmbedded when the embedded server did
	// not become ready within EmbeddedOptions.ReadyTimeout.
	ErrNotReady = errors.New("prompts: NATS server not ready")

	// ErrGaveUp wraps the last error of a prompt or webhook delivery that
	// failed transiently on every allowed attempt.
	ErrGaveUp = errors.New("prompts: delivery attempts exhausted")

	// ErrUndecodable is passed to OnUndeliverable for a stream message that
	// is not a prompt.
	ErrUndecodable = errors.New("prompts: undecodable message")
)

// Webhook registry errors (B6). They are safe to show to the tenant.
var (
	// ErrWebhookNotFound is returned for a webhook id the tenant does not
	// have (another tenant's webhook included).
	ErrWebhookNotFound = errors.New("prompts: webhook not found")
	// ErrInvalidWebhook is returned by Register for a URL, tenant or event
	// list it refuses; the wrapping error says which.
	ErrInvalidWebhook = errors.New("prompts: invalid webhook")
	// ErrWebhookURLForbidden is returned by Register for a URL whose host
	// is or resolves to a loopback, private, link-local, multicast,
	// unspecified or otherwise non-public address, unless
	// WebhookOptions.AllowPrivate is set; a delivery dialled to such an
	// address fails with it too, and is not retried.
	ErrWebhookURLForbidden = errors.New("prompts: webhook URL points at a non-public address")
	// ErrTooManyWebhooks is returned by Register when the tenant already has
	// WebhookOptions.MaxPerTenant webhooks.
	ErrTooManyWebhooks = errors.New("prompts: too many webhooks")
)
