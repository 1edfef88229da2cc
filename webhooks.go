package handoff

import (
	"context"
	"time"
)

// Webhook is a shipper's endpoint for tracking events. Each event is POSTed
// as JSON signed the Standard Webhooks way (https://www.standardwebhooks.com):
// headers webhook-id (the delivery's ID, the same on every retry),
// webhook-timestamp (Unix seconds of the attempt) and webhook-signature, a
// space-separated list of "v1,<base64 HMAC-SHA256 of id.timestamp.body>", one
// per live secret, so the ready-made Standard Webhooks libraries verify it.
// It is retried with backoff until the endpoint answers 2xx. The older
// Handoff-Signature header (t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>"
// keyed by the whole secret string>) and Idempotency-Key are still sent for
// receivers written against them.
type Webhook struct {
	ID        string    `json:"webhookId"`
	URL       string    `json:"url"`
	CreatedAt time.Time `json:"createdAt"`
	// Secret ("whsec_" + base64 of the key) is filled only in the answer to
	// its creation or rotation.
	Secret string `json:"secret,omitempty"`
	// PreviousSecretUntil, when set, is when the secret replaced by the last
	// rotation stops signing deliveries.
	PreviousSecretUntil *time.Time `json:"previousSecretUntil,omitempty"`
}

// WebhookDelivery is one message queued for a webhook, as its log shows it.
type WebhookDelivery struct {
	ID         string `json:"deliveryId"` // the webhook-id header
	Type       string `json:"type"`       // tracking.event, webhook.test
	TrackingID string `json:"trackingId,omitempty"`
	// Status is pending (waiting for its first or next attempt), sent or
	// dead (no more attempts).
	Status    string    `json:"status"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// NextAttemptAt is when a pending delivery is tried next.
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
	SentAt        *time.Time `json:"sentAt,omitempty"`
}

// Bounds of a rotation's overlap, during which the old secret still signs.
const (
	DefaultSecretOverlap = 24 * time.Hour
	MaxSecretOverlap     = 7 * 24 * time.Hour
)

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
	// RotateWebhookSecret gives the endpoint a new secret, returned this
	// once; the current one keeps signing deliveries alongside it for the
	// overlap (0: it stops at once), EINVALID beyond MaxSecretOverlap,
	// ENOTFOUND for another shipper's endpoint.
	RotateWebhookSecret(ctx context.Context, shipperID, webhookID string, overlap time.Duration) (*Webhook, error)
	// SendTestEvent queues a webhook.test delivery to the endpoint and
	// returns it; ENOTFOUND for another shipper's endpoint.
	SendTestEvent(ctx context.Context, shipperID, webhookID string) (*WebhookDelivery, error)
	// ListDeliveries returns the endpoint's latest deliveries, newest first;
	// ENOTFOUND for another shipper's endpoint.
	ListDeliveries(ctx context.Context, shipperID, webhookID string, limit int) ([]WebhookDelivery, error)
}
