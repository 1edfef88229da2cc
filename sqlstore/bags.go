package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/bag"
	"github.com/handoff-dev/handoff/station"
)

// RecordBatch implements station.Store.
func (d *DB) RecordBatch(ctx context.Context, stationID, issuer string, n int) (*handoff.BagBatch, error) {
	now := d.Now()
	b := &handoff.BagBatch{ID: newID("bb_"), StationID: stationID, CreatedAt: now}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO bag_batches (id, station_id, issued_by, size, created_at) VALUES ($1, $2, $3, $4, $5)`,
			b.ID, stationID, issuer, n, micros(now)); err != nil {
			return handoff.Internal(err, "insert batch")
		}
		for len(b.Bags) < n {
			id := bag.New()
			// 50 random bits make a clash unlikely, and the primary key
			// makes one harmless: that ID is simply drawn again.
			res, err := tx.ExecContext(ctx, `INSERT INTO bags (id, batch_id, station_id, state, updated_at, created_at) VALUES ($1, $2, $3, $4, $5, $5)
				ON CONFLICT (id) DO NOTHING`, id, b.ID, stationID, handoff.BagIssued, micros(now))
			if err != nil {
				return handoff.Internal(err, "insert bag")
			}
			if k, _ := res.RowsAffected(); k == 1 {
				b.Bags = append(b.Bags, handoff.Bag{ID: id, Printed: bag.Format(id), BatchID: b.ID, StationID: stationID, State: handoff.BagIssued})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

const bagCols = `id, batch_id, station_id, state, tracking_id, sealed_by, sealed_at, note`

func scanBag(row interface{ Scan(...any) error }) (handoff.Bag, error) {
	var b handoff.Bag
	var sealed int64
	if err := row.Scan(&b.ID, &b.BatchID, &b.StationID, &b.State, &b.TrackingID, &b.SealedBy, &sealed, &b.Note); err != nil {
		return b, err
	}
	b.Printed = bag.Format(b.ID)
	if sealed > 0 {
		t := fromMicros(sealed)
		b.SealedAt = &t
	}
	return b, nil
}

func (d *DB) bagsWhere(ctx context.Context, where string, args ...any) ([]handoff.Bag, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT `+bagCols+` FROM bags WHERE `+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, handoff.Internal(err, "list bags")
	}
	defer rows.Close()
	out := []handoff.Bag{}
	for rows.Next() {
		b, err := scanBag(rows)
		if err != nil {
			return nil, handoff.Internal(err, "scan bag")
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Batch implements station.Store.
func (d *DB) Batch(ctx context.Context, batchID string) (*handoff.BagBatch, error) {
	var b handoff.BagBatch
	var created int64
	err := d.db.QueryRowContext(ctx, `SELECT id, station_id, created_at FROM bag_batches WHERE id = $1`, batchID).Scan(&b.ID, &b.StationID, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Batch")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find batch")
	}
	b.CreatedAt = fromMicros(created)
	return &b, nil
}

// FindBags implements station.Store.
func (d *DB) FindBags(ctx context.Context, f station.BagFilter) ([]handoff.Bag, error) {
	where := []string{"1 = 1"}
	var args []any
	for _, c := range []struct{ col, v string }{{"id", f.ID}, {"station_id", f.StationID}, {"state", f.State}, {"tracking_id", f.TrackingID}, {"batch_id", f.BatchID}} {
		if c.v != "" {
			args = append(args, c.v)
			where = append(where, fmt.Sprintf("%s = $%d", c.col, len(args)))
		}
	}
	return d.bagsWhere(ctx, strings.Join(where, " AND "), args...)
}

// RecordSeal implements station.Store. A bag from an operator's batch
// issued to no station becomes the sealing station's.
func (d *DB) RecordSeal(ctx context.Context, s station.Seal) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		now := d.Now()
		res, err := tx.ExecContext(ctx, `UPDATE bags SET state = $1, tracking_id = $2, sealed_by = $3, sealed_at = $4, updated_at = $4, station_id = $3
			WHERE id = $5 AND state = $6 AND (station_id = '' OR station_id = $3)`, s.BagTo, s.TrackingID, s.StationID, micros(now), s.BagID, s.BagFrom)
		if err != nil {
			return handoff.Internal(err, "seal bag")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return &station.Changed{Bag: true, ID: s.BagID}
		}
		if err := d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionBagSeal, Actor: s.StationID, Subject: s.BagID, Outcome: audit.OutcomeOK, Detail: "parcel=" + s.TrackingID}); err != nil {
			return err
		}
		args := []any{s.BagID, s.TrackingID}
		for _, st := range s.ParcelStages {
			args = append(args, st)
		}
		res, err = tx.ExecContext(ctx, `UPDATE packages SET bag_id = $1 WHERE tracking_id = $2 AND bag_id = '' AND stage IN (`+placeholders(3, len(s.ParcelStages))+`)`, args...)
		if err != nil {
			return handoff.Internal(err, "bag parcel")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return &station.Changed{ID: s.TrackingID}
		}
		e := s.Event
		e.Time = now
		_, err = d.appendEvent(ctx, tx, s.TrackingID, e)
		return err
	})
}

// RecordVoid implements station.Store. A bag of no station yet is voided
// only while unused, and becomes the voiding station's.
func (d *DB) RecordVoid(ctx context.Context, v station.Void) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		now := d.Now()
		args := []any{v.BagTo, v.Note, micros(now), v.BagID, v.StationID, handoff.BagIssued}
		for _, st := range v.BagFrom {
			args = append(args, st)
		}
		var trackingID string
		err := tx.QueryRowContext(ctx, `UPDATE bags SET state = $1, note = $2, updated_at = $3, station_id = $5 WHERE id = $4
			AND (station_id = $5 OR (station_id = '' AND state = $6)) AND state IN (`+placeholders(7, len(v.BagFrom))+`) RETURNING tracking_id`, args...).Scan(&trackingID)
		if errors.Is(err, sql.ErrNoRows) {
			return &station.Changed{Bag: true, ID: v.BagID}
		}
		if err != nil {
			return handoff.Internal(err, "void bag")
		}
		if err := d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionBagVoid, Actor: v.StationID, Subject: v.BagID, Outcome: v.BagTo, Detail: "parcel=" + trackingID}); err != nil {
			return err
		}
		if trackingID == "" {
			return nil
		}
		args = []any{trackingID, v.BagID}
		for _, st := range v.ParcelStages {
			args = append(args, st)
		}
		res, err := tx.ExecContext(ctx, `UPDATE packages SET bag_id = '' WHERE tracking_id = $1 AND bag_id = $2 AND stage IN (`+placeholders(3, len(v.ParcelStages))+`)`, args...)
		if err != nil {
			return handoff.Internal(err, "unbag parcel")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return &station.Changed{ID: trackingID}
		}
		p, err := findParcel(ctx, tx, trackingID)
		if err != nil {
			return err
		}
		e := v.Event
		e.Time, e.Location = now, p.location()
		_, err = d.appendEvent(ctx, tx, trackingID, e)
		return err
	})
}
