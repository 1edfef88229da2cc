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

// PublicParcel is what anyone holding a tracking ID may know of a parcel:
// where it is and when it should arrive, never who it is for. Its events
// carry their code, time and town only: no postcode, address, actor, note
// or detail (how or to whom it was delivered is the recipient's business).
type PublicParcel struct {
	TrackingID string
	Status     string
	Market     string
	Events     []tracking.Event // oldest first
	// ExpectedDate is the service date of the route the parcel is on
	// (YYYY-MM-DD), with the window promised for its stop; empty before
	// it is on a route.
	ExpectedDate         string
	WindowFrom, WindowTo string
	// NextAttemptDate is the working day after a failed attempt, while
	// the parcel waits for it.
	NextAttemptDate string
	// NeedsCode and Bagged say what the recipient must have ready: the
	// day's passcode, and an eye on the bag's seal.
	NeedsCode, Bagged bool
}

// RecipientSession is a signed-in recipient, known by the contact (E.164
// mobile or email) they proved they hold.
//
// One person, two contacts: a recipient who signs in by phone and one who
// signs in by email are the same person when a label they were sent names
// that phone and that email together as the recipient's. Settings that
// belong to the person (the photo opt-out, garages and their log, key
// delivery) follow them whichever contact they signed in with: they are
// read across the contact and the contacts labels link it to (one step, not
// a chain), and saved for all of them. Parcels and codes do not follow: each
// label's parcels and code are shown only to the contacts that label names,
// so a label naming someone's phone with another email never reveals their
// other parcels or codes.
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
	// PublicTracking answers the public tracking page. ENOTFOUND for an
	// unknown ID.
	PublicTracking(ctx context.Context, trackingID string) (*PublicParcel, error)
}
