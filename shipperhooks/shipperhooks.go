// Package shipperhooks is the use-case of a shipper's webhook endpoints:
// which URLs may be registered — https (or http where the server allows
// it), without credentials, reaching a public address — is decided here,
// with the network asked where a host name leads, before the store keeps
// the endpoint. Everything else of handoff.WebhookService is the store's.
package shipperhooks

import (
	"context"
	"net/url"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/egress"
)

// maxURL bounds an endpoint's URL.
const maxURL = 2000

// Service implements handoff.WebhookService over the store's.
type Service struct {
	handoff.WebhookService // the store: it counts and keeps endpoints
	// AllowHTTP lets shippers register plain-http endpoints (demos,
	// tests); production requires https.
	AllowHTTP bool
	// AllowPrivate lets shippers register endpoints on loopback or private
	// addresses (HANDOFF_ALLOW_PRIVATE_NETWORK, demos, tests); the sender
	// must be allowed them too.
	AllowPrivate bool
}

// New returns the service over store.
func New(store handoff.WebhookService, allowHTTP, allowPrivate bool) *Service {
	return &Service{WebhookService: store, AllowHTTP: allowHTTP, AllowPrivate: allowPrivate}
}

// CreateWebhook implements handoff.WebhookService: the URL is checked, then
// the store registers it.
func (s *Service) CreateWebhook(ctx context.Context, shipperID, raw string) (*handoff.Webhook, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || len(raw) > maxURL:
		return nil, handoff.Invalid(handoff.FieldError{Field: "url", Message: "must be an absolute https URL"})
	case u.Scheme == "http" && !s.AllowHTTP:
		return nil, handoff.Invalid(handoff.FieldError{Field: "url", Message: "must use https"})
	case u.User != nil:
		return nil, handoff.Invalid(handoff.FieldError{Field: "url", Message: "must not carry credentials; the signature authenticates us"})
	}
	if !s.AllowPrivate {
		if err := egress.CheckHost(ctx, u.Hostname()); err != nil {
			return nil, handoff.Invalid(handoff.FieldError{Field: "url", Message: "must reach a public address (" + err.Error() + ")"})
		}
	}
	return s.WebhookService.CreateWebhook(ctx, shipperID, raw)
}
