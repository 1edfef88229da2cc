package sqlstore

import (
	"context"
	"time"

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
