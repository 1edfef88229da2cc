package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/station"
	"github.com/handoff-dev/handoff/tracking"
)

// parcelRow is what customer service and the bag flows read of a parcel:
// where it is and where its events happen.
type parcelRow struct {
	trackingID, stage, stationID, marketplace string
	shipTo                                    handoff.Address
}

func findParcel(ctx context.Context, q queryer, trackingID string) (*parcelRow, error) {
	var p parcelRow
	var shipTo string
	err := q.QueryRowContext(ctx, `SELECT p.tracking_id, p.stage, p.station_id, s.marketplace, s.ship_to
		FROM packages p JOIN shipments s ON s.id = p.shipment_id WHERE p.tracking_id = $1`, trackingID).
		Scan(&p.trackingID, &p.stage, &p.stationID, &p.marketplace, &shipTo)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Parcel")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find parcel")
	}
	json.Unmarshal([]byte(shipTo), &p.shipTo)
	return &p, nil
}

func (p *parcelRow) location() tracking.Location {
	return tracking.Location{City: p.shipTo.City, StateOrRegion: p.shipTo.StateOrRegion, PostalCode: p.shipTo.PostalCode, CountryCode: p.marketplace}
}

func requireKind(p *handoff.Principal, k auth.Kind) error {
	if p == nil || p.Kind != k {
		return handoff.Errorf(handoff.EFORBIDDEN, "This action is for %s accounts.", k)
	}
	return nil
}

// Today returns the service date now in a marketplace (GB when unknown).
func (d *DB) Today(mkt string) string { return d.today(mkt) }

// today returns the service date now in a marketplace.
func (d *DB) today(mkt string) string {
	m, ok := market.Lookup(mkt)
	if !ok {
		m, _ = market.Lookup("GB")
	}
	return route.Today(d.Now(), m.Location())
}

// StationParcel implements station.Store: the parcel with the bag it is
// in and the facts of its newest tamper case.
func (d *DB) StationParcel(ctx context.Context, trackingID string) (*station.Parcel, error) {
	ps, err := d.StationParcels(ctx, []string{trackingID})
	if err != nil {
		return nil, err
	}
	p, ok := ps[trackingID]
	if !ok {
		return nil, handoff.NotFound("Parcel")
	}
	return p, nil
}

// StationParcels implements station.Store, in one query for each
// maxInList parcels.
func (d *DB) StationParcels(ctx context.Context, trackingIDs []string) (map[string]*station.Parcel, error) {
	return d.stationParcels(ctx, nil, trackingIDs)
}

// stationParcels is StationParcels in tx, or on a reader when tx is nil.
func (d *DB) stationParcels(ctx context.Context, tx *sql.Tx, trackingIDs []string) (map[string]*station.Parcel, error) {
	out := map[string]*station.Parcel{}
	for ids := range slices.Chunk(trackingIDs, maxInList) {
		args := []any{handoff.OutcomeRefused}
		for _, id := range ids {
			args = append(args, id)
		}
		// One parcel's query is prepared once; lists vary in length.
		_, query := d.queriers(tx)
		if len(ids) > 1 {
			query = d.db.QueryContext
			if tx != nil {
				query = tx.QueryContext
			}
		}
		ps, err := scanStationParcels(query(ctx, d.stationParcelsQuery(len(ids)), args...))
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			out[p.TrackingID] = p
		}
	}
	return out, nil
}

// stationParcelsQuery reads n parcels ($2…) as the station's rules see
// them; $1 is handoff.OutcomeRefused. The case kind is written into the
// query, not bound: cases has a partial index on its kind
// (cases_one_open_enquiry), and a parameter compared with a column of a
// partial index's WHERE makes SQLite prepare the statement again at every
// binding, a fifth of a receive's CPU.
func (d *DB) stationParcelsQuery(n int) string {
	return `SELECT p.tracking_id, p.stage, p.station_id, s.marketplace, p.last_attempt_date, p.failed_days,
			p.otp_required, p.bag_required, p.bag_id, s.ship_to, s.recipient_mobile,
			COALESCE((SELECT c.status FROM cases c WHERE c.tracking_id = p.tracking_id AND c.kind = ` + tamper + ` ORDER BY c.opened_at DESC, c.id LIMIT 1), ''),
			COALESCE((SELECT c.outcome FROM cases c WHERE c.tracking_id = p.tracking_id AND c.kind = ` + tamper + ` ORDER BY c.opened_at DESC, c.id LIMIT 1), ''),
			EXISTS (SELECT 1 FROM route_parcels rp WHERE rp.tracking_id = p.tracking_id AND rp.outcome = $1)
			FROM packages p JOIN shipments s ON s.id = p.shipment_id WHERE p.tracking_id IN (` + d.params(2, n) + `)`
}

// scanStationParcels scans the rows of stationParcelsQuery and closes them.
func scanStationParcels(rows *sql.Rows, err error) ([]*station.Parcel, error) {
	if err != nil {
		return nil, handoff.Internal(err, "find parcels")
	}
	defer rows.Close()
	var out []*station.Parcel
	for rows.Next() {
		var p station.Parcel
		var shipTo string
		if err := rows.Scan(&p.TrackingID, &p.Stage, &p.StationID, &p.Marketplace, &p.LastAttempt, &p.FailedDays, &p.OTPRequired, &p.BagRequired, &p.BagID,
			&shipTo, &p.Mobile, &p.TamperCase, &p.TamperOutcome, &p.Refused); err != nil {
			return nil, handoff.Internal(err, "find parcels")
		}
		json.Unmarshal([]byte(shipTo), &p.ShipTo)
		out = append(out, &p)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "find parcels")
	}
	return out, nil
}

// MoveParcel implements station.Store. The parcel is read in the
// transaction, on the writer's connection, whose cache holds the pages the
// last commits wrote: read before it on a reader, a receive cost 9 % more
// with 10,000 parcels stored and 13 % more with 1,000,000 (handoff
// loadtest). On PostgreSQL the read locks the parcel's row until commit.
func (d *DB) MoveParcel(ctx context.Context, trackingID string, decide func(*station.Parcel) (*station.Move, error)) (*station.Moved, error) {
	out := &station.Moved{}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		query := d.stationParcelsQuery(1)
		if d.Engine == Postgres {
			query += " FOR UPDATE OF p"
		}
		ps, err := scanStationParcels(d.txQuery(ctx, tx, query, handoff.OutcomeRefused, trackingID))
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			return handoff.NotFound("Parcel")
		}
		m, err := decide(ps[0])
		if err != nil {
			return err
		}
		if m.LeaveRoute {
			var routeID string
			if err := d.txQueryRow(ctx, tx, `SELECT route_id FROM packages WHERE tracking_id = $1`, m.TrackingID).Scan(&routeID); err != nil {
				return handoff.Internal(err, "read route")
			}
			if _, err := d.settleParcel(ctx, tx, routeID, m.TrackingID, handoff.OutcomeReturned); err != nil {
				return err
			}
			if _, err := d.txExec(ctx, tx, `UPDATE packages SET last_attempt_date = (SELECT r.service_date FROM routes r WHERE r.id = $1)
				WHERE tracking_id = $2 AND EXISTS (SELECT 1 FROM route_parcels rp JOIN stops st ON st.id = rp.stop_id
					WHERE rp.route_id = $1 AND rp.tracking_id = $2 AND (st.guesses > 0 OR st.resends > 0))`, routeID, m.TrackingID); err != nil {
				return handoff.Internal(err, "record attempt day")
			}
		}
		// One UPDATE moves the parcel, counts its events and sums them up
		// (the last event that changes the status sets it), then the events
		// are written with the numbers it gave them.
		now := d.Now()
		events := slices.Clone(m.Events)
		status, detail := "", ""
		for i := range events {
			events[i].Time = now
			if st, ok := tracking.StatusOf(events[i].Code); ok {
				status, detail = st, events[i].Detail
			}
		}
		var last int
		var hooks bool
		err = d.txQueryRow(ctx, tx, `UPDATE packages SET stage = $1, station_id = CASE WHEN $2 = '' THEN station_id ELSE $2 END,
			last_seq = last_seq + $5, status = CASE WHEN $6 = '' THEN status ELSE $6 END, detail = CASE WHEN $6 = '' THEN detail ELSE $7 END,
			updated_at = CASE WHEN $5 > 0 THEN $8 ELSE updated_at END
			WHERE tracking_id = $3 AND stage = $4
			RETURNING last_seq, status, last_attempt_date, EXISTS (SELECT 1 FROM shipper_webhooks w WHERE w.shipper_id = packages.shipper_id AND w.deleted_at = 0)`,
			m.To, m.StationID, m.TrackingID, m.From, len(events), status, detail, micros(now)).Scan(&last, &out.Status, &out.LastAttempt, &hooks)
		if errors.Is(err, sql.ErrNoRows) {
			return &station.Changed{ID: m.TrackingID}
		}
		if err != nil {
			return handoff.Internal(err, "move parcel")
		}
		if len(events) > 0 {
			if err := d.logEvents(ctx, tx, m.TrackingID, last-len(events)+1, hooks, events...); err != nil {
				return err
			}
		}
		if m.Tell {
			kind := MsgShipped
			if m.To == handoff.StageReturning {
				kind = MsgReturning
			}
			if err := d.enqueue(ctx, tx, kind, m.TrackingID, []string{m.TrackingID}, nil, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// moveStage moves a parcel from one stage to another (and to a station, when
// stationID is not empty), failing with ECONFLICT when it is no longer in the
// expected stage (someone else moved it).
func (d *DB) moveStage(ctx context.Context, tx *sql.Tx, trackingID, from, to, stationID string) error {
	ok, err := d.moveStageIf(ctx, tx, trackingID, from, to, stationID)
	if err == nil && !ok {
		err = handoff.Errorf(handoff.ECONFLICT, "The parcel was changed by someone else; try again.")
	}
	return err
}

// moveStageIf moves a parcel from one stage to another (and to a station,
// when stationID is not empty) by a conditional update; false when it is no
// longer in the expected stage.
func (d *DB) moveStageIf(ctx context.Context, tx *sql.Tx, trackingID, from, to, stationID string) (bool, error) {
	res, err := d.txExec(ctx, tx, `UPDATE packages SET stage = $1, station_id = CASE WHEN $2 = '' THEN station_id ELSE $2 END
		WHERE tracking_id = $3 AND stage = $4`, to, stationID, trackingID, from)
	if err != nil {
		return false, handoff.Internal(err, "move parcel")
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RecordRoute implements station.Store: the parcels are read and the
// route planned in its transaction, on the writer's connection, and the
// route's view is read there at the end, on pages the transaction just
// wrote (a reader would fetch them again after the commit). The stops, the
// route's parcels and their moves are each written by one statement for
// each maxInList rows, whatever the route's length.
func (d *DB) RecordRoute(ctx context.Context, trackingIDs []string, plan func(map[string]*station.Parcel) (station.RoutePlan, error)) (*handoff.Route, error) {
	var view *handoff.Route
	err := d.tx(ctx, func(tx *sql.Tx) error {
		found, err := d.stationParcels(ctx, tx, trackingIDs)
		if err != nil {
			return err
		}
		p, err := plan(found)
		if err != nil {
			return err
		}
		id, err := d.recordRoute(ctx, tx, p)
		if err != nil {
			return err
		}
		view, err = d.findRoute(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return view, nil
}

// recordRoute stores a planned route in tx and moves its parcels from
// plan.From to plan.To, or returns *station.Changed naming a parcel that
// was no longer in plan.From. It returns the route's ID.
func (d *DB) recordRoute(ctx context.Context, tx *sql.Tx, plan station.RoutePlan) (string, error) {
	id := newID("rt_")
	var stops, parcels [][]any
	var ids []string
	for i, s := range plan.Stops {
		stopID := newID("stp_")
		stops = append(stops, []any{stopID, id, i + 1, s.Key, s.Recipient.Name, s.Recipient.AddressLine1, s.Recipient.AddressLine2, s.Recipient.City,
			s.Recipient.PostalCode, s.CountryCode, s.Mobile, s.Minute, s.OTPState})
		for _, trackingID := range s.TrackingIDs {
			parcels = append(parcels, []any{id, trackingID, stopID})
			ids = append(ids, trackingID)
		}
	}
	if _, err := d.txExec(ctx, tx, `INSERT INTO routes (id, station_id, associate_id, service_date, marketplace, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, plan.StationID, plan.AssociateID, plan.ServiceDate, plan.Marketplace, plan.Status, micros(d.Now())); err != nil {
		return "", handoff.Internal(err, "insert route")
	}
	if err := d.insertRows(ctx, tx, `INSERT INTO stops (id, route_id, position, stop_key, recipient_name, address_line1, address_line2, city,
		postal_code, country_code, mobile, planned_minute, otp_state) VALUES `, stops, ""); err != nil {
		return "", handoff.Internal(err, "insert stops")
	}
	if err := d.insertRows(ctx, tx, `INSERT INTO route_parcels (route_id, tracking_id, stop_id) VALUES `, parcels, ""); err != nil {
		return "", handoff.Internal(err, "insert route parcels")
	}
	for chunk := range slices.Chunk(ids, maxInList) {
		args := []any{plan.To, id, plan.From}
		for _, t := range chunk {
			args = append(args, t)
		}
		res, err := tx.ExecContext(ctx, `UPDATE packages SET stage = $1, route_id = $2 WHERE stage = $3 AND tracking_id IN (`+d.params(4, len(chunk))+`)`, args...)
		if err != nil {
			return "", handoff.Internal(err, "route parcels")
		}
		if n, _ := res.RowsAffected(); int(n) != len(chunk) {
			return "", d.firstUnmoved(ctx, tx, chunk, plan.To, id)
		}
	}
	return id, nil
}

// firstUnmoved returns *station.Changed naming the first of ids that is not
// in stage on the route: one that was no longer where the plan found it.
func (d *DB) firstUnmoved(ctx context.Context, tx *sql.Tx, ids []string, stage, routeID string) error {
	args := []any{stage, routeID}
	for _, t := range ids {
		args = append(args, t)
	}
	moved, err := queryStrings(ctx, tx, `SELECT tracking_id FROM packages WHERE stage = $1 AND route_id = $2 AND tracking_id IN (`+d.params(3, len(ids))+`)`, args...)
	if err != nil {
		return err
	}
	for _, t := range ids {
		if !slices.Contains(moved, t) {
			return &station.Changed{ID: t}
		}
	}
	return handoff.Internal(nil, "route parcels: a parcel was moved twice")
}

// tamper is handoff.CaseTamper as an SQL literal.
var tamper = sqlLiteral(handoff.CaseTamper)

// maxInList bounds the values of one statement's IN list or VALUES rows,
// well within both engines' limits on parameters.
const maxInList = 200

// insertRows inserts rows of values with head ("INSERT INTO t (…) VALUES ",
// without parameters of its own) and tail (an ON CONFLICT clause, or ""),
// in statements of 128, 64, …, 2 or 1 rows (the binary digits of their
// number), each prepared once and reused: a statement of any number of rows
// was parsed again at every use, and parsing a row of a message into the
// outbox cost more than writing it. A kind of insert has at most eight
// statements, and n rows take at most about log2(n) + n/128 of them.
func (d *DB) insertRows(ctx context.Context, tx *sql.Tx, head string, rows [][]any, tail string) error {
	for len(rows) > 0 {
		n := maxInsertRows
		for n > len(rows) {
			n /= 2
		}
		chunk := rows[:n]
		rows = rows[n:]
		var b strings.Builder
		b.WriteString(head)
		var args []any
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(" + d.params(len(args)+1, len(r)) + ")")
			args = append(args, r...)
		}
		b.WriteString(tail)
		if _, err := d.txExec(ctx, tx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// maxInsertRows is the most rows insertRows puts in one statement: a power
// of two within maxInList.
const maxInsertRows = 128

// findRoute loads a route with its stops and parcels: three queries, one
// for each level, whatever the route's length.
func (d *DB) findRoute(ctx context.Context, tx *sql.Tx, routeID string) (*handoff.Route, error) {
	queryRow, query := d.queriers(tx)
	r := &handoff.Route{ID: routeID, Stops: []handoff.Stop{}}
	var created int64
	err := queryRow(ctx, `SELECT station_id, associate_id, service_date, marketplace, status, created_at FROM routes WHERE id = $1`, routeID).
		Scan(&r.StationID, &r.AssociateID, &r.ServiceDate, &r.Marketplace, &r.Status, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Route")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find route")
	}
	r.CreatedAt = fromMicros(created)
	r.ContactHours = d.Policy.ContactHours.String()

	v := d.newStopViews()
	rows, err := query(ctx, `SELECT `+stopViewCols+` FROM stops s WHERE s.route_id = $1 ORDER BY s.position`, routeID)
	if err != nil {
		return nil, handoff.Internal(err, "list stops")
	}
	for rows.Next() {
		if err := v.scanStop(rows, r.Status); err != nil {
			rows.Close()
			return nil, handoff.Internal(err, "scan stop")
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "list stops")
	}
	if err := v.readParcels(query(ctx, stopParcelsQuery+`rp.route_id = $1 ORDER BY rp.tracking_id`, routeID)); err != nil {
		return nil, err
	}
	r.Stops = v.finish()
	for _, s := range r.Stops {
		if s.OutsideContactHours {
			r.Flagged++
		}
	}
	return r, nil
}

// loadStop loads one stop as the associate sees it, by its ID: the
// associate's hot paths answer with it, so its cost is the stop's, never the
// route's.
//
// In tx (when not nil) it reads what the transaction has written: the
// answer of a write, on the connection that wrote it, whose cache of pages
// is still good (another connection reads them again after every commit).
func (d *DB) loadStop(ctx context.Context, tx *sql.Tx, stopID string) (*handoff.Stop, error) {
	_, query := d.queriers(tx)
	v := d.newStopViews()
	rows, err := query(ctx, stopViewQuery, stopID)
	if err != nil {
		return nil, handoff.Internal(err, "find stop")
	}
	defer rows.Close()
	for rows.Next() {
		var st stopRow
		var pr viewParcel
		if err := rows.Scan(append(st.dest(true), pr.dest()...)...); err != nil {
			return nil, handoff.Internal(err, "find stop")
		}
		if len(v.stops) == 0 {
			v.addStop(&st)
		}
		v.addParcel(&pr)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "find stop")
	}
	// A stop is planned with its parcels, and neither is ever deleted:
	// no row is no such stop.
	if len(v.stops) == 0 {
		return nil, handoff.NotFound("Stop")
	}
	return &v.finish()[0], nil
}

// stopViewQuery reads one stop's view in one statement: the stop, its
// route's status and each of its parcels, a row per parcel.
const stopViewQuery = `SELECT ` + stopViewCols + `, r.status, ` + stopParcelCols + ` FROM stops s JOIN routes r ON r.id = s.route_id
	JOIN route_parcels rp ON rp.stop_id = s.id ` + stopParcelJoins + ` WHERE s.id = $1 ORDER BY rp.tracking_id`

// queriers returns how to read in tx, with its prepared statements, or on a
// reader when tx is nil.
func (d *DB) queriers(tx *sql.Tx) (queryRow func(context.Context, string, ...any) *sql.Row, query func(context.Context, string, ...any) (*sql.Rows, error)) {
	if tx == nil {
		return d.queryRow, d.query
	}
	return func(ctx context.Context, q string, args ...any) *sql.Row { return d.txQueryRow(ctx, tx, q, args...) },
		func(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
			return d.txQuery(ctx, tx, q, args...)
		}
}

// stopViewCols are the columns of a stop (alias s) its view is made of.
const stopViewCols = `s.id, s.route_id, s.position, s.recipient_name, s.address_line1, s.address_line2, s.city, s.postal_code, s.country_code,
	s.planned_minute, s.otp_state, s.wrong, s.resends`

// stopParcelsQuery selects the parcels of stops with what their views need:
// whether a photo may be taken, the shipper's settings, and whether an open
// parcel's recipient has a garage opener there with key delivery on (for
// everything or for that parcel). It ends in the WHERE clause's column.
const stopParcelsQuery = `SELECT ` + stopParcelCols + ` FROM route_parcels rp ` + stopParcelJoins + ` WHERE `

// stopParcelCols are the columns of a stop's parcel (rp, with
// stopParcelJoins) its view is made of (viewParcel).
const stopParcelCols = `rp.stop_id, rp.tracking_id, rp.outcome, rp.bag_scanned, rp.code_ok, p.otp_required, p.bag_required, p.stage, p.status, p.detail,
	sh.signature_required, sh.minimum_age, sh.typed_signature_refused, sh.confidential_address OR sh.gift_registry OR EXISTS (SELECT 1 FROM recipient_prefs rpf WHERE rpf.photo_opt_out
		AND rpf.contact IN (sh.recipient_mobile, sh.recipient_email) AND rpf.contact <> ''), ss.body,
	rp.outcome = '' AND EXISTS (SELECT 1 FROM garages g WHERE g.contact IN (sh.recipient_mobile, sh.recipient_email) AND g.contact <> ''
		AND g.address_key = sh.address_key AND g.removed_at = 0
		AND (g.key_delivery OR EXISTS (SELECT 1 FROM garage_parcels gp WHERE gp.tracking_id = p.tracking_id AND gp.garage_id = g.id)))`

// stopParcelJoins joins a route parcel (rp) to what stopParcelCols read.
const stopParcelJoins = `JOIN packages p ON p.tracking_id = rp.tracking_id JOIN shipments sh ON sh.id = p.shipment_id
	JOIN shipper_settings ss ON ss.shipper_id = p.shipper_id`

// stopViews assembles stops as the associate sees them from their rows and
// their parcels' rows.
type stopViews struct {
	policy   *handoff.Policy
	stops    []handoff.Stop
	idx      map[string]int
	fallback map[string]bool // the phone-digits fallback, by stop: every passcode parcel's shipper allows it
}

func (d *DB) newStopViews() *stopViews {
	return &stopViews{policy: &d.Policy, idx: map[string]int{}, fallback: map[string]bool{}}
}

// scanStop adds a stop from a row of stopViewCols on a route of status, or
// when status is "", of stopViewCols and the route's status.
func (v *stopViews) scanStop(row interface{ Scan(...any) error }, status string) error {
	st := stopRow{s: handoff.Stop{RouteStatus: status}}
	if err := row.Scan(st.dest(status == "")...); err != nil {
		return err
	}
	v.addStop(&st)
	return nil
}

// stopRow is a row of stopViewCols (and the route's status).
type stopRow struct {
	s                      handoff.Stop
	minute, wrong, resends int
}

// dest returns where a row of stopViewCols goes, then the route's status
// when withStatus.
func (st *stopRow) dest(withStatus bool) []any {
	s := &st.s
	dest := []any{&s.ID, &s.RouteID, &s.Position, &s.RecipientName, &s.AddressLine1, &s.AddressLine2, &s.City, &s.PostalCode, &s.CountryCode,
		&st.minute, &s.OTPState, &st.wrong, &st.resends}
	if withStatus {
		dest = append(dest, &s.RouteStatus)
	}
	return dest
}

// addStop adds a stop from its row.
func (v *stopViews) addStop(st *stopRow) {
	s, minute, wrong, resends := st.s, st.minute, st.wrong, st.resends
	s.PlannedTime = route.FormatClock(minute)
	s.Needs.Passcode = s.OTPState != handoff.OTPNone
	// Only a stop still waiting for its code can be moved, so only such
	// a stop is flagged.
	s.OutsideContactHours = s.OTPState == handoff.OTPPending && !v.policy.ContactHours.Contains(minute)
	if s.OTPState == handoff.OTPPending {
		s.AttemptsLeft = max(handoff.MaxCodeGuesses-wrong, 0)
		s.ResendsLeft = max(handoff.MaxResends-resends, 0)
	}
	s.Parcels = []handoff.StopParcel{}
	v.idx[s.ID] = len(v.stops)
	v.stops = append(v.stops, s)
}

// readParcels adds the parcels of stopParcelsQuery's rows to their stops.
func (v *stopViews) readParcels(rows *sql.Rows, err error) error {
	if err != nil {
		return handoff.Internal(err, "list stop parcels")
	}
	defer rows.Close()
	for rows.Next() {
		var pr viewParcel
		if err := rows.Scan(pr.dest()...); err != nil {
			return handoff.Internal(err, "scan stop parcel")
		}
		v.addParcel(&pr)
	}
	if err := rows.Err(); err != nil {
		return handoff.Internal(err, "list stop parcels")
	}
	return nil
}

// viewParcel is a row of stopParcelCols.
type viewParcel struct {
	stopID, body    string
	sp              handoff.StopParcel
	private, garage bool
}

// dest returns where a row of stopParcelCols goes.
func (pr *viewParcel) dest() []any {
	sp := &pr.sp
	return []any{&pr.stopID, &sp.TrackingID, &sp.Outcome, &sp.BagScanned, &sp.PasscodeVerified, &sp.OTPRequired, &sp.BagRequired, &sp.Stage, &sp.Status, &sp.DetailCode,
		&sp.Signature, &sp.MinimumAge, &sp.TypedSignatureRefused, &pr.private, &pr.body, &pr.garage}
}

// addParcel adds a parcel to its stop, which was added before.
func (v *stopViews) addParcel(pr *viewParcel) {
	stopID, body, sp, private, garage := pr.stopID, pr.body, pr.sp, pr.private, pr.garage
	check := handoff.DoorCheck{Signature: sp.Signature, MinimumAge: sp.MinimumAge}
	sp.MinimumAge = check.Age()
	i, ok := v.idx[stopID]
	if !ok {
		return
	}
	s := &v.stops[i]
	s.Parcels = append(s.Parcels, sp)
	if sp.BagRequired {
		s.Needs.BagScan = true
	}
	s.Needs.Signature = s.Needs.Signature || sp.Signature != ""
	s.Needs.AgeCheck = s.Needs.AgeCheck || sp.MinimumAge > 0
	if !sp.OTPRequired && !private && !check.Needed() {
		s.Needs.Photo = true
	}
	if !sp.OTPRequired && !garage {
		return
	}
	set, _ := decodeSettings(body)
	if sp.OTPRequired {
		allowed, seen := v.fallback[stopID]
		v.fallback[stopID] = set.SecureDelivery.PhoneDigitsFallback && (allowed || !seen)
	}
	// A parcel handed over in person (a signature or an age check) is
	// never left in a garage.
	if garage && !check.Needed() && (!sp.OTPRequired || set.SecureDelivery.GarageSatisfiesOTP) {
		s.Needs.Garage = true
	}
}

// finish returns the stops.
func (v *stopViews) finish() []handoff.Stop {
	for id, ok := range v.fallback {
		v.stops[v.idx[id]].PhoneDigitsAllowed = ok
	}
	return v.stops
}

// Route implements station.Store.
func (d *DB) Route(ctx context.Context, routeID string) (*handoff.Route, error) {
	return d.findRoute(ctx, nil, routeID)
}

// StationRoutes implements station.Store.
func (d *DB) StationRoutes(ctx context.Context, stationID, date string) ([]*handoff.Route, error) {
	return d.routesWhere(ctx, `station_id = $1 AND service_date = $2`, stationID, date)
}

func (d *DB) routesWhere(ctx context.Context, where string, args ...any) ([]*handoff.Route, error) {
	ids, err := queryStrings(ctx, d.db, `SELECT id FROM routes WHERE `+where+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, err
	}
	out := []*handoff.Route{}
	for _, id := range ids {
		r, err := d.findRoute(ctx, nil, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// SetStopTime implements station.Store.
func (d *DB) SetStopTime(ctx context.Context, routeID, stopID string, minute int) (bool, error) {
	res, err := d.exec(ctx, `UPDATE stops SET planned_minute = $1 WHERE id = $2 AND route_id = $3
		AND EXISTS (SELECT 1 FROM route_parcels WHERE stop_id = $2 AND outcome = $4)`, minute, stopID, routeID, handoff.OutcomeOpen)
	if err != nil {
		return false, handoff.Internal(err, "move stop")
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// StationAssociates implements station.Store. Wrong codes count within the
// policy's window, as the lock counts them.
func (d *DB) StationAssociates(ctx context.Context, stationID string) ([]handoff.AssociateStatus, error) {
	cutoff := micros(d.Now().Add(-d.Policy.WrongCodeWindow))
	rows, err := d.db.QueryContext(ctx, `SELECT p.id, p.name, COALESCE(g.locked_at, 0),
		CASE WHEN COALESCE(g.window_start, 0) > $3 THEN g.wrong ELSE 0 END
		FROM principals p LEFT JOIN associate_guard g ON g.associate_id = p.id
		WHERE p.kind = $1 AND p.station_id = $2 ORDER BY p.name, p.id`, auth.KindAssociate, stationID, cutoff)
	if err != nil {
		return nil, handoff.Internal(err, "list associates")
	}
	defer rows.Close()
	out := []handoff.AssociateStatus{}
	for rows.Next() {
		var a handoff.AssociateStatus
		var locked int64
		if err := rows.Scan(&a.ID, &a.Name, &locked, &a.WrongCodes); err != nil {
			return nil, handoff.Internal(err, "scan associate")
		}
		if locked > 0 {
			t := fromMicros(locked)
			a.Locked, a.LockedAt = true, &t
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ClearWrongCodes implements station.Store.
func (d *DB) ClearWrongCodes(ctx context.Context, associateID string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE associate_guard SET locked_at = 0, wrong = 0, window_start = 0 WHERE associate_id = $1`, associateID); err != nil {
			return handoff.Internal(err, "unlock associate")
		}
		// In the associate's chain, after the lock it lifts.
		return d.appendAudit(ctx, tx, audit.Entry{Chain: associateID, Action: audit.ActionAssociateOpen, Actor: "station", Subject: associateID, Outcome: audit.OutcomeOK})
	})
}

var _ station.Store = (*DB)(nil)
