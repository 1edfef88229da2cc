package handoff

import "context"

// Board is a station's day at a glance: where its parcels are, and how far
// each associate's route of the day is.
type Board struct {
	StationID   string         `json:"stationId"`
	ServiceDate string         `json:"serviceDate"`
	Counts      BoardCounts    `json:"counts"`
	Associates  []AssociateDay `json:"associates"`
}

// BoardCounts are a station's parcels of one service date. Waiting and Held
// are the parcels in the building now; Returning are those that started
// back to the shipper that day; the others are the parcels of the day's
// routes.
type BoardCounts struct {
	Waiting   int `json:"waiting"`   // received, waiting for a route
	Planned   int `json:"planned"`   // on a route whose van is not loaded
	Out       int `json:"out"`       // out for delivery, not settled yet
	Delivered int `json:"delivered"` // delivered on the day's routes
	Failed    int `json:"failed"`    // attempted or refused on the day's routes
	Returning int `json:"returning"` // started back to the shipper that day
	Held      int `json:"held"`      // held at the station for a customer-service case
}

// AssociateDay is one associate's routes of a service date, parcel by
// parcel: delivered, failed (attempted or refused), still to do.
type AssociateDay struct {
	AssociateID string `json:"associateId"`
	Name        string `json:"name"`
	Delivered   int    `json:"delivered"`
	Failed      int    `json:"failed"`
	ToDo        int    `json:"toDo"`
}

// Total is the associate's parcels of the day, settled or not (parcels the
// station took back unattempted do not count).
func (a AssociateDay) Total() int { return a.Delivered + a.Failed + a.ToDo }

// What a parcel waiting for a route may need (WaitingFilter.Needs).
const (
	NeedPasscode = "passcode"
	NeedBag      = "bag"
	NeedGarage   = "garage"
)

// WaitingNeeds lists the values WaitingFilter.Needs takes besides "".
var WaitingNeeds = []string{NeedPasscode, NeedBag, NeedGarage}

// WaitingFilter selects parcels waiting for a route; empty fields match
// every parcel.
type WaitingFilter struct {
	// PostcodePrefix matches the start of the recipient's postcode, in
	// any case and ignoring spaces.
	PostcodePrefix string
	// Needs is NeedPasscode, NeedBag or NeedGarage.
	Needs string
}

// WaitingParcel is a parcel in the building waiting for a route.
type WaitingParcel struct {
	TrackingID    string `json:"trackingId"`
	RecipientName string `json:"recipientName"`
	AddressLine1  string `json:"addressLine1"`
	City          string `json:"city"`
	PostalCode    string `json:"postalCode"`
	Passcode      bool   `json:"passcode"`
	Bag           bool   `json:"bag"`
	Garage        bool   `json:"garage"` // the recipient has a garage opener for parcels at this address
	// LastAttempt is the service date of its last attempt, "" for a first
	// attempt: a re-attempt goes out on a later working day.
	LastAttempt string `json:"lastAttempt,omitempty"`
}

// Time warnings (TimeWarning.Code): a stop planned at a time the station
// may still choose, but should think twice about.
const (
	WarnPast         = "past"                  // today, at a time already gone
	WarnContactHours = "outside_contact_hours" // a passcode stop outside contact hours
)

// TimeWarning is a warning about the times a plan or a move would give
// stops: Stops of them would be planned so. Field is the request field it is
// about ("startTime", "parcels[2].plannedTime", "plannedTime").
type TimeWarning struct {
	Code  string `json:"code"`
	Field string `json:"field"`
	Stops int    `json:"stops"`
	Now   string `json:"now,omitempty"` // the time now (HH:MM) for WarnPast
	Hours string `json:"contactHours,omitempty"`
}

// StationBoard is the station's day at a glance and its waiting parcels, and
// what planning and moving stops would do before it is done.
type StationBoard interface {
	// Board returns the station's counts and associates' progress of a
	// service date ("" for today).
	Board(ctx context.Context, station *Principal, date string) (*Board, error)
	// Waiting lists the parcels in the building waiting for a route, by
	// postcode.
	Waiting(ctx context.Context, station *Principal, f WaitingFilter) ([]WaitingParcel, error)
	// PlanWarnings checks a route as CreateRoute would, storing nothing,
	// and says which of its stops would be planned in the past or, needing
	// a passcode, outside contact hours.
	PlanWarnings(ctx context.Context, station *Principal, nr NewRoute) ([]TimeWarning, error)
	// MoveWarnings says the same of moving a stop to plannedTime.
	MoveWarnings(ctx context.Context, station *Principal, routeID, stopID, plannedTime string) ([]TimeWarning, error)
	// ReorderStop moves a stop of a route not loaded yet one place earlier
	// (up) or later; it takes the planned time of the place it moves to.
	ReorderStop(ctx context.Context, station *Principal, routeID, stopID string, up bool) (*Route, error)
}
