package station

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/locale"
	"github.com/handoff-dev/handoff/route"
)

var _ handoff.StationBoard = (*Service)(nil)

// Board implements handoff.StationBoard. Every associate of the station is
// listed, with or without a route that day, then any other associate who
// has one.
func (s *Service) Board(ctx context.Context, st *handoff.Principal, date string) (*handoff.Board, error) {
	if err := requireStation(st); err != nil {
		return nil, err
	}
	date, from, err := s.stationDay(st, date)
	if err != nil {
		return nil, err
	}
	day, err := s.store.DayParcels(ctx, st.ID, date, from, from.AddDate(0, 0, 1))
	if err != nil {
		return nil, err
	}
	as, err := s.store.StationAssociates(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	b := &handoff.Board{StationID: st.ID, ServiceDate: date, Associates: []handoff.AssociateDay{}, Counts: handoff.BoardCounts{
		Waiting: day.Stages[handoff.StageStation], Held: day.Stages[handoff.StageHeld], Returning: day.Stages[handoff.StageReturning]}}
	idx := map[string]int{}
	for _, a := range as {
		idx[a.ID] = len(b.Associates)
		b.Associates = append(b.Associates, handoff.AssociateDay{AssociateID: a.ID, Name: a.Name})
	}
	for _, t := range day.Routes {
		i, ok := idx[t.AssociateID]
		if !ok {
			name := t.AssociateID
			if p, err := s.store.FindPrincipal(ctx, t.AssociateID); err == nil {
				name = p.Name
			}
			i, idx[t.AssociateID] = len(b.Associates), len(b.Associates)
			b.Associates = append(b.Associates, handoff.AssociateDay{AssociateID: t.AssociateID, Name: name})
		}
		a := &b.Associates[i]
		switch t.Outcome {
		case handoff.OutcomeOpen:
			a.ToDo += t.N
			switch t.Stage {
			case handoff.StageRouted:
				b.Counts.Planned += t.N
			case handoff.StageOut:
				b.Counts.Out += t.N
			}
		case handoff.OutcomeDelivered:
			a.Delivered += t.N
			b.Counts.Delivered += t.N
		case handoff.OutcomeAttempted, handoff.OutcomeRefused:
			a.Failed += t.N
			b.Counts.Failed += t.N
		}
	}
	return b, nil
}

// maxPostcodePrefix bounds the postcode filter; no postcode is longer.
const maxPostcodePrefix = 12

// Waiting implements handoff.StationBoard: the parcels in postcode order,
// as a round would take them.
func (s *Service) Waiting(ctx context.Context, st *handoff.Principal, f handoff.WaitingFilter) ([]handoff.WaitingParcel, error) {
	if err := requireStation(st); err != nil {
		return nil, err
	}
	var fe handoff.FieldErrors
	if f.Needs != "" && !slices.Contains(handoff.WaitingNeeds, f.Needs) {
		fe.Add("needs", "must be one of %s", strings.Join(handoff.WaitingNeeds, ", "))
	}
	prefix := route.PostcodeKey(f.PostcodePrefix)
	if len(prefix) > maxPostcodePrefix {
		fe.Add("postcode", "is longer than any postcode (at most %d characters)", maxPostcodePrefix)
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	all, err := s.store.WaitingParcels(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	out := []handoff.WaitingParcel{}
	for _, p := range all {
		if !strings.HasPrefix(route.PostcodeKey(p.PostalCode), prefix) ||
			(f.Needs == handoff.NeedPasscode && !p.Passcode) || (f.Needs == handoff.NeedBag && !p.Bag) || (f.Needs == handoff.NeedGarage && !p.Garage) {
			continue
		}
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b handoff.WaitingParcel) int {
		return cmp.Or(route.ComparePostcodes(a.PostalCode, b.PostalCode), strings.Compare(a.AddressLine1, b.AddressLine1),
			strings.Compare(a.TrackingID, b.TrackingID))
	})
	return out, nil
}

// PlanWarnings implements handoff.StationBoard: the same checks and the same
// stops as CreateRoute, stored nowhere.
func (s *Service) PlanWarnings(ctx context.Context, st *handoff.Principal, nr handoff.NewRoute) ([]handoff.TimeWarning, error) {
	plan, err := s.planRoute(ctx, st, nr)
	if err != nil {
		return nil, err
	}
	var stops []stopTime
	for _, ps := range plan.Stops {
		field := "startTime"
		if ps.Asked {
			field = "parcels"
		}
		stops = append(stops, stopTime{minute: ps.Minute, passcode: ps.OTPState == handoff.OTPPending, field: field})
	}
	return s.timeWarnings(plan.Marketplace, plan.ServiceDate, stops), nil
}

// MoveWarnings implements handoff.StationBoard.
func (s *Service) MoveWarnings(ctx context.Context, st *handoff.Principal, routeID, stopID, plannedTime string) ([]handoff.TimeWarning, error) {
	r, i, err := s.routeStop(ctx, st, routeID, stopID)
	if err != nil {
		return nil, err
	}
	m, err := route.ParseClock(plannedTime)
	if err != nil {
		return nil, handoff.Invalid(handoff.FieldError{Field: "plannedTime", Message: err.Error()})
	}
	return s.timeWarnings(r.Marketplace, r.ServiceDate, []stopTime{{minute: m, passcode: r.Stops[i].OTPState == handoff.OTPPending, field: "plannedTime"}}), nil
}

// stopTime is a stop's planned time as the warnings read it.
type stopTime struct {
	minute   int
	passcode bool   // the stop waits for its passcode
	field    string // the request field its time came from
}

// timeWarnings says which stops of a service date in a marketplace would be
// planned at a time already gone today, and which passcode stops outside
// contact hours (SPEC §1, Timing: they should not be, but may). Each warning
// names the field of its first stop.
func (s *Service) timeWarnings(mkt, date string, stops []stopTime) []handoff.TimeWarning {
	now := s.store.Clock().In(locale.Zone(mkt))
	nowMinute := now.Hour()*60 + now.Minute()
	today := date == s.store.Today(mkt)
	past := handoff.TimeWarning{Code: handoff.WarnPast, Now: route.FormatClock(nowMinute)}
	hours := handoff.TimeWarning{Code: handoff.WarnContactHours, Hours: s.policy.ContactHours.String()}
	for _, st := range stops {
		if today && st.minute < nowMinute {
			past.Stops++
			past.Field = cmp.Or(past.Field, st.field)
		}
		if st.passcode && !s.policy.ContactHours.Contains(st.minute) {
			hours.Stops++
			hours.Field = cmp.Or(hours.Field, st.field)
		}
	}
	var out []handoff.TimeWarning
	for _, w := range []handoff.TimeWarning{past, hours} {
		if w.Stops > 0 {
			out = append(out, w)
		}
	}
	return out
}

// ReorderStop implements handoff.StationBoard: the order changes until the
// van is loaded, while the route's day is not over.
func (s *Service) ReorderStop(ctx context.Context, st *handoff.Principal, routeID, stopID string, up bool) (*handoff.Route, error) {
	r, i, err := s.routeStop(ctx, st, routeID, stopID)
	if err != nil {
		return nil, err
	}
	loaded := handoff.Refuse(handoff.ECONFLICT, handoff.ReasonRouteLoaded, "The van is loaded; the order of the stops can no longer change.")
	switch {
	case r.Status != handoff.RoutePlanned:
		return nil, loaded
	case r.ServiceDate < s.store.Today(r.Marketplace):
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonDayOver, "The route's day is over; its stops can no longer be moved.")
	}
	j := i + 1
	if up {
		j = i - 1
	}
	if j < 0 || j >= len(r.Stops) {
		return r, nil // already first, or last
	}
	ok, err := s.store.SwapStops(ctx, routeID, r.Stops[i].ID, r.Stops[j].ID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, loaded
	}
	return s.stationRoute(ctx, st, routeID)
}

// routeStop returns a route of the station and the index of one of its
// stops, or ENOTFOUND.
func (s *Service) routeStop(ctx context.Context, st *handoff.Principal, routeID, stopID string) (*handoff.Route, int, error) {
	r, err := s.stationRoute(ctx, st, routeID)
	if err != nil {
		return nil, 0, err
	}
	i := slices.IndexFunc(r.Stops, func(stop handoff.Stop) bool { return stop.ID == stopID })
	if i < 0 {
		return nil, 0, handoff.NotFound("Stop")
	}
	return r, i, nil
}
