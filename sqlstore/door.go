package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/bag"
	"github.com/handoff-dev/handoff/passcode"
	"github.com/handoff-dev/handoff/phone"
	"github.com/handoff-dev/handoff/photo"
	"github.com/handoff-dev/handoff/tracking"
)

// This file is where a delivery is verified at the door: the day's code, the
// phone-digits fallback, and the limits around them. Every limit is a
// conditional UPDATE, so it holds however many requests race on however many
// nodes:
//
//   - a stop's guesses: UPDATE … SET guesses = guesses + 1 WHERE guesses < 3
//     claims one of three evaluations before a code is compared;
//   - the attempt ends when wrong reaches 3: UPDATE … WHERE otp_state =
//     'pending' moves it exactly once, and a correct code delivers exactly once
//     the same way;
//   - the associate's wrong-code budget is claimed, pessimistically, before
//     the stop's, and given back when the code was right.

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
	var s doorStop
	err := q.QueryRowContext(ctx, `SELECT s.id, s.route_id, s.mobile, s.otp_state, r.associate_id, r.service_date, r.marketplace, r.status
		FROM stops s JOIN routes r ON r.id = s.route_id WHERE s.id = $1`, stopID).
		Scan(&s.id, &s.routeID, &s.mobile, &s.otpState, &s.associateID, &s.date, &s.market, &s.routeStatus)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (s.associateID != da.ID || s.date != d.today(s.market))) {
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

// Itinerary implements handoff.DoorService.
func (d *DB) Itinerary(ctx context.Context, da *handoff.Principal) ([]*handoff.Route, error) {
	if err := requireKind(da, auth.KindAssociate); err != nil {
		return nil, err
	}
	// Today differs by marketplace; ask for the dates around UTC's today and
	// keep the routes whose date is today where they are.
	now := d.Now()
	routes, err := d.routesWhere(ctx, `associate_id = $1 AND service_date IN ($2, $3, $4)`, da.ID,
		now.AddDate(0, 0, -1).Format("2006-01-02"), now.Format("2006-01-02"), now.AddDate(0, 0, 1).Format("2006-01-02"))
	if err != nil {
		return nil, err
	}
	out := []*handoff.Route{}
	for _, r := range routes {
		if r.ServiceDate == d.today(r.Marketplace) {
			out = append(out, r)
		}
	}
	return out, nil
}

// LoadRoute implements handoff.DoorService: the associate loads the van and
// every parcel goes out for delivery; the day's code goes to each OTP
// recipient.
func (d *DB) LoadRoute(ctx context.Context, da *handoff.Principal, routeID string) (*handoff.Route, error) {
	if err := requireKind(da, auth.KindAssociate); err != nil {
		return nil, err
	}
	r, err := d.findRoute(ctx, d.db, routeID)
	if err != nil {
		return nil, err
	}
	if r.AssociateID != da.ID || r.ServiceDate != d.today(r.Marketplace) {
		return nil, handoff.NotFound("Route")
	}
	if r.Status != handoff.RoutePlanned {
		return nil, handoff.Errorf(handoff.ECONFLICT, "The route is already loaded.")
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		// A parcel that needs a bag never goes out unsealed.
		unsealed, err := queryStrings(ctx, tx, `SELECT p.tracking_id FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id
			WHERE rp.route_id = $1 AND rp.outcome = '' AND p.bag_required AND p.bag_id = '' ORDER BY p.tracking_id`, routeID)
		if err != nil {
			return err
		}
		if len(unsealed) > 0 {
			return handoff.Errorf(handoff.EPRECONDITION, "These parcels need a tamper-evident bag and are not sealed yet: %s. Seal them at the station first.", strings.Join(unsealed, ", "))
		}
		now := d.Now()
		res, err := tx.ExecContext(ctx, `UPDATE routes SET status = $1, loaded_at = $2 WHERE id = $3 AND status = $4`,
			handoff.RouteLoaded, micros(now), routeID, handoff.RoutePlanned)
		if err != nil {
			return handoff.Internal(err, "load route")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return handoff.Errorf(handoff.ECONFLICT, "The route is already loaded.")
		}
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
				if _, err := d.appendEvent(ctx, tx, p.TrackingID, tracking.Event{Code: tracking.OutForDelivery, Time: now, Location: loc, Actor: da.ID,
					Note: "Out for delivery"}); err != nil {
					return err
				}
				ids = append(ids, p.TrackingID)
			}
			if len(ids) == 0 {
				continue
			}
			if err := d.enqueue(ctx, tx, MsgOutForDelivery, s.ID, ids, map[string]any{"serviceDate": r.ServiceDate}, r.ServiceDate); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d.findRoute(ctx, d.db, routeID)
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
	sub, ok := d.Keys.Subkey(kid, passcode.Purpose)
	if !ok {
		return "", handoff.Internal(nil, "passcode key "+kid+" is no longer in the keyring")
	}
	return passcode.Derive(sub, set, date), nil
}

// FindStop implements handoff.DoorService.
func (d *DB) FindStop(ctx context.Context, da *handoff.Principal, stopID string) (*handoff.Stop, error) {
	s, err := d.associateStop(ctx, d.db, da, stopID)
	if err != nil {
		return nil, err
	}
	return d.stopView(ctx, s.routeID, s.id)
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

// Methods of code checks, as recorded.
const (
	methodCode   = "code"
	methodDigits = "phone_digits"
)

// VerifyCode implements handoff.DoorService.
func (d *DB) VerifyCode(ctx context.Context, da *handoff.Principal, stopID, code string) (*handoff.VerifyResult, error) {
	code = passcode.Normalize(code)
	if !passcode.WellFormed(code) {
		return nil, handoff.Invalid(handoff.FieldError{Field: "code", Message: "must be the 6-digit passcode"})
	}
	return d.verify(ctx, da, stopID, methodCode, func(tx *sql.Tx, s *doorStop, open []stopParcel) (map[string]bool, error) {
		// Each parcel opens only with the code of its own label's contact
		// set. The entry is compared with every code of the stop, without
		// stopping at a match, so timing does not tell which one it was.
		matched := map[string]bool{}
		seen := map[string]bool{}
		for _, p := range open {
			if !p.otp || seen[p.codeSet] {
				continue
			}
			seen[p.codeSet] = true
			want, err := d.passcodeIn(ctx, tx, p.codeSet, s.date)
			if err != nil {
				return nil, err
			}
			if passcode.Equal(code, want) {
				matched[p.codeSet] = true
			}
		}
		return matched, nil
	})
}

// VerifyPhoneDigits implements handoff.DoorService.
func (d *DB) VerifyPhoneDigits(ctx context.Context, da *handoff.Principal, stopID, digits string) (*handoff.VerifyResult, error) {
	digits = passcode.Normalize(digits)
	if len(digits) != 2 || digits[0] < '0' || digits[0] > '9' || digits[1] < '0' || digits[1] > '9' {
		return nil, handoff.Invalid(handoff.FieldError{Field: "digits", Message: "must be the last two digits of the recipient's phone"})
	}
	s, err := d.associateStop(ctx, d.db, da, stopID)
	if err != nil {
		return nil, err
	}
	view, err := d.stopView(ctx, s.routeID, s.id)
	if err != nil {
		return nil, err
	}
	if view.Needs.Passcode && !view.PhoneDigitsAllowed {
		return nil, handoff.Errorf(handoff.EPRECONDITION, "The shipper has not allowed the phone-digits fallback for this stop: the passcode is needed.")
	}
	return d.verify(ctx, da, stopID, methodDigits, func(_ *sql.Tx, s *doorStop, open []stopParcel) (map[string]bool, error) {
		// The digits are the stop's phone: when they match, every passcode
		// parcel of the stop is released, as the shipper allowed.
		want := phone.LastDigits(s.mobile, 2)
		matched := map[string]bool{}
		if want != "" && passcode.Equal(digits, want) {
			for _, p := range open {
				matched[p.codeSet] = true
			}
		}
		return matched, nil
	})
}

// verify runs one guess through the limits in one transaction: the
// associate's budget, then one of the stop's three evaluations, then the
// comparison, then delivery or, at the third wrong guess, the end of the
// attempt. The conditional UPDATEs lock the rows they touch (PostgreSQL) or
// the database (SQLite) until commit, so racing entries are settled one after
// another and each loser is told what the winner did.
//
// check returns the contact sets whose code the entry is: a correct entry
// delivers exactly the open passcode parcels of those sets. When passcode
// parcels of other sets remain, the stop keeps waiting for their code and the
// correct entry gives back the evaluation it claimed, so three wrong entries
// still end the attempt however many codes the stop has.
func (d *DB) verify(ctx context.Context, da *handoff.Principal, stopID, method string, check func(*sql.Tx, *doorStop, []stopParcel) (map[string]bool, error)) (*handoff.VerifyResult, error) {
	s, err := d.outStop(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	if err := stateError(s.otpState); err != nil {
		return nil, err
	}
	if err := d.bagsScanned(ctx, s, nil, true); err != nil {
		return nil, err
	}
	if err := d.garageSettled(ctx, s.id); err != nil {
		return nil, err
	}
	var ok bool
	res := &handoff.VerifyResult{Delivered: []string{}}
	detail := tracking.DeliveredWithOTP
	note := "Delivered with OTP"
	if method == methodDigits {
		detail, note = tracking.DeliveredWithPhoneDigits, "Delivered with the last two digits of the recipient's phone (shipper's opt-in fallback)"
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		if err := d.claimAssociateGuess(ctx, tx, da.ID); err != nil {
			return err
		}
		var guesses int
		err := tx.QueryRowContext(ctx, `UPDATE stops SET guesses = guesses + 1 WHERE id = $1 AND otp_state = $2 AND guesses < $3 RETURNING guesses`,
			s.id, handoff.OTPPending, handoff.MaxCodeGuesses).Scan(&guesses)
		if errors.Is(err, sql.ErrNoRows) {
			var state string
			if err := tx.QueryRowContext(ctx, `SELECT otp_state FROM stops WHERE id = $1`, s.id).Scan(&state); err != nil {
				return handoff.Internal(err, "read stop")
			}
			if err := stateError(state); err != nil {
				return err
			}
			return handoff.Errorf(handoff.ECONFLICT, "No passcode attempts are left at this stop; record the failed attempt.")
		}
		if err != nil {
			return handoff.Internal(err, "claim guess")
		}
		open, err := openParcels(ctx, tx, s)
		if err != nil {
			return err
		}
		matched, err := check(tx, s, open)
		if err != nil {
			return err
		}
		ok = len(matched) > 0
		res.Correct = ok
		if _, err := tx.ExecContext(ctx, `INSERT INTO code_checks (id, stop_id, associate_id, method, correct, at) VALUES ($1, $2, $3, $4, $5, $6)`,
			newID("chk_"), s.id, da.ID, method, ok, micros(d.Now())); err != nil {
			return handoff.Internal(err, "record check")
		}
		if ok {
			// The guess was counted as wrong when claimed; it was not.
			if _, err := tx.ExecContext(ctx, `UPDATE associate_guard SET wrong = wrong - 1 WHERE associate_id = $1 AND wrong > 0`, da.ID); err != nil {
				return handoff.Internal(err, "refund guess")
			}
			res.Delivered, err = d.completeParcels(ctx, tx, s, da.ID, func(p stopParcel) bool { return p.otp && matched[p.codeSet] }, detail, note)
			if err != nil {
				return err
			}
			others := slices.ContainsFunc(open, func(p stopParcel) bool { return p.otp && !matched[p.codeSet] })
			if others {
				// Parcels under another code are still waiting: the stop
				// stays pending and this right entry used no attempt.
				if _, err := tx.ExecContext(ctx, `UPDATE stops SET guesses = guesses - 1 WHERE id = $1 AND guesses > 0`, s.id); err != nil {
					return handoff.Internal(err, "refund stop guess")
				}
				return nil
			}
			if _, err := tx.ExecContext(ctx, `UPDATE stops SET otp_state = $1 WHERE id = $2 AND otp_state = $3`, handoff.OTPVerified, s.id, handoff.OTPPending); err != nil {
				return handoff.Internal(err, "verify stop")
			}
			return nil
		}
		if err := d.lockIfOverBudget(ctx, tx, da.ID); err != nil {
			return err
		}
		var wrong int
		if err := tx.QueryRowContext(ctx, `UPDATE stops SET wrong = wrong + 1 WHERE id = $1 RETURNING wrong`, s.id).Scan(&wrong); err != nil {
			return handoff.Internal(err, "count wrong guess")
		}
		res.AttemptsLeft = max(handoff.MaxCodeGuesses-wrong, 0)
		if wrong < handoff.MaxCodeGuesses {
			return nil
		}
		r, err := tx.ExecContext(ctx, `UPDATE stops SET otp_state = $1 WHERE id = $2 AND otp_state = $3`, handoff.OTPFailed, s.id, handoff.OTPPending)
		if err != nil {
			return handoff.Internal(err, "end attempt")
		}
		if n, _ := r.RowsAffected(); n == 1 {
			res.AttemptEnded = true
			_, err = d.failParcels(ctx, tx, s, da.ID, true, tracking.OtpNotAvailable, "Passcode not available: three wrong entries")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if d.OnCodeCheck != nil {
		d.OnCodeCheck(method, ok)
	}
	res.Stop, err = d.stopView(ctx, s.routeID, s.id)
	if err == nil && res.Correct {
		res.AttemptsLeft = res.Stop.AttemptsLeft
	}
	return res, err
}

// stateError explains why a stop takes no more codes.
func stateError(state string) error {
	switch state {
	case handoff.OTPPending:
		return nil
	case handoff.OTPVerified:
		return handoff.Errorf(handoff.ECONFLICT, "This stop is already delivered.")
	case handoff.OTPFailed:
		return handoff.Errorf(handoff.ECONFLICT, "The delivery attempt at this stop has ended; the parcels go back to the station.")
	default:
		return handoff.Errorf(handoff.ECONFLICT, "No parcel at this stop needs a passcode.")
	}
}

// claimAssociateGuess takes one guess from the associate's budget, counting it
// as wrong until shown right. When the budget is spent, checks are refused:
// ELOCKED once the station must intervene.
func (d *DB) claimAssociateGuess(ctx context.Context, tx *sql.Tx, associateID string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO associate_guard (associate_id) VALUES ($1) ON CONFLICT DO NOTHING`, associateID); err != nil {
		return handoff.Internal(err, "guard")
	}
	now := d.Now()
	cutoff := micros(now.Add(-d.Policy.WrongCodeWindow))
	var n int
	err := tx.QueryRowContext(ctx, `UPDATE associate_guard SET
			wrong = CASE WHEN window_start <= $2 THEN 1 ELSE wrong + 1 END,
			window_start = CASE WHEN window_start <= $2 THEN $3 ELSE window_start END
		WHERE associate_id = $1 AND locked_at = 0 AND (window_start <= $2 OR wrong < $4) RETURNING wrong`,
		associateID, cutoff, micros(now), d.Policy.WrongCodeLimit).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		var locked int64
		tx.QueryRowContext(ctx, `SELECT locked_at FROM associate_guard WHERE associate_id = $1`, associateID).Scan(&locked)
		if locked > 0 {
			return handoff.Errorf(handoff.ELOCKED, "Passcode checks are locked for you after too many wrong codes; ask your station to unlock them.")
		}
		return handoff.Errorf(handoff.ERATELIMITED, "Too many wrong passcodes in a short time; try again later.")
	}
	if err != nil {
		return handoff.Internal(err, "claim associate guess")
	}
	return nil
}

// lockIfOverBudget locks the associate's checks once the window's wrong codes
// reach the limit, which flags the associate for the station.
func (d *DB) lockIfOverBudget(ctx context.Context, tx *sql.Tx, associateID string) error {
	res, err := tx.ExecContext(ctx, `UPDATE associate_guard SET locked_at = $1 WHERE associate_id = $2 AND locked_at = 0 AND wrong >= $3 AND window_start > $4`,
		micros(d.Now()), associateID, d.Policy.WrongCodeLimit, micros(d.Now().Add(-d.Policy.WrongCodeWindow)))
	if err != nil {
		return handoff.Internal(err, "lock associate")
	}
	if n, _ := res.RowsAffected(); n == 1 {
		d.Log.Warn("associate locked after too many wrong passcodes", "associate_id", associateID)
	}
	return nil
}

// stopParcel is a parcel of a stop still open on the route.
type stopParcel struct {
	trackingID string
	otp        bool
	codeSet    string // the contact set whose code opens it (see package passcode)
	city, pc   string
}

func openParcels(ctx context.Context, tx *sql.Tx, s *doorStop) ([]stopParcel, error) {
	rows, err := tx.QueryContext(ctx, `SELECT rp.tracking_id, p.otp_required, sh.code_set, st.city, st.postal_code FROM route_parcels rp
		JOIN packages p ON p.tracking_id = rp.tracking_id JOIN shipments sh ON sh.id = p.shipment_id JOIN stops st ON st.id = rp.stop_id
		WHERE rp.stop_id = $1 AND rp.outcome = '' ORDER BY rp.tracking_id`, s.id)
	if err != nil {
		return nil, handoff.Internal(err, "open parcels")
	}
	defer rows.Close()
	var out []stopParcel
	for rows.Next() {
		var p stopParcel
		if err := rows.Scan(&p.trackingID, &p.otp, &p.codeSet, &p.city, &p.pc); err != nil {
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
	ok, err := settleParcel(ctx, tx, s.routeID, p.trackingID, "delivered")
	if err != nil || !ok {
		return false, err
	}
	if err := moveStage(ctx, tx, p.trackingID, handoff.StageOut, handoff.StageDelivered, ""); err != nil {
		return false, err
	}
	if err := settleBag(ctx, tx, p.trackingID, handoff.BagDelivered); err != nil {
		return false, err
	}
	_, err = d.appendEvent(ctx, tx, p.trackingID, tracking.Event{Code: tracking.Delivered, Detail: detail, Time: d.Now(),
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
func (d *DB) failParcels(ctx context.Context, tx *sql.Tx, s *doorStop, actor string, otpOnly bool, reason, note string) ([]string, error) {
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
		ok, err := settleParcel(ctx, tx, s.routeID, p.trackingID, "attempted")
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
		next := d.Policy.WorkingDays.NextAfter(s.date)
		if err := d.enqueue(ctx, tx, MsgAttemptFailed, s.id+"|"+reason, failed, map[string]any{"detailCode": reason, "nextAttemptDate": next}, ""); err != nil {
			return nil, err
		}
	}
	return failed, nil
}

// ResendCode implements handoff.DoorService. The code goes only to the label's
// own phone and email (and the gift buyer's); the request carries no contact.
func (d *DB) ResendCode(ctx context.Context, da *handoff.Principal, stopID string) (*handoff.Stop, error) {
	s, err := d.outStop(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	if err := stateError(s.otpState); err != nil {
		return nil, err
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		var n int
		err := tx.QueryRowContext(ctx, `UPDATE stops SET resends = resends + 1 WHERE id = $1 AND otp_state = $2 AND resends < $3 RETURNING resends`,
			s.id, handoff.OTPPending, handoff.MaxResends).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return handoff.Errorf(handoff.ERATELIMITED, "The passcode was already re-sent %d times today.", handoff.MaxResends)
		}
		if err != nil {
			return handoff.Internal(err, "count resend")
		}
		ps, err := openParcels(ctx, tx, s)
		if err != nil {
			return err
		}
		var ids []string
		for _, p := range ps {
			if p.otp {
				ids = append(ids, p.trackingID)
			}
		}
		return d.enqueue(ctx, tx, MsgResend, s.id+"|"+strconv.Itoa(n), ids, map[string]any{"serviceDate": s.date}, s.date)
	})
	if err != nil {
		return nil, err
	}
	return d.stopView(ctx, s.routeID, s.id)
}

// DeliverParcels implements handoff.DoorService. OTP parcels are never
// completed this way: only a verified code delivers them. At an unattended
// place the photo and the delivery are one step: without a photo nothing is
// delivered, unless a privacy rule forbids the photo, and then none is taken.
func (d *DB) DeliverParcels(ctx context.Context, da *handoff.Principal, stopID, place string, trackingIDs []string, photoData []byte) (*handoff.Stop, error) {
	if !slices.Contains(handoff.DeliveryPlaces, place) {
		return nil, handoff.Invalid(handoff.FieldError{Field: "place", Message: "must be one of the delivery places (DeliveredToPorch, …)"})
	}
	s, err := d.outStop(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	ps, err := d.openParcelsOf(ctx, s)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for i, id := range trackingIDs {
		if !slices.ContainsFunc(ps, func(p stopParcel) bool { return p.trackingID == id }) {
			return nil, handoff.Invalid(handoff.FieldError{Field: fmt.Sprintf("trackingIds[%d]", i), Message: "is not an open parcel of this stop"})
		}
		want[id] = true
	}
	var targets []stopParcel
	for _, p := range ps {
		if len(want) > 0 && !want[p.trackingID] {
			continue
		}
		if p.otp {
			if len(want) > 0 {
				return nil, handoff.Errorf(handoff.EFORBIDDEN, "Parcel %s needs the passcode: enter the code to deliver it; it is never left unattended.", p.trackingID)
			}
			continue
		}
		targets = append(targets, p)
	}
	if len(targets) == 0 {
		return nil, handoff.Errorf(handoff.ECONFLICT, "No parcel at this stop can be delivered without the passcode.")
	}
	var ids []string
	for _, p := range targets {
		ids = append(ids, p.trackingID)
	}
	if err := d.bagsScanned(ctx, s, ids, false); err != nil {
		return nil, err
	}
	if err := d.garageSettled(ctx, s.id); err != nil {
		return nil, err
	}

	// The photo rule, per SPEC §3.
	unattended := slices.Contains(handoff.UnattendedPlaces, place)
	reasons := map[string]string{}
	private := 0
	for _, p := range targets {
		if r, err := d.noPhotoReason(ctx, p.trackingID); err != nil {
			return nil, err
		} else if r != "" {
			reasons[p.trackingID] = r
			private++
		}
	}
	var shot *photo.Cleaned
	switch {
	case len(photoData) > 0 && !unattended:
		return nil, handoff.Invalid(handoff.FieldError{Field: "photo", Message: "is taken only for an unattended delivery (porch, door step, mail room)"})
	case len(photoData) > 0 && private > 0:
		return nil, handoff.Errorf(handoff.EFORBIDDEN, "No photo may be taken here (%s): deliver without one.", privacyWords(reasons))
	case unattended && private == 0 && len(photoData) == 0:
		return nil, handoff.Invalid(handoff.FieldError{Field: "photo", Message: "an unattended delivery needs a photo of the parcel where it was left"})
	case unattended && private > 0 && private < len(targets):
		return nil, handoff.Errorf(handoff.ECONFLICT, "Some of these parcels may be photographed and some may not; deliver them separately.")
	case len(photoData) > 0:
		if d.Photos == nil {
			return nil, handoff.Errorf(handoff.EUNAVAILABLE, "Photo storage is not configured.")
		}
		if shot, err = photo.Clean(photoData, d.PhotoLimits); err != nil {
			return nil, handoff.Invalid(handoff.FieldError{Field: "photo", Message: err.Error()})
		}
	}
	var keys []string
	if shot != nil {
		base := auth.Random(32)
		keys = []string{base + ".jpg", base + ".thumb.jpg"}
		if err := d.Photos.Put(ctx, keys[0], shot.JPEG); err != nil {
			return nil, handoff.Internal(err, "store photo")
		}
		if err := d.Photos.Put(ctx, keys[1], shot.Thumb); err != nil {
			d.Photos.Delete(ctx, keys[0])
			return nil, handoff.Internal(err, "store thumbnail")
		}
	}

	err = d.tx(ctx, func(tx *sql.Tx) error {
		now := d.Now()
		for _, p := range targets {
			note := tracking.Describe(tracking.StatusDelivered, place)
			switch {
			case shot != nil:
				if _, err := tx.ExecContext(ctx, `INSERT INTO photos (id, tracking_id, blob_key, thumb_key, width, height, taken_by, taken_at, expires_at)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, newID("ph_"), p.trackingID, keys[0], keys[1], shot.Width, shot.Height, da.ID,
					micros(now), micros(now.Add(d.Policy.PhotoRetention))); err != nil {
					return handoff.Internal(err, "record photo")
				}
				note += ", with a photo"
			case unattended && reasons[p.trackingID] != "":
				// Left unattended without the photo that would otherwise be
				// taken: the record says why.
				if _, err := tx.ExecContext(ctx, `UPDATE packages SET no_photo_reason = $1 WHERE tracking_id = $2`, reasons[p.trackingID], p.trackingID); err != nil {
					return handoff.Internal(err, "record no photo")
				}
				note += ", without a photo (" + privacyWords(map[string]string{"": reasons[p.trackingID]}) + ")"
			}
			ok, err := d.deliverParcel(ctx, tx, s, p, da.ID, place, note)
			if err != nil {
				return err
			}
			if !ok {
				return handoff.Errorf(handoff.ECONFLICT, "Parcel %s is already settled.", p.trackingID)
			}
		}
		return d.enqueue(ctx, tx, MsgDelivered, s.id+"|"+place, ids, map[string]any{"detailCode": place}, "")
	})
	if err != nil {
		for _, k := range keys {
			d.Photos.Delete(ctx, k)
		}
		return nil, err
	}
	return d.stopView(ctx, s.routeID, s.id)
}

// openParcelsOf reads a stop's open parcels outside a transaction.
func (d *DB) openParcelsOf(ctx context.Context, s *doorStop) ([]stopParcel, error) {
	var ps []stopParcel
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		ps, err = openParcels(ctx, tx, s)
		return err
	})
	return ps, err
}

// noPhotoReason says why a parcel may not be photographed, or "".
func (d *DB) noPhotoReason(ctx context.Context, trackingID string) (string, error) {
	var confidential, registry, optedOut bool
	err := d.db.QueryRowContext(ctx, `SELECT s.confidential_address, s.gift_registry,
		EXISTS (SELECT 1 FROM recipient_prefs rp WHERE rp.photo_opt_out AND rp.contact IN (s.recipient_mobile, s.recipient_email) AND rp.contact <> '')
		FROM packages p JOIN shipments s ON s.id = p.shipment_id WHERE p.tracking_id = $1`, trackingID).Scan(&confidential, &registry, &optedOut)
	if err != nil {
		return "", handoff.Internal(err, "photo rules")
	}
	switch {
	case confidential:
		return handoff.NoPhotoConfidential, nil
	case registry:
		return handoff.NoPhotoGiftRegistry, nil
	case optedOut:
		return handoff.NoPhotoOptedOut, nil
	}
	return "", nil
}

// privacyWords says a privacy reason in words.
func privacyWords(reasons map[string]string) string {
	for _, r := range reasons {
		switch r {
		case handoff.NoPhotoConfidential:
			return "the address is confidential"
		case handoff.NoPhotoGiftRegistry:
			return "a gift-registry parcel to someone other than the buyer"
		case handoff.NoPhotoOptedOut:
			return "the recipient opted out of photos"
		}
	}
	return ""
}

// RecordAttempt implements handoff.DoorService.
func (d *DB) RecordAttempt(ctx context.Context, da *handoff.Principal, stopID, reason string) (*handoff.Stop, error) {
	if !slices.Contains(handoff.AttemptReasons, reason) {
		return nil, handoff.Invalid(handoff.FieldError{Field: "reason", Message: "must be one of CustomerUnavailable, UnableToAccess, BusinessClosed, OtpNotAvailable, AddressNotFound, Damaged"})
	}
	s, err := d.outStop(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE stops SET otp_state = $1 WHERE id = $2 AND otp_state = $3`, handoff.OTPFailed, s.id, handoff.OTPPending); err != nil {
			return handoff.Internal(err, "end attempt")
		}
		failed, err := d.failParcels(ctx, tx, s, da.ID, false, reason, tracking.Describe(tracking.StatusDeliveryAttempted, reason))
		if err != nil {
			return err
		}
		if len(failed) == 0 {
			return handoff.Errorf(handoff.ECONFLICT, "Every parcel at this stop is already settled.")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d.stopView(ctx, s.routeID, s.id)
}

// CodeChecks returns how many code entries were evaluated at a stop, and how
// many of them were correct.
func (d *DB) CodeChecks(ctx context.Context, stopID string) (evaluated, correct int, err error) {
	err = d.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN correct THEN 1 ELSE 0 END), 0) FROM code_checks WHERE stop_id = $1`, stopID).
		Scan(&evaluated, &correct)
	if err != nil {
		return 0, 0, handoff.Internal(err, "count code checks")
	}
	return evaluated, correct, nil
}

// Notification is a queued message as the outbox holds it (never with a code).
type Notification struct {
	ID, Kind, Channel, Recipient, Lang, Status string
	Data                                       map[string]any
	Passcode                                   bool
}

// Notifications returns the queued messages that mention a tracking ID, oldest
// first.
func (d *DB) Notifications(ctx context.Context, trackingID string) ([]Notification, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, kind, channel, recipient, lang, status, data, passcode_set FROM notifications
		WHERE data LIKE $1 ORDER BY created_at, id`, "%\""+trackingID+"\"%")
	if err != nil {
		return nil, handoff.Internal(err, "list notifications")
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		var data, pm string
		if err := rows.Scan(&n.ID, &n.Kind, &n.Channel, &n.Recipient, &n.Lang, &n.Status, &data, &pm); err != nil {
			return nil, handoff.Internal(err, "scan notification")
		}
		json.Unmarshal([]byte(data), &n.Data)
		n.Passcode = pm != ""
		out = append(out, n)
	}
	return out, rows.Err()
}

// settleBag moves a parcel's sealed bag to its final state.
func settleBag(ctx context.Context, tx *sql.Tx, trackingID, state string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE bags SET state = $1 WHERE tracking_id = $2 AND state = $3`, state, trackingID, handoff.BagSealed); err != nil {
		return handoff.Internal(err, "settle bag")
	}
	return nil
}

// bagsScanned refuses when a bagged open parcel of the stop, among ids (all
// when nil; only the OTP ones when otpOnly), has not had its bag scanned.
func (d *DB) bagsScanned(ctx context.Context, s *doorStop, ids []string, otpOnly bool) error {
	rows, err := d.db.QueryContext(ctx, `SELECT rp.tracking_id, p.otp_required FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id
		WHERE rp.stop_id = $1 AND rp.outcome = '' AND p.bag_id <> '' AND NOT rp.bag_scanned ORDER BY rp.tracking_id`, s.id)
	if err != nil {
		return handoff.Internal(err, "check scans")
	}
	defer rows.Close()
	var missing []string
	for rows.Next() {
		var id string
		var otp bool
		if err := rows.Scan(&id, &otp); err != nil {
			return handoff.Internal(err, "check scans")
		}
		if (otpOnly && !otp) || (ids != nil && !slices.Contains(ids, id)) {
			continue
		}
		missing = append(missing, id)
	}
	if len(missing) > 0 {
		return handoff.Errorf(handoff.EPRECONDITION, "Scan the tamper-evident bag of %s first: delivery completes only when it matches.", strings.Join(missing, ", "))
	}
	return rows.Err()
}

// ScanBag implements handoff.DoorService. The associate's app never shows the
// expected ID: the scan must come from the bag in hand.
func (d *DB) ScanBag(ctx context.Context, da *handoff.Principal, stopID, raw string) (*handoff.Stop, error) {
	s, err := d.outStop(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	id, parseErr := bag.Parse(raw)
	if parseErr != nil {
		// A misread is told at once and not counted as a finding: the
		// check character caught it.
		return nil, handoff.Invalid(handoff.FieldError{Field: "bagId", Message: parseErr.Error()})
	}
	var matched string
	err = d.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT rp.tracking_id FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id
			WHERE rp.stop_id = $1 AND rp.outcome = '' AND p.bag_id = $2`, s.id, id).Scan(&matched)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return handoff.Internal(err, "match bag")
		}
		now := d.Now()
		if _, err := tx.ExecContext(ctx, `INSERT INTO bag_scans (id, stop_id, tracking_id, associate_id, scanned, matched, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			newID("bs_"), s.id, matched, da.ID, id, matched != "", micros(now)); err != nil {
			return handoff.Internal(err, "record scan")
		}
		if matched != "" {
			_, err := tx.ExecContext(ctx, `UPDATE route_parcels SET bag_scanned = TRUE WHERE stop_id = $1 AND tracking_id = $2`, s.id, matched)
			if err != nil {
				return handoff.Internal(err, "mark scan")
			}
			return nil
		}
		// The bag in hand is not the one sealed at the station: a finding
		// for customer service, on each bagged parcel of the stop.
		ids, err := queryStrings(ctx, tx, `SELECT rp.tracking_id FROM route_parcels rp JOIN packages p ON p.tracking_id = rp.tracking_id
			WHERE rp.stop_id = $1 AND rp.outcome = '' AND p.bag_id <> '' ORDER BY rp.tracking_id`, s.id)
		if err != nil {
			return err
		}
		for _, t := range ids {
			if err := openCase(ctx, tx, handoff.CaseScanMismatch, t, da.ID, now,
				"Bag "+bag.Format(id)+" was scanned at the door, but the parcel was sealed in another bag"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if matched == "" {
		return nil, handoff.Errorf(handoff.ECONFLICT, "This bag does not belong to any parcel at this stop. Do not deliver; the mismatch has been reported.")
	}
	return d.stopView(ctx, s.routeID, s.id)
}

// RefuseParcels implements handoff.DoorService.
func (d *DB) RefuseParcels(ctx context.Context, da *handoff.Principal, stopID string, trackingIDs []string) (*handoff.Stop, error) {
	s, err := d.outStop(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT rp.tracking_id, p.bag_id, st.city, st.postal_code FROM route_parcels rp
			JOIN packages p ON p.tracking_id = rp.tracking_id JOIN stops st ON st.id = rp.stop_id
			WHERE rp.stop_id = $1 AND rp.outcome = '' AND p.bag_id <> '' ORDER BY rp.tracking_id`, s.id)
		if err != nil {
			return handoff.Internal(err, "bagged parcels")
		}
		type bp struct{ id, bagID, city, pc string }
		var bagged []bp
		for rows.Next() {
			var b bp
			rows.Scan(&b.id, &b.bagID, &b.city, &b.pc)
			bagged = append(bagged, b)
		}
		rows.Close()
		var refuse []bp
		for i, t := range trackingIDs {
			j := slices.IndexFunc(bagged, func(b bp) bool { return b.id == t })
			if j < 0 {
				return handoff.Invalid(handoff.FieldError{Field: "trackingIds[" + strconv.Itoa(i) + "]", Message: "is not an open bagged parcel of this stop"})
			}
			refuse = append(refuse, bagged[j])
		}
		if len(trackingIDs) == 0 {
			refuse = bagged
		}
		if len(refuse) == 0 {
			return handoff.Errorf(handoff.ECONFLICT, "No parcel in a tamper-evident bag is open at this stop.")
		}
		now := d.Now()
		var ids []string
		for _, b := range refuse {
			ok, err := settleParcel(ctx, tx, s.routeID, b.id, "refused")
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			if err := moveStage(ctx, tx, b.id, handoff.StageOut, handoff.StageAwaitingReturn, ""); err != nil {
				return err
			}
			if err := settleBag(ctx, tx, b.id, handoff.BagRefused); err != nil {
				return err
			}
			if _, err := d.appendEvent(ctx, tx, b.id, tracking.Event{Code: tracking.Rejected, Detail: tracking.RejectedByRecipientWithVerification, Time: now,
				Location: tracking.Location{City: b.city, PostalCode: b.pc, CountryCode: s.market}, Actor: da.ID,
				Note: "Refused by the recipient: the seal of bag " + bag.Format(b.bagID) + " was broken"}); err != nil {
				return err
			}
			if err := openCase(ctx, tx, handoff.CaseTamper, b.id, da.ID, now, "Recipient refused bag "+bag.Format(b.bagID)+": seal broken"); err != nil {
				return err
			}
			ids = append(ids, b.id)
		}
		if err := d.enqueue(ctx, tx, MsgAttemptFailed, s.id+"|refused", ids, map[string]any{"detailCode": tracking.RejectedByRecipientWithVerification}, ""); err != nil {
			return err
		}
		if err := endPasscodeIfNone(ctx, tx, s.id, handoff.OTPFailed); err != nil {
			return err
		}
		// The refused bag is evidence; the parcel needs a new one if it is
		// ever sent again.
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE packages SET bag_id = '' WHERE tracking_id = $1`, id); err != nil {
				return handoff.Internal(err, "unbag parcel")
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return d.stopView(ctx, s.routeID, s.id)
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
