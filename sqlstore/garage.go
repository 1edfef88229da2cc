package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/door"
	"github.com/handoff-dev/handoff/grant"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/tracking"
)

// The garage store: what in-garage delivery needs to be atomic in the
// database. Who may open which garage when, and the grant's state machine,
// are package grant's; the devices and the order of steps are the
// keydelivery service's. Every grant move here is one conditional UPDATE
// from the state the caller read, and the records of a step are written in
// the same transaction as the move, only when it happened.

// CaseGarage is the kind of case a door that did not close opens.
const CaseGarage = handoff.CaseGarage

// MsgGarage is the message kind of garage steps.
const MsgGarage = "garage"

// AddGarage stores an enrolled opener with its sealed connection details and
// logs the enrolment; detail is what the door read when it was tested.
func (d *DB) AddGarage(ctx context.Context, contact string, g handoff.Garage, sealed string, at *handoff.Position, detail string) error {
	var lat, lon int64
	if at != nil {
		lat, lon = int64(at.Lat*1e6), int64(at.Lon*1e6)
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO garages (id, contact, kind, label, address_line1, postal_code, address_key, sealed_config,
			lat_e6, lon_e6, has_position, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			g.ID, contact, g.Kind, g.Label, g.AddressLine1, g.PostalCode, route.AddressKey(g.AddressLine1, g.PostalCode), sealed,
			lat, lon, at != nil, micros(g.CreatedAt)); err != nil {
			return handoff.Internal(err, "enrol garage")
		}
		return d.garageEvent(ctx, tx, g.ID, "", "enrolled", detail, g.CreatedAt)
	})
}

func (d *DB) garageEvent(ctx context.Context, tx *sql.Tx, garageID, grantID, step, detail string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO garage_events (id, garage_id, grant_id, step, detail, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		newID("ge_"), garageID, grantID, step, detail, micros(at)); err != nil {
		return handoff.Internal(err, "garage log")
	}
	// Each garage's steps are one chain: grants, openings, closings and
	// revocations in the order they happened.
	return d.appendAudit(ctx, tx, audit.Entry{Chain: "garage:" + garageID, Action: audit.ActionGarage + step, Actor: "garage", Subject: grantID, Detail: detail})
}

// LogGarage appends a step to a garage's log.
func (d *DB) LogGarage(ctx context.Context, garageID, grantID, step, detail string) error {
	return d.tx(ctx, func(tx *sql.Tx) error { return d.garageEvent(ctx, tx, garageID, grantID, step, detail, d.Now()) })
}

// personIn returns the condition "<col> IN (…)" over the contacts of the
// person who holds contact (see handoff.RecipientSession) and its
// arguments, numbered from $from: a garage belongs to the person, whichever
// of their contacts enrolled it.
func (d *DB) personIn(ctx context.Context, col, contact string, from int) (string, []any, error) {
	cs, err := linkedContacts(ctx, d.db, contact)
	if err != nil {
		return "", nil, err
	}
	args := make([]any, len(cs))
	for i, c := range cs {
		args[i] = c
	}
	return col + " IN (" + placeholders(from, len(cs)) + ")", args, nil
}

// GarageConfig returns the sealed connection details of one of the
// person's openers; ENOTFOUND for another's or a removed one.
func (d *DB) GarageConfig(ctx context.Context, contact, garageID string) (string, error) {
	var sealed string
	in, args, err := d.personIn(ctx, "contact", contact, 2)
	if err != nil {
		return "", err
	}
	err = d.db.QueryRowContext(ctx, `SELECT sealed_config FROM garages WHERE id = $1 AND `+in+` AND removed_at = 0`, append([]any{garageID}, args...)...).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", handoff.NotFound("Garage")
	}
	if err != nil {
		return "", handoff.Internal(err, "find garage")
	}
	return sealed, nil
}

// ContactGarages lists the openers of the person who holds contact, oldest
// first.
func (d *DB) ContactGarages(ctx context.Context, contact string) ([]handoff.Garage, error) {
	in, args, err := d.personIn(ctx, "contact", contact, 1)
	if err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT id, kind, label, address_line1, postal_code, key_delivery, has_position, created_at
		FROM garages WHERE `+in+` AND removed_at = 0 ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, handoff.Internal(err, "list garages")
	}
	defer rows.Close()
	out := []handoff.Garage{}
	for rows.Next() {
		var g handoff.Garage
		var created int64
		if err := rows.Scan(&g.ID, &g.Kind, &g.Label, &g.AddressLine1, &g.PostalCode, &g.KeyDelivery, &g.HasPosition, &created); err != nil {
			return nil, handoff.Internal(err, "scan garage")
		}
		g.CreatedAt = fromMicros(created)
		out = append(out, g)
	}
	return out, rows.Err()
}

// GarageSteps returns the last 200 steps of the openers of the person who
// holds contact, newest first.
func (d *DB) GarageSteps(ctx context.Context, contact string) ([]handoff.GarageEvent, error) {
	in, args, err := d.personIn(ctx, "g.contact", contact, 1)
	if err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT e.garage_id, e.grant_id, e.step, e.detail, e.at FROM garage_events e JOIN garages g ON g.id = e.garage_id
		WHERE `+in+` ORDER BY e.at DESC, e.id DESC LIMIT 200`, args...)
	if err != nil {
		return nil, handoff.Internal(err, "garage log")
	}
	defer rows.Close()
	out := []handoff.GarageEvent{}
	for rows.Next() {
		var e handoff.GarageEvent
		var at int64
		if err := rows.Scan(&e.GarageID, &e.GrantID, &e.Step, &e.Detail, &at); err != nil {
			return nil, handoff.Internal(err, "garage log")
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Lock order. On PostgreSQL, every transaction of a garage's key delivery
// takes what it locks in this order: the garage's row (lockGarage, or the
// UPDATE of it that switches key delivery), then its grants' rows, then the
// garage's audit chain head (garageEvent), then the parcels' rows (their
// tracking events). A transaction that took the audit head and then waited
// for a grant row, while a grant step held that row and waited for the
// head, was a deadlock: PostgreSQL killed one of them, and the associate's
// open call answered 500 with the door left to the sweeper.

// lockGarage holds a garage's row until tx ends, shared or not: a request
// for a grant holds it shared while it reads whether key delivery is on and
// writes its grant, and a switch holds it alone while it changes that and
// revokes, so each sees the other's commit (a grant written is revoked, or
// the switch is seen and the request refused). The switches that UPDATE the
// garage's row hold it by that. SQLite's writes are one at a time already.
func (d *DB) lockGarage(ctx context.Context, tx *sql.Tx, garageID string, shared bool) error {
	lock := `SELECT 1 FROM garages WHERE id = $1 FOR NO KEY UPDATE` // the lock an UPDATE of the row takes
	if shared {
		lock = `SELECT 1 FROM garages WHERE id = $1 FOR SHARE`
	}
	return d.lockRow(ctx, tx, lock, garageID, "lock garage")
}

// revokeGrants applies a revocation's moves to every grant of a garage, in
// the caller's transaction, so that a grant not yet opened can never open
// and one whose door is open or opening is handed to whoever closes it. It
// returns the grants it moved, each with the state it was in.
func (d *DB) revokeGrants(ctx context.Context, tx *sql.Tx, garageID string, moves []grant.Transition, until time.Time, why string) ([]handoff.GrantRecord, error) {
	out, err := d.takeGrants(ctx, tx, garageID, moves, until)
	if err != nil {
		return nil, err
	}
	return out, d.logRevoked(ctx, tx, garageID, out, why)
}

// takeGrants is the first half of revokeGrants: the moves, which lock the
// grants' rows, and nothing that locks after them.
func (d *DB) takeGrants(ctx context.Context, tx *sql.Tx, garageID string, moves []grant.Transition, until time.Time) ([]handoff.GrantRecord, error) {
	var out []handoff.GrantRecord
	for _, m := range moves {
		rows, err := tx.QueryContext(ctx, `UPDATE garage_grants SET state = $1, step_until = $2 WHERE garage_id = $3 AND state = $4
			RETURNING id, stop_id, associate_id, tracking_ids, expires_at`, m.To, micros(until), garageID, m.From)
		if err != nil {
			return nil, handoff.Internal(err, "revoke grants")
		}
		for rows.Next() {
			g := handoff.GrantRecord{GarageID: garageID, Was: m.From}
			var ids string
			var expires int64
			if err := rows.Scan(&g.ID, &g.StopID, &g.AssociateID, &ids, &expires); err != nil {
				rows.Close()
				return nil, handoff.Internal(err, "revoke grants")
			}
			g.State, g.TrackingIDs, g.Delivered, g.ExpiresAt = m.To, strings.Split(ids, ","), []string{}, fromMicros(expires)
			out = append(out, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, handoff.Internal(err, "revoke grants")
		}
	}
	return out, nil
}

// logRevoked is the second half of revokeGrants: the records of the grants
// it moved, in the garage's log and chain and in their parcels' tracking.
func (d *DB) logRevoked(ctx context.Context, tx *sql.Tx, garageID string, revoked []handoff.GrantRecord, why string) error {
	for _, g := range revoked {
		if err := d.garageEvent(ctx, tx, garageID, g.ID, "revoked", why, d.Now()); err != nil {
			return err
		}
		for _, t := range g.TrackingIDs {
			if _, err := d.appendEvent(ctx, tx, t, tracking.Event{Code: tracking.GarageAccessRevoked, Time: d.Now(), Actor: "recipient", Note: "Garage access withdrawn: " + why}); err != nil {
				return err
			}
		}
	}
	return nil
}

// SwitchKeyDelivery switches key delivery for all of a garage's eligible
// parcels. Switching it off forgets per-parcel choices and applies revoke to
// the garage's grants in the same transaction, so a request after it is
// refused even if it started before; it returns the grants it ended. The
// grants are taken before the switch is logged (see lockGarage on the
// order); the log still reads the switch, then the revocations.
func (d *DB) SwitchKeyDelivery(ctx context.Context, garageID string, on bool, revoke []grant.Transition, until time.Time, why string) ([]handoff.GrantRecord, error) {
	var ended []handoff.GrantRecord
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE garages SET key_delivery = $1 WHERE id = $2`, on, garageID); err != nil {
			return handoff.Internal(err, "key delivery")
		}
		if on {
			return d.garageEvent(ctx, tx, garageID, "", "key_delivery_on", "", d.Now())
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM garage_parcels WHERE garage_id = $1`, garageID); err != nil {
			return handoff.Internal(err, "key delivery")
		}
		taken, err := d.takeGrants(ctx, tx, garageID, revoke, until)
		if err != nil {
			return err
		}
		if err := d.garageEvent(ctx, tx, garageID, "", "key_delivery_off", "", d.Now()); err != nil {
			return err
		}
		if err := d.logRevoked(ctx, tx, garageID, taken, why); err != nil {
			return err
		}
		ended = taken
		return nil
	})
	return ended, err
}

// SwitchParcelKeyDelivery chooses key delivery for one of the contact's
// parcels (ENOTFOUND for another's); switching it off applies revoke to the
// garage's grants, as SwitchKeyDelivery does.
func (d *DB) SwitchParcelKeyDelivery(ctx context.Context, contact, trackingID, garageID string, on bool, revoke []grant.Transition, until time.Time, why string) ([]handoff.GrantRecord, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM packages p JOIN shipments s ON s.id = p.shipment_id
		WHERE p.tracking_id = $1 AND (s.recipient_mobile = $2 OR s.recipient_email = $2)`, trackingID, contact).Scan(&n); err != nil {
		return nil, handoff.Internal(err, "find parcel")
	}
	if n == 0 {
		return nil, handoff.NotFound("Parcel")
	}
	var ended []handoff.GrantRecord
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if err := d.lockGarage(ctx, tx, garageID, false); err != nil {
			return err
		}
		if on {
			_, err := tx.ExecContext(ctx, `INSERT INTO garage_parcels (tracking_id, garage_id, created_at) VALUES ($1, $2, $3)
				ON CONFLICT (tracking_id) DO UPDATE SET garage_id = excluded.garage_id`, trackingID, garageID, micros(d.Now()))
			if err != nil {
				return handoff.Internal(err, "key delivery")
			}
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM garage_parcels WHERE tracking_id = $1`, trackingID); err != nil {
			return handoff.Internal(err, "key delivery")
		}
		var err error
		ended, err = d.revokeGrants(ctx, tx, garageID, revoke, until, why)
		return err
	})
	return ended, err
}

// RetireGarage switches key delivery off for good on an opener being
// removed and applies revoke to its grants; ForgetGarage then wipes it.
func (d *DB) RetireGarage(ctx context.Context, garageID string, revoke []grant.Transition, until time.Time, why string) ([]handoff.GrantRecord, error) {
	var ended []handoff.GrantRecord
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE garages SET key_delivery = FALSE WHERE id = $1`, garageID); err != nil {
			return handoff.Internal(err, "remove garage")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM garage_parcels WHERE garage_id = $1`, garageID); err != nil {
			return handoff.Internal(err, "remove garage")
		}
		var err error
		ended, err = d.revokeGrants(ctx, tx, garageID, revoke, until, why)
		return err
	})
	return ended, err
}

// ForgetGarage marks an opener removed and wipes its credentials.
func (d *DB) ForgetGarage(ctx context.Context, garageID string) error {
	if _, err := d.exec(ctx, `UPDATE garages SET removed_at = $1, sealed_config = '' WHERE id = $2`, micros(d.Now()), garageID); err != nil {
		return handoff.Internal(err, "remove garage")
	}
	return nil
}

// GarageStop returns the facts about a stop that garage access is decided
// on, without its parcels (KeyParcels); ENOTFOUND when there is no such stop.
func (d *DB) GarageStop(ctx context.Context, stopID string) (*grant.Stop, error) {
	s := &grant.Stop{}
	var status string
	err := d.db.QueryRowContext(ctx, `SELECT s.id, r.associate_id, r.service_date, r.marketplace, r.status
		FROM stops s JOIN routes r ON r.id = s.route_id WHERE s.id = $1`, stopID).Scan(&s.ID, &s.AssociateID, &s.ServiceDate, &s.Market, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Stop")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find stop")
	}
	s.Loaded = status == handoff.RouteLoaded
	if s.Grants, err = queryStrings(ctx, d.db, `SELECT state FROM garage_grants WHERE stop_id = $1`, stopID); err != nil {
		return nil, err
	}
	return s, nil
}

// garageParcel is a parcel of a stop that may go into a garage.
type garageParcel struct {
	trackingID, garageID        string
	otp, otpOK, bagged, scanned bool
	inPerson                    bool // its label asks for a signature or an age check
	hasPos                      bool
	lat, lon                    int64
}

// garageParcels lists the stop's open parcels whose recipient has an opener
// at the address with key delivery on, for everything or for that parcel.
func (d *DB) garageParcels(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, stopID string) ([]garageParcel, error) {
	rows, err := q.QueryContext(ctx, `SELECT rp.tracking_id, g.id, p.otp_required, ss.body, p.bag_id <> '', rp.bag_scanned,
		g.has_position, g.lat_e6, g.lon_e6, s.signature_required <> '' OR s.minimum_age > 0
		FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id JOIN shipments s ON s.id = p.shipment_id
		JOIN shipper_settings ss ON ss.shipper_id = p.shipper_id
		JOIN garages g ON g.contact IN (s.recipient_mobile, s.recipient_email) AND g.contact <> '' AND g.address_key = s.address_key AND g.removed_at = 0
		WHERE rp.stop_id = $1 AND rp.outcome = ''
		AND (g.key_delivery OR EXISTS (SELECT 1 FROM garage_parcels gp WHERE gp.tracking_id = p.tracking_id AND gp.garage_id = g.id))
		ORDER BY rp.tracking_id, g.created_at`, stopID)
	if err != nil {
		return nil, handoff.Internal(err, "garage parcels")
	}
	defer rows.Close()
	var out []garageParcel
	for rows.Next() {
		var g garageParcel
		var body string
		if err := rows.Scan(&g.trackingID, &g.garageID, &g.otp, &body, &g.bagged, &g.scanned, &g.hasPos, &g.lat, &g.lon, &g.inPerson); err != nil {
			return nil, handoff.Internal(err, "garage parcels")
		}
		if slices.ContainsFunc(out, func(o garageParcel) bool { return o.trackingID == g.trackingID }) {
			continue
		}
		var set handoff.Settings
		json.Unmarshal([]byte(body), &set)
		g.otpOK = !g.otp || set.SecureDelivery.GarageSatisfiesOTP
		out = append(out, g)
	}
	return out, rows.Err()
}

// KeyParcels lists the stop's open parcels whose recipient enrolled an opener
// at the address with key delivery on, for everything or for that parcel,
// each with its first such opener.
func (d *DB) KeyParcels(ctx context.Context, stopID string) ([]grant.Parcel, error) {
	gps, err := d.garageParcels(ctx, d.db, stopID)
	if err != nil {
		return nil, err
	}
	out := make([]grant.Parcel, 0, len(gps))
	for _, g := range gps {
		p := grant.Parcel{TrackingID: g.trackingID, GarageID: g.garageID, OTP: g.otp, GarageForOTP: g.otp && g.otpOK, Bagged: g.bagged, BagScanned: g.scanned, InPerson: g.inPerson}
		if g.hasPos {
			p.GarageAt = &handoff.Position{Lat: float64(g.lat) / 1e6, Lon: float64(g.lon) / 1e6}
		}
		out = append(out, p)
	}
	return out, nil
}

// AddGrant writes a pending grant, in the same transaction that re-reads that
// the garage still has key delivery on (EFORBIDDEN otherwise), with the
// records of step. A second live grant of the stop is refused by the
// database however requests race (ECONFLICT).
func (d *DB) AddGrant(ctx context.Context, g handoff.GrantRecord, step handoff.GrantMove) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		// Held until commit, and taken before the INSERT reads key
		// delivery: a switch that committed meanwhile is seen, and one
		// still to come waits for this grant and revokes it.
		if err := d.lockGarage(ctx, tx, g.GarageID, true); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO garage_grants (id, garage_id, associate_id, stop_id, tracking_ids, state, created_at, expires_at)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM garages g WHERE g.id = $2 AND g.removed_at = 0
				AND (g.key_delivery OR EXISTS (SELECT 1 FROM garage_parcels gp WHERE gp.garage_id = g.id AND gp.tracking_id = $9)))`,
			g.ID, g.GarageID, g.AssociateID, g.StopID, strings.Join(g.TrackingIDs, ","), handoff.GrantPending, micros(d.Now()), micros(g.ExpiresAt), g.TrackingIDs[0])
		if isUnique(err) {
			_, err := grant.Next(handoff.GrantPending, grant.Ask)
			return err
		}
		if err != nil {
			return handoff.Internal(err, "grant")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return handoff.Refuse(handoff.EFORBIDDEN, grant.ReasonKeyDeliveryOff, "The recipient has switched key delivery off.")
		}
		_, err = d.grantRecords(ctx, tx, g.GarageID, g.ID, g.StopID, g.TrackingIDs, step)
		return err
	})
}

// MoveGrant applies one step of a grant: moved is false, and nothing is
// written, when the grant was no longer in m.From (someone else moved it).
// delivered lists the parcels a Deliver step delivered.
func (d *DB) MoveGrant(ctx context.Context, m handoff.GrantMove) (moved bool, delivered []string, err error) {
	err = d.tx(ctx, func(tx *sql.Tx) error {
		var until int64
		if !m.StepUntil.IsZero() {
			until = micros(m.StepUntil)
		}
		set, args := []string{"state = $1", "step_until = $2"}, []any{m.To, until}
		if m.Opened {
			args = append(args, micros(d.Now()))
			set = append(set, "opened_at = $"+itoa(len(args)))
		}
		if m.Closed {
			args = append(args, micros(d.Now()))
			set = append(set, "closed_at = $"+itoa(len(args)))
		}
		args = append(args, m.ID, m.From)
		where := "id = $" + itoa(len(args)-1) + " AND state = $" + itoa(len(args))
		if !m.Before.IsZero() {
			args = append(args, micros(m.Before))
			where += " AND expires_at > $" + itoa(len(args))
		}
		if !m.Holding.IsZero() {
			args = append(args, micros(m.Holding))
			where += " AND step_until = $" + itoa(len(args))
		}
		var garageID, stopID, ids string
		err := tx.QueryRowContext(ctx, `UPDATE garage_grants SET `+strings.Join(set, ", ")+` WHERE `+where+` RETURNING garage_id, stop_id, tracking_ids`, args...).
			Scan(&garageID, &stopID, &ids)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return handoff.Internal(err, "move grant")
		}
		moved = true
		delivered, err = d.grantRecords(ctx, tx, garageID, m.ID, stopID, strings.Split(ids, ","), m)
		return err
	})
	if err != nil {
		return false, nil, err
	}
	return moved, delivered, nil
}

// grantRecords writes the records of a grant's step in the caller's
// transaction: the garage log, the parcels' tracking, the recipient's
// message, a case, the delivery to the garage.
func (d *DB) grantRecords(ctx context.Context, tx *sql.Tx, garageID, grantID, stopID string, ids []string, m handoff.GrantMove) ([]string, error) {
	if m.Step == "" {
		return nil, nil
	}
	now := d.Now()
	s, err := d.grantStop(ctx, tx, stopID)
	if err != nil {
		return nil, err
	}
	if err := d.garageEvent(ctx, tx, garageID, grantID, m.Step, m.Detail, now); err != nil {
		return nil, err
	}
	if m.Event != "" {
		// The garage is at the stop's address: its steps are placed in
		// the stop's town.
		var town string
		if err := tx.QueryRowContext(ctx, `SELECT city FROM stops WHERE id = $1`, stopID).Scan(&town); err != nil {
			return nil, handoff.Internal(err, "garage stop town")
		}
		for _, id := range ids {
			if _, err := d.appendEvent(ctx, tx, id, tracking.Event{Code: m.Event, Time: now, Actor: m.Actor, Note: m.Note,
				Location: tracking.Location{City: town, CountryCode: s.Market}}); err != nil {
				return nil, err
			}
		}
	}
	if m.Notify {
		if err := d.enqueue(ctx, tx, MsgGarage, grantID+"|"+m.Step, ids, map[string]any{"note": m.Step}, ""); err != nil {
			return nil, err
		}
	}
	if m.Case != "" {
		if err := openCase(ctx, tx, CaseGarage, ids[0], m.Actor, now, m.Case); err != nil {
			return nil, err
		}
	}
	if !m.Deliver {
		return nil, nil
	}
	return d.deliverToGarage(ctx, tx, s, m.Actor, ids)
}

// grantStop returns the stop of a grant with the route facts delivering
// needs, whoever drives the step (the associate or the sweeper).
func (d *DB) grantStop(ctx context.Context, tx *sql.Tx, stopID string) (*door.Stop, error) {
	return scanDoorStop(d.txQueryRow(ctx, tx, doorStopQuery, stopID, handoff.GrantCloseFailed))
}

// deliverToGarage delivers the grant's parcels with DeliveredToGarage. An
// OTP parcel among them is there only because its shipper lets the garage
// stand in for the code, so the stop's passcode is settled too.
func (d *DB) deliverToGarage(ctx context.Context, tx *sql.Tx, s *door.Stop, actor string, ids []string) ([]string, error) {
	done, err := d.completeParcels(ctx, tx, s, nil, actor, func(p stopParcel) bool { return slices.Contains(ids, p.trackingID) },
		tracking.DeliveredToGarage, "Delivered to garage")
	if err != nil {
		return nil, err
	}
	if err := d.endPasscodeIfNone(ctx, tx, s.ID, handoff.OTPVerified); err != nil {
		return nil, err
	}
	return done, nil
}

const grantColumns = `gg.id, gg.stop_id, gg.state, gg.tracking_ids, gg.expires_at, gg.garage_id, gg.associate_id, g.sealed_config`

func scanGrant(row interface{ Scan(...any) error }) (*handoff.GrantRecord, error) {
	g := &handoff.GrantRecord{}
	var ids string
	var expires int64
	if err := row.Scan(&g.ID, &g.StopID, &g.State, &ids, &expires, &g.GarageID, &g.AssociateID, &g.Sealed); err != nil {
		return nil, err
	}
	g.TrackingIDs, g.Delivered, g.ExpiresAt = strings.Split(ids, ","), []string{}, fromMicros(expires)
	return g, nil
}

// FindGrant returns a grant with its opener's sealed connection details;
// ENOTFOUND when there is none.
func (d *DB) FindGrant(ctx context.Context, grantID string) (*handoff.GrantRecord, error) {
	g, err := scanGrant(d.db.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM garage_grants gg JOIN garages g ON g.id = gg.garage_id WHERE gg.id = $1`, grantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Grant")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find grant")
	}
	return g, nil
}

// GrantIn returns the associate's grant at a stop that is in state;
// ENOTFOUND when there is none.
func (d *DB) GrantIn(ctx context.Context, stopID, associateID, state string) (*handoff.GrantRecord, error) {
	g, err := scanGrant(d.db.QueryRowContext(ctx, `SELECT `+grantColumns+` FROM garage_grants gg JOIN garages g ON g.id = gg.garage_id
		WHERE gg.stop_id = $1 AND gg.associate_id = $2 AND gg.state = $3`, stopID, associateID, state))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Grant")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find grant")
	}
	return g, nil
}

// MoveDueGrants moves every grant in from whose time is up at now to to,
// with a step deadline of until, and returns them. Safe on several nodes:
// each grant is taken by one conditional UPDATE.
func (d *DB) MoveDueGrants(ctx context.Context, from, to string, now, until time.Time) ([]handoff.GrantRecord, error) {
	var untilMicros int64
	if !until.IsZero() {
		untilMicros = micros(until)
	}
	ids, err := d.writeStrings(ctx, `UPDATE garage_grants SET state = $1, step_until = $2 WHERE state = $3 AND expires_at <= $4 RETURNING id`,
		to, untilMicros, from, micros(now))
	if err != nil {
		return nil, err
	}
	return d.findGrants(ctx, ids, from)
}

// ClaimStaleGrants leases to the caller, until then, every grant in one of
// states whose step deadline passed at now (a node that drove it died or
// gave up), and returns them. A lease not settled by then is claimed again.
func (d *DB) ClaimStaleGrants(ctx context.Context, states []string, now, until time.Time) ([]handoff.GrantRecord, error) {
	if len(states) == 0 {
		return nil, nil
	}
	// The states are written into the query, not bound: garage_grants_live
	// is a partial index on state IN (…), and bound states would make
	// SQLite prepare the statement again at every run (see StationParcels).
	lits := make([]string, len(states))
	for i, s := range states {
		lits[i] = sqlLiteral(s)
	}
	ids, err := d.writeStrings(ctx, `UPDATE garage_grants SET step_until = $1 WHERE step_until <= $2 AND state IN (`+strings.Join(lits, ", ")+`) RETURNING id`,
		micros(until), micros(now))
	if err != nil {
		return nil, err
	}
	return d.findGrants(ctx, ids, "")
}

func (d *DB) findGrants(ctx context.Context, ids []string, was string) ([]handoff.GrantRecord, error) {
	out := make([]handoff.GrantRecord, 0, len(ids))
	for _, id := range ids {
		g, err := d.FindGrant(ctx, id)
		if err != nil {
			return nil, err
		}
		g.Was = was
		out = append(out, *g)
	}
	return out, nil
}
