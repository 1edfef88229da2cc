package handoff

import (
	"context"
	"time"
)

// APIKey is one of a principal's named API keys. The key itself is kept only
// as a digest; Prefix, its first characters, lets the owner recognise it.
type APIKey struct {
	ID         string     `json:"apiKeyId"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	// Key is filled only in the answer to its creation.
	Key string `json:"key,omitempty"`
}

// MaxAPIKeys bounds the live keys of one principal.
const MaxAPIKeys = 20

// APIKeyService manages a principal's API keys.
type APIKeyService interface {
	// CreateAPIKey issues a named key and returns it in plain text this
	// once; EINVALID for a missing or overlong name, ECONFLICT past
	// MaxAPIKeys.
	CreateAPIKey(ctx context.Context, principalID, name string) (*APIKey, error)
	// ListAPIKeys returns the principal's live keys, oldest first.
	ListAPIKeys(ctx context.Context, principalID string) ([]APIKey, error)
	// RevokeAPIKey stops a key authenticating at once; ENOTFOUND for a key
	// that is not the principal's or is already revoked.
	RevokeAPIKey(ctx context.Context, principalID, keyID string) error
}
