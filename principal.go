package handoff

import (
	"context"
	"time"

	"github.com/handoff-dev/handoff/auth"
)

// Principal is anyone who signs in: a shipper, station, delivery associate or
// customer-service agent. Its secrets are never held here, only checked.
type Principal struct {
	ID        string
	Kind      auth.Kind
	Name      string
	StationID string // for associates: their home station, if any
	Market    string // for stations: their marketplace
	City      string // for stations: their town, the place of their events
	CreatedAt time.Time
}

// NewPrincipal is what the operator asks to onboard.
type NewPrincipal struct {
	Kind      auth.Kind
	Name      string
	StationID string
	Market    string
	City      string // stations only
}

// Credentials are handed out once, at creation, and never again.
type Credentials struct {
	APIKey   string
	Password string
}

// PrincipalService onboards principals and authenticates them.
type PrincipalService interface {
	// CreatePrincipal stores a new principal with fresh credentials, returned
	// in plain text this once; EINVALID for a bad name or unknown station.
	CreatePrincipal(ctx context.Context, np NewPrincipal) (*Principal, Credentials, error)
	// AuthenticateAPIKey returns the principal owning the key, or EUNAUTHORIZED.
	AuthenticateAPIKey(ctx context.Context, apiKey string) (*Principal, error)
	// AuthenticatePassword checks a web sign-in from client (the address it
	// comes from, as the HTTP layer names it), or returns EUNAUTHORIZED
	// without saying which part was wrong; ERATELIMITED when the account or
	// the client has failed too often lately, EUNAVAILABLE when too many
	// checks are running at once. Both carry a RetryAfter.
	AuthenticatePassword(ctx context.Context, id, password, client string) (*Principal, error)
	// FindPrincipal returns a principal by ID, or ENOTFOUND.
	FindPrincipal(ctx context.Context, id string) (*Principal, error)
	// ListPrincipals returns the principals of one kind, oldest first.
	ListPrincipals(ctx context.Context, kind auth.Kind) ([]*Principal, error)
	// ResetCredentials issues a new API key and password, invalidating the old
	// ones and any session; ENOTFOUND for an unknown ID.
	ResetCredentials(ctx context.Context, id string) (Credentials, error)
}

// Session is a signed-in browser.
type Session struct {
	Principal *Principal
	CSRF      string // the per-session token every form carries
	ExpiresAt time.Time
}

// SessionService keeps web sessions. Tokens are stored only as digests.
type SessionService interface {
	// CreateSession starts a session and returns its token, for the cookie.
	CreateSession(ctx context.Context, principalID string, ttl time.Duration) (token string, s *Session, err error)
	// FindSession returns the live session for a token, or EUNAUTHORIZED.
	FindSession(ctx context.Context, token string) (*Session, error)
	// DeleteSession ends a session; unknown tokens are not an error.
	DeleteSession(ctx context.Context, token string) error
}
