package handoff

import (
	"context"
	"time"

	"github.com/handoff-dev/handoff/tracking"
)

// RecipientParcel is what a signed-in recipient (or gift buyer) sees of one
// parcel.
type RecipientParcel struct {
	TrackingID  string
	ShipperName string
	Recipient   string
	City        string
	Status      string
	StatusText  string
	OTPRequired bool
	AsBuyer     bool // the viewer is the gift buyer, not the recipient
	BagIDs      []string
	Events      []tracking.Event
	// Passcode is today's code when the parcel needs one and is out (or
	// planned) for delivery today; only ever filled for its own recipient
	// or buyer.
	Passcode    string
	ServiceDate string
	UpdatedAt   time.Time
}

// RecipientPrefs are the recipient's own delivery choices.
type RecipientPrefs struct {
	PhotoOptOut bool `json:"photoOptOut"`
	KeyDelivery bool `json:"keyDelivery"`
}

// RecipientSession is a signed-in recipient, known by the contact (E.164
// mobile or email) they proved they hold.
type RecipientSession struct {
	Contact   string
	ExpiresAt time.Time
}

// RecipientService is the recipient portal. Nothing here answers differently
// for a contact that has no parcels, so it cannot be used to find out whether
// someone is a recipient.
type RecipientService interface {
	// RequestSignin sends a one-time link and code to a phone or email from a
	// label, if there is such a label; the answer is the same either way.
	// baseURL is where the link points. ERATELIMITED when asked too often.
	RequestSignin(ctx context.Context, contact, baseURL string) error
	// SigninWithToken spends a one-time link and starts a session.
	SigninWithToken(ctx context.Context, token string) (sessionToken string, s *RecipientSession, err error)
	// SigninWithCode checks a short code sent to contact and starts a session.
	SigninWithCode(ctx context.Context, contact, code string) (sessionToken string, s *RecipientSession, err error)
	// FindRecipientSession returns the live session of a token.
	FindRecipientSession(ctx context.Context, token string) (*RecipientSession, error)
	// EndRecipientSession signs out.
	EndRecipientSession(ctx context.Context, token string) error
	// RecipientParcels lists the parcels of the contact, newest first.
	RecipientParcels(ctx context.Context, contact string) ([]RecipientParcel, error)
	// RecipientPrefs returns the contact's choices.
	RecipientPrefs(ctx context.Context, contact string) (RecipientPrefs, error)
	// SetRecipientPrefs stores the contact's choices.
	SetRecipientPrefs(ctx context.Context, contact string, p RecipientPrefs) error
	// PublicStatus answers what anyone with a tracking ID may know: the
	// summary status only. ENOTFOUND for an unknown ID.
	PublicStatus(ctx context.Context, trackingID string) (status, statusText string, err error)
}
