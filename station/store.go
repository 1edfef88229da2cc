package station

import (
	"context"
	"fmt"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/anomaly"
	"github.com/handoff-dev/handoff/tracking"
)

// Store is what the station's rules need of storage: reads, and a few
// operations that the database makes atomic. It decides nothing; sqlstore
// implements it.
type Store interface {
	// Today returns the service date now in a marketplace.
	Today(market string) string
	// FindPrincipal returns an account by ID, or ENOTFOUND.
	FindPrincipal(ctx context.Context, id string) (*handoff.Principal, error)

	// StationParcel returns what the station's rules read of a parcel, or
	// ENOTFOUND.
	StationParcel(ctx context.Context, trackingID string) (*Parcel, error)
	// StationParcels is StationParcel for many parcels at once, by
	// tracking ID; the missing are not in the map.
	StationParcels(ctx context.Context, trackingIDs []string) (map[string]*Parcel, error)
	// MoveParcel makes a move in one transaction: it reads the parcel
	// there (ENOTFOUND when there is none) and makes the move decide
	// returns for it; an error from decide is returned and nothing is
	// written. The parcel changes stage only if it is still in the move's
	// From, else *Changed. decide must not call the store.
	MoveParcel(ctx context.Context, trackingID string, decide func(*Parcel) (*Move, error)) (*Moved, error)
	// RecordRoute makes a route in one transaction: it reads the parcels
	// there (as StationParcels), asks plan for the route, stores it and
	// moves its parcels from its From to its To, and returns the route as
	// the transaction leaves it. An error from plan is returned and nothing
	// is written; a parcel no longer in From is *Changed. plan must not
	// call the store (Today aside, which reads nothing stored).
	RecordRoute(ctx context.Context, trackingIDs []string, plan func(found map[string]*Parcel) (RoutePlan, error)) (*handoff.Route, error)
	// Route returns a route with its stops and parcels, or ENOTFOUND.
	Route(ctx context.Context, routeID string) (*handoff.Route, error)
	// StationRoutes returns a station's routes of a service date, oldest
	// first.
	StationRoutes(ctx context.Context, stationID, date string) ([]*handoff.Route, error)
	// SetStopTime plans a stop at minute (of the day) if a parcel of it is
	// still open; false when none is.
	SetStopTime(ctx context.Context, routeID, stopID string, minute int) (bool, error)
	// StationAssociates returns the associates whose home is the station,
	// with their wrong-code lock state.
	StationAssociates(ctx context.Context, stationID string) ([]handoff.AssociateStatus, error)
	// AnomalyFigures returns the day's counts of the station's associates
	// who had a route on date or an audited action in [from, to).
	AnomalyFigures(ctx context.Context, stationID, date string, from, to time.Time) ([]anomaly.Figures, error)
	// ClearWrongCodes lifts an associate's wrong-code lock and count.
	ClearWrongCodes(ctx context.Context, associateID string) error
	// Clock returns the time now.
	Clock() time.Time
	// DayParcels returns the station's parcels of a service date as the
	// board counts them: those waiting or held now, those that started
	// back to the shipper in [from, to), and the parcels of the day's routes
	// by associate, outcome and stage.
	DayParcels(ctx context.Context, stationID, date string, from, to time.Time) (*DayParcels, error)
	// WaitingParcels returns the parcels at the station waiting for a
	// route.
	WaitingParcels(ctx context.Context, stationID string) ([]handoff.WaitingParcel, error)
	// SwapStops swaps the places (position and planned time) of two stops
	// of a route, if the route is still planned; false when it is not.
	SwapStops(ctx context.Context, routeID, stopA, stopB string) (bool, error)

	// RecordBatch issues n new bags with fresh IDs to a station ("" for
	// none yet), issued by issuer.
	RecordBatch(ctx context.Context, stationID, issuer string, n int) (*handoff.BagBatch, error)
	// Batch returns a batch without its bags, or ENOTFOUND.
	Batch(ctx context.Context, batchID string) (*handoff.BagBatch, error)
	// FindBags returns the bags that match every field set in f, oldest
	// first.
	FindBags(ctx context.Context, f BagFilter) ([]handoff.Bag, error)
	// RecordSeal seals a parcel into a bag in one transaction, or returns
	// *Changed naming the bag or the parcel that was no longer as s expects.
	RecordSeal(ctx context.Context, s Seal) error
	// RecordVoid voids a bag, and takes it off the parcel sealed in it, in
	// one transaction, or returns *Changed naming the bag or the parcel
	// that was no longer as v expects.
	RecordVoid(ctx context.Context, v Void) error
}

// Parcel is what the station's rules read of a parcel.
type Parcel struct {
	TrackingID  string
	Stage       string
	StationID   string // "" while it is a label
	Marketplace string
	LastAttempt string // the service date of its last attempt, "" when none
	FailedDays  int
	OTPRequired bool
	BagRequired bool
	BagID       string // the bag it is sealed in now, "" when none
	ShipTo      handoff.Address
	Mobile      string
	// TamperCase is the status of its newest tamper case ("" when none),
	// closed with TamperOutcome; Refused says a recipient refused it.
	TamperCase    string
	TamperOutcome string
	Refused       bool
}

// Location is where the parcel's events happen.
func (p *Parcel) Location() tracking.Location {
	return tracking.Location{City: p.ShipTo.City, StateOrRegion: p.ShipTo.StateOrRegion, PostalCode: p.ShipTo.PostalCode, CountryCode: p.Marketplace}
}

// Move is one parcel moving from one stage to another at a station.
type Move struct {
	TrackingID string
	From, To   string
	StationID  string           // the station it is at after the move
	Events     []tracking.Event // recorded in order, at the store's time
	// Tell sends the recipient the message of the move: that the parcel is
	// on its way (picked up) or that it goes back to the shipper.
	Tell bool
	// LeaveRoute settles the parcel on its route as returned; a day whose
	// codes were tried (or re-sent) at its stop becomes its attempt day, in
	// the same transaction as the guesses are counted.
	LeaveRoute bool
}

// Moved is a parcel after a move.
type Moved struct {
	Status      string // its tracking status
	LastAttempt string // the service date of its last attempt
}

// RoutePlan is a route the rules have planned, to be stored.
type RoutePlan struct {
	StationID, AssociateID, ServiceDate, Marketplace string
	Status                                           string // handoff.RoutePlanned
	From, To                                         string // the stages its parcels move between
	Stops                                            []PlannedStop
}

// PlannedStop is one stop of a planned route: a recipient at an address.
type PlannedStop struct {
	Key         string
	Recipient   handoff.Address // its name and address
	CountryCode string
	Mobile      string
	Minute      int    // the planned time, in minutes of the day
	OTPState    string // handoff.OTPNone or handoff.OTPPending
	Asked       bool   // the time was asked for a parcel, not spread from the start
	TrackingIDs []string
}

// BagFilter selects bags; empty fields match every bag.
type BagFilter struct {
	ID, StationID, State, TrackingID, BatchID string
}

// Seal is a parcel sealed into a bag at a station. The bag moves from
// BagFrom to BagTo if it is issued to the station or to none (it becomes
// the station's); the parcel takes the bag if it has none and is in one of
// ParcelStages.
type Seal struct {
	BagID, TrackingID, StationID string
	BagFrom, BagTo               string
	ParcelStages                 []string
	Event                        tracking.Event // recorded on the parcel, at the store's time
}

// Void is a bag taken out of use by a station. The bag moves from one of
// BagFrom to BagTo if it is the station's (or an issued bag of none); a
// parcel sealed in it loses it if it is in one of ParcelStages.
type Void struct {
	BagID, StationID, Note string
	BagFrom                []string
	BagTo                  string
	ParcelStages           []string
	// Event is recorded on the parcel in the bag, if any, at the parcel's
	// place and the store's time.
	Event tracking.Event
}

// Changed is the error of a store operation whose conditional update found
// a parcel or bag no longer as the rules saw it: someone else moved it.
type Changed struct {
	Bag bool   // the bag, not the parcel
	ID  string // its tracking or bag ID
}

func (c *Changed) Error() string {
	what := "parcel"
	if c.Bag {
		what = "bag"
	}
	return fmt.Sprintf("%s %s was changed meanwhile", what, c.ID)
}

// DayParcels are the counts a station's board is made of.
type DayParcels struct {
	// Stages counts the parcels at the station now by stage (station,
	// held), and the returning ones by the day they started back.
	Stages map[string]int
	// Routes counts the parcels of the day's routes.
	Routes []RouteTally
}

// RouteTally is how many parcels of an associate's routes of the day have
// an outcome (handoff.Outcome*) and a stage.
type RouteTally struct {
	AssociateID, Outcome, Stage string
	N                           int
}
