package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/bag"
	"github.com/handoff-dev/handoff/tracking"
)

// Tracking codes handoff adds for bags. They record facts without changing
// the parcel's status.
const (
	EventBagSealed = tracking.BagSealed
	EventBagVoided = tracking.BagVoided
)

// IssueBatch implements handoff.BagService.
func (d *DB) IssueBatch(ctx context.Context, by *handoff.Principal, stationID string, n int) (*handoff.BagBatch, error) {
	issuer := "operator"
	if by != nil {
		if err := requireKind(by, auth.KindStation); err != nil {
			return nil, err
		}
		stationID, issuer = by.ID, by.ID
	}
	if n < 1 || n > handoff.MaxBatch {
		return nil, handoff.Invalid(handoff.FieldError{Field: "count", Message: "must be a whole number from 1 to 1000"})
	}
	if stationID != "" {
		if p, err := d.FindPrincipal(ctx, stationID); err != nil || p.Kind != auth.KindStation {
			return nil, handoff.Invalid(handoff.FieldError{Field: "stationId", Message: "no such station"})
		}
	}
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

// FindBatch implements handoff.BagService.
func (d *DB) FindBatch(ctx context.Context, by *handoff.Principal, batchID string) (*handoff.BagBatch, error) {
	var b handoff.BagBatch
	var created int64
	err := d.db.QueryRowContext(ctx, `SELECT id, station_id, created_at FROM bag_batches WHERE id = $1`, batchID).Scan(&b.ID, &b.StationID, &created)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && by != nil && (by.Kind != auth.KindStation || b.StationID != by.ID)) {
		return nil, handoff.NotFound("Batch")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find batch")
	}
	b.CreatedAt = fromMicros(created)
	b.Bags, err = d.bagsWhere(ctx, `batch_id = $1`, b.ID)
	return &b, err
}

// ListBags implements handoff.BagService.
func (d *DB) ListBags(ctx context.Context, st *handoff.Principal, state string) ([]handoff.Bag, error) {
	if err := requireKind(st, auth.KindStation); err != nil {
		return nil, err
	}
	if state != "" && !slices.Contains([]string{handoff.BagIssued, handoff.BagSealed, handoff.BagDelivered, handoff.BagRefused, handoff.BagVoided}, state) {
		return nil, handoff.Invalid(handoff.FieldError{Field: "state", Message: "must be issued, sealed, delivered, refused or voided"})
	}
	return d.bagsWhere(ctx, `station_id = $1 AND ($2 = '' OR state = $2)`, st.ID, state)
}

// parseBagField parses a bag ID from input, naming the field on failure.
func parseBagField(field, raw string) (string, error) {
	id, err := bag.Parse(raw)
	if err != nil {
		return "", handoff.Invalid(handoff.FieldError{Field: field, Message: err.Error()})
	}
	return id, nil
}

// SealParcel implements handoff.BagService. The bag's state moves from issued
// to sealed and the parcel takes the bag in one transaction, each by a
// conditional UPDATE, so a bag is sealed once however many try.
func (d *DB) SealParcel(ctx context.Context, st *handoff.Principal, trackingID, bagID string) (*handoff.Bag, error) {
	if err := requireKind(st, auth.KindStation); err != nil {
		return nil, err
	}
	id, err := parseBagField("bagId", bagID)
	if err != nil {
		return nil, err
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		p, err := findParcel(ctx, tx, trackingID)
		if err != nil {
			return err
		}
		if p.stationID != st.ID {
			return handoff.NotFound("Parcel")
		}
		if !p.bag {
			return handoff.Errorf(handoff.ECONFLICT, "This parcel does not need a bag (the shipper's bag rules do not apply to it).")
		}
		now := d.Now()
		// A bag from an operator's batch issued to no station becomes the
		// sealing station's.
		res, err := tx.ExecContext(ctx, `UPDATE bags SET state = $1, tracking_id = $2, sealed_by = $3, sealed_at = $4, updated_at = $4, station_id = $3
			WHERE id = $5 AND state = $6 AND (station_id = '' OR station_id = $3)`, handoff.BagSealed, trackingID, st.ID, micros(now), id, handoff.BagIssued)
		if err != nil {
			return handoff.Internal(err, "seal bag")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			var state string
			err := tx.QueryRowContext(ctx, `SELECT state FROM bags WHERE id = $1 AND (station_id = '' OR station_id = $2)`, id, st.ID).Scan(&state)
			if errors.Is(err, sql.ErrNoRows) {
				return handoff.Invalid(handoff.FieldError{Field: "bagId", Message: "was never issued to this station"})
			}
			return handoff.Invalid(handoff.FieldError{Field: "bagId", Message: "is " + state + ": a bag can be sealed only once"})
		}
		// Sealed at the station, before or after it is put on a route, but
		// never once it is out.
		res, err = tx.ExecContext(ctx, `UPDATE packages SET bag_id = $1 WHERE tracking_id = $2 AND bag_id = '' AND stage IN ($3, $4)`,
			id, trackingID, handoff.StageStation, handoff.StageRouted)
		if err != nil {
			return handoff.Internal(err, "bag parcel")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return handoff.Errorf(handoff.ECONFLICT, "The parcel is already in a bag, or not waiting at the station.")
		}
		_, err = d.appendEvent(ctx, tx, trackingID, tracking.Event{Code: EventBagSealed, Time: now, Location: p.location(), Actor: st.ID,
			Note: "Sealed in bag " + bag.Format(id)})
		return err
	})
	if err != nil {
		return nil, err
	}
	bs, err := d.bagsWhere(ctx, `id = $1`, id)
	if err != nil || len(bs) == 0 {
		return nil, handoff.Internal(err, "read bag")
	}
	return &bs[0], nil
}

// VoidBag implements handoff.BagService. A parcel sealed in the bag loses it
// and must be sealed into a new one before it goes out; its history keeps
// both bags.
func (d *DB) VoidBag(ctx context.Context, st *handoff.Principal, bagID, reason string) (*handoff.Bag, error) {
	if err := requireKind(st, auth.KindStation); err != nil {
		return nil, err
	}
	id, err := parseBagField("bagId", bagID)
	if err != nil {
		return nil, err
	}
	var fe handoff.FieldErrors
	handoff.Text{Max: 200, Required: true}.Check(&fe, "reason", &reason)
	if err := fe.Err(); err != nil {
		return nil, err
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		var trackingID string
		err := tx.QueryRowContext(ctx, `UPDATE bags SET state = $1, note = $2, updated_at = $3, station_id = $5 WHERE id = $4
			AND (station_id = $5 OR (station_id = '' AND state = $6)) AND state IN ($6, $7) RETURNING tracking_id`, handoff.BagVoided, reason, micros(d.Now()), id, st.ID, handoff.BagIssued, handoff.BagSealed).Scan(&trackingID)
		if errors.Is(err, sql.ErrNoRows) {
			return handoff.Errorf(handoff.ECONFLICT, "Only an issued or sealed bag of this station can be voided.")
		}
		if err != nil {
			return handoff.Internal(err, "void bag")
		}
		if trackingID == "" {
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE packages SET bag_id = '' WHERE tracking_id = $1 AND bag_id = $2 AND stage IN ($3, $4)`,
			trackingID, id, handoff.StageStation, handoff.StageRouted)
		if err != nil {
			return handoff.Internal(err, "unbag parcel")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return handoff.Errorf(handoff.ECONFLICT, "The parcel in this bag is not at the station; void it when it is back.")
		}
		p, err := findParcel(ctx, tx, trackingID)
		if err != nil {
			return err
		}
		_, err = d.appendEvent(ctx, tx, trackingID, tracking.Event{Code: EventBagVoided, Time: d.Now(), Location: p.location(), Actor: st.ID,
			Note: "Bag " + bag.Format(id) + " voided: " + reason + "; the parcel needs a new bag"})
		return err
	})
	if err != nil {
		return nil, err
	}
	bs, err := d.bagsWhere(ctx, `id = $1`, id)
	if err != nil || len(bs) == 0 {
		return nil, handoff.Internal(err, "read bag")
	}
	return &bs[0], nil
}
