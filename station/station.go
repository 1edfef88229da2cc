// Package station is the station's side of a delivery day, as rules: what
// receiving a parcel does, how a route is planned and changed, who may
// unlock an associate, and how tamper-evident bags are issued, sealed and
// voided. It asks the pure rules of the domain (handoff's stage and bag
// tables, route's grouping and dates), words every refusal, and leaves to
// its Store only what the database must make atomic.
package station

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/anomaly"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/tracking"
)

// Service implements handoff.StationService and handoff.BagService.
type Service struct {
	store  Store
	policy handoff.Policy
}

// NewService returns the station's service over store, with the operator's
// delivery policy.
func NewService(store Store, policy handoff.Policy) *Service {
	return &Service{store: store, policy: policy}
}

var (
	_ handoff.StationService = (*Service)(nil)
	_ handoff.BagService     = (*Service)(nil)
)

// requireStation refuses anyone but a station account.
func requireStation(p *handoff.Principal) error {
	if p == nil || p.Kind != auth.KindStation {
		return handoff.Errorf(handoff.EFORBIDDEN, "This action is for %s accounts.", auth.KindStation)
	}
	return nil
}

// visibleTo reports whether a station may see a parcel: one at the station,
// or a new label in the station's marketplace (which it may receive).
func visibleTo(p *Parcel, st *handoff.Principal) bool {
	if p.StationID != "" {
		return p.StationID == st.ID
	}
	return p.Stage == handoff.StageLabel && (st.Market == "" || st.Market == p.Marketplace)
}

// stageWords names a stage in a sentence ("awaiting return").
func stageWords(stage string) string { return strings.ReplaceAll(stage, "_", " ") }

// msgChanged is the refusal of a move someone else made first.
const msgChanged = "The parcel was changed by someone else; try again."

// ReceiveParcel implements handoff.StationService. A new label is picked up
// and arrives; a parcel back from a failed attempt arrives and is ready for
// a later working day, held for an open tamper case, or goes back to the
// shipper; a parcel taken off a route comes back undelivered.
func (s *Service) ReceiveParcel(ctx context.Context, st *handoff.Principal, trackingID string) (*handoff.Received, error) {
	if err := requireStation(st); err != nil {
		return nil, err
	}
	// The parcel is read in the move's own transaction and the rules
	// decide on that very row: nobody can move it in between.
	var p *Parcel
	var to string
	moved, err := s.store.MoveParcel(ctx, trackingID, func(parcel *Parcel) (*Move, error) {
		p = parcel
		if !visibleTo(p, st) {
			return nil, handoff.NotFound("Parcel")
		}
		a := arrive(p, st.Name, s.policy.MaxFailedDays)
		var ok bool
		to, ok = handoff.NextStage(p.Stage, a.action)
		switch {
		case !ok && p.Stage == handoff.StageStation:
			return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonWrongStage, "The parcel is already at the station.")
		case !ok:
			return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonWrongStage, "The parcel cannot be received now (it is %s).", stageWords(p.Stage))
		}
		for i := range a.events {
			a.events[i].Location, a.events[i].Actor = stationPlace(st, p), st.ID
		}
		return &Move{TrackingID: p.TrackingID, From: p.Stage, To: to, StationID: st.ID, Events: a.events, Tell: a.tell, LeaveRoute: a.leaveRoute}, nil
	})
	var ch *Changed
	if errors.As(err, &ch) {
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonChanged, msgChanged)
	}
	if err != nil {
		return nil, err
	}
	out := &handoff.Received{TrackingID: p.TrackingID, Stage: to, Status: moved.Status, FailedDays: p.FailedDays,
		Returned: p.Stage != handoff.StageLabel, ReturnToShipper: to == handoff.StageReturning}
	if to == handoff.StageStation && p.Stage != handoff.StageLabel {
		out.NextAttemptDate = nextAttemptDate(s.policy.WorkingDays, moved.LastAttempt, s.store.Today(p.Marketplace))
	}
	return out, nil
}

// arrival is what receiving a parcel does.
type arrival struct {
	action     handoff.Action
	events     []tracking.Event // without place and actor
	tell       bool             // the recipient is told
	leaveRoute bool
}

// arrive decides what receiving a parcel at the station called station
// does, by where the parcel comes from.
func arrive(p *Parcel, station string, maxFailedDays int) arrival {
	arrived := func(note string) tracking.Event {
		return tracking.Event{Code: tracking.ArrivedAtCarrierFacility, Note: note}
	}
	switch p.Stage {
	case handoff.StageLabel:
		return arrival{action: handoff.ActReceive, tell: true, events: []tracking.Event{
			{Code: tracking.PickupDone, Note: "Picked up"}, arrived("Arrived at " + station)}}
	case handoff.StageRouted, handoff.StageOut:
		// Back undelivered and unattempted (a van that came back, a route
		// that never left): it leaves its route and waits again. Codes
		// tried at its stop make the day an attempt: routing it again the
		// same day would otherwise give a fresh three guesses at one code.
		return arrival{action: handoff.ActReceive, leaveRoute: true, events: []tracking.Event{arrived("Back at " + station + " undelivered")}}
	case handoff.StageAwaitingReturn:
		// A refused tampered parcel follows its case: back to the shipper
		// if customer service already said so, held while it is open.
		switch {
		case p.Refused && p.TamperCase == handoff.CaseClosed && handoff.CaseSendsBack(p.TamperOutcome):
			return arrival{action: handoff.ActReturn, events: []tracking.Event{{Code: tracking.ReturnInitiated,
				Note: "Returning to shipper, as customer service decided on the tamper case"}}}
		case p.TamperCase == handoff.CaseOpen:
			return arrival{action: handoff.ActHold, events: []tracking.Event{arrived("Returned to " + station + "; held for customer service (tamper case)")}}
		case p.FailedDays >= maxFailedDays:
			return arrival{action: handoff.ActReturn, tell: true, events: []tracking.Event{arrived("Returned to " + station),
				{Code: tracking.ReturnInitiated, Note: fmt.Sprintf("Returning to shipper after %d failed delivery days", p.FailedDays)}}}
		}
		return arrival{action: handoff.ActReattempt, events: []tracking.Event{arrived("Returned to " + station + " after a failed attempt")}}
	}
	return arrival{action: handoff.ActReceive}
}

// nextAttemptDate is the first working day after the last attempt that is
// not in the past: today when today is a working day after the last
// attempt.
func nextAttemptDate(wd route.WorkingDays, lastAttempt, today string) string {
	next := today
	if lastAttempt != "" {
		next = wd.NextAfter(lastAttempt)
	}
	if next < today || !wd.IsWorkingDay(next) {
		if wd.IsWorkingDay(today) && today > lastAttempt {
			next = today
		} else {
			next = wd.NextAfter(today)
		}
	}
	return next
}

// CreateRoute implements handoff.StationService. Every fault is reported
// at once, and nothing is stored when there is one.
func (s *Service) CreateRoute(ctx context.Context, st *handoff.Principal, nr handoff.NewRoute) (*handoff.Route, error) {
	req, err := s.routeRequest(ctx, st, nr)
	if err != nil {
		return nil, err
	}
	// The parcels are read, and the route planned, in the transaction that
	// stores it.
	r, err := s.store.RecordRoute(ctx, req.ids, req.plan)
	var ch *Changed
	if errors.As(err, &ch) {
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonChanged, "Parcel %s was put on another route meanwhile.", ch.ID)
	}
	return r, err
}

// planRoute checks a new route and plans its stops, storing nothing.
func (s *Service) planRoute(ctx context.Context, st *handoff.Principal, nr handoff.NewRoute) (RoutePlan, error) {
	req, err := s.routeRequest(ctx, st, nr)
	if err != nil {
		return RoutePlan{}, err
	}
	found, err := s.store.StationParcels(ctx, req.ids)
	if err != nil {
		return RoutePlan{}, err
	}
	return req.plan(found)
}

// routeRequest is a new route as asked for, its own fields checked, before
// its parcels are read.
type routeRequest struct {
	s       *Service
	st      *handoff.Principal
	nr      handoff.NewRoute
	parcels []handoff.RouteParcel
	ids     []string
	start   int
	fe      handoff.FieldErrors // what is wrong so far, reported with what the parcels add
}

// routeRequest checks what a new route asks for that needs none of its
// parcels: the request's fields, and that the associate is the station's.
func (s *Service) routeRequest(ctx context.Context, st *handoff.Principal, nr handoff.NewRoute) (*routeRequest, error) {
	if err := requireStation(st); err != nil {
		return nil, err
	}
	var fe handoff.FieldErrors
	parcels := nr.Parcels
	for _, id := range nr.TrackingIDs {
		parcels = append(parcels, handoff.RouteParcel{TrackingID: id})
	}
	if len(nr.Parcels) > 0 && len(nr.TrackingIDs) > 0 {
		fe.Add("trackingIds", "give either parcels or trackingIds, not both")
	}
	switch {
	case len(parcels) == 0:
		fe.Add("parcels", "at least one parcel is required")
	case len(parcels) > handoff.MaxRouteParcels:
		fe.Add("parcels", "at most %d parcels per route", handoff.MaxRouteParcels)
	}
	if _, err := route.ParseDate(nr.ServiceDate); err != nil {
		fe.Add("serviceDate", "%s", err.Error())
	}
	if strings.TrimSpace(nr.AssociateID) == "" {
		fe.Add("associateId", "is required")
	}
	start := defaultStart
	if nr.StartTime != "" {
		m, err := route.ParseClock(nr.StartTime)
		if err != nil {
			fe.Add("startTime", "%s", err.Error())
		}
		start = m
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	// The station's own associates, and those not tied to any station.
	da, err := s.store.FindPrincipal(ctx, nr.AssociateID)
	if err != nil && handoff.ErrorCode(err) != handoff.ENOTFOUND {
		return nil, err
	}
	if err != nil || da.Kind != auth.KindAssociate || (da.StationID != st.ID && da.StationID != "") {
		fe.Add("associateId", "no such delivery associate at this station")
	}
	ids := make([]string, len(parcels))
	for i, rp := range parcels {
		ids[i] = rp.TrackingID
	}
	return &routeRequest{s: s, st: st, nr: nr, parcels: parcels, ids: ids, start: start, fe: fe}, nil
}

// plan checks the parcels found for the route and plans its stops.
func (r *routeRequest) plan(found map[string]*Parcel) (RoutePlan, error) {
	s, st, nr, parcels, start := r.s, r.st, r.nr, r.parcels, r.start
	fe := append(handoff.FieldErrors(nil), r.fe...)
	plan := RoutePlan{StationID: st.ID, AssociateID: nr.AssociateID, ServiceDate: nr.ServiceDate, Status: handoff.RoutePlanned, From: handoff.StageStation}
	plan.To, _ = handoff.NextStage(plan.From, handoff.ActRoute)
	var rows []*Parcel
	planned := map[string]int{}
	seen := map[string]bool{}
	for i, rp := range parcels {
		f := fmt.Sprintf("parcels[%d].trackingId", i)
		if len(nr.TrackingIDs) > 0 {
			f = fmt.Sprintf("trackingIds[%d]", i)
		}
		if seen[rp.TrackingID] {
			fe.Add(f, "is listed twice")
			continue
		}
		seen[rp.TrackingID] = true
		if rp.PlannedTime != "" {
			m, err := route.ParseClock(rp.PlannedTime)
			if err != nil {
				fe.Add(fmt.Sprintf("parcels[%d].plannedTime", i), "%s", err.Error())
			}
			planned[rp.TrackingID] = m
		}
		p, ok := found[rp.TrackingID]
		if !ok || !visibleTo(p, st) {
			fe.Add(f, "no such parcel at this station")
			continue
		}
		if msg := s.cannotRoute(p, nr.ServiceDate, plan.Marketplace); msg != "" {
			fe.Add(f, "%s", msg)
		}
		if plan.Marketplace == "" {
			plan.Marketplace = p.Marketplace
		}
		rows = append(rows, p)
	}
	if err := fe.Err(); err != nil {
		return RoutePlan{}, err
	}
	if today := s.store.Today(plan.Marketplace); nr.ServiceDate < today {
		return RoutePlan{}, handoff.Invalid(handoff.FieldError{Field: "serviceDate", Message: "is in the past (today is " + today + ")"})
	}
	plan.Stops = planStops(rows, planned, start)
	return plan, nil
}

// cannotRoute says why a parcel cannot go on a route of date in
// marketplace mkt ("" for the route's first parcel), or "" when it can.
func (s *Service) cannotRoute(p *Parcel, date, mkt string) string {
	wd := s.policy.WorkingDays
	switch _, ok := handoff.NextStage(p.Stage, handoff.ActRoute); {
	case !ok:
		return fmt.Sprintf("is not waiting at the station (it is %s)", stageWords(p.Stage))
	case p.LastAttempt != "" && date <= p.LastAttempt:
		return fmt.Sprintf("was attempted on %s; it can go out again from %s", p.LastAttempt, wd.NextAfter(p.LastAttempt))
	case p.LastAttempt != "" && !wd.IsWorkingDay(date):
		// Re-attempts go on working days (SPEC §1); a first attempt may go
		// out whenever the station plans it.
		return fmt.Sprintf("is a re-attempt, and %s is not a working day (working days: %s); it can go out on %s", date, wd, wd.NextAfter(date))
	case mkt != "" && p.Marketplace != mkt:
		return fmt.Sprintf("is for marketplace %s; this route is for %s", p.Marketplace, mkt)
	}
	return ""
}

// defaultStart is when a route's first stop is planned unless the station
// says otherwise: 09:00.
const defaultStart = 9 * 60

// planStops groups parcels into stops, one per recipient and address, in
// postcode order. A stop's time is the earliest time asked for any of its
// parcels; without one, stops are spread every quarter of an hour from
// start. A stop needs the passcode when a parcel of it does.
func planStops(parcels []*Parcel, planned map[string]int, start int) []PlannedStop {
	var rps []route.Parcel
	byID := map[string]*Parcel{}
	for _, p := range parcels {
		byID[p.TrackingID] = p
		rps = append(rps, route.Parcel{TrackingID: p.TrackingID, Name: p.ShipTo.Name, Line1: p.ShipTo.AddressLine1, Line2: p.ShipTo.AddressLine2,
			City: p.ShipTo.City, PostalCode: p.ShipTo.PostalCode, Mobile: p.Mobile, OTP: p.OTPRequired, Bag: p.BagRequired})
	}
	var out []PlannedStop
	for i, g := range route.ByPostcode(route.Group(rps)) {
		first := byID[g.Parcels[0].TrackingID]
		ps := PlannedStop{Key: g.Key, Recipient: first.ShipTo, CountryCode: first.Marketplace, Mobile: first.Mobile, Minute: -1, OTPState: handoff.OTPNone}
		for _, gp := range g.Parcels {
			ps.TrackingIDs = append(ps.TrackingIDs, gp.TrackingID)
			if m, ok := planned[gp.TrackingID]; ok && (ps.Minute < 0 || m < ps.Minute) {
				ps.Minute, ps.Asked = m, true
			}
		}
		if ps.Minute < 0 {
			ps.Minute = min(start+15*i, 23*60+59)
		}
		if g.NeedsPasscode() {
			ps.OTPState = handoff.OTPPending
		}
		out = append(out, ps)
	}
	return out
}

// stationRoute returns a route of the station, or ENOTFOUND.
func (s *Service) stationRoute(ctx context.Context, st *handoff.Principal, routeID string) (*handoff.Route, error) {
	if err := requireStation(st); err != nil {
		return nil, err
	}
	r, err := s.store.Route(ctx, routeID)
	if err != nil {
		return nil, err
	}
	if r.StationID != st.ID {
		return nil, handoff.NotFound("Route")
	}
	return r, nil
}

// FindRoute implements handoff.StationService.
func (s *Service) FindRoute(ctx context.Context, st *handoff.Principal, routeID string) (*handoff.Route, error) {
	return s.stationRoute(ctx, st, routeID)
}

// ListRoutes implements handoff.StationService.
func (s *Service) ListRoutes(ctx context.Context, st *handoff.Principal, date string) ([]*handoff.Route, error) {
	if err := requireStation(st); err != nil {
		return nil, err
	}
	if _, err := route.ParseDate(date); err != nil {
		return nil, handoff.Invalid(handoff.FieldError{Field: "date", Message: err.Error()})
	}
	return s.store.StationRoutes(ctx, st.ID, date)
}

// Anomalies implements handoff.StationService: the day runs from midnight
// to midnight in the station's marketplace.
func (s *Service) Anomalies(ctx context.Context, st *handoff.Principal, date string) (*handoff.AnomalyReport, error) {
	if err := requireStation(st); err != nil {
		return nil, err
	}
	date, from, err := s.stationDay(st, date)
	if err != nil {
		return nil, err
	}
	figures, err := s.store.AnomalyFigures(ctx, st.ID, date, from, from.AddDate(0, 0, 1))
	if err != nil {
		return nil, err
	}
	medians, flags := anomaly.Review(figures)
	return &handoff.AnomalyReport{StationID: st.ID, ServiceDate: date, Medians: medians, Flags: flags, Associates: figures}, nil
}

// stationDay returns a service date of the station ("" for today) and the
// moment it starts: the day runs from midnight to midnight in the station's
// marketplace. A date that is not one is EINVALID naming "date".
func (s *Service) stationDay(st *handoff.Principal, date string) (string, time.Time, error) {
	mkt, ok := market.Lookup(st.Market)
	if !ok {
		mkt, _ = market.Lookup("GB")
	}
	if date == "" {
		date = s.store.Today(string(mkt.Code))
	}
	day, err := route.ParseDate(date)
	if err != nil {
		return "", time.Time{}, handoff.Invalid(handoff.FieldError{Field: "date", Message: err.Error()})
	}
	return date, time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, mkt.Location()), nil
}

// MoveStop implements handoff.StationService. A stop moves while its day
// is not over and a parcel of it is still open.
func (s *Service) MoveStop(ctx context.Context, st *handoff.Principal, routeID, stopID, plannedTime string) (*handoff.Route, error) {
	r, err := s.stationRoute(ctx, st, routeID)
	if err != nil {
		return nil, err
	}
	m, err := route.ParseClock(plannedTime)
	if err != nil {
		return nil, handoff.Invalid(handoff.FieldError{Field: "plannedTime", Message: err.Error()})
	}
	found := false
	for _, stop := range r.Stops {
		found = found || stop.ID == stopID
	}
	if !found {
		return nil, handoff.NotFound("Stop")
	}
	if r.ServiceDate < s.store.Today(r.Marketplace) {
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonDayOver, "The route's day is over; its stops can no longer be moved.")
	}
	ok, err := s.store.SetStopTime(ctx, routeID, stopID, m)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, handoff.Refuse(handoff.ECONFLICT, handoff.ReasonStopSettled, "Every parcel of this stop is settled; there is nothing to move.")
	}
	return s.stationRoute(ctx, st, routeID)
}

// Associates implements handoff.StationService.
func (s *Service) Associates(ctx context.Context, st *handoff.Principal) ([]handoff.AssociateStatus, error) {
	if err := requireStation(st); err != nil {
		return nil, err
	}
	return s.store.StationAssociates(ctx, st.ID)
}

// UnlockAssociate implements handoff.StationService: a station unlocks
// only the associates whose home it is.
func (s *Service) UnlockAssociate(ctx context.Context, st *handoff.Principal, associateID string) error {
	if err := requireStation(st); err != nil {
		return err
	}
	da, err := s.store.FindPrincipal(ctx, associateID)
	if handoff.ErrorCode(err) == handoff.ENOTFOUND || (err == nil && (da.Kind != auth.KindAssociate || da.StationID != st.ID)) {
		return handoff.NotFound("Associate")
	}
	if err != nil {
		return err
	}
	return s.store.ClearWrongCodes(ctx, da.ID)
}

// stationPlace is where a parcel's events at a station happen: the
// station's own town, in its marketplace. A station onboarded without a town
// falls back to the parcel's town, without the recipient's postcode, which
// says more about the recipient than about where the parcel is.
func stationPlace(st *handoff.Principal, p *Parcel) tracking.Location {
	country := st.Market
	if country == "" {
		country = p.Marketplace
	}
	if st.City != "" {
		return tracking.Location{City: st.City, CountryCode: country}
	}
	l := p.Location()
	l.PostalCode = ""
	return l
}
