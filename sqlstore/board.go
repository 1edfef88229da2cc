package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/station"
)

// Clock implements station.Store.
func (d *DB) Clock() time.Time { return d.Now() }

// DayParcels implements station.Store. Each count reads only the station's
// own rows of the day through an index: packages by (station, stage,
// updated_at), routes by (station, service date), their parcels by route.
func (d *DB) DayParcels(ctx context.Context, stationID, date string, from, to time.Time) (*station.DayParcels, error) {
	out := &station.DayParcels{Stages: map[string]int{}}
	for _, stage := range []string{handoff.StageStation, handoff.StageHeld} {
		var n int
		if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM packages WHERE station_id = $1 AND stage = $2`, stationID, stage).Scan(&n); err != nil {
			return nil, handoff.Internal(err, "count parcels")
		}
		out.Stages[stage] = n
	}
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM packages WHERE station_id = $1 AND stage = $2 AND updated_at >= $3 AND updated_at < $4`,
		stationID, handoff.StageReturning, micros(from), micros(to)).Scan(&n); err != nil {
		return nil, handoff.Internal(err, "count returning parcels")
	}
	out.Stages[handoff.StageReturning] = n
	rows, err := d.db.QueryContext(ctx, `SELECT r.associate_id, rp.outcome, p.stage, COUNT(*)
		FROM routes r JOIN route_parcels rp ON rp.route_id = r.id JOIN packages p ON p.tracking_id = rp.tracking_id
		WHERE r.station_id = $1 AND r.service_date = $2
		GROUP BY r.associate_id, rp.outcome, p.stage ORDER BY r.associate_id, rp.outcome, p.stage`, stationID, date)
	if err != nil {
		return nil, handoff.Internal(err, "count route parcels")
	}
	defer rows.Close()
	for rows.Next() {
		var t station.RouteTally
		if err := rows.Scan(&t.AssociateID, &t.Outcome, &t.Stage, &t.N); err != nil {
			return nil, handoff.Internal(err, "count route parcels")
		}
		out.Routes = append(out.Routes, t)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "count route parcels")
	}
	return out, nil
}

// WaitingParcels implements station.Store. A parcel needs the garage when
// its recipient enrolled an opener at its address that takes it (key
// delivery for everything, or chosen for this parcel).
func (d *DB) WaitingParcels(ctx context.Context, stationID string) ([]handoff.WaitingParcel, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT p.tracking_id, s.ship_to, p.otp_required, p.bag_required, p.last_attempt_date,
		EXISTS (SELECT 1 FROM garages g WHERE g.contact IN (s.recipient_mobile, s.recipient_email) AND g.contact <> ''
			AND g.address_key = s.address_key AND g.removed_at = 0
			AND (g.key_delivery OR EXISTS (SELECT 1 FROM garage_parcels gp WHERE gp.tracking_id = p.tracking_id AND gp.garage_id = g.id)))
		FROM packages p JOIN shipments s ON s.id = p.shipment_id
		WHERE p.station_id = $1 AND p.stage = $2 ORDER BY p.tracking_id LIMIT $3`, stationID, handoff.StageStation, maxWaiting)
	if err != nil {
		return nil, handoff.Internal(err, "list waiting parcels")
	}
	defer rows.Close()
	out := []handoff.WaitingParcel{}
	for rows.Next() {
		var w handoff.WaitingParcel
		var shipTo string
		if err := rows.Scan(&w.TrackingID, &shipTo, &w.Passcode, &w.Bag, &w.LastAttempt, &w.Garage); err != nil {
			return nil, handoff.Internal(err, "scan waiting parcel")
		}
		var a handoff.Address
		json.Unmarshal([]byte(shipTo), &a)
		w.RecipientName, w.AddressLine1, w.City, w.PostalCode = a.Name, a.AddressLine1, a.City, a.PostalCode
		out = append(out, w)
	}
	return out, rows.Err()
}

// maxWaiting bounds the waiting list read at once: more than a station's
// building holds.
const maxWaiting = 5000

// SwapStops implements station.Store.
func (d *DB) SwapStops(ctx context.Context, routeID, stopA, stopB string) (bool, error) {
	ok := false
	err := d.tx(ctx, func(tx *sql.Tx) error {
		// The route's row is claimed first, so a van loaded meanwhile
		// either waits for the swap or is seen.
		res, err := tx.ExecContext(ctx, `UPDATE routes SET status = status WHERE id = $1 AND status = $2`, routeID, handoff.RoutePlanned)
		if err != nil {
			return handoff.Internal(err, "claim route")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		var posA, minA, posB, minB int
		if err := tx.QueryRowContext(ctx, `SELECT position, planned_minute FROM stops WHERE id = $1 AND route_id = $2`, stopA, routeID).Scan(&posA, &minA); err != nil {
			return handoff.Internal(err, "read stop")
		}
		if err := tx.QueryRowContext(ctx, `SELECT position, planned_minute FROM stops WHERE id = $1 AND route_id = $2`, stopB, routeID).Scan(&posB, &minB); err != nil {
			return handoff.Internal(err, "read stop")
		}
		for _, s := range []struct {
			id       string
			pos, min int
		}{{stopA, posB, minB}, {stopB, posA, minA}} {
			if _, err := tx.ExecContext(ctx, `UPDATE stops SET position = $1, planned_minute = $2 WHERE id = $3`, s.pos, s.min, s.id); err != nil {
				return handoff.Internal(err, "move stop")
			}
		}
		ok = true
		return nil
	})
	return ok, err
}
