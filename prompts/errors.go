package prompts

import "errors"

// Errors of the prompt pipeline, grouped by when they happen. Callers check
// them with errors.Is: the returned errors usually wrap them with the prompt,
// webhook or subject involved.
var (
	// ErrClosed is returned by Publish (of Chan, Queue) after Close.
	ErrClosed = errors.New("prompts: publisher closed")

	// ErrQueueFull is returned by Queue.Publish when its local buffer stayed
	// full for QueueOptions.MaxBlock: the bus is down or far behind. The
	// prompt was not accepted.
	ErrQueueFull = errors.New("prompts: queue full")

	// ErrInvalidPrompt is returned by Queue.Publish for a prompt without an
	// ID or with a kind that cannot be a subject token.
	ErrInvalidPrompt = errors.New("prompts: invalid prompt")

	// ErrGaveUp wraps the last error of a prompt delivery that
	// failed transiently on every allowed attempt.
	ErrGaveUp = errors.New("prompts: delivery attempts exhausted")

	// ErrUndecodable is passed to OnUndeliverable for a stream message that
	// is not a prompt.
	ErrUndecodable = errors.New("prompts: undecodable message")
)
