package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/auth"
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

// doorStop is a stop with the route facts the checks need.
type doorStop struct {
	id, routeID, mobile, otpState, associateID, date, market, routeStatus string
}

// associateStop returns a stop of the associate's route of today, or
// ENOTFOUND for anything else.
func (d *DB) associateStop(ctx context.Context, q queryer, da *handoff.Principal, stopID string) (*doorStop, error) {
	if err := requireKind(da, auth.KindAssociate); err != nil {
		return nil, err
	}
	s, err := findDoorStop(ctx, q, stopID)
	if err == nil && (s.associateID != da.ID || s.date != d.today(s.market)) {
		return nil, handoff.NotFound("Stop")
	}
	return s, err
}

// findDoorStop returns a stop with its route's facts, or ENOTFOUND.
func findDoorStop(ctx context.Context, q queryer, stopID string) (*doorStop, error) {
	var s doorStop
	err := q.QueryRowContext(ctx, `SELECT s.id, s.route_id, s.mobile, s.otp_state, r.associate_id, r.service_date, r.marketplace, r.status
		FROM stops s JOIN routes r ON r.id = s.route_id WHERE s.id = $1`, stopID).
		Scan(&s.id, &s.routeID, &s.mobile, &s.otpState, &s.associateID, &s.date, &s.market, &s.routeStatus)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Stop")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find stop")
	}
	return &s, nil
}

// outStop returns a stop of the associate's route of today whose van is
// loaded: the stops where parcels can be delivered.
func (d *DB) outStop(ctx context.Context, da *handoff.Principal, stopID string) (*doorStop, error) {
	s, err := d.associateStop(ctx, d.db, da, stopID)
	if err != nil {
		return nil, err
	}
	if err := s.actionable(); err != nil {
		return nil, err
	}
	return s, nil
}

// actionable checks that the route is out: parcels can only be delivered from
// a loaded van.
func (s *doorStop) actionable() error {
	if s.routeStatus != handoff.RouteLoaded {
		return handoff.Errorf(handoff.EPRECONDITION, "Load the route first: its parcels are not out for delivery yet.")
	}
	return nil
}

// passcodeKey returns the key ID a contact set's day's code is derived with,
// fixing it to the active key the first time it is asked for.
func (d *DB) passcodeKey(ctx context.Context, q interface {
	queryer
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, set, date string) (string, error) {
	if d.Keys == nil {
		return "", handoff.Internal(nil, "no keyring configured")
	}
	if _, err := q.ExecContext(ctx, `INSERT INTO passcode_sets (code_set, service_date, key_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		set, date, d.Keys.ActiveID()); err != nil {
		return "", handoff.Internal(err, "fix passcode key")
	}
	var kid string
	if err := q.QueryRowContext(ctx, `SELECT key_id FROM passcode_sets WHERE code_set = $1 AND service_date = $2`, set, date).Scan(&kid); err != nil {
		return "", handoff.Internal(err, "read passcode key")
	}
	return kid, nil
}

// Passcode returns the day's code of a contact set (see passcode.Contacts).
// It is the one place a code exists in plain text: the sender calls it at the
// moment a message goes to the provider, the portal shows it to the set's
// own contacts, and the check at the door compares against it. Never log or
// return it to anyone else.
func (d *DB) Passcode(ctx context.Context, set, date string) (string, error) {
	return d.passcodeIn(ctx, d.db, set, date)
}

func (d *DB) passcodeIn(ctx context.Context, q interface {
	queryer
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, set, date string) (string, error) {
	kid, err := d.passcodeKey(ctx, q, set, date)
	if err != nil {
		return "", err
	}
	code, err := passcode.Code(d.Keys, kid, set, date)
	if err != nil {
		return "", handoff.Internal(err, "derive passcode")
	}
	return code, nil
}

func (d *DB) stopView(ctx context.Context, routeID, stopID string) (*handoff.Stop, error) {
	r, err := d.loadRoute(ctx, d.db, routeID, stopID)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(r.Stops, func(s handoff.Stop) bool { return s.ID == stopID })
	if i < 0 {
		return nil, handoff.NotFound("Stop")
	}
	return &r.Stops[i], nil
}

// claimAssociateGuess takes one guess from the associate's budget, counting it
// as wrong until shown right. When the budget is spent it returns why
// (handoff.ReasonAssociateLocked once the station must intervene, else
// handoff.ReasonTooManyWrong).
func (d *DB) claimAssociateGuess(ctx context.Context, tx *sql.Tx, associateID string, limit int, window time.Duration, now time.Time) (string, error) {
	if _, err := tx.ExecContext(ctx, `INSERT INTO associate_guard (associate_id) VALUES ($1) ON CONFLICT DO NOTHING`, associateID); err != nil {
		return "", handoff.Internal(err, "guard")
	}
	cutoff := micros(now.Add(-window))
	var n int
	err := tx.QueryRowContext(ctx, `UPDATE associate_guard SET
			wrong = CASE WHEN window_start <= $2 THEN 1 ELSE wrong + 1 END,
			window_start = CASE WHEN window_start <= $2 THEN $3 ELSE window_start END
		WHERE associate_id = $1 AND locked_at = 0 AND (window_start <= $2 OR wrong < $4) RETURNING wrong`,
		associateID, cutoff, micros(now), limit).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		var locked int64
		if err := tx.QueryRowContext(ctx, `SELECT locked_at FROM associate_guard WHERE associate_id = $1`, associateID).Scan(&locked); err != nil {
			return "", handoff.Internal(err, "read guard")
		}
		if locked > 0 {
			return handoff.ReasonAssociateLocked, nil
		}
		return handoff.ReasonTooManyWrong, nil
	}
	if err != nil {
		return "", handoff.Internal(err, "claim associate guess")
	}
	return "", nil
}

// lockIfOverBudget locks the associate's checks once the window's wrong codes
// reach the limit, which flags the associate for the station; true when this
// call locked them.
func lockIfOverBudget(ctx context.Context, tx *sql.Tx, associateID string, limit int, window time.Duration, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE associate_guard SET locked_at = $1 WHERE associate_id = $2 AND locked_at = 0 AND wrong >= $3 AND window_start > $4`,
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
	codeSet    string // the contact set whose code opens it (see package passcode)
	needsCheck bool   // its label asks for a signature or an age check
	codeOK     bool   // its code was entered; it waits for its check
	city, pc   string
}

func openParcels(ctx context.Context, tx *sql.Tx, s *doorStop) ([]stopParcel, error) {
	rows, err := tx.QueryContext(ctx, `SELECT rp.tracking_id, p.otp_required, sh.code_set, sh.signature_required <> '' OR sh.minimum_age > 0, rp.code_ok,
		st.city, st.postal_code FROM route_parcels rp
		JOIN packages p ON p.tracking_id = rp.tracking_id JOIN shipments sh ON sh.id = p.shipment_id JOIN stops st ON st.id = rp.stop_id
		WHERE rp.stop_id = $1 AND rp.outcome = '' ORDER BY rp.tracking_id`, s.id)
	if err != nil {
		return nil, handoff.Internal(err, "open parcels")
	}
	defer rows.Close()
	var out []stopParcel
	for rows.Next() {
		var p stopParcel
		if err := rows.Scan(&p.trackingID, &p.otp, &p.codeSet, &p.needsCheck, &p.codeOK, &p.city, &p.pc); err != nil {
			return nil, handoff.Internal(err, "scan parcel")
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// settleParcel closes a parcel on the route exactly once; false when it was
// already settled.
func settleParcel(ctx context.Context, tx *sql.Tx, routeID, trackingID, outcome string) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE route_parcels SET outcome = $1 WHERE route_id = $2 AND tracking_id = $3 AND outcome = ''`, outcome, routeID, trackingID)
	if err != nil {
		return false, handoff.Internal(err, "settle parcel")
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// deliverParcel settles one open parcel of a stop as delivered, moves it and
// its bag to their final states and records the event; false when it was
// settled meanwhile. Every way of delivering goes through here.
func (d *DB) deliverParcel(ctx context.Context, tx *sql.Tx, s *doorStop, p stopParcel, actor, detail, note string) (bool, error) {
	ok, err := settleParcel(ctx, tx, s.routeID, p.trackingID, handoff.OutcomeDelivered)
	if err != nil || !ok {
		return false, err
	}
	if err := moveStage(ctx, tx, p.trackingID, handoff.StageOut, handoff.StageDelivered, ""); err != nil {
		return false, err
	}
	if err := settleBag(ctx, tx, p.trackingID, handoff.BagDelivered); err != nil {
		return false, err
	}
	now := d.Now()
	pod, err := d.issueProof(ctx, tx, s, p, detail, now)
	if err != nil {
		return false, err
	}
	if err := d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionDelivered, Actor: actor, Subject: p.trackingID, Outcome: detail, Detail: "proof=" + pod}); err != nil {
		return false, err
	}
	_, err = d.appendEvent(ctx, tx, p.trackingID, tracking.Event{Code: tracking.Delivered, Detail: detail, Time: now,
		Location: tracking.Location{City: p.city, PostalCode: p.pc, CountryCode: s.market}, Actor: actor, Note: note})
	return err == nil, err
}

// completeParcels delivers the stop's open parcels that keep returns true
// with a detail code, and tells the recipient.
func (d *DB) completeParcels(ctx context.Context, tx *sql.Tx, s *doorStop, actor string, keep func(stopParcel) bool, detail, note string) ([]string, error) {
	ps, err := openParcels(ctx, tx, s)
	if err != nil {
		return nil, err
	}
	done := []string{}
	for _, p := range ps {
		if !keep(p) {
			continue
		}
		ok, err := d.deliverParcel(ctx, tx, s, p, actor, detail, note)
		if err != nil {
			return nil, err
		}
		if ok {
			done = append(done, p.trackingID)
		}
	}
	if len(done) > 0 {
		if err := d.enqueue(ctx, tx, MsgDelivered, s.id+"|"+detail, done, map[string]any{"detailCode": detail}, ""); err != nil {
			return nil, err
		}
	}
	return done, nil
}

// failParcels records a failed attempt for the stop's open parcels (only the
// OTP ones when otpOnly): they go back to the station, the day counts as a
// failed day, and the recipient is told what happens next.
func (d *DB) failParcels(ctx context.Context, tx *sql.Tx, s *doorStop, actor string, otpOnly bool, reason, note, next string) ([]string, error) {
	ps, err := openParcels(ctx, tx, s)
	if err != nil {
		return nil, err
	}
	failed := []string{}
	now := d.Now()
	for _, p := range ps {
		if otpOnly && !p.otp {
			continue
		}
		ok, err := settleParcel(ctx, tx, s.routeID, p.trackingID, handoff.OutcomeAttempted)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		res, err := tx.ExecContext(ctx, `UPDATE packages SET stage = $1, failed_days = failed_days + 1, last_attempt_date = $2
			WHERE tracking_id = $3 AND stage = $4`, handoff.StageAwaitingReturn, s.date, p.trackingID, handoff.StageOut)
		if err != nil {
			return nil, handoff.Internal(err, "fail parcel")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil, handoff.Errorf(handoff.ECONFLICT, "The parcel was changed by someone else; try again.")
		}
		if _, err := d.appendEvent(ctx, tx, p.trackingID, tracking.Event{Code: tracking.DeliveryAttempted, Detail: reason, Time: now,
			Location: tracking.Location{City: p.city, PostalCode: p.pc, CountryCode: s.market}, Actor: actor, Note: note}); err != nil {
			return nil, err
		}
		failed = append(failed, p.trackingID)
	}
	if len(failed) > 0 {
		if err := d.enqueue(ctx, tx, MsgAttemptFailed, s.id+"|"+reason, failed, map[string]any{"detailCode": reason, "nextAttemptDate": next}, ""); err != nil {
			return nil, err
		}
		if err := d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionAttemptFailed, Actor: actor, Subject: s.id, Outcome: reason}); err != nil {
			return nil, err
		}
	}
	return failed, nil
}

// settleBag moves a parcel's sealed bag to its final state.
func settleBag(ctx context.Context, tx *sql.Tx, trackingID, state string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE bags SET state = $1 WHERE tracking_id = $2 AND state = $3`, state, trackingID, handoff.BagSealed); err != nil {
		return handoff.Internal(err, "settle bag")
	}
	return nil
}

// endPasscodeIfNone settles a stop's pending passcode (to state) once no open
// parcel there needs it, so no code is re-sent or taken for parcels that are
// gone.
func endPasscodeIfNone(ctx context.Context, tx *sql.Tx, stopID, state string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE stops SET otp_state = $1 WHERE id = $2 AND otp_state = $3 AND NOT EXISTS (
		SELECT 1 FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id WHERE rp.stop_id = $2 AND rp.outcome = '' AND p.otp_required)`,
		state, stopID, handoff.OTPPending); err != nil {
		return handoff.Internal(err, "end passcode")
	}
	return nil
}

// garageSettled refuses to finish a stop as a normal delivery while its
// garage door is reported not to have closed.
func (d *DB) garageSettled(ctx context.Context, stopID string) error {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM garage_grants WHERE stop_id = $1 AND state = $2`, stopID, handoff.GrantCloseFailed).Scan(&n); err != nil {
		return handoff.Internal(err, "garage state")
	}
	if n > 0 {
		return handoff.Errorf(handoff.EPRECONDITION, "The garage door at this stop did not close: the stop cannot be finished as a normal delivery until customer service resolves it.")
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

// toDoor gives a stop's facts to the door service.
func (s *doorStop) toDoor() *door.Stop {
	return &door.Stop{ID: s.id, RouteID: s.routeID, Mobile: s.mobile, OTPState: s.otpState, AssociateID: s.associateID,
		Date: s.date, Market: s.market, RouteStatus: s.routeStatus}
}

// fromDoor is the inverse of toDoor, for the helpers shared with the garage.
func fromDoor(s *door.Stop) *doorStop {
	return &doorStop{id: s.ID, routeID: s.RouteID, mobile: s.Mobile, otpState: s.OTPState, associateID: s.AssociateID,
		date: s.Date, market: s.Market, routeStatus: s.RouteStatus}
}

// DoorStop implements door.Store.
func (d *DB) DoorStop(ctx context.Context, stopID string) (*door.Stop, error) {
	s, err := findDoorStop(ctx, d.db, stopID)
	if err != nil {
		return nil, err
	}
	return s.toDoor(), nil
}

// StopView implements door.Store.
func (d *DB) StopView(ctx context.Context, routeID, stopID string) (*handoff.Stop, error) {
	return d.stopView(ctx, routeID, stopID)
}

// OpenParcels implements door.Store.
func (d *DB) OpenParcels(ctx context.Context, stopID string) ([]door.Parcel, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT rp.tracking_id, p.otp_required, sh.code_set, rp.code_ok, p.bag_id, rp.bag_scanned,
		sh.signature_required, sh.minimum_age, sh.typed_signature_refused, sh.confidential_address, sh.gift_registry,
		EXISTS (SELECT 1 FROM recipient_prefs rpf WHERE rpf.photo_opt_out AND rpf.contact IN (sh.recipient_mobile, sh.recipient_email) AND rpf.contact <> '')
		FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id JOIN shipments sh ON sh.id = p.shipment_id
		WHERE rp.stop_id = $1 AND rp.outcome = '' ORDER BY rp.tracking_id`, stopID)
	if err != nil {
		return nil, handoff.Internal(err, "open parcels")
	}
	defer rows.Close()
	var out []door.Parcel
	for rows.Next() {
		var p door.Parcel
		var confidential, registry, optedOut bool
		if err := rows.Scan(&p.TrackingID, &p.OTP, &p.CodeSet, &p.CodeOK, &p.BagID, &p.BagScanned,
			&p.Check.Signature, &p.Check.MinimumAge, &p.Check.TypedRefused, &confidential, &registry, &optedOut); err != nil {
			return nil, handoff.Internal(err, "scan parcel")
		}
		switch {
		case confidential:
			p.Privacy = handoff.NoPhotoConfidential
		case registry:
			p.Privacy = handoff.NoPhotoGiftRegistry
		case optedOut:
			p.Privacy = handoff.NoPhotoOptedOut
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "open parcels")
	}
	return out, nil
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

// RouteByID implements door.Store.
func (d *DB) RouteByID(ctx context.Context, routeID string) (*handoff.Route, error) {
	return d.findRoute(ctx, d.db, routeID)
}

// GarageCloseFailed implements door.Store.
func (d *DB) GarageCloseFailed(ctx context.Context, stopID string) (bool, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM garage_grants WHERE stop_id = $1 AND state = $2`, stopID, handoff.GrantCloseFailed).Scan(&n); err != nil {
		return false, handoff.Internal(err, "garage state")
	}
	return n > 0, nil
}

// PasscodeKey implements door.Store.
func (d *DB) PasscodeKey(ctx context.Context, set, date string) (string, error) {
	return d.passcodeKey(ctx, d.db, set, date)
}

// LoadVan implements door.Store.
func (d *DB) LoadVan(ctx context.Context, routeID, associateID string, at time.Time) (unsealed []string, loaded bool, err error) {
	r, err := d.findRoute(ctx, d.db, routeID)
	if err != nil {
		return nil, false, err
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		unsealed, err = queryStrings(ctx, tx, `SELECT p.tracking_id FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id
			WHERE rp.route_id = $1 AND rp.outcome = '' AND p.bag_required AND p.bag_id = '' ORDER BY p.tracking_id`, routeID)
		if err != nil || len(unsealed) > 0 {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE routes SET status = $1, loaded_at = $2 WHERE id = $3 AND status = $4`,
			handoff.RouteLoaded, micros(at), routeID, handoff.RoutePlanned)
		if err != nil {
			return handoff.Internal(err, "load route")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		loaded = true
		for _, s := range r.Stops {
			var ids []string
			for _, p := range s.Parcels {
				// A parcel the station took back off this route stays
				// behind: it has an outcome here, or another route now.
				if p.Outcome != "" {
					continue
				}
				res, err := tx.ExecContext(ctx, `UPDATE packages SET stage = $1 WHERE tracking_id = $2 AND stage = $3 AND route_id = $4`,
					handoff.StageOut, p.TrackingID, handoff.StageRouted, routeID)
				if err != nil {
					return handoff.Internal(err, "load parcel")
				}
				if n, _ := res.RowsAffected(); n != 1 {
					continue
				}
				loc := tracking.Location{City: s.City, PostalCode: s.PostalCode, CountryCode: s.CountryCode}
				if _, err := d.appendEvent(ctx, tx, p.TrackingID, tracking.Event{Code: tracking.OutForDelivery, Time: at, Location: loc, Actor: associateID,
					Note: "Out for delivery"}); err != nil {
					return err
				}
				ids = append(ids, p.TrackingID)
			}
			data := map[string]any{"serviceDate": r.ServiceDate}
			if planned, err := route.ParseClock(s.PlannedTime); err == nil {
				from, to := route.Window(planned)
				data["windowFrom"], data["windowTo"] = route.FormatClock(from), route.FormatClock(to)
			}
			if err := d.enqueue(ctx, tx, MsgOutForDelivery, s.ID, ids, data, r.ServiceDate); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || len(unsealed) > 0 {
		return unsealed, false, err
	}
	return nil, loaded, nil
}

// Guess implements door.Store. The conditional UPDATEs lock the rows they
// touch (PostgreSQL) or the database (SQLite) until commit, so racing entries
// at one stop are settled one after another and each sees what the one
// before did.
func (d *DB) Guess(ctx context.Context, g door.Guess) (*door.GuessResult, error) {
	res := &door.GuessResult{}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		refused, err := d.claimAssociateGuess(ctx, tx, g.AssociateID, g.BudgetLimit, g.BudgetWindow, g.At)
		if err != nil || refused != "" {
			res.Refused = refused
			if err == nil {
				err = d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionCodeRefused, Actor: g.AssociateID, Subject: g.StopID, Outcome: refused, Detail: "method=" + g.Method})
			}
			return err
		}
		err = tx.QueryRowContext(ctx, `UPDATE stops SET guesses = guesses + 1 WHERE id = $1 AND otp_state = $2 AND guesses < $3 RETURNING guesses`,
			g.StopID, handoff.OTPPending, handoff.MaxCodeGuesses).Scan(new(int))
		if errors.Is(err, sql.ErrNoRows) {
			if err := tx.QueryRowContext(ctx, `SELECT otp_state FROM stops WHERE id = $1`, g.StopID).Scan(&res.State); err != nil {
				return handoff.Internal(err, "read stop")
			}
			res.Refused = handoff.ReasonNoAttemptsLeft
			// Nothing was evaluated: the claimed budget goes back.
			return errRollback
		}
		if err != nil {
			return handoff.Internal(err, "claim guess")
		}
		s, err := findDoorStop(ctx, tx, g.StopID)
		if err != nil {
			return err
		}
		open, err := openParcels(ctx, tx, s)
		if err != nil {
			return err
		}
		// Right when the entry is the code of a set that still has an open
		// passcode parcel here.
		waiting := func(p stopParcel) bool { return p.otp && !p.codeOK } // still waiting for its code
		res.Correct = slices.ContainsFunc(open, func(p stopParcel) bool { return waiting(p) && g.Matched[p.codeSet] })
		if _, err := tx.ExecContext(ctx, `INSERT INTO code_checks (id, stop_id, associate_id, method, correct, at) VALUES ($1, $2, $3, $4, $5, $6)`,
			newID("chk_"), g.StopID, g.AssociateID, g.Method, res.Correct, micros(g.At)); err != nil {
			return handoff.Internal(err, "record check")
		}
		if err := d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionCodeCheck, Actor: g.AssociateID, Subject: g.StopID,
			Outcome: map[bool]string{true: "correct", false: "wrong"}[res.Correct], Detail: "method=" + g.Method}); err != nil {
			return err
		}
		if res.Correct {
			// The entry was counted as wrong when claimed; it was not.
			if _, err := tx.ExecContext(ctx, `UPDATE associate_guard SET wrong = wrong - 1 WHERE associate_id = $1 AND wrong > 0`, g.AssociateID); err != nil {
				return handoff.Internal(err, "refund guess")
			}
			// A parcel whose label also asks for a signature or an age check
			// is opened by its code, not delivered: the associate then hands
			// it over with the check.
			for _, p := range open {
				if waiting(p) && g.Matched[p.codeSet] && p.needsCheck {
					if _, err := tx.ExecContext(ctx, `UPDATE route_parcels SET code_ok = TRUE WHERE stop_id = $1 AND tracking_id = $2`, g.StopID, p.trackingID); err != nil {
						return handoff.Internal(err, "open parcel by code")
					}
				}
			}
			if res.Delivered, err = d.completeParcels(ctx, tx, s, g.AssociateID, func(p stopParcel) bool { return waiting(p) && g.Matched[p.codeSet] && !p.needsCheck }, g.Detail, g.Note); err != nil {
				return err
			}
			if slices.ContainsFunc(open, func(p stopParcel) bool { return waiting(p) && !g.Matched[p.codeSet] }) {
				// Parcels under another code still wait: the stop stays
				// pending and this right entry used no attempt.
				if _, err := tx.ExecContext(ctx, `UPDATE stops SET guesses = guesses - 1 WHERE id = $1 AND guesses > 0`, g.StopID); err != nil {
					return handoff.Internal(err, "refund stop guess")
				}
				return nil
			}
			if _, err := tx.ExecContext(ctx, `UPDATE stops SET otp_state = $1 WHERE id = $2 AND otp_state = $3`, handoff.OTPVerified, g.StopID, handoff.OTPPending); err != nil {
				return handoff.Internal(err, "verify stop")
			}
			return nil
		}
		if res.LockedNow, err = lockIfOverBudget(ctx, tx, g.AssociateID, g.BudgetLimit, g.BudgetWindow, g.At); err != nil {
			return err
		}
		if res.LockedNow {
			if err := d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionAssociateLock, Actor: g.AssociateID, Subject: g.AssociateID}); err != nil {
				return err
			}
		}
		var wrong int
		if err := tx.QueryRowContext(ctx, `UPDATE stops SET wrong = wrong + 1 WHERE id = $1 RETURNING wrong`, g.StopID).Scan(&wrong); err != nil {
			return handoff.Internal(err, "count wrong guess")
		}
		res.AttemptsLeft = max(handoff.MaxCodeGuesses-wrong, 0)
		if wrong < handoff.MaxCodeGuesses {
			return nil
		}
		r, err := tx.ExecContext(ctx, `UPDATE stops SET otp_state = $1 WHERE id = $2 AND otp_state = $3`, handoff.OTPFailed, g.StopID, handoff.OTPPending)
		if err != nil {
			return handoff.Internal(err, "end attempt")
		}
		if n, _ := r.RowsAffected(); n == 1 {
			res.Ended = true
			_, err = d.failParcels(ctx, tx, s, g.AssociateID, true, tracking.OtpNotAvailable, "Passcode not available: three wrong entries", g.NextAttempt)
		}
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

// errRollback ends a transaction without an error for the caller.
var errRollback = errors.New("rollback")

// ClaimResend implements door.Store.
func (d *DB) ClaimResend(ctx context.Context, stop *door.Stop, limit int) (bool, error) {
	ok := false
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, `UPDATE stops SET resends = resends + 1 WHERE id = $1 AND otp_state = $2 AND resends < $3 RETURNING resends`,
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
		ps, err := openParcels(ctx, tx, fromDoor(stop))
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

// Deliver implements door.Store.
func (d *DB) Deliver(ctx context.Context, dl door.Delivery) error {
	s := fromDoor(dl.Stop)
	return d.tx(ctx, func(tx *sql.Tx) error {
		open, err := openParcels(ctx, tx, s)
		if err != nil {
			return err
		}
		var ids []string
		for _, p := range dl.Parcels {
			i := slices.IndexFunc(open, func(o stopParcel) bool { return o.trackingID == p.TrackingID })
			if i < 0 || (open[i].otp && !open[i].codeOK) {
				return handoff.Errorf(handoff.ECONFLICT, "Parcel %s is already settled.", p.TrackingID)
			}
			if err := recordDoorCheck(ctx, tx, p.TrackingID, dl.AssociateID, dl.At, dl.Signature, dl.AgeCheck, true); err != nil {
				return err
			}
			switch {
			case dl.Photo != nil:
				if _, err := insertPhoto(ctx, tx, p.TrackingID, photoDelivery, dl.Photo, dl.AssociateID, dl.At); err != nil {
					return err
				}
			case p.NoPhotoReason != "":
				if _, err := tx.ExecContext(ctx, `UPDATE packages SET no_photo_reason = $1 WHERE tracking_id = $2`, p.NoPhotoReason, p.TrackingID); err != nil {
					return handoff.Internal(err, "record no photo")
				}
			}
			ok, err := d.deliverParcel(ctx, tx, s, open[i], dl.AssociateID, dl.Detail, p.Note)
			if err != nil {
				return err
			}
			if !ok {
				return handoff.Errorf(handoff.ECONFLICT, "Parcel %s is already settled.", p.TrackingID)
			}
			ids = append(ids, p.TrackingID)
		}
		return d.enqueue(ctx, tx, MsgDelivered, s.id+"|"+dl.Detail, ids, map[string]any{"detailCode": dl.Detail}, "")
	})
}

// FailAttempt implements door.Store.
func (d *DB) FailAttempt(ctx context.Context, a door.Attempt) ([]string, error) {
	var failed []string
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE stops SET otp_state = $1 WHERE id = $2 AND otp_state = $3`, handoff.OTPFailed, a.Stop.ID, handoff.OTPPending); err != nil {
			return handoff.Internal(err, "end attempt")
		}
		var err error
		failed, err = d.failParcels(ctx, tx, fromDoor(a.Stop), a.AssociateID, false, a.Reason, a.Note, a.NextAttempt)
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
		err := tx.QueryRowContext(ctx, `SELECT rp.tracking_id FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id
			WHERE rp.stop_id = $1 AND rp.outcome = '' AND p.bag_id = $2`, sc.Stop.ID, sc.BagID).Scan(&matched)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return handoff.Internal(err, "match bag")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO bag_scans (id, stop_id, tracking_id, associate_id, scanned, matched, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			newID("bs_"), sc.Stop.ID, matched, sc.AssociateID, sc.BagID, matched != "", micros(sc.At)); err != nil {
			return handoff.Internal(err, "record scan")
		}
		if err := d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionBagScan, Actor: sc.AssociateID, Subject: sc.Stop.ID,
			Outcome: map[bool]string{true: "matched", false: "mismatch"}[matched != ""], Detail: "bag=" + sc.BagID}); err != nil {
			return err
		}
		if matched != "" {
			if _, err := tx.ExecContext(ctx, `UPDATE route_parcels SET bag_scanned = TRUE WHERE stop_id = $1 AND tracking_id = $2`, sc.Stop.ID, matched); err != nil {
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
			err := tx.QueryRowContext(ctx, `SELECT p.bag_id, st.city, st.postal_code FROM route_parcels rp
				JOIN packages p ON p.tracking_id = rp.tracking_id JOIN stops st ON st.id = rp.stop_id
				WHERE rp.stop_id = $1 AND rp.tracking_id = $2`, rf.Stop.ID, p.TrackingID).Scan(&bagID, &city, &pc)
			if err != nil {
				return handoff.Internal(err, "refused parcel")
			}
			ok, err := settleParcel(ctx, tx, rf.Stop.RouteID, p.TrackingID, handoff.OutcomeRefused)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if err := moveStage(ctx, tx, p.TrackingID, handoff.StageOut, handoff.StageAwaitingReturn, ""); err != nil {
				return err
			}
			auditDetail := "bag=" + bagID
			if rf.AgeCheck != nil {
				// Refused for age, the parcel goes back in its intact bag.
				auditDetail = "document=" + rf.AgeCheck.DocumentType + " minimumAge=" + itoa(rf.AgeCheck.MinimumAge)
				if err := recordDoorCheck(ctx, tx, p.TrackingID, rf.AssociateID, rf.At, nil, rf.AgeCheck, false); err != nil {
					return err
				}
			} else if err := settleBag(ctx, tx, p.TrackingID, handoff.BagRefused); err != nil {
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
				if _, err := tx.ExecContext(ctx, `UPDATE packages SET bag_id = '' WHERE tracking_id = $1`, p.TrackingID); err != nil {
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
		return endPasscodeIfNone(ctx, tx, rf.Stop.ID, handoff.OTPFailed)
	})
	return ids, err
}

// Kinds of the images in the photos table.
const (
	photoDelivery  = "delivery"  // where an unattended parcel was left
	photoSignature = "signature" // a signature drawn at the door
)

// insertPhoto records a stored image of a parcel and returns its ID.
func insertPhoto(ctx context.Context, tx *sql.Tx, trackingID, kind string, p *door.StoredPhoto, by string, at time.Time) (string, error) {
	id := newID("ph_")
	if _, err := tx.ExecContext(ctx, `INSERT INTO photos (id, tracking_id, blob_key, thumb_key, width, height, taken_by, taken_at, expires_at, sha256, kind)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, id, trackingID, p.Blob, p.Thumb, p.Width, p.Height,
		by, micros(at), micros(p.ExpiresAt), p.SHA256, kind); err != nil {
		return "", handoff.Internal(err, "record "+kind)
	}
	return id, nil
}

// recordDoorCheck records the signature and age check a parcel was handed
// over (verified) or refused against; nothing when there were none.
func recordDoorCheck(ctx context.Context, tx *sql.Tx, trackingID, by string, at time.Time, sig *door.SignatureTaken, age *door.AgeCheck, verified bool) error {
	if sig == nil && age == nil {
		return nil
	}
	var kind, name, rel, photoID, sum, docType string
	minAge := 0
	if sig != nil {
		kind, name, rel = sig.Kind, sig.SignerName, sig.Relationship
		if sig.Image != nil {
			var err error
			if photoID, err = insertPhoto(ctx, tx, trackingID, photoSignature, sig.Image, by, at); err != nil {
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
