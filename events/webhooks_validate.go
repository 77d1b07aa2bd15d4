package events

// Webhook validation: the URL and event types Register accepts (webhookaddr.go checks the host).

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// checkWebhookURL returns the URL to store, or an error wrapping
// ErrInvalidWebhook.
func checkWebhookURL(raw string) (string, error) {
	if len(raw) > 2048 {
		return "", fmt.Errorf("%w: URL longer than 2048 bytes", ErrInvalidWebhook)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%w: URL: %v", ErrInvalidWebhook, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%w: URL scheme must be http or https", ErrInvalidWebhook)
	case u.Hostname() == "":
		return "", fmt.Errorf("%w: URL has no host", ErrInvalidWebhook)
	case u.User != nil:
		// List shows the URL: credentials in it would leak.
		return "", fmt.Errorf("%w: URL must not carry credentials", ErrInvalidWebhook)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", fmt.Errorf("%w: URL must not have a fragment", ErrInvalidWebhook)
	}
	return u.String(), nil
}

// checkEventTypes returns the sorted, deduplicated event types (all of
// them for an empty list), or an error wrapping ErrInvalidWebhook.
func checkEventTypes(events []EventType) ([]EventType, error) {
	if len(events) == 0 {
		return slices.Clone(AllEventTypes), nil
	}
	out := make([]EventType, 0, len(events))
	for _, e := range events {
		if !slices.Contains(AllEventTypes, e) {
			return nil, fmt.Errorf("%w: unknown event type %q", ErrInvalidWebhook, e)
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out, nil
}
