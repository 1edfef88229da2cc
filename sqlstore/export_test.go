package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/auth"
)

// PruneGuards and GuardRows let tests see the sign-in counters' pruning.
func (d *DB) PruneGuards(ctx context.Context) error { return d.pruneGuards(ctx) }

func (d *DB) GuardRows(ctx context.Context) (n int) {
	d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM signin_guard`).Scan(&n)
	return n
}

// TraceStatements tells fn the text of every statement the store prepares or
// runs from now on.
func (d *DB) TraceStatements(fn func(string)) { d.faults.trace.Store(&fn) }

// Explain returns SQLite's query plan of a statement, one line per step,
// with every parameter NULL.
func (d *DB) Explain(ctx context.Context, query string, params int) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, make([]any, params)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		out = append(out, detail)
	}
	return out, rows.Err()
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
// for q: SQLite's plan as Explain gives it, or PostgreSQL's EXPLAIN lines
// with sequential scans priced out (so that one still chosen means no index
// could serve).
func (d *DB) SearchPlan(ctx context.Context, q handoff.ParcelQuery) ([]string, error) {
	query, args := searchSQL(q, 50)
	if d.Engine != Postgres {
		return d.Explain(ctx, query, len(args))
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, "EXPLAIN "+query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		out = append(out, line)
	}
	return out, rows.Err()
}

// AppendAuditRolledBack appends e in a transaction that then rolls back,
// as a request that fails after auditing does.
func (d *DB) AppendAuditRolledBack(ctx context.Context, e audit.Entry) error {
	errRolledBack := errors.New("rolled back on purpose")
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if err := d.appendAudit(ctx, tx, e); err != nil {
			return err
		}
		return errRolledBack
	})
	if errors.Is(err, errRolledBack) {
		return nil
	}
	if err == nil {
		return errors.New("the transaction committed")
	}
	return err
}

// InsertPasscodeSets inserts n rows into passcode_sets in one transaction
// through insertRows, and returns the statements it ran.
func (d *DB) InsertPasscodeSets(ctx context.Context, prefix string, n int) (statements int, err error) {
	rows := make([][]any, n)
	for i := range rows {
		rows[i] = []any{prefix + itoa(i), "2026-12-01", "k1"}
	}
	before := d.Statements()
	err = d.tx(ctx, func(tx *sql.Tx) error {
		return d.insertRows(ctx, tx, `INSERT INTO passcode_sets (code_set, service_date, key_id) VALUES `, rows, ` ON CONFLICT DO NOTHING`)
	})
	return int(d.Statements() - before), err
}

// CountPasscodeSets counts the rows of passcode_sets whose set starts with prefix.
func (d *DB) CountPasscodeSets(ctx context.Context, prefix string) (n int, err error) {
	err = d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM passcode_sets WHERE code_set LIKE $1`, prefix+"%").Scan(&n)
	return n, err
}

// NewIDAt and NewTrackingID let tests see the IDs the store makes.
func NewIDAt(prefix string, t time.Time) string { return newIDAt(prefix, t) }
func NewTrackingID() string                     { return newTrackingID() }
func NewTrackingIDAt(t time.Time) string        { return newTrackingIDAt(t) }

// ExecSQL runs a statement as SQL from outside this release would: an
// operator's, or an older node's during a rolling upgrade.
func (d *DB) ExecSQL(ctx context.Context, query string, args ...any) error {
	_, err := d.exec(ctx, query, args...)
	return err
}

// QueryEpoch reads the auth epoch.
func (d *DB) QueryEpoch(ctx context.Context, n *int64) error {
	return d.queryRow(ctx, `SELECT n FROM auth_epoch WHERE id = 1`).Scan(n)
}

// HoldConns takes n connections of the pool at once, each having answered
// a query, until release.
func (d *DB) HoldConns(ctx context.Context, n int) (release func(), err error) {
	var held []*sql.Conn
	release = func() {
		for _, c := range held {
			c.Close()
		}
	}
	for range n {
		c, err := d.db.Conn(ctx)
		if err != nil {
			release()
			return nil, err
		}
		held = append(held, c)
		var one int
		if err := c.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
			release()
			return nil, err
		}
	}
	return release, nil
}
