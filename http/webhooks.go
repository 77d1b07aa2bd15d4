package httpapi

import (
	"context"
	"errors"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
)

// Webhooks is what the API needs of webhook delivery (B6): registrations
// per tenant and their delivery state. *actors.WebhookRegistry implements it;
// this interface is the adapter point for any other implementation. Every
// method is scoped to a tenant: an id of another tenant is not found.
// Errors wrapping actors.ErrWebhookNotFound, ErrInvalidWebhook,
// ErrWebhookURLForbidden and ErrTooManyWebhooks reach the client as
// webhook_not_found (404), invalid_input (400), webhook_url_forbidden (400)
// and too_many_webhooks (409); any other is internal.
type Webhooks interface {
	// Register adds a URL for events (all of them when empty) and returns
	// it with its signing secret, which is never returned again.
	Register(ctx context.Context, tenant, url string, events []actors.EventType) (actors.Webhook, error)
	// List returns the tenant's webhooks, without secrets.
	List(ctx context.Context, tenant string) ([]actors.Webhook, error)
	// Delete removes a webhook; deliveries queued for it are dropped.
	Delete(ctx context.Context, tenant, id string) error
	// Deliveries returns each webhook's delivery state.
	Deliveries(ctx context.Context, tenant string) ([]actors.WebhookDelivery, error)
}

// ErrTooManyWebhooks is the catalogue entry for actors.ErrTooManyWebhooks.
var ErrTooManyWebhooks = domain.Declare(domain.KindConflict, "too_many_webhooks",
	"Webhook数量已达上限，请先删除不用的",
	"the tenant has as many webhooks as allowed; delete one first")

// webhookError turns an error of a Webhooks implementation into a
// catalogue error. Catalogue errors pass as they are.
func webhookError(err error) error {
	var de *domain.Error
	switch {
	case errors.As(err, &de):
		return err
	case errors.Is(err, actors.ErrWebhookNotFound):
		return ErrWebhookNotFound
	case errors.Is(err, actors.ErrWebhookURLForbidden):
		// Its text may name the address; the catalogue's does not.
		return ErrWebhookURLForbidden
	case errors.Is(err, actors.ErrInvalidWebhook):
		// Its text says which part is wrong and is safe to show.
		return domain.ErrInvalidInput.With("Webhook接收地址或事件不正确", err.Error())
	case errors.Is(err, actors.ErrTooManyWebhooks):
		return ErrTooManyWebhooks
	}
	return err
}

// maxWebhookURL bounds a webhook URL.
const maxWebhookURL = 2048

// WebhookRequest is the body of POST /api/v1/webhooks. Events may be
// omitted: then every event type.
type WebhookRequest struct {
	URL    string             `json:"url"`
	Events []actors.EventType `json:"events"`
}

// validate does the cheap checks; the implementation checks the rest (the
// URL's form, the event types).
func (r *WebhookRequest) validate() error {
	if r.URL == "" || len(r.URL) > maxWebhookURL {
		return domain.Invalid("url", "请填写接收地址（不超过2048个字符）")
	}
	if len(r.Events) > 16 {
		return domain.Invalid("events", "事件过多")
	}
	return nil
}

// WebhookView is a webhook as GET /api/v1/webhooks lists it: without its
// secret, with its delivery state.
type WebhookView struct {
	actors.Webhook
	Delivery *actors.WebhookDelivery `json:"delivery,omitempty"`
}
