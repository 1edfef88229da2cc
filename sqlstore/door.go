package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/bag"
	"github.com/handoff-dev/handoff/door"
	"github.com/handoff-dev/handoff/passcode"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/tracking"
)

// This file holds the door's atomic operations (door.Store): each either
// happens whole, conditionally on the state it expects, or not at all, so
// that it holds however many requests race on however many nodes. What may
// happen at the door is decided in package door.

// doorStopQuery reads a stop with its route's facts, and whether a garage
// door there was reported not to have closed.
const doorStopQuery = `SELECT ` + doorStopCols + ` FROM stops s JOIN routes r ON r.id = s.route_id WHERE s.id = $1`

// doorStopCols are the columns of a stop (s) and its route (r) the door
// reads (door.Stop), $2 being the garage grant's "did not close" state.
const doorStopCols = `s.id, s.route_id, s.mobile, s.otp_state, r.associate_id, r.service_date, r.marketplace, r.status,
		EXISTS (SELECT 1 FROM garage_grants g WHERE g.stop_id = s.id AND g.state = $2)`

// scanDoorStop scans a row of doorStopQuery, or returns ENOTFOUND.
func scanDoorStop(row *sql.Row) (*door.Stop, error) {
	var s door.Stop
	err := row.Scan(doorStopDest(&s)...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Stop")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find stop")
	}
	return &s, nil
}

// doorStopDest returns where a row of doorStopCols goes.
func doorStopDest(s *door.Stop) []any {
	return []any{&s.ID, &s.RouteID, &s.Mobile, &s.OTPState, &s.AssociateID, &s.Date, &s.Market, &s.RouteStatus, &s.GarageCloseFailed}
}

// passcodeKey returns the key ID a contact set's day's code is derived with,
// fixing it to the active key the first time it is asked for: in tx, or
// when tx is nil on its own. The key is read first, since it is fixed once
// (when the code is first sent) and read at every check.
func (d *DB) passcodeKey(ctx context.Context, tx *sql.Tx, set, date string) (string, error) {
	if d.Keys == nil {
		return "", handoff.Internal(nil, "no keyring configured")
	}
	if tx == nil {
		if kid, ok := d.keyIDs.get([2]string{set, date}); ok {
			return kid, nil
		}
	}
	const read = `SELECT key_id FROM passcode_sets WHERE code_set = $1 AND service_date = $2`
	readKey := func() (string, error) {
		var kid string
		if tx != nil {
			return kid, d.txQueryRow(ctx, tx, read, set, date).Scan(&kid)
		}
		return kid, d.queryRow(ctx, read, set, date).Scan(&kid)
	}
	kid, err := readKey()
	if err == nil {
		if tx == nil {
			d.keyIDs.put([2]string{set, date}, kid) // committed, so fixed for good
		}
		return kid, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", handoff.Internal(err, "read passcode key")
	}
	const fix = `INSERT INTO passcode_sets (code_set, service_date, key_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
	if tx != nil {
		_, err = d.txExec(ctx, tx, fix, set, date, d.Keys.ActiveID())
	} else {
		_, err = d.exec(ctx, fix, set, date, d.Keys.ActiveID())
	}
	if err != nil {
		return "", handoff.Internal(err, "fix passcode key")
	}
	if kid, err = readKey(); err != nil {
		return "", handoff.Internal(err, "read passcode key")
	}
	if tx == nil {
		d.keyIDs.put([2]string{set, date}, kid)
	}
	return kid, nil
}

// Passcode returns the day's code of a contact set (see passcode.Contacts).
// It is the one place a code exists in plain text: the sender calls it at the
// moment a message goes to the provider, the portal shows it to the set's
// own contacts, and the check at the door compares against it. Never log or
// return it to anyone else.
func (d *DB) Passcode(ctx context.Context, set, date string) (string, error) {
	kid, err := d.passcodeKey(ctx, nil, set, date)
	if err != nil {
		return "", err
	}
	code, err := passcode.Code(d.Keys, kid, set, date)
	if err != nil {
		return "", handoff.Internal(err, "derive passcode")
	}
	return code, nil
}

// stopView returns a stop of a route as the associate sees it, or
// ENOTFOUND.
func (d *DB) stopView(ctx context.Context, routeID, stopID string) (*handoff.Stop, error) {
	s, err := d.loadStop(ctx, nil, stopID)
	if err != nil {
		return nil, err
	}
	if s.RouteID != routeID {
		return nil, handoff.NotFound("Stop")
	}
	return s, nil
}

// claimAssociateGuess checks that the associate's budget has room for an
// entry and, when the entry is wrong, counts it, in one statement; it
// returns the wrong entries counted in the window with this one. When the budget is spent it
// returns why (handoff.ReasonAssociateLocked once the station must
// intervene, else handoff.ReasonTooManyWrong).
func (d *DB) claimAssociateGuess(ctx context.Context, tx *sql.Tx, associateID string, wrong bool, limit int, window time.Duration, now time.Time) (int, string, error) {
	cutoff := micros(now.Add(-window))
	inc := 0
	if wrong {
		inc = 1
	}
	var n int
	err := d.txQueryRow(ctx, tx, `INSERT INTO associate_guard (associate_id, window_start, wrong) VALUES ($1, $3, $5)
		ON CONFLICT (associate_id) DO UPDATE SET
			wrong = CASE WHEN associate_guard.window_start <= $2 THEN $5 ELSE associate_guard.wrong + $5 END,
			window_start = CASE WHEN associate_guard.window_start <= $2 THEN $3 ELSE associate_guard.window_start END
		WHERE associate_guard.locked_at = 0 AND (associate_guard.window_start <= $2 OR associate_guard.wrong < $4) RETURNING wrong`,
		associateID, cutoff, micros(now), limit, inc).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		var locked int64
		if err := d.txQueryRow(ctx, tx, `SELECT locked_at FROM associate_guard WHERE associate_id = $1`, associateID).Scan(&locked); err != nil {
			return 0, "", handoff.Internal(err, "read guard")
		}
		if locked > 0 {
			return 0, handoff.ReasonAssociateLocked, nil
		}
		return 0, handoff.ReasonTooManyWrong, nil
	}
	if err != nil {
		return 0, "", handoff.Internal(err, "claim associate guess")
	}
	return n, "", nil
}

// lockIfOverBudget locks the associate's checks once the window's wrong codes
// reach the limit, which flags the associate for the station; true when this
// call locked them. counted is the window's wrong entries as the claim left
// them: below the limit there is nothing to lock.
func (d *DB) lockIfOverBudget(ctx context.Context, tx *sql.Tx, associateID string, counted, limit int, window time.Duration, now time.Time) (bool, error) {
	if counted < limit {
		return false, nil
	}
	res, err := d.txExec(ctx, tx, `UPDATE associate_guard SET locked_at = $1 WHERE associate_id = $2 AND locked_at = 0 AND wrong >= $3 AND window_start > $4`,
		micros(now), associateID, limit, micros(now.Add(-window)))
	if err != nil {
		return false, handoff.Internal(err, "lock associate")
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// stopParcel is a parcel of a stop still open on the route.
type stopParcel struct {
	trackingID string
	otp        bool
	bagged     bool
	codeSet    string // the contact set whose code opens it (see package passcode)
	needsCheck bool   // its label asks for a signature or an age check
	codeOK     bool   // its code was entered; it waits for its check
	city, pc   string
}

// waitsForCode says the parcel needs the passcode and it was not entered yet.
func (p stopParcel) waitsForCode() bool { return p.otp && !p.codeOK }

func (d *DB) openParcels(ctx context.Context, tx *sql.Tx, s *door.Stop) ([]stopParcel, error) {
	rows, err := d.txQuery(ctx, tx, `SELECT rp.tracking_id, p.otp_required, p.bag_id <> '', sh.code_set, sh.signature_required <> '' OR sh.minimum_age > 0, rp.code_ok,
		st.city, st.postal_code FROM route_parcels rp
		JOIN packages p ON p.tracking_id = rp.tracking_id JOIN shipments sh ON sh.id = p.shipment_id JOIN stops st ON st.id = rp.stop_id
		WHERE rp.stop_id = $1 AND rp.outcome = '' ORDER BY rp.tracking_id`, s.ID)
	if err != nil {
		return nil, handoff.Internal(err, "open parcels")
	}
	defer rows.Close()
	var out []stopParcel
	for rows.Next() {
		var p stopParcel
		if err := rows.Scan(&p.trackingID, &p.otp, &p.bagged, &p.codeSet, &p.needsCheck, &p.codeOK, &p.city, &p.pc); err != nil {
			return nil, handoff.Internal(err, "scan parcel")
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// settleParcel closes a parcel on the route exactly once; false when it was
// already settled.
func (d *DB) settleParcel(ctx context.Context, tx *sql.Tx, routeID, trackingID, outcome string) (bool, error) {
	res, err := d.txExec(ctx, tx, `UPDATE route_parcels SET outcome = $1 WHERE route_id = $2 AND tracking_id = $3 AND outcome = ''`, outcome, routeID, trackingID)
	if err != nil {
		return false, handoff.Internal(err, "settle parcel")
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// deliverParcel settles one open parcel of a stop as delivered, moves it and
// its bag to their final states and records the event; false when it was
// settled meanwhile. Every way of delivering goes through here. Its audit
// entry is added to log, for the caller to append with the others of its
// transaction (appendAudit).
func (d *DB) deliverParcel(ctx context.Context, tx *sql.Tx, s *door.Stop, p stopParcel, actor, detail, note string, log *[]audit.Entry) (bool, error) {
	ok, err := d.settleParcel(ctx, tx, s.RouteID, p.trackingID, handoff.OutcomeDelivered)
	if err != nil || !ok {
		return false, err
	}
	if p.bagged {
		if err := d.settleBag(ctx, tx, p.trackingID, handoff.BagDelivered); err != nil {
			return false, err
		}
	}
	now := d.Now()
	pod, err := d.issueProof(ctx, tx, s, p, detail, now)
	if err != nil {
		return false, err
	}
	*log = append(*log, audit.Entry{Action: audit.ActionDelivered, Actor: actor, Subject: p.trackingID, Outcome: detail, Detail: "proof=" + pod})
	_, err = d.appendEventMoving(ctx, tx, p.trackingID, handoff.StageOut, handoff.StageDelivered, tracking.Event{Code: tracking.Delivered, Detail: detail, Time: now,
		Location: tracking.Location{City: p.city, PostalCode: p.pc, CountryCode: s.Market}, Actor: actor, Note: note})
	return err == nil, err
}

// completeParcels delivers the stop's open parcels that keep returns true
// with a detail code, and tells the recipient. ps are the stop's open
// parcels when tx has read them already (nil: read them): a parcel settled
// meanwhile is skipped by deliverParcel's conditional UPDATE either way.
// The audit entries first are appended before the deliveries', all at once.
func (d *DB) completeParcels(ctx context.Context, tx *sql.Tx, s *door.Stop, ps []stopParcel, actor string, keep func(stopParcel) bool, detail, note string, first ...audit.Entry) ([]string, error) {
	if ps == nil {
		var err error
		if ps, err = d.openParcels(ctx, tx, s); err != nil {
			return nil, err
		}
	}
	done := []string{}
	log := first
	for _, p := range ps {
		if !keep(p) {
			continue
		}
		ok, err := d.deliverParcel(ctx, tx, s, p, actor, detail, note, &log)
		if err != nil {
			return nil, err
		}
		if ok {
			done = append(done, p.trackingID)
		}
	}
	if err := d.appendAudit(ctx, tx, log...); err != nil {
		return nil, err
	}
	if len(done) > 0 {
		if err := d.enqueue(ctx, tx, MsgDelivered, s.ID+"|"+detail, done, map[string]any{"detailCode": detail}, ""); err != nil {
			return nil, err
		}
	}
	return done, nil
}

// failParcels records a failed attempt for the stop's open parcels (only the
// OTP ones when otpOnly): they go back to the station, the day counts as a
// failed day, and the recipient is told what happens next.
func (d *DB) failParcels(ctx context.Context, tx *sql.Tx, s *door.Stop, actor string, otpOnly bool, reason, note, next string) ([]string, error) {
	ps, err := d.openParcels(ctx, tx, s)
	if err != nil {
		return nil, err
	}
	failed := []string{}
	now := d.Now()
	for _, p := range ps {
		if otpOnly && !p.otp {
			continue
		}
		ok, err := d.settleParcel(ctx, tx, s.RouteID, p.trackingID, handoff.OutcomeAttempted)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		res, err := d.txExec(ctx, tx, `UPDATE packages SET stage = $1, failed_days = failed_days + 1, last_attempt_date = $2
			WHERE tracking_id = $3 AND stage = $4`, handoff.StageAwaitingReturn, s.Date, p.trackingID, handoff.StageOut)
		if err != nil {
			return nil, handoff.Internal(err, "fail parcel")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil, handoff.Errorf(handoff.ECONFLICT, "The parcel was changed by someone else; try again.")
		}
		if _, err := d.appendEvent(ctx, tx, p.trackingID, tracking.Event{Code: tracking.DeliveryAttempted, Detail: reason, Time: now,
			Location: tracking.Location{City: p.city, PostalCode: p.pc, CountryCode: s.Market}, Actor: actor, Note: note}); err != nil {
			return nil, err
		}
		failed = append(failed, p.trackingID)
	}
	if len(failed) > 0 {
		if err := d.enqueue(ctx, tx, MsgAttemptFailed, s.ID+"|"+reason, failed, map[string]any{"detailCode": reason, "nextAttemptDate": next}, ""); err != nil {
			return nil, err
		}
		if err := d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionAttemptFailed, Actor: actor, Subject: s.ID, Outcome: reason}); err != nil {
			return nil, err
		}
	}
	return failed, nil
}

// settleBag moves a parcel's sealed bag to its final state.
func (d *DB) settleBag(ctx context.Context, tx *sql.Tx, trackingID, state string) error {
	if _, err := d.txExec(ctx, tx, `UPDATE bags SET state = $1 WHERE tracking_id = $2 AND state = $3`, state, trackingID, handoff.BagSealed); err != nil {
		return handoff.Internal(err, "settle bag")
	}
	return nil
}

// endPasscodeIfNone settles a stop's pending passcode (to state) once no open
// parcel there needs it, so no code is re-sent or taken for parcels that are
// gone.
func (d *DB) endPasscodeIfNone(ctx context.Context, tx *sql.Tx, stopID, state string) error {
	if _, err := d.txExec(ctx, tx, `UPDATE stops SET otp_state = $1 WHERE id = $2 AND otp_state = $3 AND NOT EXISTS (
		SELECT 1 FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id WHERE rp.stop_id = $2 AND rp.outcome = '' AND p.otp_required)`,
		state, stopID, handoff.OTPPending); err != nil {
		return handoff.Internal(err, "end passcode")
	}
	return nil
}

// queryStrings runs a query of one text column and returns its values.
func queryStrings(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, handoff.Internal(err, "query")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, handoff.Internal(err, "query")
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "query")
	}
	return out, nil
}

// The door's store (door.Store).

var _ door.Store = (*DB)(nil)

// DoorStop implements door.Store.
func (d *DB) DoorStop(ctx context.Context, stopID string) (*door.Stop, error) {
	return scanDoorStop(d.queryRow(ctx, doorStopQuery, stopID, handoff.GrantCloseFailed))
}

// StopView implements door.Store.
func (d *DB) StopView(ctx context.Context, routeID, stopID string) (*handoff.Stop, error) {
	return d.stopView(ctx, routeID, stopID)
}

// OpenParcels implements door.Store.
func (d *DB) OpenParcels(ctx context.Context, stopID string) ([]door.Parcel, error) {
	open, _, err := scanOpenParcels(d.query(ctx, openParcelsQuery, stopID))
	return open, err
}

// openParcelsQuery reads the parcels of a stop still open on its route, with
// what the door's rules need of them and what settling them needs.
const openParcelsQuery = `SELECT ` + openParcelCols + `,
		COALESCE((SELECT ps.key_id FROM passcode_sets ps JOIN routes r ON r.id = rp.route_id WHERE ps.code_set = sh.code_set AND ps.service_date = r.service_date), ''),
		st.city, st.postal_code
		FROM route_parcels rp ` + openParcelJoins + ` JOIN stops st ON st.id = rp.stop_id
		WHERE rp.stop_id = $1 AND rp.outcome = '' ORDER BY rp.tracking_id`

// ownStopQuery reads an associate's stop ($1, $3 the associate) with its
// open parcels in one statement (on SQLite; see ownStopAndParcels), a row
// per parcel (openParcelsQuery's columns after doorStopQuery's): the stop,
// its route, its parcels, their packages and shipments, by key. A stop with
// none open has no row.
const ownStopQuery = `SELECT ` + doorStopCols + `, ` + openParcelCols + `,
		COALESCE((SELECT ps.key_id FROM passcode_sets ps WHERE ps.code_set = sh.code_set AND ps.service_date = r.service_date), ''),
		s.city, s.postal_code
		FROM stops s JOIN routes r ON r.id = s.route_id JOIN route_parcels rp ON rp.stop_id = s.id AND rp.outcome = '' ` + openParcelJoins + `
		WHERE s.id = $1 AND r.associate_id = $3 ORDER BY rp.tracking_id`

// openParcelCols are the columns of an open route parcel (rp, with
// openParcelJoins) the door's rules read, before the key of its code set
// and its stop's city and postcode.
const openParcelCols = `rp.tracking_id, p.otp_required, sh.code_set, rp.code_ok, p.bag_id, rp.bag_scanned,
		sh.signature_required, sh.minimum_age, sh.typed_signature_refused, sh.confidential_address, sh.gift_registry,
		EXISTS (SELECT 1 FROM recipient_prefs rpf WHERE rpf.photo_opt_out AND rpf.contact IN (sh.recipient_mobile, sh.recipient_email) AND rpf.contact <> '')`

// openParcelJoins joins a route parcel (rp) to what openParcelCols read.
const openParcelJoins = `JOIN packages p ON p.tracking_id = rp.tracking_id JOIN shipments sh ON sh.id = p.shipment_id`

// openRow is a row of openParcelCols, the key and the stop's place.
type openRow struct {
	p                                door.Parcel
	confidential, registry, optedOut bool
	city, pc                         string
}

// dest returns where the row's columns go.
func (r *openRow) dest() []any {
	p := &r.p
	return []any{&p.TrackingID, &p.OTP, &p.CodeSet, &p.CodeOK, &p.BagID, &p.BagScanned,
		&p.Check.Signature, &p.Check.MinimumAge, &p.Check.TypedRefused, &r.confidential, &r.registry, &r.optedOut, &p.KeyID, &r.city, &r.pc}
}

// add appends the parcel as the door sees it and as the store settles it.
func (r *openRow) add(out []door.Parcel, sps []stopParcel) ([]door.Parcel, []stopParcel) {
	p := r.p
	switch {
	case r.confidential:
		p.Privacy = handoff.NoPhotoConfidential
	case r.registry:
		p.Privacy = handoff.NoPhotoGiftRegistry
	case r.optedOut:
		p.Privacy = handoff.NoPhotoOptedOut
	}
	return append(out, p), append(sps, stopParcel{trackingID: p.TrackingID, otp: p.OTP, bagged: p.BagID != "", codeSet: p.CodeSet,
		needsCheck: p.Check.Needed(), codeOK: p.CodeOK, city: r.city, pc: r.pc})
}

// scanOpenParcels scans the rows of openParcelsQuery, as the door sees them
// and as the store settles them.
func scanOpenParcels(rows *sql.Rows, err error) ([]door.Parcel, []stopParcel, error) {
	if err != nil {
		return nil, nil, handoff.Internal(err, "open parcels")
	}
	defer rows.Close()
	var out []door.Parcel
	var sps []stopParcel
	for rows.Next() {
		var r openRow
		if err := rows.Scan(r.dest()...); err != nil {
			return nil, nil, handoff.Internal(err, "scan parcel")
		}
		out, sps = r.add(out, sps)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, handoff.Internal(err, "open parcels")
	}
	return out, sps, nil
}

// AssociateRoutes implements door.Store.
func (d *DB) AssociateRoutes(ctx context.Context, associateID string, dates ...string) ([]*handoff.Route, error) {
	if len(dates) == 0 {
		return nil, nil
	}
	args := []any{associateID}
	for _, dt := range dates {
		args = append(args, dt)
	}
	return d.routesWhere(ctx, `associate_id = $1 AND service_date IN (`+placeholders(2, len(dates))+`)`, args...)
}

// LoadVan implements door.Store, in a few statements whatever the route's
// length: the open parcels move out with their events' sequence in one
// UPDATE, and their events, webhook deliveries and every stop's messages
// are each one multi-row insert per maxInList rows. The route is read
// before (locked on PostgreSQL, so two loads of one route take turns) and
// after, in the transaction, on the writer's connection.
func (d *DB) LoadVan(ctx context.Context, routeID, associateID string, at time.Time, check func(door.RouteHead) error) (view *handoff.Route, unsealed []string, err error) {
	err = d.tx(ctx, func(tx *sql.Tx) error {
		q := `SELECT associate_id, service_date, marketplace, status FROM routes WHERE id = $1`
		if d.Engine == Postgres {
			q += " FOR UPDATE"
		}
		var h door.RouteHead
		err := d.txQueryRow(ctx, tx, q, routeID).Scan(&h.AssociateID, &h.Date, &h.Market, &h.Status)
		if errors.Is(err, sql.ErrNoRows) {
			return handoff.NotFound("Route")
		}
		if err != nil {
			return handoff.Internal(err, "find route")
		}
		if err := check(h); err != nil {
			return err
		}
		unsealed, err = queryStrings(ctx, tx, `SELECT p.tracking_id FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id
			WHERE rp.route_id = $1 AND rp.outcome = '' AND p.bag_required AND p.bag_id = '' ORDER BY p.tracking_id`, routeID)
		if err != nil || len(unsealed) > 0 {
			return err
		}
		res, err := d.txExec(ctx, tx, `UPDATE routes SET status = $1, loaded_at = $2 WHERE id = $3 AND status = $4`,
			handoff.RouteLoaded, micros(at), routeID, handoff.RoutePlanned)
		if err != nil {
			return handoff.Internal(err, "load route")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return handoff.Refuse(handoff.ECONFLICT, handoff.ReasonRouteLoaded, "The route is already loaded.")
		}
		if err := d.sendOut(ctx, tx, routeID, h.Date, associateID, at); err != nil {
			return err
		}
		view, err = d.findRoute(ctx, tx, routeID)
		return err
	})
	if err != nil || len(unsealed) > 0 {
		return nil, unsealed, err
	}
	return view, nil, nil
}

// sendOut puts a loaded route's open parcels out for delivery: each moves
// out with its event, and each stop's recipients are sent the day's code. A
// parcel the station took back off the route stays behind: it has an
// outcome there, or another route now.
func (d *DB) sendOut(ctx context.Context, tx *sql.Tx, routeID, date, associateID string, at time.Time) error {
	const open = `SELECT tracking_id FROM route_parcels WHERE route_id = $1 AND outcome = ''`
	type parcel struct {
		trackingID, stopID, city, pc, country string
		minute                                int
	}
	var parcels []parcel
	rows, err := d.txQuery(ctx, tx, `SELECT rp.tracking_id, st.id, st.city, st.postal_code, st.country_code, st.planned_minute FROM route_parcels rp JOIN stops st ON st.id = rp.stop_id
		WHERE rp.route_id = $1 AND rp.outcome = '' ORDER BY st.position, rp.tracking_id`, routeID)
	if err != nil {
		return handoff.Internal(err, "route parcels")
	}
	for rows.Next() {
		var p parcel
		if err := rows.Scan(&p.trackingID, &p.stopID, &p.city, &p.pc, &p.country, &p.minute); err != nil {
			rows.Close()
			return handoff.Internal(err, "route parcels")
		}
		parcels = append(parcels, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return handoff.Internal(err, "route parcels")
	}
	status, _ := tracking.StatusOf(tracking.OutForDelivery)
	seqs := map[string]int{}
	rows, err = d.txQuery(ctx, tx, `UPDATE packages SET stage = $1, last_seq = last_seq + 1, status = $2, detail = '', updated_at = $3
		WHERE stage = $4 AND route_id = $5 AND tracking_id IN (`+strings.Replace(open, "$1", "$5", 1)+`) RETURNING tracking_id, last_seq`,
		handoff.StageOut, status, micros(at), handoff.StageRouted, routeID)
	if err != nil {
		return handoff.Internal(err, "load parcels")
	}
	for rows.Next() {
		var id string
		var seq int
		if err := rows.Scan(&id, &seq); err != nil {
			rows.Close()
			return handoff.Internal(err, "load parcels")
		}
		seqs[id] = seq
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return handoff.Internal(err, "load parcels")
	}
	events := map[string]loggedEvent{}
	var eventRows [][]any
	for _, p := range parcels {
		seq, ok := seqs[p.trackingID]
		if !ok {
			continue
		}
		e := tracking.Event{Code: tracking.OutForDelivery, Time: at, Location: tracking.Location{City: p.city, PostalCode: p.pc, CountryCode: p.country},
			Actor: associateID, Note: "Out for delivery"}
		events[p.trackingID] = loggedEvent{seq, e}
		eventRows = append(eventRows, []any{p.trackingID, seq, e.Code, e.Detail, micros(e.Time), e.Location.City, e.Location.StateOrRegion,
			e.Location.PostalCode, e.Location.CountryCode, e.Actor, e.Note})
	}
	if err := d.insertRows(ctx, tx, `INSERT INTO events (tracking_id, seq, code, detail, at, city, state_or_region, postal_code, country_code, actor, note) VALUES `,
		eventRows, ""); err != nil {
		return handoff.Internal(err, "insert events")
	}
	if err := d.queueWebhooksOf(ctx, tx, events, `p.tracking_id IN (`+open+`)`, routeID); err != nil {
		return err
	}
	contacts, err := d.readContacts(ctx, tx, `p.tracking_id IN (`+open+`)`, routeID)
	if err != nil {
		return err
	}
	// Each stop's parcels that went out, in the order of their tracking
	// IDs, and the stops in the route's order.
	stopOf := map[string]string{}
	var stops []string
	minuteOf := map[string]int{}
	for _, p := range parcels {
		if _, out := seqs[p.trackingID]; !out {
			continue
		}
		if len(stops) == 0 || stops[len(stops)-1] != p.stopID {
			stops = append(stops, p.stopID)
			minuteOf[p.stopID] = p.minute
		}
		stopOf[p.trackingID] = p.stopID
	}
	byStop := map[string][]contactRow{}
	for _, c := range contacts {
		if stop, ok := stopOf[c.trackingID]; ok {
			byStop[stop] = append(byStop[stop], c)
		}
	}
	var msgs []message
	for _, stop := range stops {
		// Each stop's message names its planned window.
		from, to := route.Window(minuteOf[stop])
		data := map[string]any{"serviceDate": date, "windowFrom": route.FormatClock(from), "windowTo": route.FormatClock(to)}
		msgs = append(msgs, composeMessages(MsgOutForDelivery, stop, byStop[stop], data, date)...)
	}
	return d.writeMessages(ctx, tx, msgs)
}

// Guess implements door.Store. The stop and its open parcels are read in
// the transaction, on the writer's connection, whose cache holds the pages
// the last commits wrote: read before it on a reader they cost a code check
// two more statements on a cold cache. The conditional UPDATEs lock the rows
// they touch (PostgreSQL) or the database (SQLite) until commit, so racing
// entries at one stop are settled one after another and each sees what the
// one before did. An entry that matched no code set is wrong whatever is
// open at the stop, so its evaluation and its wrong count are one UPDATE.
func (d *DB) Guess(ctx context.Context, g door.Guess) (*door.GuessResult, error) {
	res := &door.GuessResult{}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		// Only the associate's own stop is read, and so locked: another
		// associate's entry finds nothing (ENOTFOUND) and holds nothing.
		st, open, sps, err := d.ownStopAndParcels(ctx, tx, g.StopID, g.AssociateID)
		if err != nil {
			return err
		}
		// A code that was never sent has no key yet: fixed now, as its
		// message will be, once per set and in the sets' order, so that
		// two stops fixing the same sets on PostgreSQL never wait for
		// each other crosswise.
		var unfixed []string
		for _, p := range open {
			if p.OTP && !p.CodeOK && p.KeyID == "" {
				unfixed = append(unfixed, p.CodeSet)
			}
		}
		slices.Sort(unfixed)
		for _, set := range slices.Compact(unfixed) {
			kid, err := d.passcodeKey(ctx, tx, set, st.Date)
			if err != nil {
				return err
			}
			for i := range open {
				if open[i].CodeSet == set {
					open[i].KeyID = kid
				}
			}
		}
		v, err := g.Decide(st, open)
		if err != nil {
			return err
		}
		if err := d.guess(ctx, tx, g, st, sps, v, res); err != nil || res.Refused != "" {
			return err
		}
		res.Stop, err = d.loadStop(ctx, tx, g.StopID)
		return err
	})
	if errors.Is(err, errRollback) {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// guess counts and settles one entry in tx, at stop s whose open parcels
// are open, as the door decided it.
func (d *DB) guess(ctx context.Context, tx *sql.Tx, g door.Guess, s *door.Stop, open []stopParcel, v *door.Verdict, res *door.GuessResult) error {
	// Right when the entry is the code of a set that still has an open
	// passcode parcel here waiting for its code; anything else counts
	// against the associate's budget, which even a right entry needs room
	// in (it is refused once the budget is spent).
	res.Correct = slices.ContainsFunc(open, func(p stopParcel) bool { return p.waitsForCode() && v.Matched[p.codeSet] })
	counted, refused, err := d.claimAssociateGuess(ctx, tx, g.AssociateID, !res.Correct, g.BudgetLimit, g.BudgetWindow, g.At)
	if err != nil || refused != "" {
		res.Correct = false
		res.Refused = refused
		if err == nil {
			err = d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionCodeRefused, Actor: g.AssociateID, Subject: g.StopID, Outcome: refused, Detail: "method=" + g.Method})
		}
		return err
	}
	// The entry is evaluated, and the stop settled as far as the entry
	// decides it, in one UPDATE: a wrong entry (one that matched only sets
	// with nothing waiting here counts as wrong too) uses one of the stop's
	// attempts; a right one verifies the stop, unless parcels under
	// another code still wait there: then it used none of its attempts.
	// The stop's row, read in this transaction, is locked (PostgreSQL) or
	// SQLite's writer is this one, so what open says holds until commit.
	spent, wrongs, state := 1, 0, handoff.OTPPending
	switch {
	case !res.Correct:
		wrongs = 1
	case slices.ContainsFunc(open, func(p stopParcel) bool { return p.waitsForCode() && !v.Matched[p.codeSet] }):
		spent = 0
	default:
		state = handoff.OTPVerified
	}
	var stopWrong int
	err = d.txQueryRow(ctx, tx, `UPDATE stops SET guesses = guesses + $4, wrong = wrong + $5, otp_state = $6
		WHERE id = $1 AND otp_state = $2 AND guesses < $3 RETURNING wrong`,
		g.StopID, handoff.OTPPending, handoff.MaxCodeGuesses, spent, wrongs, state).Scan(&stopWrong)
	if errors.Is(err, sql.ErrNoRows) {
		if err := d.txQueryRow(ctx, tx, `SELECT otp_state FROM stops WHERE id = $1`, g.StopID).Scan(&res.State); err != nil {
			return handoff.Internal(err, "read stop")
		}
		res.Refused, res.Correct = handoff.ReasonNoAttemptsLeft, false
		// Nothing was evaluated: the claimed budget goes back.
		return errRollback
	}
	if err != nil {
		return handoff.Internal(err, "claim guess")
	}
	if _, err := d.txExec(ctx, tx, `INSERT INTO code_checks (id, stop_id, associate_id, method, correct, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		newID("chk_"), g.StopID, g.AssociateID, g.Method, res.Correct, micros(g.At)); err != nil {
		return handoff.Internal(err, "record check")
	}
	check := audit.Entry{Action: audit.ActionCodeCheck, Actor: g.AssociateID, Subject: g.StopID,
		Outcome: map[bool]string{true: "correct", false: "wrong"}[res.Correct], Detail: "method=" + g.Method}
	if res.Correct {
		// Its entry goes with the deliveries' (one append).
		return d.rightGuess(ctx, tx, g, s, open, v.Matched, res, check)
	}
	if err := d.appendAudit(ctx, tx, check); err != nil {
		return err
	}
	if res.LockedNow, err = d.lockIfOverBudget(ctx, tx, g.AssociateID, counted, g.BudgetLimit, g.BudgetWindow, g.At); err != nil {
		return err
	}
	if res.LockedNow {
		if err := d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionAssociateLock, Actor: g.AssociateID, Subject: g.AssociateID}); err != nil {
			return err
		}
	}
	res.AttemptsLeft = max(handoff.MaxCodeGuesses-stopWrong, 0)
	if stopWrong < handoff.MaxCodeGuesses {
		return nil
	}
	r, err := d.txExec(ctx, tx, `UPDATE stops SET otp_state = $1 WHERE id = $2 AND otp_state = $3`, handoff.OTPFailed, g.StopID, handoff.OTPPending)
	if err != nil {
		return handoff.Internal(err, "end attempt")
	}
	if n, _ := r.RowsAffected(); n == 1 {
		res.Ended = true
		_, err = d.failParcels(ctx, tx, s, g.AssociateID, true, tracking.OtpNotAvailable, "Passcode not available: three wrong entries", v.NextAttempt)
	}
	return err
}

// rightGuess settles a right entry (which took nothing from the associate's
// budget, and whose stop guess counted or verified already): the open
// passcode parcels of the matched sets are delivered (or, when their label
// also asks for a signature or an age check, opened by the code, to be
// handed over with the check). check is the entry's audit entry, appended
// with the deliveries'.
func (d *DB) rightGuess(ctx context.Context, tx *sql.Tx, g door.Guess, s *door.Stop, open []stopParcel, matched map[string]bool, res *door.GuessResult, check audit.Entry) error {
	opens := func(p stopParcel) bool { return p.waitsForCode() && matched[p.codeSet] }
	for _, p := range open {
		if opens(p) && p.needsCheck {
			if _, err := d.txExec(ctx, tx, `UPDATE route_parcels SET code_ok = TRUE WHERE stop_id = $1 AND tracking_id = $2`, g.StopID, p.trackingID); err != nil {
				return handoff.Internal(err, "open parcel by code")
			}
		}
	}
	var err error
	res.Delivered, err = d.completeParcels(ctx, tx, s, open, g.AssociateID, func(p stopParcel) bool { return opens(p) && !p.needsCheck }, g.Detail, g.Note, check)
	return err
}

// errRollback ends a transaction without an error for the caller.
var errRollback = errors.New("rollback")

// ClaimResend implements door.Store.
func (d *DB) ClaimResend(ctx context.Context, stop *door.Stop, limit int) (bool, error) {
	ok := false
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var n int
		err := d.txQueryRow(ctx, tx, `UPDATE stops SET resends = resends + 1 WHERE id = $1 AND otp_state = $2 AND resends < $3 RETURNING resends`,
			stop.ID, handoff.OTPPending, limit).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return handoff.Internal(err, "count resend")
		}
		ok = true
		if err := d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionCodeResend, Actor: stop.AssociateID, Subject: stop.ID, Outcome: audit.OutcomeOK, Detail: "resend=" + itoa(n)}); err != nil {
			return err
		}
		ps, err := d.openParcels(ctx, tx, stop)
		if err != nil {
			return err
		}
		var ids []string
		for _, p := range ps {
			if p.otp {
				ids = append(ids, p.trackingID)
			}
		}
		return d.enqueue(ctx, tx, MsgResend, stop.ID+"|"+strconv.Itoa(n), ids, map[string]any{"serviceDate": stop.Date}, stop.Date)
	})
	return ok, err
}

// Deliver implements door.Store. The stop and its open parcels are read in
// the delivery's own transaction, on the writer's connection, and the door
// decides on exactly those rows; the stop's view is read at the end, on the
// same connection, whose cache holds what the delivery just wrote (read
// afterwards on a reader it cost about 150 µs more, handoff loadtest).
func (d *DB) Deliver(ctx context.Context, stopID, associateID string, decide func(*door.Stop, []door.Parcel) (*door.Delivery, error)) (*handoff.Stop, error) {
	var view *handoff.Stop
	err := d.tx(ctx, func(tx *sql.Tx) error {
		s, parcels, open, err := d.ownStopAndParcels(ctx, tx, stopID, associateID)
		if err != nil {
			return err
		}
		dl, err := decide(s, parcels)
		if err != nil {
			return err
		}
		var ids []string
		var log []audit.Entry
		for _, p := range dl.Parcels {
			i := slices.IndexFunc(open, func(o stopParcel) bool { return o.trackingID == p.TrackingID })
			if i < 0 || (open[i].otp && !open[i].codeOK) {
				return handoff.Errorf(handoff.ECONFLICT, "Parcel %s is already settled.", p.TrackingID)
			}
			if err := d.recordDoorCheck(ctx, tx, p.TrackingID, dl.AssociateID, dl.At, dl.Signature, dl.AgeCheck, true); err != nil {
				return err
			}
			switch {
			case dl.Photo != nil:
				if _, err := d.insertPhoto(ctx, tx, p.TrackingID, photoDelivery, dl.Photo, dl.AssociateID, dl.At); err != nil {
					return err
				}
			case p.NoPhotoReason != "":
				if _, err := d.txExec(ctx, tx, `UPDATE packages SET no_photo_reason = $1 WHERE tracking_id = $2`, p.NoPhotoReason, p.TrackingID); err != nil {
					return handoff.Internal(err, "record no photo")
				}
			}
			ok, err := d.deliverParcel(ctx, tx, s, open[i], dl.AssociateID, dl.Detail, p.Note, &log)
			if err != nil {
				return err
			}
			if !ok {
				return handoff.Errorf(handoff.ECONFLICT, "Parcel %s is already settled.", p.TrackingID)
			}
			ids = append(ids, p.TrackingID)
		}
		if err := d.appendAudit(ctx, tx, log...); err != nil {
			return err
		}
		if err := d.enqueue(ctx, tx, MsgDelivered, s.ID+"|"+dl.Detail, ids, map[string]any{"detailCode": dl.Detail}, ""); err != nil {
			return err
		}
		view, err = d.loadStop(ctx, tx, s.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return view, nil
}

// ownStopAndParcels reads, in tx, the associate's own stop (ENOTFOUND for
// another's, which is read no further) and its open parcels, as the door
// sees them and as the store settles them.
//
// On PostgreSQL the stop's row is locked first and the parcels read after,
// by a statement of their own: what is decided at one stop is decided one
// after another, each on what the one before left. (One statement would
// not do: a row it waits to lock is read again once free, but the parcels
// joined to it would stay as the statement first saw them.) On SQLite
// writes are one at a time already, so one statement reads both, or when
// no parcel is open, a second reads the stop alone.
func (d *DB) ownStopAndParcels(ctx context.Context, tx *sql.Tx, stopID, associateID string) (*door.Stop, []door.Parcel, []stopParcel, error) {
	ownStop := doorStopQuery + ` AND r.associate_id = $3`
	if d.Engine == Postgres {
		st, err := scanDoorStop(d.txQueryRow(ctx, tx, ownStop+` FOR UPDATE OF s`, stopID, handoff.GrantCloseFailed, associateID))
		if err != nil {
			return nil, nil, nil, err
		}
		parcels, open, err := scanOpenParcels(d.txQuery(ctx, tx, openParcelsQuery, st.ID))
		if err != nil {
			return nil, nil, nil, err
		}
		return st, parcels, open, nil
	}
	rows, err := d.txQuery(ctx, tx, ownStopQuery, stopID, handoff.GrantCloseFailed, associateID)
	if err != nil {
		return nil, nil, nil, handoff.Internal(err, "find stop")
	}
	defer rows.Close()
	var st *door.Stop
	var parcels []door.Parcel
	var open []stopParcel
	for rows.Next() {
		var s door.Stop
		var r openRow
		if err := rows.Scan(append(doorStopDest(&s), r.dest()...)...); err != nil {
			return nil, nil, nil, handoff.Internal(err, "find stop")
		}
		if st == nil {
			st = &s
		}
		parcels, open = r.add(parcels, open)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, handoff.Internal(err, "find stop")
	}
	if st == nil {
		// Nothing open: the stop alone, or no stop of the associate's.
		rows.Close()
		if st, err = scanDoorStop(d.txQueryRow(ctx, tx, ownStop, stopID, handoff.GrantCloseFailed, associateID)); err != nil {
			return nil, nil, nil, err
		}
	}
	return st, parcels, open, nil
}

// FailAttempt implements door.Store.
func (d *DB) FailAttempt(ctx context.Context, a door.Attempt) ([]string, error) {
	var failed []string
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := d.txExec(ctx, tx, `UPDATE stops SET otp_state = $1 WHERE id = $2 AND otp_state = $3`, handoff.OTPFailed, a.Stop.ID, handoff.OTPPending); err != nil {
			return handoff.Internal(err, "end attempt")
		}
		var err error
		failed, err = d.failParcels(ctx, tx, a.Stop, a.AssociateID, false, a.Reason, a.Note, a.NextAttempt)
		if err == nil && len(failed) == 0 {
			return errRollback
		}
		return err
	})
	if errors.Is(err, errRollback) {
		err = nil
	}
	return failed, err
}

// RecordBagScan implements door.Store.
func (d *DB) RecordBagScan(ctx context.Context, sc door.Scan) (string, error) {
	var matched string
	err := d.tx(ctx, func(tx *sql.Tx) error {
		err := d.txQueryRow(ctx, tx, `SELECT rp.tracking_id FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id
			WHERE rp.stop_id = $1 AND rp.outcome = '' AND p.bag_id = $2`, sc.Stop.ID, sc.BagID).Scan(&matched)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return handoff.Internal(err, "match bag")
		}
		if _, err := d.txExec(ctx, tx, `INSERT INTO bag_scans (id, stop_id, tracking_id, associate_id, scanned, matched, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			newID("bs_"), sc.Stop.ID, matched, sc.AssociateID, sc.BagID, matched != "", micros(sc.At)); err != nil {
			return handoff.Internal(err, "record scan")
		}
		if err := d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionBagScan, Actor: sc.AssociateID, Subject: sc.Stop.ID,
			Outcome: map[bool]string{true: "matched", false: "mismatch"}[matched != ""], Detail: "bag=" + sc.BagID}); err != nil {
			return err
		}
		if matched != "" {
			if _, err := d.txExec(ctx, tx, `UPDATE route_parcels SET bag_scanned = TRUE WHERE stop_id = $1 AND tracking_id = $2`, sc.Stop.ID, matched); err != nil {
				return handoff.Internal(err, "mark scan")
			}
			return nil
		}
		// A finding for customer service, on each bagged parcel of the stop.
		ids, err := queryStrings(ctx, tx, `SELECT rp.tracking_id FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id
			WHERE rp.stop_id = $1 AND rp.outcome = '' AND p.bag_id <> '' ORDER BY rp.tracking_id`, sc.Stop.ID)
		if err != nil {
			return err
		}
		for _, t := range ids {
			if err := openCase(ctx, tx, handoff.CaseScanMismatch, t, sc.AssociateID, sc.At, sc.CaseSummary); err != nil {
				return err
			}
		}
		return nil
	})
	return matched, err
}

// RecordRefusal implements door.Store.
func (d *DB) RecordRefusal(ctx context.Context, rf door.Refusal) ([]string, error) {
	var ids []string
	detail := tracking.RejectedByRecipientWithVerification
	if rf.AgeCheck != nil {
		detail = tracking.RejectedAgeNotVerified
	}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var bags []string // the refused bags, which the message names though the parcels no longer carry them
		for _, p := range rf.Parcels {
			var bagID, city, pc string
			err := d.txQueryRow(ctx, tx, `SELECT p.bag_id, st.city, st.postal_code FROM route_parcels rp
				JOIN packages p ON p.tracking_id = rp.tracking_id JOIN stops st ON st.id = rp.stop_id
				WHERE rp.stop_id = $1 AND rp.tracking_id = $2`, rf.Stop.ID, p.TrackingID).Scan(&bagID, &city, &pc)
			if err != nil {
				return handoff.Internal(err, "refused parcel")
			}
			ok, err := d.settleParcel(ctx, tx, rf.Stop.RouteID, p.TrackingID, handoff.OutcomeRefused)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if err := d.moveStage(ctx, tx, p.TrackingID, handoff.StageOut, handoff.StageAwaitingReturn, ""); err != nil {
				return err
			}
			auditDetail := "bag=" + bagID
			if rf.AgeCheck != nil {
				// Refused for age, the parcel goes back in its intact bag.
				auditDetail = "document=" + rf.AgeCheck.DocumentType + " minimumAge=" + itoa(rf.AgeCheck.MinimumAge)
				if err := d.recordDoorCheck(ctx, tx, p.TrackingID, rf.AssociateID, rf.At, nil, rf.AgeCheck, false); err != nil {
					return err
				}
			} else if err := d.settleBag(ctx, tx, p.TrackingID, handoff.BagRefused); err != nil {
				return err
			}
			if _, err := d.appendEvent(ctx, tx, p.TrackingID, tracking.Event{Code: tracking.Rejected, Detail: detail, Time: rf.At,
				Location: tracking.Location{City: city, PostalCode: pc, CountryCode: rf.Stop.Market}, Actor: rf.AssociateID, Note: p.Note}); err != nil {
				return err
			}
			if p.CaseSummary != "" {
				if err := openCase(ctx, tx, handoff.CaseTamper, p.TrackingID, rf.AssociateID, rf.At, p.CaseSummary); err != nil {
					return err
				}
			}
			if err := d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionRefusal, Actor: rf.AssociateID, Subject: p.TrackingID, Outcome: detail, Detail: auditDetail}); err != nil {
				return err
			}
			if rf.AgeCheck == nil {
				// The refused bag is evidence; the parcel needs a new one if
				// it is ever sent again.
				if _, err := d.txExec(ctx, tx, `UPDATE packages SET bag_id = '' WHERE tracking_id = $1`, p.TrackingID); err != nil {
					return handoff.Internal(err, "unbag parcel")
				}
			}
			ids = append(ids, p.TrackingID)
			if bagID != "" {
				bags = append(bags, bag.Format(bagID))
			}
		}
		kind, data := MsgRefused, map[string]any{"detailCode": detail}
		if rf.AgeCheck != nil {
			// Refused for age: told as a failed attempt; the bag is intact.
			kind = MsgAttemptFailed
		}
		if len(bags) > 0 {
			data["bagIds"] = bags
		}
		if err := d.enqueue(ctx, tx, kind, rf.Stop.ID+"|"+detail, ids, data, ""); err != nil {
			return err
		}
		return d.endPasscodeIfNone(ctx, tx, rf.Stop.ID, handoff.OTPFailed)
	})
	return ids, err
}

// Kinds of the images in the photos table.
const (
	photoDelivery  = "delivery"  // where an unattended parcel was left
	photoSignature = "signature" // a signature drawn at the door
)

// insertPhoto records a stored image of a parcel and returns its ID.
func (d *DB) insertPhoto(ctx context.Context, tx *sql.Tx, trackingID, kind string, p *door.StoredPhoto, by string, at time.Time) (string, error) {
	id := newID("ph_")
	if _, err := d.txExec(ctx, tx, `INSERT INTO photos (id, tracking_id, blob_key, thumb_key, width, height, taken_by, taken_at, expires_at, sha256, kind)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, id, trackingID, p.Blob, p.Thumb, p.Width, p.Height,
		by, micros(at), micros(p.ExpiresAt), p.SHA256, kind); err != nil {
		return "", handoff.Internal(err, "record "+kind)
	}
	return id, nil
}

// recordDoorCheck records the signature and age check a parcel was handed
// over (verified) or refused against; nothing when there were none.
func (d *DB) recordDoorCheck(ctx context.Context, tx *sql.Tx, trackingID, by string, at time.Time, sig *door.SignatureTaken, age *door.AgeCheck, verified bool) error {
	if sig == nil && age == nil {
		return nil
	}
	var kind, name, rel, photoID, sum, docType string
	minAge := 0
	if sig != nil {
		kind, name, rel = sig.Kind, sig.SignerName, sig.Relationship
		if sig.Image != nil {
			var err error
			if photoID, err = d.insertPhoto(ctx, tx, trackingID, photoSignature, sig.Image, by, at); err != nil {
				return err
			}
			sum = sig.Image.SHA256
		}
	}
	if age != nil {
		docType, minAge = age.DocumentType, age.MinimumAge
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO door_checks (id, tracking_id, signature_kind, signer_name, relationship, signature_photo, signature_sha256,
		document_type, minimum_age, age_verified, checked_by, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		newID("dc_"), trackingID, kind, name, rel, photoID, sum, docType, minAge, verified && age != nil, by, micros(at)); err != nil {
		return handoff.Internal(err, "record door check")
	}
	return nil
}
