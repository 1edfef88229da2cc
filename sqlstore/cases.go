package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/tracking"
)

// openCase opens a case for a parcel, unless one of the same kind is open.
func openCase(ctx context.Context, tx *sql.Tx, kind, trackingID, by string, at time.Time, summary string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM cases WHERE tracking_id = $1 AND kind = $2 AND status = $3`, trackingID, kind, handoff.CaseOpen).Scan(&n); err != nil {
		return handoff.Internal(err, "find case")
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO cases (id, kind, tracking_id, status, summary, opened_by, opened_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		newID("case_"), kind, trackingID, handoff.CaseOpen, summary, by, micros(at)); err != nil {
		return handoff.Internal(err, "open case")
	}
	return nil
}

const caseCols = `id, kind, tracking_id, status, summary, outcome, note, opened_by, opened_at, closed_by, closed_at`

func scanCase(row interface{ Scan(...any) error }) (handoff.Case, error) {
	var c handoff.Case
	var opened, closed int64
	if err := row.Scan(&c.ID, &c.Kind, &c.TrackingID, &c.Status, &c.Summary, &c.Outcome, &c.Note, &c.OpenedBy, &opened, &c.ClosedBy, &closed); err != nil {
		return c, err
	}
	c.OpenedAt = fromMicros(opened)
	if closed > 0 {
		t := fromMicros(closed)
		c.ClosedAt = &t
	}
	return c, nil
}

// ListCases implements handoff.CaseService.
func (d *DB) ListCases(ctx context.Context, agent *handoff.Principal, status string) ([]handoff.Case, error) {
	if err := requireKind(agent, auth.KindAgent); err != nil {
		return nil, err
	}
	if status != "" && status != handoff.CaseOpen && status != handoff.CaseClosed {
		return nil, handoff.Invalid(handoff.FieldError{Field: "status", Message: "must be open or closed"})
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+caseCols+` FROM cases WHERE ($1 = '' OR status = $1)
		ORDER BY CASE WHEN status = 'open' THEN 0 ELSE 1 END, opened_at, id LIMIT 500`, status)
	if err != nil {
		return nil, handoff.Internal(err, "list cases")
	}
	defer rows.Close()
	out := []handoff.Case{}
	for rows.Next() {
		c, err := scanCase(rows)
		if err != nil {
			return nil, handoff.Internal(err, "scan case")
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// FindCase implements handoff.CaseService: the case with the parcel's whole
// history — its events, every bag it was sealed in and by whom, every route
// that carried it, every bag scan at its doors.
func (d *DB) FindCase(ctx context.Context, agent *handoff.Principal, caseID string) (*handoff.Case, error) {
	if err := requireKind(agent, auth.KindAgent); err != nil {
		return nil, err
	}
	c, err := scanCase(d.db.QueryRowContext(ctx, `SELECT `+caseCols+` FROM cases WHERE id = $1`, caseID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Case")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find case")
	}
	if c.Events, err = listEvents(ctx, d.db, c.TrackingID); err != nil {
		return nil, err
	}
	if c.Bags, err = d.bagsWhere(ctx, `tracking_id = $1`, c.TrackingID); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT r.id, r.service_date, r.associate_id, p.name, rp.outcome FROM route_parcels rp
		JOIN routes r ON r.id = rp.route_id JOIN principals p ON p.id = r.associate_id WHERE rp.tracking_id = $1 ORDER BY r.service_date, r.id`, c.TrackingID)
	if err != nil {
		return nil, handoff.Internal(err, "carriers")
	}
	for rows.Next() {
		var cr handoff.CarrierRef
		if err := rows.Scan(&cr.RouteID, &cr.ServiceDate, &cr.AssociateID, &cr.AssociateName, &cr.Outcome); err != nil {
			rows.Close()
			return nil, handoff.Internal(err, "carriers")
		}
		c.Carriers = append(c.Carriers, cr)
	}
	rows.Close()
	rows, err = d.db.QueryContext(ctx, `SELECT stop_id, tracking_id, associate_id, scanned, matched, at FROM bag_scans
		WHERE tracking_id = $1 OR stop_id IN (SELECT stop_id FROM route_parcels WHERE tracking_id = $1) ORDER BY at, id`, c.TrackingID)
	if err != nil {
		return nil, handoff.Internal(err, "scans")
	}
	defer rows.Close()
	for rows.Next() {
		var s handoff.BagScan
		var at int64
		if err := rows.Scan(&s.StopID, &s.TrackingID, &s.AssociateID, &s.Scanned, &s.Matched, &at); err != nil {
			return nil, handoff.Internal(err, "scans")
		}
		s.At = fromMicros(at)
		c.Scans = append(c.Scans, s)
	}
	return &c, rows.Err()
}

// CloseCase implements handoff.CaseService. Closing a tamper case decides
// what happens to the held parcel: reship (it waits at the station for a new
// bag) or return to the shipper.
func (d *DB) CloseCase(ctx context.Context, agent *handoff.Principal, caseID, outcome, note string) (*handoff.Case, error) {
	if err := requireKind(agent, auth.KindAgent); err != nil {
		return nil, err
	}
	if !slices.Contains(handoff.CaseOutcomes, outcome) {
		return nil, handoff.Invalid(handoff.FieldError{Field: "outcome", Message: "must be one of " + strings.Join(handoff.CaseOutcomes, ", ")})
	}
	var fe handoff.FieldErrors
	handoff.Text{Max: 2000, Multiline: true}.Check(&fe, "note", &note)
	if err := fe.Err(); err != nil {
		return nil, err
	}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var trackingID, kind string
		now := d.Now()
		err := tx.QueryRowContext(ctx, `UPDATE cases SET status = $1, outcome = $2, note = $3, closed_by = $4, closed_at = $5
			WHERE id = $6 AND status = $7 RETURNING tracking_id, kind`, handoff.CaseClosed, outcome, note, agent.ID, micros(now), caseID, handoff.CaseOpen).
			Scan(&trackingID, &kind)
		if errors.Is(err, sql.ErrNoRows) {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM cases WHERE id = $1`, caseID).Scan(&n); err != nil {
				return handoff.Internal(err, "find case")
			}
			if n == 0 {
				return handoff.NotFound("Case")
			}
			return handoff.Errorf(handoff.ECONFLICT, "The case is already closed.")
		}
		if err != nil {
			return handoff.Internal(err, "close case")
		}
		if kind == CaseGarage {
			// Customer service has dealt with the door: the stop may be
			// finished again (a fresh attempt, or another way).
			if _, err := tx.ExecContext(ctx, `UPDATE garage_grants SET state = $1 WHERE state = $2 AND (tracking_ids = $3 OR tracking_ids LIKE $4)`,
				handoff.GrantResolved, handoff.GrantCloseFailed, trackingID, trackingID+",%"); err != nil {
				return handoff.Internal(err, "resolve garage")
			}
			return nil
		}
		p, err := findParcel(ctx, tx, trackingID)
		if err != nil || p.stage != handoff.StageHeld {
			return err
		}
		switch outcome {
		case "reship":
			return d.moveStage(ctx, tx, trackingID, handoff.StageHeld, handoff.StageStation, p.stationID)
		case "return_to_shipper", "refund":
			if err := d.moveStage(ctx, tx, trackingID, handoff.StageHeld, handoff.StageReturning, p.stationID); err != nil {
				return err
			}
			_, err := d.appendEvent(ctx, tx, trackingID, tracking.Event{Code: tracking.ReturnInitiated, Time: now, Location: p.location(), Actor: agent.ID,
				Note: "Returning to shipper after a tamper case"})
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d.FindCase(ctx, agent, caseID)
}
