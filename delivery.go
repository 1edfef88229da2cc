package handoff

import (
	"context"
	"time"

	"github.com/handoff-dev/handoff/anomaly"
)

// Stages of a parcel in the delivery network. A parcel moves between them
// only by conditional updates in the store, so two requests can never both
// move it.
const (
	StageLabel          = "label"           // label created, not yet with the carrier
	StageStation        = "station"         // at a station, can be put on a route
	StageRouted         = "routed"          // on a planned route, not yet loaded
	StageOut            = "out"             // in the associate's van
	StageAwaitingReturn = "awaiting_return" // attempt failed or refused: must come back to the station
	StageDelivered      = "delivered"
	StageReturning      = "returning" // going back to the shipper
	StageHeld           = "held"      // back at the station, held for customer service
)

// OTP states of a stop.
const (
	OTPNone     = "none"     // no parcel at the stop needs a passcode
	OTPPending  = "pending"  // waiting for the code
	OTPVerified = "verified" // the code was entered; the OTP parcels are delivered
	OTPFailed   = "failed"   // the attempt ended without the code
)

// MaxCodeGuesses is how many codes are evaluated per stop attempt.
const MaxCodeGuesses = 3

// MaxResends is how many times the code may be re-sent per parcel per day.
const MaxResends = 3

// StopNeeds says what the associate must do at a stop.
type StopNeeds struct {
	Passcode bool `json:"passcode"`
	BagScan  bool `json:"bagScan"`
	Photo    bool `json:"photo"`
	Garage   bool `json:"garage"`
	// Signature and AgeCheck: a parcel here is handed over only against a
	// signature, or after an age check of the recipient's ID (SPEC §7).
	Signature bool `json:"signature"`
	AgeCheck  bool `json:"ageCheck"`
}

// StopParcel is one parcel at a stop, as the associate and station see it.
type StopParcel struct {
	TrackingID  string `json:"trackingId"`
	OTPRequired bool   `json:"otpRequired"`
	BagRequired bool   `json:"bagRequired"`
	BagScanned  bool   `json:"bagScanned"`
	Stage       string `json:"stage"`
	Status      string `json:"status"`
	DetailCode  string `json:"detailCode,omitempty"`
	Outcome     string `json:"outcome,omitempty"` // OutcomeOpen ("") or another Outcome*
	// PasscodeVerified is true for a passcode parcel whose code was entered
	// while it waits to be handed over with its signature or age check.
	PasscodeVerified bool `json:"passcodeVerified,omitzero"`
	// The checks its label asks for at the door (SPEC §7): the signature
	// (SignatureAny, SignatureAdult), the minimum age checked on an ID
	// document (an ADULT signature's AdultAge included), and whether the
	// shipper refuses a typed name for the signature.
	Signature             string `json:"signatureRequired,omitempty"`
	MinimumAge            int    `json:"minimumAge,omitzero"`
	TypedSignatureRefused bool   `json:"typedSignatureRefused,omitzero"`
}

// Outcomes of a parcel on a route: what became of it there. A parcel is
// settled on a route exactly once.
const (
	OutcomeOpen      = ""          // not settled yet
	OutcomeDelivered = "delivered" // delivered at the stop
	OutcomeAttempted = "attempted" // a failed attempt
	OutcomeRefused   = "refused"   // the recipient refused a tampered bag
	OutcomeReturned  = "returned"  // the station took it back undelivered and unattempted
)

// RouteOutcomes lists the outcomes of a settled parcel.
var RouteOutcomes = []string{OutcomeDelivered, OutcomeAttempted, OutcomeRefused, OutcomeReturned}

// Stop is a recipient at an address on a route.
type Stop struct {
	ID                  string       `json:"stopId"`
	RouteID             string       `json:"routeId"`
	Position            int          `json:"position"`
	RecipientName       string       `json:"recipientName"`
	AddressLine1        string       `json:"addressLine1"`
	AddressLine2        string       `json:"addressLine2,omitempty"`
	City                string       `json:"city"`
	PostalCode          string       `json:"postalCode"`
	CountryCode         string       `json:"countryCode"`
	PlannedTime         string       `json:"plannedTime"`
	OutsideContactHours bool         `json:"outsideContactHours"`
	Needs               StopNeeds    `json:"needs"`
	OTPState            string       `json:"otpState"`
	AttemptsLeft        int          `json:"attemptsLeft"`
	ResendsLeft         int          `json:"resendsLeft"`
	PhoneDigitsAllowed  bool         `json:"phoneDigitsFallbackAllowed"`
	RouteStatus         string       `json:"routeStatus"` // RoutePlanned or RouteLoaded
	Parcels             []StopParcel `json:"parcels"`
}

// Route is an associate's day: a service date and its stops.
type Route struct {
	ID           string    `json:"routeId"`
	StationID    string    `json:"stationId"`
	AssociateID  string    `json:"associateId"`
	ServiceDate  string    `json:"serviceDate"`
	Marketplace  string    `json:"marketplace"`
	Status       string    `json:"status"` // RoutePlanned or RouteLoaded
	ContactHours string    `json:"contactHours"`
	Flagged      int       `json:"stopsOutsideContactHours"`
	Stops        []Stop    `json:"stops"`
	CreatedAt    time.Time `json:"createdAt"`
}

// Route statuses.
const (
	RoutePlanned = "planned" // its parcels wait at the station
	RouteLoaded  = "loaded"  // its parcels are out for delivery
)

// MaxRouteParcels bounds one route.
const MaxRouteParcels = 300

// Reasons a station action is refused (Error.Reason).
const (
	ReasonWrongStage  = "wrong_stage"  // the parcel is in a stage the action cannot start from
	ReasonChanged     = "changed"      // someone else moved the parcel meanwhile: try again
	ReasonDayOver     = "day_over"     // the route's day is over
	ReasonStopSettled = "stop_settled" // every parcel of the stop is settled
)

// Reasons the door refuses an action (Error.Reason); the garage shares them.
const (
	ReasonRouteNotLoaded     = "route_not_loaded"     // the van is not loaded: its parcels are not out
	ReasonRouteLoaded        = "route_loaded"         // the route is loaded already
	ReasonUnsealed           = "parcel_unsealed"      // a parcel that needs a bag has none yet
	ReasonDoorNotClosed      = "door_not_closed"      // a garage door at the stop did not close
	ReasonBagNotScanned      = "bag_not_scanned"      // a bagged parcel's bag was not scanned at the door
	ReasonBagMismatch        = "bag_mismatch"         // the bag scanned belongs to no parcel of the stop
	ReasonNoBaggedParcel     = "no_bagged_parcel"     // no open parcel of the stop is in a bag
	ReasonPasscodeNeeded     = "passcode_required"    // the parcel opens only with its passcode
	ReasonAlreadyDelivered   = "already_delivered"    // the stop's passcode parcels are delivered
	ReasonAttemptEnded       = "attempt_ended"        // the passcode attempt at the stop has ended
	ReasonNoPasscode         = "no_passcode_needed"   // no parcel at the stop needs a passcode
	ReasonNoAttemptsLeft     = "no_attempts_left"     // the stop's three evaluations are used up
	ReasonAssociateLocked    = "associate_locked"     // too many wrong codes: the station must unlock
	ReasonTooManyWrong       = "too_many_wrong"       // too many wrong codes in a short time
	ReasonResendLimit        = "resend_limit"         // the code was re-sent as often as allowed today
	ReasonFallbackNotAllowed = "fallback_not_allowed" // the shipper did not allow the phone-digits fallback
	ReasonNothingPlain       = "nothing_to_deliver"   // no open parcel can be delivered without the passcode
	ReasonPhotoForbidden     = "photo_forbidden"      // a privacy rule forbids a photo here
	ReasonPhotoMixed         = "photo_mixed"          // some parcels may be photographed and some may not
)

// RouteParcel is one parcel asked for on a new route.
type RouteParcel struct {
	TrackingID  string `json:"trackingId"`
	PlannedTime string `json:"plannedTime,omitempty"` // HH:MM local; default spreads stops from 09:00
}

// NewRoute is what a station asks to plan.
type NewRoute struct {
	AssociateID string        `json:"associateId"`
	ServiceDate string        `json:"serviceDate"`
	Parcels     []RouteParcel `json:"parcels"`
	TrackingIDs []string      `json:"trackingIds,omitempty"` // the short form: parcels without times
	// StartTime (HH:MM) is when the first stop without a time of its own
	// is planned; the others follow every quarter of an hour. Default 09:00.
	StartTime string `json:"startTime,omitempty"`
}

// Received is the answer to receiving a parcel at a station.
type Received struct {
	TrackingID string `json:"trackingId"`
	Stage      string `json:"stage"`
	Status     string `json:"status"`
	// Returned is true when the parcel came back from a failed attempt.
	Returned bool `json:"returned"`
	// NextAttemptDate is the first working day it may go out again, when it can.
	NextAttemptDate string `json:"nextAttemptDate,omitempty"`
	// ReturnToShipper is true when it has failed too many days and goes back.
	ReturnToShipper bool `json:"returnToShipper"`
	FailedDays      int  `json:"failedDays"`
}

// VerifyResult is the answer to a code entered at a stop. It never carries or
// hints at the code.
type VerifyResult struct {
	Correct      bool     `json:"correct"`
	Delivered    []string `json:"delivered"`
	AttemptsLeft int      `json:"attemptsLeft"`
	AttemptEnded bool     `json:"attemptEnded"`
	Stop         *Stop    `json:"stop"`
}

// AssociateStatus is what a station sees of one of its associates.
type AssociateStatus struct {
	ID         string     `json:"associateId"`
	Name       string     `json:"name"`
	Locked     bool       `json:"locked"`
	LockedAt   *time.Time `json:"lockedAt,omitempty"`
	WrongCodes int        `json:"wrongCodesInWindow"`
}

// Places an associate may choose for an unattended or handed-over delivery.
var DeliveryPlaces = []string{"DeliveredToPorch", "DeliveredToDoorStep", "DeliveredToMailRoom", "DeliveredToReceptionist",
	"DeliveredToHouseholdMember", "DeliveredToNeighbor", "DeliveredToCustomer"}

// AttemptReasons are the reasons an associate may record for a failed attempt.
var AttemptReasons = []string{"CustomerUnavailable", "UnableToAccess", "BusinessClosed", "OtpNotAvailable", "AddressNotFound", "Damaged"}

// StationService is the station's side of a delivery day. Every method is
// scoped to the station: parcels, routes and associates of others are
// ENOTFOUND.
type StationService interface {
	// ReceiveParcel records a parcel arriving at the station: from the shipper
	// (picked up) or back from a failed attempt.
	ReceiveParcel(ctx context.Context, station *Principal, trackingID string) (*Received, error)
	// CreateRoute plans a route for one of the station's associates.
	CreateRoute(ctx context.Context, station *Principal, nr NewRoute) (*Route, error)
	// FindRoute returns one of the station's routes.
	FindRoute(ctx context.Context, station *Principal, routeID string) (*Route, error)
	// ListRoutes returns the station's routes of a service date.
	ListRoutes(ctx context.Context, station *Principal, date string) ([]*Route, error)
	// MoveStop changes a stop's planned time (HH:MM).
	MoveStop(ctx context.Context, station *Principal, routeID, stopID, plannedTime string) (*Route, error)
	// Associates lists the station's associates with their lock state.
	Associates(ctx context.Context, station *Principal) ([]AssociateStatus, error)
	// UnlockAssociate lifts the wrong-code lock of one of its associates.
	UnlockAssociate(ctx context.Context, station *Principal, associateID string) error
	// Anomalies returns the figures of the station's associates on a
	// service date ("" for today) that stand out from the station's own
	// median: evidence for a person to review, never a sanction.
	Anomalies(ctx context.Context, station *Principal, date string) (*AnomalyReport, error)
	StationBoard
}

// AnomalyReport is a station's figures of one service date: each active
// associate's counts, the station's medians and the flags, most outstanding
// first (package anomaly).
type AnomalyReport struct {
	StationID   string
	ServiceDate string
	Medians     map[string]float64
	Flags       []anomaly.Flag
	Associates  []anomaly.Figures
}

// DoorService is the delivery associate's side. Every method acts only on the
// associate's own routes of today; anything else is ENOTFOUND, so tracking IDs
// and stop IDs cannot be probed.
type DoorService interface {
	// Itinerary returns the associate's routes of today.
	Itinerary(ctx context.Context, da *Principal) ([]*Route, error)
	// LoadRoute puts every parcel of the route out for delivery.
	LoadRoute(ctx context.Context, da *Principal, routeID string) (*Route, error)
	// FindStop returns a stop of today's route.
	FindStop(ctx context.Context, da *Principal, stopID string) (*Stop, error)
	// VerifyCode checks the code entered at a stop: a correct code delivers
	// every OTP parcel there; the third wrong one ends the attempt.
	VerifyCode(ctx context.Context, da *Principal, stopID, code string) (*VerifyResult, error)
	// VerifyPhoneDigits is the shipper's opt-in weaker fallback: the last two
	// digits of the recipient's phone, counted against the same attempts.
	VerifyPhoneDigits(ctx context.Context, da *Principal, stopID, digits string) (*VerifyResult, error)
	// ResendCode sends the day's code again to the label's own contacts.
	ResendCode(ctx context.Context, da *Principal, stopID string) (*Stop, error)
	// DeliverParcels completes non-OTP parcels with a place. An unattended
	// place needs the photo (JPEG, PNG or WebP) unless a privacy rule
	// applies, in which case no photo is accepted. A parcel whose label asks
	// for a signature or an age check is handed over in person with them
	// (see CheckHandover); one the ID shows too young for is refused with
	// ReasonAgeNotVerified and goes back to the station.
	DeliverParcels(ctx context.Context, da *Principal, stopID string, h Handover) (*Stop, error)
	// RecordAttempt records a failed attempt for the stop's open parcels.
	RecordAttempt(ctx context.Context, da *Principal, stopID, reason string) (*Stop, error)
	// ScanBag checks a bag ID scanned or typed at the stop against its bagged
	// parcels; a mismatch is recorded, with what was scanned, for customer
	// service, and refused.
	ScanBag(ctx context.Context, da *Principal, stopID, bagID string) (*Stop, error)
	// RefuseParcels records the recipient refusing bagged parcels whose seal
	// was broken: they go back to the station and a tamper case opens.
	RefuseParcels(ctx context.Context, da *Principal, stopID string, trackingIDs []string) (*Stop, error)
}
