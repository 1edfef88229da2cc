package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/auth"
)

// OnboardingKeyName names the key a principal gets from the operator, at
// onboarding or on a credentials reset.
const OnboardingKeyName = "Onboarding key"

// keyPrefixLen is how much of a key is kept for display: "hk_" and five of
// its random characters (25 bits), enough to tell keys apart, far too few to
// guess the rest.
const keyPrefixLen = 8

// lastUsedEvery is how often a key's last use is written: an API client
// making many calls a second costs one write a minute, not one a call.
const lastUsedEvery = time.Minute

// insertAPIKey stores a key's digest under a name, in the caller's
// transaction.
func (d *DB) insertAPIKey(ctx context.Context, tx *sql.Tx, principalID, name, key string, at time.Time) (*handoff.APIKey, error) {
	k := &handoff.APIKey{ID: newID("key_"), Name: name, Prefix: key[:keyPrefixLen], CreatedAt: at, Key: key}
	if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, principal_id, name, prefix, digest, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, principalID, k.Name, k.Prefix, auth.Digest(key), micros(at)); err != nil {
		return nil, handoff.Internal(err, "insert api key")
	}
	return k, nil
}

// CreateAPIKey implements handoff.APIKeyService.
func (d *DB) CreateAPIKey(ctx context.Context, principalID, name string) (*handoff.APIKey, error) {
	var fe handoff.FieldErrors
	handoff.Text{Required: true, Max: 100}.Check(&fe, "name", &name)
	if err := fe.Err(); err != nil {
		return nil, err
	}
	var k *handoff.APIKey
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if err := d.lockPrincipal(ctx, tx, principalID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE principal_id = $1 AND revoked_at = 0`, principalID).Scan(&n); err != nil {
			return handoff.Internal(err, "count api keys")
		}
		if n >= handoff.MaxAPIKeys {
			return handoff.Errorf(handoff.ECONFLICT, "At most %d API keys per account: revoke one first.", handoff.MaxAPIKeys)
		}
		var err error
		if k, err = d.insertAPIKey(ctx, tx, principalID, name, auth.NewAPIKey(), d.Now()); err != nil {
			return err
		}
		return d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionAPIKeyCreated, Actor: principalID, Subject: k.ID, Outcome: audit.OutcomeOK,
			Detail: "prefix=" + k.Prefix + " name=" + k.Name})
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// ListAPIKeys implements handoff.APIKeyService.
func (d *DB) ListAPIKeys(ctx context.Context, principalID string) ([]handoff.APIKey, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, name, prefix, created_at, last_used_at FROM api_keys
		WHERE principal_id = $1 AND revoked_at = 0 ORDER BY created_at, id`, principalID)
	if err != nil {
		return nil, handoff.Internal(err, "list api keys")
	}
	defer rows.Close()
	out := []handoff.APIKey{}
	for rows.Next() {
		var k handoff.APIKey
		var created, used int64
		if err := rows.Scan(&k.ID, &k.Name, &k.Prefix, &created, &used); err != nil {
			return nil, handoff.Internal(err, "scan api key")
		}
		k.CreatedAt = fromMicros(created)
		if used > 0 {
			t := fromMicros(used)
			k.LastUsedAt = &t
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey implements handoff.APIKeyService. The revocation moves the
// auth epoch on (a trigger, migration 028), which every request reads, so
// the next one with the key is refused on every node.
func (d *DB) RevokeAPIKey(ctx context.Context, principalID, keyID string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND principal_id = $3 AND revoked_at = 0`,
			micros(d.Now()), keyID, principalID)
		if err != nil {
			return handoff.Internal(err, "revoke api key")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return handoff.NotFound("API key")
		}
		return d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionAPIKeyRevoked, Actor: principalID, Subject: keyID, Outcome: audit.OutcomeOK})
	})
}

// touchAPIKey records a key's use when the last record is older than
// lastUsedEvery, and returns the time of the record now. The condition is
// in the UPDATE, so nodes racing on one key write once between them.
func (d *DB) touchAPIKey(ctx context.Context, id string, lastUsed int64) (int64, error) {
	now := d.Now()
	if lastUsed > micros(now.Add(-lastUsedEvery)) {
		return lastUsed, nil
	}
	if _, err := d.exec(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND last_used_at < $3`,
		micros(now), id, micros(now.Add(-lastUsedEvery))); err != nil {
		return lastUsed, handoff.Internal(err, "record api key use")
	}
	return micros(now), nil
}

// lockPrincipal holds the account's row until tx ends, so that a limit
// counted next (webhooks, API keys) holds when two requests of one account
// race on PostgreSQL; SQLite's writes are one at a time already.
func (d *DB) lockPrincipal(ctx context.Context, tx *sql.Tx, id string) error {
	return d.lockRow(ctx, tx, `SELECT 1 FROM principals WHERE id = $1 FOR UPDATE`, id, "lock account")
}

// lockRow runs lock, a SELECT … FOR UPDATE/SHARE of the row with ID id, in
// tx on PostgreSQL, which holds the row until tx ends; on SQLite, whose
// writes are one at a time already, it does nothing.
func (d *DB) lockRow(ctx context.Context, tx *sql.Tx, lock, id, what string) error {
	if d.Engine != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, lock, id); err != nil {
		return handoff.Internal(err, what)
	}
	return nil
}
