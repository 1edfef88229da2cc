package sqlstore

import (
	"context"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/tracking"
)

// Dashboard implements handoff.ShipmentService. Both queries read the
// shipper's packages of the period through their (shipper_id, …,
// created_at) indexes, and each passcode parcel's events through the events'
// primary key.
func (d *DB) Dashboard(ctx context.Context, shipperID string, from, to time.Time) (*handoff.Dashboard, error) {
	out := &handoff.Dashboard{From: from, To: to, ByStatus: map[string]int{}}
	rows, err := d.db.QueryContext(ctx, `SELECT status, COUNT(*) FROM packages
		WHERE shipper_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY status`, shipperID, micros(from), micros(to))
	if err != nil {
		return nil, handoff.Internal(err, "dashboard by status")
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, handoff.Internal(err, "dashboard by status")
		}
		out.ByStatus[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "dashboard by status")
	}
	o := &out.OTP
	err = d.db.QueryRowContext(ctx, `SELECT COUNT(*),
		COALESCE(SUM(CASE WHEN status = $4 AND failed = 0 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = $4 AND failed > 0 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status <> $4 AND (returns > 0 OR status IN ($5, $6)) THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN failed + ended > 0 THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(failed + ended), 0)
		FROM (SELECT p.status,
			(SELECT COUNT(*) FROM events e WHERE e.tracking_id = p.tracking_id AND e.code = $7) AS failed,
			(SELECT COUNT(*) FROM events e WHERE e.tracking_id = p.tracking_id AND e.code IN ($8, $9)) AS ended,
			(SELECT COUNT(*) FROM events e WHERE e.tracking_id = p.tracking_id AND e.code = $10) AS returns
			FROM packages p WHERE p.shipper_id = $1 AND p.otp_required AND p.created_at >= $2 AND p.created_at < $3) t`,
		shipperID, micros(from), micros(to), tracking.StatusDelivered, tracking.StatusRejected, tracking.StatusUndeliverable,
		tracking.DeliveryAttempted, tracking.Delivered, tracking.Rejected, tracking.ReturnInitiated).
		Scan(&o.Parcels, &o.FirstTime, &o.AfterReattempt, &o.Returned, &o.Attempted, &o.Attempts)
	if err != nil {
		return nil, handoff.Internal(err, "dashboard passcode outcomes")
	}
	return out, nil
}
