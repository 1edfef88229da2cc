package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/handoff-dev/handoff"
)

// Retention says how long rows that only record the past are kept. A zero
// period keeps them for ever.
type Retention struct {
	// SentNotifications and DeadNotifications count from when the message
	// was queued; pending messages are never deleted.
	SentNotifications time.Duration
	DeadNotifications time.Duration
	// IdempotencyKeys bounds how late a client's retry of a label is still
	// recognised as the same request.
	IdempotencyKeys time.Duration
}

// DefaultRetention keeps sent messages 30 days (a month of "did my customer
// get the text?" questions; the parcel's own history stays), dead letters 90
// days (the operator's to-do list: time to notice, long after their codes
// opened anything) and idempotency keys 48 hours (a client retries within
// minutes or hours; twice a day covers one that retries the next day).
func DefaultRetention() Retention {
	return Retention{SentNotifications: 30 * 24 * time.Hour, DeadNotifications: 90 * 24 * time.Hour, IdempotencyKeys: 48 * time.Hour}
}

// Prune deletes up to limit rows of each kind past r, oldest first, and
// returns how many it deleted; run it until it returns less than limit.
func (d *DB) Prune(ctx context.Context, r Retention, limit int) (int, error) {
	now := d.Now()
	total := 0
	for _, c := range []struct {
		status string
		keep   time.Duration
	}{{StatusSent, r.SentNotifications}, {StatusDead, r.DeadNotifications}} {
		if c.keep <= 0 {
			continue
		}
		res, err := d.exec(ctx, `DELETE FROM notifications WHERE id IN (
			SELECT id FROM notifications WHERE status = $1 AND created_at < $2 ORDER BY created_at, id LIMIT $3)`,
			c.status, micros(now.Add(-c.keep)), limit)
		if err != nil {
			return total, handoff.Internal(err, "prune notifications")
		}
		n, _ := res.RowsAffected()
		total += int(n)
	}
	if r.IdempotencyKeys > 0 {
		res, err := d.exec(ctx, `DELETE FROM idempotency_keys WHERE (shipper_id, idem_key) IN (
			SELECT shipper_id, idem_key FROM idempotency_keys WHERE created_at < $1 ORDER BY created_at LIMIT $2)`,
			micros(now.Add(-r.IdempotencyKeys)), limit)
		if err != nil {
			return total, handoff.Internal(err, "prune idempotency keys")
		}
		n, _ := res.RowsAffected()
		total += int(n)
	}
	return total, nil
}

// TryLease gives the named lease to holder for ttl when it is free, expired
// or already holder's, and reports whether holder has it.
func (d *DB) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := d.Now()
	got := false
	err := d.writeRows(ctx, func(*sql.Rows) error { got = true; return nil }, `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.expires_at <= $4 OR leases.holder = excluded.holder
		RETURNING holder`, name, holder, micros(now.Add(ttl)), micros(now))
	if err != nil {
		return false, handoff.Internal(err, "take lease")
	}
	return got, nil
}

// ReleaseLease frees holder's lease before it expires; it does nothing to
// another holder's.
func (d *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := d.exec(ctx, `UPDATE leases SET expires_at = 0 WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return handoff.Internal(err, "release lease")
	}
	return nil
}
