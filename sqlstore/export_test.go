package sqlstore

import "context"

// PruneGuards and GuardRows let tests see the sign-in counters' pruning.
func (d *DB) PruneGuards(ctx context.Context) error { return d.pruneGuards(ctx) }

func (d *DB) GuardRows(ctx context.Context) (n int) {
	d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM signin_guard`).Scan(&n)
	return n
}
