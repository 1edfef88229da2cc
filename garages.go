package handoff

import (
	"context"
	"time"
)

// Garage is an enrolled garage opener as its recipient sees it: never its
// credentials.
type Garage struct {
	ID           string    `json:"garageId"`
	Kind         string    `json:"kind"`
	Label        string    `json:"label"`
	AddressLine1 string    `json:"addressLine1"`
	PostalCode   string    `json:"postalCode"`
	KeyDelivery  bool      `json:"keyDelivery"` // for every eligible parcel
	HasPosition  bool      `json:"hasPosition"`
	CreatedAt    time.Time `json:"createdAt"`
}

// GarageEnrollment is what a recipient enters to add an opener. Lat and Lon,
// when given, let the server check the associate is at the address.
type GarageEnrollment struct {
	Kind         string   `json:"kind"`
	Label        string   `json:"label"`
	AddressLine1 string   `json:"addressLine1"`
	PostalCode   string   `json:"postalCode"`
	URL          string   `json:"url,omitempty"`
	DeviceKey    string   `json:"deviceKey,omitempty"`
	Token        string   `json:"token,omitempty"`
	EntityID     string   `json:"entityId,omitempty"`
	SimulatorID  string   `json:"simulatorId,omitempty"`
	Lat          *float64 `json:"lat,omitempty"`
	Lon          *float64 `json:"lon,omitempty"`
}

// Garage grant states; package grant holds the machine that moves them.
const (
	GrantPending     = "pending"
	GrantOpening     = "opening"
	GrantOpen        = "open"
	GrantClosing     = "closing"
	GrantRevoking    = "revoking" // access withdrawn while the door was open or opening: the server closes it
	GrantExpiring    = "expiring" // the time is up with the door open: the server closes it
	GrantClosed      = "closed"
	GrantFailed      = "failed"       // the door did not open; nothing happened
	GrantCloseFailed = "close_failed" // the door did not close: alert
	GrantRevoked     = "revoked"
	GrantResolved    = "resolved" // a door that did not close, dealt with by customer service
	GrantExpired     = "expired"  // not used (or not closed by the associate) in time
)

// GarageGrant is one-time access to a garage for one associate at one stop.
type GarageGrant struct {
	ID          string    `json:"grantId"`
	StopID      string    `json:"stopId"`
	State       string    `json:"state"`
	TrackingIDs []string  `json:"trackingIds"`
	Delivered   []string  `json:"delivered"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// GarageEvent is one step in a garage's log.
type GarageEvent struct {
	GarageID string    `json:"garageId"`
	GrantID  string    `json:"grantId,omitempty"`
	Step     string    `json:"step"` // requested, opened, closed, failed, close_failed, revoked, enrolled, tested
	Detail   string    `json:"detail,omitempty"`
	At       time.Time `json:"at"`
}

// Position is where the associate's phone says it is.
type Position struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// GarageService is in-garage delivery: the recipient's side (enrol, test,
// switch key delivery, read the log) and the associate's (open, close).
type GarageService interface {
	// EnrollGarage adds an opener after reading its state once (the test).
	EnrollGarage(ctx context.Context, contact string, in GarageEnrollment) (*Garage, error)
	// TestGarage reads the door's state now.
	TestGarage(ctx context.Context, contact, garageID string) (string, error)
	// RecipientGarages lists the contact's openers.
	RecipientGarages(ctx context.Context, contact string) ([]Garage, error)
	// RemoveGarage removes an opener and revokes its grants.
	RemoveGarage(ctx context.Context, contact, garageID string) error
	// SetKeyDelivery switches key delivery for all eligible parcels; off
	// revokes pending grants at once.
	SetKeyDelivery(ctx context.Context, contact, garageID string, on bool) error
	// SetParcelKeyDelivery chooses key delivery for one parcel.
	SetParcelKeyDelivery(ctx context.Context, contact, trackingID, garageID string, on bool) error
	// GarageLog returns the steps of the contact's openers, newest first.
	GarageLog(ctx context.Context, contact string) ([]GarageEvent, error)
	// OpenGarage checks the associate may open the garage of a stop now and,
	// if so, opens it and confirms it opened.
	OpenGarage(ctx context.Context, da *Principal, stopID string, pos *Position) (*GarageGrant, error)
	// OpenGrant returns the associate's grant at a stop whose door is open,
	// so the app can offer to close it however the associate came back to
	// the stop; ENOTFOUND when there is none.
	OpenGrant(ctx context.Context, da *Principal, stopID string) (*GarageGrant, error)
	// CloseGarage closes the door of a grant, confirms it closed, and
	// delivers the parcels to the garage.
	CloseGarage(ctx context.Context, da *Principal, stopID, grantID string) (*GarageGrant, error)
}

// GrantRecord is a garage grant as the store keeps it, for the garage
// service: who holds it, which opener, and the opener's sealed connection
// details (never shown to anyone).
type GrantRecord struct {
	GarageGrant
	GarageID    string
	AssociateID string
	Sealed      string
	// Was is the state the grant was in before a move the store reports
	// (a revocation); empty otherwise.
	Was string
}

// GrantMove is one step of a grant that the store applies atomically: the
// state moves From → To only if the grant is still in From (and, when
// Before is set, has not expired by then), and only then are the step's
// records written in the same transaction: the garage log, the parcels'
// tracking, the recipient's message, a customer-service case, the delivery.
type GrantMove struct {
	ID, From, To string
	Before       time.Time // the move needs expires_at > Before (claiming a grant)
	StepUntil    time.Time // when To is in flight, the deadline after which the sweeper takes over
	Holding      time.Time // the move needs step_until = Holding, the caller's: the sweeper has not taken the step over
	Opened       bool      // stamp the time the door opened
	Closed       bool      // stamp the time the door closed

	Step   string // the garage log's step ("opened"); empty for no records
	Detail string // the garage log's detail
	Event  string // a tracking code recorded on every parcel of the grant; empty for none
	Note   string // the tracking event's note
	Actor  string
	Notify bool   // tell the recipient (message kind garage, note Step)
	Case   string // open a garage case on the grant's first parcel with this summary
	// Deliver delivers the grant's parcels still open at the stop with
	// DeliveredToGarage (and settles the stop's passcode once no parcel
	// needs it).
	Deliver bool
}
