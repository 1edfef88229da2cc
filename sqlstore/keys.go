package sqlstore

import (
	"context"
	"database/sql"
	"slices"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
)

// keysLock is the PostgreSQL advisory lock that lets one node at a time
// compare its keys with the recorded ones and record its own.
const keysLock = migrationLock + 1

// UseSecretKeys checks that every key ID the database depends on is among
// ids (a node's keyring) and, when so, records ids as depended on from now.
// missing lists the recorded IDs absent from ids, sorted; then nothing is
// recorded and the node must not start. The check and the record are one
// transaction under a lock, so two nodes starting at once with different
// keys cannot both pass.
func (d *DB) UseSecretKeys(ctx context.Context, ids []string) (missing []string, err error) {
	err = d.tx(ctx, func(tx *sql.Tx) error {
		if err := d.lockKeys(ctx, tx); err != nil {
			return err
		}
		recorded, err := recordedKeys(ctx, tx)
		if err != nil {
			return err
		}
		for _, id := range recorded {
			if !slices.Contains(ids, id) {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return nil
		}
		return d.recordKeys(ctx, tx, ids)
	})
	return missing, err
}

// ResetSecretKeys forgets every recorded key ID and records ids instead: the
// operator has accepted that what older keys sealed is lost.
func (d *DB) ResetSecretKeys(ctx context.Context, ids []string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if err := d.lockKeys(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM secret_keys_in_use`); err != nil {
			return handoff.Internal(err, "forget secret keys")
		}
		if err := d.appendAudit(ctx, tx, audit.Entry{Chain: ChainSystem, Action: audit.ActionKeysReset, Actor: "operator", Outcome: audit.OutcomeOK}); err != nil {
			return err
		}
		return d.recordKeys(ctx, tx, ids)
	})
}

// SecretKeysInUse returns the recorded key IDs, sorted; none on a database
// that has sealed nothing yet.
func (d *DB) SecretKeysInUse(ctx context.Context) ([]string, error) {
	var ids []string
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		ids, err = recordedKeys(ctx, tx)
		return err
	})
	return ids, err
}

func (d *DB) lockKeys(ctx context.Context, tx *sql.Tx) error {
	// SQLite transactions here take the write lock when they begin.
	if d.Engine != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, keysLock); err != nil {
		return handoff.Internal(err, "lock secret keys")
	}
	return nil
}

func recordedKeys(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT key_id FROM secret_keys_in_use ORDER BY key_id`)
	if err != nil {
		return nil, handoff.Internal(err, "read secret keys")
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, handoff.Internal(err, "read secret keys")
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "read secret keys")
	}
	return ids, nil
}

func (d *DB) recordKeys(ctx context.Context, tx *sql.Tx, ids []string) error {
	now := micros(d.Now())
	for _, id := range ids {
		res, err := tx.ExecContext(ctx, `INSERT INTO secret_keys_in_use (key_id, first_used_at) VALUES ($1, $2) ON CONFLICT (key_id) DO NOTHING`, id, now)
		if err != nil {
			return handoff.Internal(err, "record secret key")
		}
		// A key the database has not seen is a rotation (or the first key).
		if n, _ := res.RowsAffected(); n == 1 {
			if err := d.appendAudit(ctx, tx, audit.Entry{Chain: ChainSystem, Action: audit.ActionKeyAdded, Actor: "operator", Subject: id, Outcome: audit.OutcomeOK}); err != nil {
				return err
			}
		}
	}
	return nil
}
