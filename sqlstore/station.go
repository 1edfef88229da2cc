package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/station"
	"github.com/handoff-dev/handoff/tracking"
)

// parcelRow is what customer service and the bag flows read of a parcel:
// where it is and where its events happen.
type parcelRow struct {
	trackingID, stage, stationID, marketplace string
	shipTo                                    handoff.Address
}

func findParcel(ctx context.Context, q queryer, trackingID string) (*parcelRow, error) {
	var p parcelRow
	var shipTo string
	err := q.QueryRowContext(ctx, `SELECT p.tracking_id, p.stage, p.station_id, s.marketplace, s.ship_to
		FROM packages p JOIN shipments s ON s.id = p.shipment_id WHERE p.tracking_id = $1`, trackingID).
		Scan(&p.trackingID, &p.stage, &p.stationID, &p.marketplace, &shipTo)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Parcel")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find parcel")
	}
	json.Unmarshal([]byte(shipTo), &p.shipTo)
	return &p, nil
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

// StationParcel implements station.Store: the parcel with the bag it is
// in and the facts of its newest tamper case.
func (d *DB) StationParcel(ctx context.Context, trackingID string) (*station.Parcel, error) {
	var p station.Parcel
	var shipTo string
	err := d.db.QueryRowContext(ctx, `SELECT p.tracking_id, p.stage, p.station_id, s.marketplace, p.last_attempt_date, p.failed_days,
		p.otp_required, p.bag_required, p.bag_id, s.ship_to, s.recipient_mobile,
		COALESCE((SELECT c.status FROM cases c WHERE c.tracking_id = p.tracking_id AND c.kind = $2 ORDER BY c.opened_at DESC, c.id LIMIT 1), ''),
		COALESCE((SELECT c.outcome FROM cases c WHERE c.tracking_id = p.tracking_id AND c.kind = $2 ORDER BY c.opened_at DESC, c.id LIMIT 1), ''),
		EXISTS (SELECT 1 FROM route_parcels rp WHERE rp.tracking_id = p.tracking_id AND rp.outcome = $3)
		FROM packages p JOIN shipments s ON s.id = p.shipment_id WHERE p.tracking_id = $1`, trackingID, handoff.CaseTamper, handoff.OutcomeRefused).
		Scan(&p.TrackingID, &p.Stage, &p.StationID, &p.Marketplace, &p.LastAttempt, &p.FailedDays, &p.OTPRequired, &p.BagRequired, &p.BagID,
			&shipTo, &p.Mobile, &p.TamperCase, &p.TamperOutcome, &p.Refused)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Parcel")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find parcel")
	}
	json.Unmarshal([]byte(shipTo), &p.ShipTo)
	return &p, nil
}

// MoveParcel implements station.Store.
func (d *DB) MoveParcel(ctx context.Context, m station.Move) (*station.Moved, error) {
	out := &station.Moved{}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if m.LeaveRoute {
			var routeID string
			if err := tx.QueryRowContext(ctx, `SELECT route_id FROM packages WHERE tracking_id = $1`, m.TrackingID).Scan(&routeID); err != nil {
				return handoff.Internal(err, "read route")
			}
			if _, err := settleParcel(ctx, tx, routeID, m.TrackingID, handoff.OutcomeReturned); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE packages SET last_attempt_date = (SELECT r.service_date FROM routes r WHERE r.id = $1)
				WHERE tracking_id = $2 AND EXISTS (SELECT 1 FROM route_parcels rp JOIN stops st ON st.id = rp.stop_id
					WHERE rp.route_id = $1 AND rp.tracking_id = $2 AND (st.guesses > 0 OR st.resends > 0))`, routeID, m.TrackingID); err != nil {
				return handoff.Internal(err, "record attempt day")
			}
		}
		ok, err := moveStageIf(ctx, tx, m.TrackingID, m.From, m.To, m.StationID)
		if err != nil {
			return err
		}
		if !ok {
			return &station.Changed{ID: m.TrackingID}
		}
		now := d.Now()
		for _, e := range m.Events {
			e.Time = now
			if _, err := d.appendEvent(ctx, tx, m.TrackingID, e); err != nil {
				return err
			}
		}
		if m.Tell {
			kind := MsgShipped
			if m.To == handoff.StageReturning {
				kind = MsgReturning
			}
			if err := d.enqueue(ctx, tx, kind, m.TrackingID, []string{m.TrackingID}, nil, ""); err != nil {
				return err
			}
		}
		if err := tx.QueryRowContext(ctx, `SELECT status, last_attempt_date FROM packages WHERE tracking_id = $1`, m.TrackingID).
			Scan(&out.Status, &out.LastAttempt); err != nil {
			return handoff.Internal(err, "read parcel")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// moveStage moves a parcel from one stage to another (and to a station, when
// stationID is not empty), failing with ECONFLICT when it is no longer in the
// expected stage (someone else moved it).
func moveStage(ctx context.Context, tx *sql.Tx, trackingID, from, to, stationID string) error {
	ok, err := moveStageIf(ctx, tx, trackingID, from, to, stationID)
	if err == nil && !ok {
		err = handoff.Errorf(handoff.ECONFLICT, "The parcel was changed by someone else; try again.")
	}
	return err
}

// moveStageIf moves a parcel from one stage to another (and to a station,
// when stationID is not empty) by a conditional update; false when it is no
// longer in the expected stage.
func moveStageIf(ctx context.Context, tx *sql.Tx, trackingID, from, to, stationID string) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE packages SET stage = $1, station_id = CASE WHEN $2 = '' THEN station_id ELSE $2 END
		WHERE tracking_id = $3 AND stage = $4`, to, stationID, trackingID, from)
	if err != nil {
		return false, handoff.Internal(err, "move parcel")
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RecordRoute implements station.Store.
func (d *DB) RecordRoute(ctx context.Context, plan station.RoutePlan) (string, error) {
	id := newID("rt_")
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO routes (id, station_id, associate_id, service_date, marketplace, status, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, plan.StationID, plan.AssociateID, plan.ServiceDate, plan.Marketplace, plan.Status, micros(d.Now())); err != nil {
			return handoff.Internal(err, "insert route")
		}
		for i, s := range plan.Stops {
			stopID := newID("stp_")
			if _, err := tx.ExecContext(ctx, `INSERT INTO stops (id, route_id, position, stop_key, recipient_name, address_line1, address_line2, city,
				postal_code, country_code, mobile, planned_minute, otp_state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
				stopID, id, i+1, s.Key, s.Recipient.Name, s.Recipient.AddressLine1, s.Recipient.AddressLine2, s.Recipient.City,
				s.Recipient.PostalCode, s.CountryCode, s.Mobile, s.Minute, s.OTPState); err != nil {
				return handoff.Internal(err, "insert stop")
			}
			for _, trackingID := range s.TrackingIDs {
				if _, err := tx.ExecContext(ctx, `INSERT INTO route_parcels (route_id, tracking_id, stop_id) VALUES ($1, $2, $3)`, id, trackingID, stopID); err != nil {
					return handoff.Internal(err, "insert route parcel")
				}
				res, err := tx.ExecContext(ctx, `UPDATE packages SET stage = $1, route_id = $2 WHERE tracking_id = $3 AND stage = $4`,
					plan.To, id, trackingID, plan.From)
				if err != nil {
					return handoff.Internal(err, "route parcel")
				}
				if n, _ := res.RowsAffected(); n != 1 {
					return &station.Changed{ID: trackingID}
				}
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return id, nil
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

	rows, err = q.QueryContext(ctx, `SELECT rp.stop_id, rp.tracking_id, rp.outcome, rp.bag_scanned, rp.code_ok, p.otp_required, p.bag_required, p.stage, p.status, p.detail,
		s.signature_required, s.minimum_age, s.typed_signature_refused, s.confidential_address OR s.gift_registry OR EXISTS (SELECT 1 FROM recipient_prefs rpf WHERE rpf.photo_opt_out
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
		if err := rows.Scan(&stopID, &sp.TrackingID, &sp.Outcome, &sp.BagScanned, &sp.PasscodeVerified, &sp.OTPRequired, &sp.BagRequired, &sp.Stage, &sp.Status, &sp.DetailCode,
			&sp.Signature, &sp.MinimumAge, &sp.TypedSignatureRefused, &private, &body); err != nil {
			return nil, handoff.Internal(err, "scan route parcel")
		}
		check := handoff.DoorCheck{Signature: sp.Signature, MinimumAge: sp.MinimumAge}
		sp.MinimumAge = check.Age()
		s := &r.Stops[idx[stopID]]
		s.Parcels = append(s.Parcels, sp)
		if sp.BagRequired {
			s.Needs.BagScan = true
		}
		s.Needs.Signature = s.Needs.Signature || sp.Signature != ""
		s.Needs.AgeCheck = s.Needs.AgeCheck || sp.MinimumAge > 0
		if !sp.OTPRequired && !private && !check.Needed() {
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
		r.Stops[i].Needs.Garage = slices.ContainsFunc(gps, func(g garageParcel) bool { return g.otpOK && !g.inPerson })
	}
	return r, nil
}

// Route implements station.Store.
func (d *DB) Route(ctx context.Context, routeID string) (*handoff.Route, error) {
	return d.findRoute(ctx, d.db, routeID)
}

// StationRoutes implements station.Store.
func (d *DB) StationRoutes(ctx context.Context, stationID, date string) ([]*handoff.Route, error) {
	return d.routesWhere(ctx, `station_id = $1 AND service_date = $2`, stationID, date)
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

// SetStopTime implements station.Store.
func (d *DB) SetStopTime(ctx context.Context, routeID, stopID string, minute int) (bool, error) {
	res, err := d.db.ExecContext(ctx, `UPDATE stops SET planned_minute = $1 WHERE id = $2 AND route_id = $3
		AND EXISTS (SELECT 1 FROM route_parcels WHERE stop_id = $2 AND outcome = $4)`, minute, stopID, routeID, handoff.OutcomeOpen)
	if err != nil {
		return false, handoff.Internal(err, "move stop")
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// StationAssociates implements station.Store. Wrong codes count within the
// policy's window, as the lock counts them.
func (d *DB) StationAssociates(ctx context.Context, stationID string) ([]handoff.AssociateStatus, error) {
	cutoff := micros(d.Now().Add(-d.Policy.WrongCodeWindow))
	rows, err := d.db.QueryContext(ctx, `SELECT p.id, p.name, COALESCE(g.locked_at, 0),
		CASE WHEN COALESCE(g.window_start, 0) > $3 THEN g.wrong ELSE 0 END
		FROM principals p LEFT JOIN associate_guard g ON g.associate_id = p.id
		WHERE p.kind = $1 AND p.station_id = $2 ORDER BY p.name, p.id`, auth.KindAssociate, stationID, cutoff)
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

// ClearWrongCodes implements station.Store.
func (d *DB) ClearWrongCodes(ctx context.Context, associateID string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE associate_guard SET locked_at = 0, wrong = 0, window_start = 0 WHERE associate_id = $1`, associateID); err != nil {
			return handoff.Internal(err, "unlock associate")
		}
		// In the associate's chain, after the lock it lifts.
		return d.appendAudit(ctx, tx, audit.Entry{Chain: associateID, Action: audit.ActionAssociateOpen, Actor: "station", Subject: associateID, Outcome: audit.OutcomeOK})
	})
}

var _ station.Store = (*DB)(nil)
