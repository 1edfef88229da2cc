package demo

import (
	"context"
	"fmt"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/garage"
)

// DayStore is what staging a delivery day needs.
type DayStore interface {
	handoff.StationService
	handoff.BagService
	handoff.GarageService
}

// Day describes what Stage prepared.
type Day struct {
	RouteID     string
	ServiceDate string
	Sealed      int
	Garage      string // the recipient with a simulated garage, if any
}

// Stage gets the seeded parcels ready for a delivery day: received at the
// station (so the recipients are told they are on their way), bagged parcels
// sealed, a simulated garage with key delivery for one recipient, and
// today's route for the first associate, which it loads in the
// app. today is the service date now (YYYY-MM-DD).
func Stage(ctx context.Context, st DayStore, s *Seeded, today string) (*Day, error) {
	out := &Day{ServiceDate: today}
	station := s.Station.Principal
	var ids []string
	for _, sh := range s.Shipments {
		for _, p := range sh.Packages {
			if _, err := st.ReceiveParcel(ctx, station, p.TrackingID); err != nil {
				return nil, fmt.Errorf("demo receive %s: %w", p.TrackingID, err)
			}
			ids = append(ids, p.TrackingID)
		}
	}
	batch, err := st.IssueBatch(ctx, station, "", 12)
	if err != nil {
		return nil, fmt.Errorf("demo bags: %w", err)
	}
	next := 0
	for _, sh := range s.Shipments {
		for _, p := range sh.Packages {
			if !p.Decision.BagRequired {
				continue
			}
			if _, err := st.SealParcel(ctx, station, p.TrackingID, batch.Bags[next].ID); err != nil {
				return nil, fmt.Errorf("demo seal %s: %w", p.TrackingID, err)
			}
			next++
			out.Sealed++
		}
	}
	// Tom Baker (second parcel) has a simulated garage with key delivery on.
	if len(s.Shipments) > 1 {
		to := s.Shipments[1].ShipTo
		g, err := st.EnrollGarage(ctx, s.Shipments[1].RecipientMobile, handoff.GarageEnrollment{Kind: garage.KindSimulator, Label: "Tom's garage",
			AddressLine1: to.AddressLine1, PostalCode: to.PostalCode, SimulatorID: "demo-tom"})
		if err != nil {
			return nil, fmt.Errorf("demo garage: %w", err)
		}
		if err := st.SetKeyDelivery(ctx, s.Shipments[1].RecipientMobile, g.ID, true); err != nil {
			return nil, fmt.Errorf("demo garage: %w", err)
		}
		out.Garage = to.Name
	}
	var parcels []handoff.RouteParcel
	for i, id := range ids {
		rp := handoff.RouteParcel{TrackingID: id}
		if i == 0 {
			rp.PlannedTime = "07:30" // an OTP stop planned before contact hours: flagged for the station
		}
		parcels = append(parcels, rp)
	}
	r, err := st.CreateRoute(ctx, station, handoff.NewRoute{AssociateID: s.Associates[0].Principal.ID, ServiceDate: today, Parcels: parcels})
	if err != nil {
		return nil, fmt.Errorf("demo route: %w", err)
	}
	out.RouteID = r.ID
	return out, nil
}
