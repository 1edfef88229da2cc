package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sync"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
)

// Settings implements handoff.SettingsService.
func (d *DB) Settings(ctx context.Context, shipperID string) (handoff.Settings, error) {
	s, _, err := findSettings(ctx, d.db, shipperID)
	return s, err
}

// settingsIn reads a shipper's settings in a transaction through the
// statement cache, and whether the shipper has a webhook (a new label's
// first event is then delivered to it).
func (d *DB) settingsIn(ctx context.Context, tx *sql.Tx, shipperID string) (set handoff.Settings, hooks bool, err error) {
	var body string
	err = d.txQueryRow(ctx, tx, `SELECT body, EXISTS (SELECT 1 FROM shipper_webhooks w WHERE w.shipper_id = $1 AND w.deleted_at = 0)
		FROM shipper_settings WHERE shipper_id = $1`, shipperID).Scan(&body, &hooks)
	if errors.Is(err, sql.ErrNoRows) {
		return handoff.Settings{}, false, handoff.NotFound("Shipper")
	}
	if err != nil {
		return handoff.Settings{}, false, handoff.Internal(err, "find settings")
	}
	if set, err = decodeSettings(body); err != nil {
		return handoff.Settings{}, false, handoff.Internal(err, "decode settings")
	}
	return set, hooks, nil
}

// decoded holds shipper settings as decoded from their stored body, by
// body: every label and every message reads its shipper's settings, and a
// body always decodes the same. Its values are shared: read them, never
// change them.
var decoded = struct {
	sync.Mutex
	m map[string]handoff.Settings
}{m: map[string]handoff.Settings{}}

// maxDecoded bounds decoded; past it, it starts again empty.
const maxDecoded = 1024

// decodeSettings returns the settings a stored body holds, over the
// defaults. The result is shared: read it, never change it.
func decodeSettings(body string) (handoff.Settings, error) {
	decoded.Lock()
	set, ok := decoded.m[body]
	decoded.Unlock()
	if ok {
		return set, nil
	}
	set, err := parseSettings(body)
	if err != nil {
		return handoff.Settings{}, err
	}
	decoded.Lock()
	if len(decoded.m) >= maxDecoded {
		clear(decoded.m)
	}
	decoded.m[body] = set
	decoded.Unlock()
	return set, nil
}

// parseSettings decodes a stored settings body over the defaults.
func parseSettings(body string) (handoff.Settings, error) {
	set := handoff.DefaultSettings()
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		return handoff.Settings{}, err
	}
	return set, nil
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
	// Decoded afresh, not shared: callers of the service may change it.
	set, err := parseSettings(body)
	if err != nil {
		return handoff.Settings{}, 0, handoff.Internal(err, "decode settings")
	}
	return set, version, nil
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
