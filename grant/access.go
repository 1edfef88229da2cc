package grant

import (
	"math"
	"slices"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/route"
)

// Stop is what the store knows of a stop when an associate asks for its
// garage: facts only, decided on here.
type Stop struct {
	ID          string
	AssociateID string // the associate of the stop's route
	ServiceDate string // the route's date, YYYY-MM-DD
	Market      string
	Loaded      bool     // the route's van is loaded: its parcels are out for delivery
	Grants      []string // the states of the stop's grants, in any order
	// Parcels are the stop's open parcels whose recipient enrolled an opener
	// at the address and has key delivery on for everything or for that
	// parcel, each with the first such opener.
	Parcels []Parcel
}

// Parcel is an open parcel of a stop that could go into a garage.
type Parcel struct {
	TrackingID   string
	GarageID     string
	GarageAt     *handoff.Position // where the opener is, when the recipient said
	OTP          bool              // the parcel needs the passcode
	GarageForOTP bool              // its shipper lets the garage stand in for the passcode
	Bagged       bool              // it travels in a tamper-evident bag …
	BagScanned   bool              // … whose ID was scanned at this stop
	// InPerson: its label asks for a signature or an age check, so it is
	// only ever handed over in person, never left in a garage.
	InPerson bool
}

// Request is who asks, where and when.
type Request struct {
	Associate   bool   // the caller is a delivery associate
	AssociateID string // who
	Today       string // the service date now in the stop's marketplace
	Minute      int    // the minute of the day now there
	Window      route.Hours
	At          *handoff.Position // the phone's position, when it sent one
	NearMeters  float64           // how close to the opener the phone must be
}

// Access is what Decide grants: one opener, for these parcels.
type Access struct {
	GarageID    string
	TrackingIDs []string
}

// Reasons Decide refuses, beside the safe message, besides the door's
// (handoff.ReasonRouteNotLoaded and the like), which it shares.
const (
	ReasonOutsideWindow   = "outside_window"
	ReasonKeyDeliveryOff  = "key_delivery_off"
	ReasonOutsideGeofence = "outside_geofence"
	ReasonGrantInUse      = "grant_in_use"
	ReasonDoorNotOpened   = "door_did_not_open"
	ReasonDoorStuck       = "door_did_not_close"
)

// OnRoute returns nil when the stop is on the associate's own route of
// today: the stops whose grants the associate may see and close. It is
// ENOTFOUND otherwise, the same as for a stop that does not exist.
func OnRoute(s Stop, r Request) error {
	if !r.Associate {
		return handoff.Errorf(handoff.EFORBIDDEN, "This action is for associate accounts.")
	}
	if s.AssociateID != r.AssociateID || s.ServiceDate != r.Today {
		return handoff.NotFound("Stop")
	}
	return nil
}

// Decide returns which garage the associate may open now at the stop, and
// for which parcels, or why not; the checks run in this order:
//   - the stop is on the associate's own route of today (ENOTFOUND) and the
//     route is loaded;
//   - no door at the stop is reported not to have closed;
//   - it is the delivery window in the marketplace's local time;
//   - a recipient at the address has key delivery on for an open parcel;
//   - every bagged parcel for that garage had its bag scanned;
//   - a passcode parcel goes in only when its shipper lets the garage stand
//     in for the code, a parcel that needs a signature or an age check never
//     does, and something must be left;
//   - the phone, when it sent its position and the opener has one, is near;
//   - no other grant of the stop is live (the store's unique index holds
//     this under races; the check here gives the reason early).
func Decide(s Stop, r Request) (Access, error) {
	if err := OnRoute(s, r); err != nil {
		return Access{}, err
	}
	if !s.Loaded {
		return Access{}, handoff.Refuse(handoff.EPRECONDITION, handoff.ReasonRouteNotLoaded, "Load the route first: its parcels are not out for delivery yet.")
	}
	if slices.Contains(s.Grants, handoff.GrantCloseFailed) {
		return Access{}, handoff.Refuse(handoff.EPRECONDITION, handoff.ReasonDoorNotClosed,
			"The garage door at this stop did not close: the stop cannot be finished as a normal delivery until customer service resolves it.")
	}
	if !r.Window.Contains(r.Minute) {
		return Access{}, handoff.Refuse(handoff.EPRECONDITION, ReasonOutsideWindow, "Garages are opened only in the delivery window (%s local time).", r.Window)
	}
	if len(s.Parcels) == 0 {
		return Access{}, handoff.Refuse(handoff.EPRECONDITION, ReasonKeyDeliveryOff, "Key delivery is not on for any open parcel at this stop.")
	}
	first := s.Parcels[0]
	a := Access{GarageID: first.GarageID}
	inPerson := false
	for _, p := range s.Parcels {
		if p.GarageID == a.GarageID && p.InPerson {
			inPerson = true
			continue
		}
		if p.GarageID != a.GarageID || (p.OTP && !p.GarageForOTP) {
			continue
		}
		if p.Bagged && !p.BagScanned {
			return Access{}, handoff.Refuse(handoff.EPRECONDITION, handoff.ReasonBagNotScanned, "Scan the tamper-evident bag of %s before opening the garage.", p.TrackingID)
		}
		a.TrackingIDs = append(a.TrackingIDs, p.TrackingID)
	}
	if len(a.TrackingIDs) == 0 && inPerson {
		return Access{}, handoff.Refuse(handoff.EFORBIDDEN, handoff.ReasonAttendedOnly, "The parcels here need a signature or an age check: hand them over in person; they never go into a garage.")
	}
	if len(a.TrackingIDs) == 0 {
		return Access{}, handoff.Refuse(handoff.EPRECONDITION, handoff.ReasonPasscodeNeeded, "The parcels here need the passcode: garage delivery does not replace it for this shipper.")
	}
	if r.At != nil && !(math.Abs(r.At.Lat) <= 90 && math.Abs(r.At.Lon) <= 180) {
		return Access{}, handoff.Invalid(handoff.FieldError{Field: "lat", Message: "is not a position in degrees"})
	}
	if r.At != nil && first.GarageAt != nil && MetersBetween(*r.At, *first.GarageAt) > r.NearMeters {
		return Access{}, handoff.Refuse(handoff.EFORBIDDEN, ReasonOutsideGeofence, "You are not at the delivery address.")
	}
	if slices.ContainsFunc(s.Grants, Live) {
		return Access{}, inUse()
	}
	return a, nil
}

// MetersBetween is the great-circle distance of two positions.
func MetersBetween(a, b handoff.Position) float64 {
	const r = 6371000.0
	p1, p2 := a.Lat*math.Pi/180, b.Lat*math.Pi/180
	dp, dl := (b.Lat-a.Lat)*math.Pi/180, (b.Lon-a.Lon)*math.Pi/180
	h := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Atan2(math.Sqrt(h), math.Sqrt(1-h))
}
