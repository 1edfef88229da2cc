package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
)

// PruneGuards and GuardRows let tests see the sign-in counters' pruning.
func (d *DB) PruneGuards(ctx context.Context) error { return d.pruneGuards(ctx) }

func (d *DB) GuardRows(ctx context.Context) (n int) {
	d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM signin_guard`).Scan(&n)
	return n
}

// AddPhotos records n photos of a parcel, kept until expires, as n
// unattended deliveries would (the blobs themselves are not written).
func (d *DB) AddPhotos(ctx context.Context, trackingID string, n int, expires time.Time) error {
	for range n {
		key := auth.Random(24)
		if _, err := d.db.ExecContext(ctx, `INSERT INTO photos (id, tracking_id, blob_key, thumb_key, width, height, taken_by, taken_at, expires_at)
			VALUES ($1, $2, $3, $4, 1, 1, 'da_test', $5, $6)`, newID("ph_"), trackingID, key+".jpg", key+".thumb.jpg", micros(d.Now()), micros(expires)); err != nil {
			return err
		}
	}
	return nil
}

// SearchPlan returns how the database would run customer service's search
// for q: SQLite's EXPLAIN QUERY PLAN details, or PostgreSQL's EXPLAIN lines
// with sequential scans priced out (so that one still chosen means no index
// could serve).
func (d *DB) SearchPlan(ctx context.Context, q handoff.ParcelQuery) ([]string, error) {
	query, args := searchSQL(q, 50)
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	explain := "EXPLAIN QUERY PLAN "
	col := 3
	if d.Engine == Postgres {
		if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return nil, err
		}
		explain, col = "EXPLAIN ", 0
	}
	rows, err := tx.QueryContext(ctx, explain+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprint(vals[col]))
	}
	return out, rows.Err()
}
