package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
)

// Settings implements handoff.SettingsService.
func (d *DB) Settings(ctx context.Context, shipperID string) (handoff.Settings, error) {
	s, _, err := findSettings(ctx, d.db, shipperID)
	return s, err
}

// settingsIn reads settings in a transaction through the statement cache.
func (d *DB) settingsIn(ctx context.Context, tx *sql.Tx, shipperID string) (handoff.Settings, error) {
	var body string
	err := d.txQueryRow(ctx, tx, `SELECT body FROM shipper_settings WHERE shipper_id = $1`, shipperID).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return handoff.Settings{}, handoff.NotFound("Shipper")
	}
	if err != nil {
		return handoff.Settings{}, handoff.Internal(err, "find settings")
	}
	s := handoff.DefaultSettings()
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		return handoff.Settings{}, handoff.Internal(err, "decode settings")
	}
	return s, nil
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func findSettings(ctx context.Context, q queryer, shipperID string) (handoff.Settings, int64, error) {
	var body string
	var version int64
	err := q.QueryRowContext(ctx, `SELECT body, version FROM shipper_settings WHERE shipper_id = $1`, shipperID).Scan(&body, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return handoff.Settings{}, 0, handoff.NotFound("Shipper")
	}
	if err != nil {
		return handoff.Settings{}, 0, handoff.Internal(err, "find settings")
	}
	s := handoff.DefaultSettings()
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		return handoff.Settings{}, 0, handoff.Internal(err, "decode settings")
	}
	return s, version, nil
}

// UpdateSettings implements handoff.SettingsService. The write is conditional
// on the version read, so two concurrent patches never lose one another: the
// loser reads again and reapplies.
func (d *DB) UpdateSettings(ctx context.Context, shipperID string, p *handoff.SettingsPatch) (handoff.Settings, error) {
	for range 10 {
		cur, version, err := findSettings(ctx, d.db, shipperID)
		if err != nil {
			return handoff.Settings{}, err
		}
		next, err := p.Apply(cur)
		if err != nil {
			return handoff.Settings{}, err
		}
		body, _ := json.Marshal(next)
		patch, _ := json.Marshal(p)
		done := false
		err = d.tx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE shipper_settings SET body = $1, version = version + 1, updated_at = $2
				WHERE shipper_id = $3 AND version = $4`, string(body), micros(d.Now()), shipperID, version)
			if err != nil {
				return handoff.Internal(err, "update settings")
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return nil
			}
			done = true
			return d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionSettings, Actor: shipperID, Subject: shipperID, Outcome: audit.OutcomeOK, Detail: string(patch)})
		})
		if err != nil {
			return handoff.Settings{}, err
		}
		if done {
			return next, nil
		}
	}
	return handoff.Settings{}, handoff.Errorf(handoff.ECONFLICT, "The settings are being changed concurrently; try again.")
}
