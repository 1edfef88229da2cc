package sqlstore

import (
	"context"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/anomaly"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/auth"
)

// AnomalyFigures implements station.Store: the counts of each of the
// station's associates who had a route on date or an audited action in
// [from, to), read from the audit log and the garage grants.
func (d *DB) AnomalyFigures(ctx context.Context, stationID, date string, from, to time.Time) ([]anomaly.Figures, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, name FROM principals WHERE kind = $1 AND station_id = $2 ORDER BY id`, auth.KindAssociate, stationID)
	if err != nil {
		return nil, handoff.Internal(err, "list associates")
	}
	var all []*anomaly.Figures
	byID := map[string]*anomaly.Figures{}
	for rows.Next() {
		f := &anomaly.Figures{}
		if err := rows.Scan(&f.AssociateID, &f.Name); err != nil {
			rows.Close()
			return nil, handoff.Internal(err, "list associates")
		}
		all = append(all, f)
		byID[f.AssociateID] = f
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "list associates")
	}
	active := map[string]bool{}
	count := func(what, query string, args []any, add func(f *anomaly.Figures, key string, n int)) error {
		rows, err := d.db.QueryContext(ctx, query, args...)
		if err != nil {
			return handoff.Internal(err, what)
		}
		defer rows.Close()
		for rows.Next() {
			var id, key string
			var n int
			if err := rows.Scan(&id, &key, &n); err != nil {
				return handoff.Internal(err, what)
			}
			if f := byID[id]; f != nil {
				active[id] = true
				add(f, key, n)
			}
		}
		return rows.Err()
	}
	lo, hi := micros(from), micros(to)
	err = count("count audited actions", `SELECT a.actor, a.action || '/' || a.outcome || '/' || CASE WHEN a.action = $4 THEN a.detail ELSE '' END, COUNT(*)
		FROM audit_log a JOIN principals p ON p.id = a.actor WHERE p.station_id = $1 AND a.at >= $2 AND a.at < $3
		GROUP BY a.actor, a.action, a.outcome, CASE WHEN a.action = $4 THEN a.detail ELSE '' END`, []any{stationID, lo, hi, audit.ActionCodeCheck},
		func(f *anomaly.Figures, key string, n int) {
			switch key {
			case audit.ActionCodeCheck + "/correct/method=phone_digits", audit.ActionCodeCheck + "/wrong/method=phone_digits":
				f.FallbackChecks += n
				f.CodeChecks += n
			case audit.ActionCodeCheck + "/correct/method=code", audit.ActionCodeCheck + "/wrong/method=code":
				f.CodeChecks += n
			case audit.ActionAttemptFailed + "/OtpNotAvailable/":
				f.OtpNotAvailable += n
			case audit.ActionBagScan + "/mismatch/":
				f.BagMismatches += n
			case audit.ActionRefusal + "/RejectedByRecipientWithVerification/":
				f.Refusals += n
			}
		})
	if err == nil {
		err = count("count passcode stops", `SELECT a.actor, '', COUNT(DISTINCT a.subject) FROM audit_log a JOIN principals p ON p.id = a.actor
			WHERE p.station_id = $1 AND a.at >= $2 AND a.at < $3 AND a.action = $4 GROUP BY a.actor`, []any{stationID, lo, hi, audit.ActionCodeCheck},
			func(f *anomaly.Figures, _ string, n int) { f.PasscodeStops = n })
	}
	if err == nil {
		err = count("count garage doors", `SELECT g.associate_id, '', COUNT(*) FROM garage_grants g JOIN principals p ON p.id = g.associate_id
			WHERE p.station_id = $1 AND g.created_at >= $2 AND g.created_at < $3 AND g.state IN ($4, $5) GROUP BY g.associate_id`,
			[]any{stationID, lo, hi, handoff.GrantCloseFailed, handoff.GrantResolved},
			func(f *anomaly.Figures, _ string, n int) { f.GarageNotClosed = n })
	}
	if err == nil {
		err = count("routes of the day", `SELECT associate_id, '', COUNT(*) FROM routes WHERE station_id = $1 AND service_date = $2 GROUP BY associate_id`,
			[]any{stationID, date}, func(*anomaly.Figures, string, int) {})
	}
	if err != nil {
		return nil, err
	}
	out := []anomaly.Figures{}
	for _, f := range all {
		if active[f.AssociateID] {
			out = append(out, *f)
		}
	}
	return out, nil
}
