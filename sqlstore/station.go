package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/tracking"
)

// MaxRouteParcels bounds one route.
const MaxRouteParcels = 300

// parcelRow is what the delivery flows read of a parcel.
type parcelRow struct {
	trackingID, shipperID, stage, stationID, marketplace, lastAttempt string
	failedDays                                                        int
	otp, bag, confidential, giftRegistry                              bool
	shipTo                                                            handoff.Address
	mobile                                                            string
}

const parcelRowCols = `p.tracking_id, p.shipper_id, p.stage, p.station_id, s.marketplace, p.last_attempt_date, p.failed_days,
	p.otp_required, p.bag_required, s.confidential_address, s.gift_registry, s.ship_to, s.recipient_mobile`

func scanParcelRow(row interface{ Scan(...any) error }) (*parcelRow, error) {
	var p parcelRow
	var shipTo string
	if err := row.Scan(&p.trackingID, &p.shipperID, &p.stage, &p.stationID, &p.marketplace, &p.lastAttempt, &p.failedDays,
		&p.otp, &p.bag, &p.confidential, &p.giftRegistry, &shipTo, &p.mobile); err != nil {
		return nil, err
	}
	json.Unmarshal([]byte(shipTo), &p.shipTo)
	return &p, nil
}

func findParcel(ctx context.Context, q queryer, trackingID string) (*parcelRow, error) {
	p, err := scanParcelRow(q.QueryRowContext(ctx, `SELECT `+parcelRowCols+` FROM packages p JOIN shipments s ON s.id = p.shipment_id
		WHERE p.tracking_id = $1`, trackingID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Parcel")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find parcel")
	}
	return p, nil
}

// visibleTo reports whether a station may see a parcel: one at the station,
// or a new label in the station's marketplace (which it may receive).
func (p *parcelRow) visibleTo(st *handoff.Principal) bool {
	if p.stationID != "" {
		return p.stationID == st.ID
	}
	return p.stage == handoff.StageLabel && (st.Market == "" || st.Market == p.marketplace)
}

func (p *parcelRow) location() tracking.Location {
	return tracking.Location{City: p.shipTo.City, StateOrRegion: p.shipTo.StateOrRegion, PostalCode: p.shipTo.PostalCode, CountryCode: p.marketplace}
}

func requireKind(p *handoff.Principal, k auth.Kind) error {
	if p == nil || p.Kind != k {
		return handoff.Errorf(handoff.EFORBIDDEN, "This action is for %s accounts.", k)
	}
	return nil
}

// Today returns the service date now in a marketplace (GB when unknown).
func (d *DB) Today(mkt string) string { return d.today(mkt) }

// today returns the service date now in a marketplace.
func (d *DB) today(mkt string) string {
	m, ok := market.Lookup(mkt)
	if !ok {
		m, _ = market.Lookup("GB")
	}
	return route.Today(d.Now(), m.TimeZone)
}

// ReceiveParcel implements handoff.StationService. A new label is picked up
// and arrives; a parcel back from a failed attempt arrives and is either
// ready for a later working day or, after too many failed days, goes back to
// the shipper. Each move is a conditional update on the parcel's stage.
func (d *DB) ReceiveParcel(ctx context.Context, st *handoff.Principal, trackingID string) (*handoff.Received, error) {
	if err := requireKind(st, auth.KindStation); err != nil {
		return nil, err
	}
	var out *handoff.Received
	err := d.tx(ctx, func(tx *sql.Tx) error {
		p, err := findParcel(ctx, tx, trackingID)
		if err != nil {
			return err
		}
		if !p.visibleTo(st) {
			return handoff.NotFound("Parcel")
		}
		now := d.Now()
		loc := p.location()
		out = &handoff.Received{TrackingID: p.trackingID, FailedDays: p.failedDays}
		switch p.stage {
		case handoff.StageLabel:
			if err := moveStage(ctx, tx, p.trackingID, handoff.StageLabel, handoff.StageStation, st.ID); err != nil {
				return err
			}
			if _, err := d.appendEvent(ctx, tx, p.trackingID, tracking.Event{Code: tracking.PickupDone, Time: now, Location: loc, Actor: st.ID, Note: "Picked up"}); err != nil {
				return err
			}
			if _, err := d.appendEvent(ctx, tx, p.trackingID, tracking.Event{Code: tracking.ArrivedAtCarrierFacility, Time: now, Location: loc, Actor: st.ID, Note: "Arrived at " + st.Name}); err != nil {
				return err
			}
			if err := d.enqueue(ctx, tx, MsgShipped, p.trackingID, []string{p.trackingID}, nil, ""); err != nil {
				return err
			}
			out.Stage = handoff.StageStation
		case handoff.StageAwaitingReturn:
			out.Returned = true
			// A refused tampered parcel follows its case: held while it is
			// open, back to the shipper if customer service already said so.
			var caseStatus, outcome string
			err := tx.QueryRowContext(ctx, `SELECT status, outcome FROM cases WHERE tracking_id = $1 AND kind = $2 ORDER BY opened_at DESC, id LIMIT 1`,
				p.trackingID, handoff.CaseTamper).Scan(&caseStatus, &outcome)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return handoff.Internal(err, "find cases")
			}
			if caseStatus == handoff.CaseClosed && (outcome == "return_to_shipper" || outcome == "refund") && p.stage == handoff.StageAwaitingReturn {
				var refused int
				tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM route_parcels WHERE tracking_id = $1 AND outcome = 'refused'`, p.trackingID).Scan(&refused)
				if refused > 0 {
					if err := moveStage(ctx, tx, p.trackingID, handoff.StageAwaitingReturn, handoff.StageReturning, st.ID); err != nil {
						return err
					}
					if _, err := d.appendEvent(ctx, tx, p.trackingID, tracking.Event{Code: tracking.ReturnInitiated, Time: now, Location: loc, Actor: st.ID,
						Note: "Returning to shipper, as customer service decided on the tamper case"}); err != nil {
						return err
					}
					out.Stage, out.ReturnToShipper = handoff.StageReturning, true
					break
				}
			}
			if caseStatus == handoff.CaseOpen {
				// A refused tampered parcel waits for customer service to
				// decide; it does not go out again on its own.
				if err := moveStage(ctx, tx, p.trackingID, handoff.StageAwaitingReturn, handoff.StageHeld, st.ID); err != nil {
					return err
				}
				if _, err := d.appendEvent(ctx, tx, p.trackingID, tracking.Event{Code: tracking.ArrivedAtCarrierFacility, Time: now, Location: loc, Actor: st.ID,
					Note: "Returned to " + st.Name + "; held for customer service (tamper case)"}); err != nil {
					return err
				}
				out.Stage = handoff.StageHeld
				break
			}
			if p.failedDays >= d.Policy.MaxFailedDays {
				if err := moveStage(ctx, tx, p.trackingID, handoff.StageAwaitingReturn, handoff.StageReturning, st.ID); err != nil {
					return err
				}
				if _, err := d.appendEvent(ctx, tx, p.trackingID, tracking.Event{Code: tracking.ArrivedAtCarrierFacility, Time: now, Location: loc, Actor: st.ID, Note: "Returned to " + st.Name}); err != nil {
					return err
				}
				if _, err := d.appendEvent(ctx, tx, p.trackingID, tracking.Event{Code: tracking.ReturnInitiated, Time: now, Location: loc, Actor: st.ID,
					Note: fmt.Sprintf("Returning to shipper after %d failed delivery days", p.failedDays)}); err != nil {
					return err
				}
				if err := d.enqueue(ctx, tx, MsgReturning, p.trackingID, []string{p.trackingID}, nil, ""); err != nil {
					return err
				}
				out.Stage, out.ReturnToShipper = handoff.StageReturning, true
				break
			}
			if err := moveStage(ctx, tx, p.trackingID, handoff.StageAwaitingReturn, handoff.StageStation, st.ID); err != nil {
				return err
			}
			if _, err := d.appendEvent(ctx, tx, p.trackingID, tracking.Event{Code: tracking.ArrivedAtCarrierFacility, Time: now, Location: loc, Actor: st.ID,
				Note: "Returned to " + st.Name + " after a failed attempt"}); err != nil {
				return err
			}
			out.Stage = handoff.StageStation
			out.NextAttemptDate = d.nextAttemptDate(p)
		case handoff.StageRouted, handoff.StageOut:
			// Back undelivered and unattempted (a van that came back, a route
			// that never left): it leaves its route and waits again.
			var routeID string
			if err := tx.QueryRowContext(ctx, `SELECT route_id FROM packages WHERE tracking_id = $1`, p.trackingID).Scan(&routeID); err != nil {
				return handoff.Internal(err, "read route")
			}
			if _, err := settleParcel(ctx, tx, routeID, p.trackingID, "returned"); err != nil {
				return err
			}
			// Codes tried (or re-sent) at its stop make the day an attempt:
			// pulling the parcel back and routing it again the same day
			// would otherwise give a fresh three guesses at the same code.
			if _, err := tx.ExecContext(ctx, `UPDATE packages SET last_attempt_date = (SELECT r.service_date FROM routes r WHERE r.id = $1)
				WHERE tracking_id = $2 AND EXISTS (SELECT 1 FROM route_parcels rp JOIN stops st ON st.id = rp.stop_id
					WHERE rp.route_id = $1 AND rp.tracking_id = $2 AND (st.guesses > 0 OR st.resends > 0))`, routeID, p.trackingID); err != nil {
				return handoff.Internal(err, "record attempt day")
			}
			if p.lastAttempt, err = lastAttempt(ctx, tx, p.trackingID); err != nil {
				return err
			}
			if err := moveStage(ctx, tx, p.trackingID, p.stage, handoff.StageStation, st.ID); err != nil {
				return err
			}
			if _, err := d.appendEvent(ctx, tx, p.trackingID, tracking.Event{Code: tracking.ArrivedAtCarrierFacility, Time: now, Location: loc, Actor: st.ID,
				Note: "Back at " + st.Name + " undelivered"}); err != nil {
				return err
			}
			out.Stage, out.Returned = handoff.StageStation, true
			out.NextAttemptDate = d.nextAttemptDate(p)
		case handoff.StageStation:
			return handoff.Errorf(handoff.ECONFLICT, "The parcel is already at the station.")
		default:
			return handoff.Errorf(handoff.ECONFLICT, "The parcel cannot be received now (it is %s).", strings.ReplaceAll(p.stage, "_", " "))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if out.Status, err = d.packageStatus(ctx, trackingID); err != nil {
		return nil, err
	}
	return out, nil
}

func lastAttempt(ctx context.Context, tx *sql.Tx, trackingID string) (string, error) {
	var d string
	if err := tx.QueryRowContext(ctx, `SELECT last_attempt_date FROM packages WHERE tracking_id = $1`, trackingID).Scan(&d); err != nil {
		return "", handoff.Internal(err, "read attempt day")
	}
	return d, nil
}

// nextAttemptDate is the first working day after the last attempt that is not
// in the past.
func (d *DB) nextAttemptDate(p *parcelRow) string {
	today := d.today(p.marketplace)
	next := today
	if p.lastAttempt != "" {
		next = d.Policy.WorkingDays.NextAfter(p.lastAttempt)
	}
	if next < today || !d.Policy.WorkingDays.IsWorkingDay(next) {
		if d.Policy.WorkingDays.IsWorkingDay(today) && today > p.lastAttempt {
			next = today
		} else {
			next = d.Policy.WorkingDays.NextAfter(today)
		}
	}
	return next
}

func (d *DB) packageStatus(ctx context.Context, trackingID string) (string, error) {
	var s string
	if err := d.db.QueryRowContext(ctx, `SELECT status FROM packages WHERE tracking_id = $1`, trackingID).Scan(&s); err != nil {
		return "", handoff.Internal(err, "read status")
	}
	return s, nil
}

// moveStage moves a parcel from one stage to another (and to a station, when
// stationID is not empty), failing with ECONFLICT when it is no longer in the
// expected stage (someone else moved it).
func moveStage(ctx context.Context, tx *sql.Tx, trackingID, from, to, stationID string) error {
	res, err := tx.ExecContext(ctx, `UPDATE packages SET stage = $1, station_id = CASE WHEN $2 = '' THEN station_id ELSE $2 END
		WHERE tracking_id = $3 AND stage = $4`, to, stationID, trackingID, from)
	if err != nil {
		return handoff.Internal(err, "move parcel")
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return handoff.Errorf(handoff.ECONFLICT, "The parcel was changed by someone else; try again.")
	}
	return nil
}

// CreateRoute implements handoff.StationService.
func (d *DB) CreateRoute(ctx context.Context, st *handoff.Principal, nr handoff.NewRoute) (*handoff.Route, error) {
	if err := requireKind(st, auth.KindStation); err != nil {
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
	case len(parcels) > MaxRouteParcels:
		fe.Add("parcels", "at most %d parcels per route", MaxRouteParcels)
	}
	if _, err := route.ParseDate(nr.ServiceDate); err != nil {
		fe.Add("serviceDate", "%s", err.Error())
	}
	if strings.TrimSpace(nr.AssociateID) == "" {
		fe.Add("associateId", "is required")
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	r := &handoff.Route{ID: newID("rt_"), StationID: st.ID, AssociateID: nr.AssociateID, ServiceDate: nr.ServiceDate,
		Status: handoff.RoutePlanned, CreatedAt: d.Now()}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var n int
		// The station's own associates, and those not tied to any station.
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM principals WHERE id = $1 AND kind = $2 AND (station_id = $3 OR station_id IS NULL)`,
			nr.AssociateID, auth.KindAssociate, st.ID).Scan(&n); err != nil {
			return handoff.Internal(err, "find associate")
		}
		if n == 0 {
			fe.Add("associateId", "no such delivery associate at this station")
		}
		var rows []*parcelRow
		planned := map[string]int{}
		seen := map[string]bool{}
		for i, rp := range parcels {
			f := fmt.Sprintf("parcels[%d]", i)
			if len(nr.TrackingIDs) > 0 {
				f = fmt.Sprintf("trackingIds[%d]", i)
			} else {
				f += ".trackingId"
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
			p, err := findParcel(ctx, tx, rp.TrackingID)
			if handoff.ErrorCode(err) == handoff.ENOTFOUND || (err == nil && !p.visibleTo(st)) {
				fe.Add(f, "no such parcel at this station")
				continue
			} else if err != nil {
				return err
			}
			switch {
			case p.stage != handoff.StageStation:
				fe.Add(f, "is not waiting at the station (it is %s)", strings.ReplaceAll(p.stage, "_", " "))
			case p.lastAttempt != "" && nr.ServiceDate <= p.lastAttempt:
				fe.Add(f, "was attempted on %s; it can go out again from %s", p.lastAttempt, d.Policy.WorkingDays.NextAfter(p.lastAttempt))
			case p.lastAttempt != "" && !d.Policy.WorkingDays.IsWorkingDay(nr.ServiceDate):
				// Re-attempts go on working days (SPEC §1); a first attempt
				// may go out whenever the station plans it.
				fe.Add(f, "is a re-attempt, and %s is not a working day (working days: %s); it can go out on %s",
					nr.ServiceDate, d.Policy.WorkingDays, d.Policy.WorkingDays.NextAfter(nr.ServiceDate))
			case r.Marketplace != "" && p.marketplace != r.Marketplace:
				fe.Add(f, "is for marketplace %s; this route is for %s", p.marketplace, r.Marketplace)
			}
			if r.Marketplace == "" {
				r.Marketplace = p.marketplace
			}
			rows = append(rows, p)
		}
		if err := fe.Err(); err != nil {
			return err
		}
		if today := d.today(r.Marketplace); nr.ServiceDate < today {
			return handoff.Invalid(handoff.FieldError{Field: "serviceDate", Message: "is in the past (today is " + today + ")"})
		}

		if _, err := tx.ExecContext(ctx, `INSERT INTO routes (id, station_id, associate_id, service_date, marketplace, status, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, r.ID, st.ID, r.AssociateID, r.ServiceDate, r.Marketplace, r.Status, micros(r.CreatedAt)); err != nil {
			return handoff.Internal(err, "insert route")
		}
		var rps []route.Parcel
		byID := map[string]*parcelRow{}
		for _, p := range rows {
			byID[p.trackingID] = p
			rps = append(rps, route.Parcel{TrackingID: p.trackingID, Name: p.shipTo.Name, Line1: p.shipTo.AddressLine1, Line2: p.shipTo.AddressLine2,
				City: p.shipTo.City, PostalCode: p.shipTo.PostalCode, Mobile: p.mobile, OTP: p.otp, Bag: p.bag})
		}
		for i, s := range route.Group(rps) {
			first := byID[s.Parcels[0].TrackingID]
			// The stop's time is the earliest time asked for any of its
			// parcels; without one, stops are spread from 09:00.
			minute := -1
			for _, sp := range s.Parcels {
				if m, ok := planned[sp.TrackingID]; ok && (minute < 0 || m < minute) {
					minute = m
				}
			}
			if minute < 0 {
				minute = min(9*60+15*i, 23*60+59)
			}
			otpState := handoff.OTPNone
			if s.NeedsPasscode() {
				otpState = handoff.OTPPending
			}
			stopID := newID("stp_")
			if _, err := tx.ExecContext(ctx, `INSERT INTO stops (id, route_id, position, stop_key, recipient_name, address_line1, address_line2, city,
				postal_code, country_code, mobile, planned_minute, otp_state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
				stopID, r.ID, i+1, s.Key, first.shipTo.Name, first.shipTo.AddressLine1, first.shipTo.AddressLine2, first.shipTo.City,
				first.shipTo.PostalCode, first.marketplace, first.mobile, minute, otpState); err != nil {
				return handoff.Internal(err, "insert stop")
			}
			for _, sp := range s.Parcels {
				if _, err := tx.ExecContext(ctx, `INSERT INTO route_parcels (route_id, tracking_id, stop_id) VALUES ($1, $2, $3)`, r.ID, sp.TrackingID, stopID); err != nil {
					return handoff.Internal(err, "insert route parcel")
				}
				res, err := tx.ExecContext(ctx, `UPDATE packages SET stage = $1, route_id = $2 WHERE tracking_id = $3 AND stage = $4`,
					handoff.StageRouted, r.ID, sp.TrackingID, handoff.StageStation)
				if err != nil {
					return handoff.Internal(err, "route parcel")
				}
				if n, _ := res.RowsAffected(); n != 1 {
					return handoff.Errorf(handoff.ECONFLICT, "Parcel %s was put on another route meanwhile.", sp.TrackingID)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d.findRoute(ctx, d.db, r.ID)
}

// findRoute loads a route with its stops and parcels.
func (d *DB) findRoute(ctx context.Context, q interface {
	queryer
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, routeID string) (*handoff.Route, error) {
	return d.loadRoute(ctx, q, routeID, "")
}

// loadRoute loads a route with its stops and parcels; with stopID set, only
// that stop (the associate's hot path must not read a whole route).
func (d *DB) loadRoute(ctx context.Context, q interface {
	queryer
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, routeID, stopID string) (*handoff.Route, error) {
	r := &handoff.Route{ID: routeID, Stops: []handoff.Stop{}}
	var created int64
	err := q.QueryRowContext(ctx, `SELECT station_id, associate_id, service_date, marketplace, status, created_at FROM routes WHERE id = $1`, routeID).
		Scan(&r.StationID, &r.AssociateID, &r.ServiceDate, &r.Marketplace, &r.Status, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Route")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find route")
	}
	r.CreatedAt = fromMicros(created)
	r.ContactHours = d.Policy.ContactHours.String()

	rows, err := q.QueryContext(ctx, `SELECT id, position, recipient_name, address_line1, address_line2, city, postal_code, country_code,
		planned_minute, otp_state, wrong, resends FROM stops WHERE route_id = $1 AND ($2 = '' OR id = $2) ORDER BY position`, routeID, stopID)
	if err != nil {
		return nil, handoff.Internal(err, "list stops")
	}
	idx := map[string]int{}
	for rows.Next() {
		var s handoff.Stop
		var minute, wrong, resends int
		if err := rows.Scan(&s.ID, &s.Position, &s.RecipientName, &s.AddressLine1, &s.AddressLine2, &s.City, &s.PostalCode, &s.CountryCode,
			&minute, &s.OTPState, &wrong, &resends); err != nil {
			rows.Close()
			return nil, handoff.Internal(err, "scan stop")
		}
		s.RouteID = routeID
		s.PlannedTime = route.FormatClock(minute)
		s.Needs.Passcode = s.OTPState != handoff.OTPNone
		// Only a stop still waiting for its code can be moved, so only such
		// a stop is flagged.
		s.OutsideContactHours = s.OTPState == handoff.OTPPending && !d.Policy.ContactHours.Contains(minute)
		s.RouteStatus = r.Status
		if s.OTPState == handoff.OTPPending {
			s.AttemptsLeft = max(handoff.MaxCodeGuesses-wrong, 0)
			s.ResendsLeft = max(handoff.MaxResends-resends, 0)
		}
		s.Parcels = []handoff.StopParcel{}
		if s.OutsideContactHours {
			r.Flagged++
		}
		idx[s.ID] = len(r.Stops)
		r.Stops = append(r.Stops, s)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "list stops")
	}

	rows, err = q.QueryContext(ctx, `SELECT rp.stop_id, rp.tracking_id, rp.outcome, rp.bag_scanned, p.otp_required, p.bag_required, p.stage, p.status, p.detail,
		s.confidential_address OR s.gift_registry OR EXISTS (SELECT 1 FROM recipient_prefs rpf WHERE rpf.photo_opt_out
			AND rpf.contact IN (s.recipient_mobile, s.recipient_email) AND rpf.contact <> ''), ss.body
		FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id JOIN shipments s ON s.id = p.shipment_id
		JOIN shipper_settings ss ON ss.shipper_id = p.shipper_id
		WHERE rp.route_id = $1 AND ($2 = '' OR rp.stop_id = $2) ORDER BY rp.tracking_id`, routeID, stopID)
	if err != nil {
		return nil, handoff.Internal(err, "list route parcels")
	}
	defer rows.Close()
	fallback := map[string]bool{}
	for rows.Next() {
		var stopID, body string
		var sp handoff.StopParcel
		var private bool
		if err := rows.Scan(&stopID, &sp.TrackingID, &sp.Outcome, &sp.BagScanned, &sp.OTPRequired, &sp.BagRequired, &sp.Stage, &sp.Status, &sp.DetailCode,
			&private, &body); err != nil {
			return nil, handoff.Internal(err, "scan route parcel")
		}
		s := &r.Stops[idx[stopID]]
		s.Parcels = append(s.Parcels, sp)
		if sp.BagRequired {
			s.Needs.BagScan = true
		}
		if !sp.OTPRequired && !private {
			s.Needs.Photo = true
		}
		if sp.OTPRequired {
			var set handoff.Settings
			json.Unmarshal([]byte(body), &set)
			ok, seen := fallback[stopID]
			fallback[stopID] = set.SecureDelivery.PhoneDigitsFallback && (ok || !seen)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "list route parcels")
	}
	for id, ok := range fallback {
		r.Stops[idx[id]].PhoneDigitsAllowed = ok
	}
	for i := range r.Stops {
		gps, err := d.garageParcels(ctx, q, r.Stops[i].ID)
		if err != nil {
			return nil, err
		}
		r.Stops[i].Needs.Garage = slices.ContainsFunc(gps, func(g garageParcel) bool { return g.otpOK })
	}
	return r, nil
}

// stationRoute loads a route of the station or ENOTFOUND.
func (d *DB) stationRoute(ctx context.Context, st *handoff.Principal, routeID string) (*handoff.Route, error) {
	if err := requireKind(st, auth.KindStation); err != nil {
		return nil, err
	}
	r, err := d.findRoute(ctx, d.db, routeID)
	if err != nil {
		return nil, err
	}
	if r.StationID != st.ID {
		return nil, handoff.NotFound("Route")
	}
	return r, nil
}

// FindRoute implements handoff.StationService.
func (d *DB) FindRoute(ctx context.Context, st *handoff.Principal, routeID string) (*handoff.Route, error) {
	return d.stationRoute(ctx, st, routeID)
}

// ListRoutes implements handoff.StationService.
func (d *DB) ListRoutes(ctx context.Context, st *handoff.Principal, date string) ([]*handoff.Route, error) {
	if err := requireKind(st, auth.KindStation); err != nil {
		return nil, err
	}
	if _, err := route.ParseDate(date); err != nil {
		return nil, handoff.Invalid(handoff.FieldError{Field: "date", Message: err.Error()})
	}
	return d.routesWhere(ctx, `station_id = $1 AND service_date = $2`, st.ID, date)
}

func (d *DB) routesWhere(ctx context.Context, where string, args ...any) ([]*handoff.Route, error) {
	ids, err := queryStrings(ctx, d.db, `SELECT id FROM routes WHERE `+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, err
	}
	out := []*handoff.Route{}
	for _, id := range ids {
		r, err := d.findRoute(ctx, d.db, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// MoveStop implements handoff.StationService.
func (d *DB) MoveStop(ctx context.Context, st *handoff.Principal, routeID, stopID, plannedTime string) (*handoff.Route, error) {
	r, err := d.stationRoute(ctx, st, routeID)
	if err != nil {
		return nil, err
	}
	m, err := route.ParseClock(plannedTime)
	if err != nil {
		return nil, handoff.Invalid(handoff.FieldError{Field: "plannedTime", Message: err.Error()})
	}
	if !slices.ContainsFunc(r.Stops, func(s handoff.Stop) bool { return s.ID == stopID }) {
		return nil, handoff.NotFound("Stop")
	}
	if r.ServiceDate < d.today(r.Marketplace) {
		return nil, handoff.Errorf(handoff.ECONFLICT, "The route's day is over; its stops can no longer be moved.")
	}
	res, err := d.db.ExecContext(ctx, `UPDATE stops SET planned_minute = $1 WHERE id = $2 AND route_id = $3
		AND EXISTS (SELECT 1 FROM route_parcels WHERE stop_id = $2 AND outcome = '')`, m, stopID, routeID)
	if err != nil {
		return nil, handoff.Internal(err, "move stop")
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, handoff.Errorf(handoff.ECONFLICT, "Every parcel of this stop is settled; there is nothing to move.")
	}
	return d.stationRoute(ctx, st, routeID)
}

// Associates implements handoff.StationService.
func (d *DB) Associates(ctx context.Context, st *handoff.Principal) ([]handoff.AssociateStatus, error) {
	if err := requireKind(st, auth.KindStation); err != nil {
		return nil, err
	}
	cutoff := micros(d.Now().Add(-d.Policy.WrongCodeWindow))
	rows, err := d.db.QueryContext(ctx, `SELECT p.id, p.name, COALESCE(g.locked_at, 0),
		CASE WHEN COALESCE(g.window_start, 0) > $3 THEN g.wrong ELSE 0 END
		FROM principals p LEFT JOIN associate_guard g ON g.associate_id = p.id
		WHERE p.kind = $1 AND p.station_id = $2 ORDER BY p.name, p.id`, auth.KindAssociate, st.ID, cutoff)
	if err != nil {
		return nil, handoff.Internal(err, "list associates")
	}
	defer rows.Close()
	out := []handoff.AssociateStatus{}
	for rows.Next() {
		var a handoff.AssociateStatus
		var locked int64
		if err := rows.Scan(&a.ID, &a.Name, &locked, &a.WrongCodes); err != nil {
			return nil, handoff.Internal(err, "scan associate")
		}
		if locked > 0 {
			t := fromMicros(locked)
			a.Locked, a.LockedAt = true, &t
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// UnlockAssociate implements handoff.StationService.
func (d *DB) UnlockAssociate(ctx context.Context, st *handoff.Principal, associateID string) error {
	if err := requireKind(st, auth.KindStation); err != nil {
		return err
	}
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM principals WHERE id = $1 AND kind = $2 AND station_id = $3`,
		associateID, auth.KindAssociate, st.ID).Scan(&n); err != nil {
		return handoff.Internal(err, "find associate")
	}
	if n == 0 {
		return handoff.NotFound("Associate")
	}
	if _, err := d.db.ExecContext(ctx, `UPDATE associate_guard SET locked_at = 0, wrong = 0, window_start = 0 WHERE associate_id = $1`, associateID); err != nil {
		return handoff.Internal(err, "unlock associate")
	}
	return nil
}
