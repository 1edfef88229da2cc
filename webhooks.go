package handoff

import (
	"context"
	"time"
)

// Webhook is a shipper's endpoint for tracking events. Each event is POSTed
// as JSON, signed with the webhook's secret (header Handoff-Signature:
// t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">), with the delivery's ID in
// Idempotency-Key, and retried with backoff until the endpoint answers 2xx.
type Webhook struct {
	ID        string    `json:"webhookId"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"createdAt"`
	// Secret is filled only in the answer to its creation.
	Secret string `json:"secret,omitempty"`
}

// WebhookService manages a shipper's webhooks.
type WebhookService interface {
	// CreateWebhook registers an endpoint and returns it with its secret,
	// shown this once; EINVALID for a URL that is not https (or http on a
	// server that allows it), or that is or resolves to a loopback or
	// private address on a server that does not allow those.
	CreateWebhook(ctx context.Context, shipperID, url string) (*Webhook, error)
	// ListWebhooks returns the shipper's endpoints, without secrets.
	ListWebhooks(ctx context.Context, shipperID string) ([]Webhook, error)
	// DeleteWebhook stops deliveries to an endpoint; ENOTFOUND for another
	// shipper's.
	DeleteWebhook(ctx context.Context, shipperID, webhookID string) error
}
