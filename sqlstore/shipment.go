package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/eligibility"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/money"
	"github.com/handoff-dev/handoff/passcode"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/tracking"
)

// newTrackingID returns "HO", two characters of the day it is made, and 12
// random characters (60 bits) from an alphabet without look-alikes, so an
// ID read out on the phone survives. The next one is no more guessable from
// it than without the day: its 60 random bits are new. The day (counted
// from 1970, modulo 1,024) keeps a day's parcels together in every index
// keyed by tracking ID: a day reads and writes the index pages of its own
// parcels, not pages spread over the whole table as the store grows.
func newTrackingID() string {
	return newTrackingIDAt(time.Now())
}

func newTrackingIDAt(t time.Time) string {
	day := t.Unix() / 86400
	return "HO" + strings.ToUpper(string([]byte{auth.Alphabet[(day>>5)&31], auth.Alphabet[day&31]})+auth.Random(12))
}

// CheckEligibility implements handoff.ShipmentService.
func (d *DB) CheckEligibility(ctx context.Context, shipperID string, in *handoff.ShipmentInput) (*handoff.Shipment, error) {
	s, err := in.Validate()
	if err != nil {
		return nil, err
	}
	set, err := d.Settings(ctx, shipperID)
	if err != nil {
		return nil, err
	}
	s.ShipperID = shipperID
	if err := d.decide(ctx, d.db, s, set); err != nil {
		return nil, err
	}
	return s, nil
}

// decide takes the secure-delivery decision, reading the recipient's history
// only when the shipper has rules that could use it — and only the history
// with this shipper, so a rule cannot learn about other shippers' parcels.
func (d *DB) decide(ctx context.Context, q queryer, s *handoff.Shipment, set handoff.Settings) error {
	s.TypedSignatureRefused = set.SecureDelivery.TypedSignatureRefused
	var hist handoff.RecipientHistory
	if len(set.SecureDelivery.Rules) > 0 {
		mobile, email := s.RecipientMobile, strings.ToLower(s.ShipTo.Email)
		if mobile == "" {
			mobile = "-" // matches nothing
		}
		if email == "" {
			email = "-"
		}
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM((SELECT COUNT(*) FROM cases c WHERE c.tracking_id = p.tracking_id)), 0)
			FROM packages p JOIN shipments s ON s.id = p.shipment_id WHERE p.shipper_id = $3 AND (s.recipient_mobile = $1 OR s.recipient_email = $2)`,
			mobile, email, s.ShipperID).
			Scan(&hist.Parcels, &hist.Cases); err != nil {
			return handoff.Internal(err, "recipient history")
		}
	}
	if err := s.Decide(set, hist); err != nil {
		d.Log.Warn("a shipper rule failed to evaluate; it counted as not matched", "shipper_id", s.ShipperID, "err", err)
	}
	return nil
}

type contents struct {
	Weight     *handoff.Weight     `json:"weight,omitempty"`
	Dimensions *handoff.Dimensions `json:"dimensions,omitempty"`
	Items      []handoff.Item      `json:"items"`
}

// CreateShipment implements handoff.ShipmentService. The idempotency key is
// claimed by an insert in the same transaction as the label: of two racing
// requests with one key, the second waits on the first's row and then
// returns its shipment.
func (d *DB) CreateShipment(ctx context.Context, shipperID string, in *handoff.ShipmentInput, idemKey string) (*handoff.Shipment, bool, error) {
	s, err := in.Validate()
	if err != nil {
		return nil, false, err
	}
	var digest string
	if idemKey != "" {
		b, _ := json.Marshal(in)
		sum := sha256.Sum256(b)
		digest = hex.EncodeToString(sum[:])
	}
	now := d.Now()
	s.ID = newID("sh_")
	s.ShipperID = shipperID
	s.CreatedAt = now
	for i := range s.Packages {
		s.Packages[i].TrackingID = newTrackingID()
		s.Packages[i].Status = tracking.StatusPreTransit
		s.Packages[i].UpdatedAt = now
	}
	replayID := ""
	err = d.tx(ctx, func(tx *sql.Tx) error {
		if idemKey != "" {
			res, err := d.txExec(ctx, tx, `INSERT INTO idempotency_keys (shipper_id, idem_key, request_digest, shipment_id, created_at)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, shipperID, idemKey, digest, s.ID, micros(now))
			if err != nil {
				return handoff.Internal(err, "claim idempotency key")
			}
			if n, _ := res.RowsAffected(); n == 0 {
				var prevDigest string
				if err := tx.QueryRowContext(ctx, `SELECT request_digest, shipment_id FROM idempotency_keys WHERE shipper_id = $1 AND idem_key = $2`,
					shipperID, idemKey).Scan(&prevDigest, &replayID); err != nil {
					return handoff.Internal(err, "read idempotency key")
				}
				if prevDigest != digest {
					return handoff.Errorf(handoff.EIDEMPOTENCY, "This Idempotency-Key was already used with a different request body.")
				}
				return nil
			}
		}
		set, hooks, err := d.settingsIn(ctx, tx, shipperID)
		if err != nil {
			return err
		}
		if err := d.decide(ctx, tx, s, set); err != nil {
			return err
		}
		return d.insertShipment(ctx, tx, s, hooks)
	})
	if err != nil {
		return nil, false, err
	}
	if replayID != "" {
		prev, err := d.FindShipment(ctx, shipperID, replayID)
		return prev, true, err
	}
	return s, false, nil
}

// fillCodeSets gives shipments created before passcodes were scoped to
// contact sets their set, once; later starts find none to fill.
func (d *DB) fillCodeSets(ctx context.Context) error {
	for {
		rows, err := d.db.QueryContext(ctx, `SELECT id, recipient_mobile, recipient_email, buyer_mobile, buyer_email FROM shipments WHERE code_set = '' LIMIT 500`)
		if err != nil {
			return fmt.Errorf("fill code sets: %w", err)
		}
		type row struct{ id, set string }
		var todo []row
		for rows.Next() {
			var id string
			var c passcode.Contacts
			if err := rows.Scan(&id, &c.Mobile, &c.Email, &c.BuyerMobile, &c.BuyerEmail); err != nil {
				rows.Close()
				return fmt.Errorf("fill code sets: %w", err)
			}
			todo = append(todo, row{id, c.Set()})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("fill code sets: %w", err)
		}
		if len(todo) == 0 {
			return nil
		}
		for _, r := range todo {
			if _, err := d.db.ExecContext(ctx, `UPDATE shipments SET code_set = $1 WHERE id = $2 AND code_set = ''`, r.set, r.id); err != nil {
				return fmt.Errorf("fill code sets: %w", err)
			}
		}
	}
}

// fillRecipientNames gives shipments made before the recipient filter their
// normalised recipient name, once.
func (d *DB) fillRecipientNames(ctx context.Context) error {
	after := ""
	for {
		rows, err := d.db.QueryContext(ctx, `SELECT id, ship_to FROM shipments WHERE recipient_name = '' AND id > $1 ORDER BY id LIMIT 500`, after)
		if err != nil {
			return fmt.Errorf("fill recipient names: %w", err)
		}
		var ids, names []string
		for rows.Next() {
			var id, shipTo string
			if err := rows.Scan(&id, &shipTo); err != nil {
				rows.Close()
				return fmt.Errorf("fill recipient names: %w", err)
			}
			var a handoff.Address
			json.Unmarshal([]byte(shipTo), &a)
			ids, names = append(ids, id), append(names, handoff.NormaliseName(a.Name))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("fill recipient names: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		for i, id := range ids {
			if _, err := d.db.ExecContext(ctx, `UPDATE shipments SET recipient_name = $1 WHERE id = $2 AND recipient_name = ''`, names[i], id); err != nil {
				return fmt.Errorf("fill recipient names: %w", err)
			}
		}
		after = ids[len(ids)-1]
	}
}

func (d *DB) insertShipment(ctx context.Context, tx *sql.Tx, s *handoff.Shipment, hooks bool) error {
	shipTo, _ := json.Marshal(s.ShipTo)
	shipFrom, _ := json.Marshal(s.ShipFrom)
	warnings, _ := json.Marshal(s.Warnings)
	buyer, buyerEmail := "", ""
	if s.Gift != nil {
		buyerEmail = strings.ToLower(s.Gift.Email)
		b, _ := json.Marshal(s.Gift)
		buyer = string(b)
	}
	if s.Warnings == nil {
		warnings = []byte("[]")
	}
	if _, err := d.txExec(ctx, tx, `INSERT INTO shipments (id, shipper_id, marketplace, payment_type, ship_to, ship_from,
		recipient_mobile, mobile_state, recipient_email, buyer, buyer_mobile, confidential_address, gift_registry, warnings, created_at, buyer_email, address_key, code_set,
		signature_required, minimum_age, typed_signature_refused, recipient_name)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
		s.ID, s.ShipperID, string(s.Marketplace.Code), s.PaymentType, string(shipTo), string(shipFrom),
		s.RecipientMobile, int(s.MobileState), strings.ToLower(s.ShipTo.Email), buyer, s.BuyerMobile,
		s.Preferences.ConfidentialAddress, s.Preferences.GiftRegistry, string(warnings), micros(s.CreatedAt), buyerEmail, route.AddressKey(s.ShipTo.AddressLine1, s.ShipTo.PostalCode),
		passcode.Contacts{Mobile: s.RecipientMobile, Email: s.ShipTo.Email, BuyerMobile: s.BuyerMobile, BuyerEmail: buyerEmail}.Set(),
		s.Preferences.Signature, s.Preferences.MinimumAge, s.TypedSignatureRefused, handoff.NormaliseName(s.ShipTo.Name)); err != nil {
		return handoff.Internal(err, "insert shipment")
	}
	loc := tracking.Location{City: s.ShipFrom.City, StateOrRegion: s.ShipFrom.StateOrRegion, PostalCode: s.ShipFrom.PostalCode, CountryCode: s.ShipFrom.CountryCode}
	for i, p := range s.Packages {
		// Each parcel is inserted with its first event already counted
		// (last_seq 1) and summed up, so that event is written as it is,
		// without the UPDATE that appendEvent would make of the new row.
		first := tracking.Event{Code: tracking.ReadyForReceive, Time: s.CreatedAt, Location: loc, Actor: s.ShipperID, Note: "Label created"}
		status, _ := tracking.StatusOf(first.Code)
		c, _ := json.Marshal(contents{Weight: p.Weight, Dimensions: p.Dimensions, Items: p.Items})
		if _, err := d.txExec(ctx, tx, `INSERT INTO packages (tracking_id, shipment_id, shipper_id, position, client_ref, insured_minor, currency,
			contents, otp_required, otp_reasons, bag_required, bag_reasons, status, detail, last_seq, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, '', 1, $14, $14)`,
			p.TrackingID, s.ID, s.ShipperID, i, p.ClientRef, p.InsuredValue.Minor, p.InsuredValue.Currency, string(c),
			p.Decision.OTPRequired, strings.Join(p.Decision.OTPReasons, ","), p.Decision.BagRequired, strings.Join(p.Decision.BagReasons, ","),
			status, micros(s.CreatedAt)); err != nil {
			return handoff.Internal(err, "insert package")
		}
		if err := d.logEvents(ctx, tx, p.TrackingID, 1, hooks, first); err != nil {
			return err
		}
	}
	return nil
}

// appendEvent adds an event to a parcel: it bumps the parcel's sequence and
// summary with one UPDATE (which also locks the row on PostgreSQL) and inserts
// the event with the number it got. It returns the event's sequence number.
func (d *DB) appendEvent(ctx context.Context, tx *sql.Tx, trackingID string, e tracking.Event) (int, error) {
	return d.appendEventMoving(ctx, tx, trackingID, "", "", e)
}

// appendEventMoving is appendEvent that also moves the parcel from stage
// from to stage to in the same UPDATE (when from is not ""), failing with
// ECONFLICT when it is no longer in from (someone else moved it).
func (d *DB) appendEventMoving(ctx context.Context, tx *sql.Tx, trackingID, from, to string, e tracking.Event) (int, error) {
	status, changes := tracking.StatusOf(e.Code)
	// The UPDATE says too whether the parcel's shipper has a webhook, so
	// that the deliveries are looked for only then.
	const returning = ` RETURNING last_seq, EXISTS (SELECT 1 FROM shipper_webhooks w WHERE w.shipper_id = packages.shipper_id AND w.deleted_at = 0)`
	var seq int
	var hooks bool
	var err error
	switch {
	case from != "" && changes:
		err = d.txQueryRow(ctx, tx, `UPDATE packages SET stage = $1, last_seq = last_seq + 1, status = $2, detail = $3, updated_at = $4
			WHERE tracking_id = $5 AND stage = $6`+returning, to, status, e.Detail, micros(e.Time), trackingID, from).Scan(&seq, &hooks)
	case from != "":
		err = d.txQueryRow(ctx, tx, `UPDATE packages SET stage = $1, last_seq = last_seq + 1, updated_at = $2
			WHERE tracking_id = $3 AND stage = $4`+returning, to, micros(e.Time), trackingID, from).Scan(&seq, &hooks)
	case changes:
		err = d.txQueryRow(ctx, tx, `UPDATE packages SET last_seq = last_seq + 1, status = $1, detail = $2, updated_at = $3
			WHERE tracking_id = $4`+returning, status, e.Detail, micros(e.Time), trackingID).Scan(&seq, &hooks)
	default:
		err = d.txQueryRow(ctx, tx, `UPDATE packages SET last_seq = last_seq + 1, updated_at = $1
			WHERE tracking_id = $2`+returning, micros(e.Time), trackingID).Scan(&seq, &hooks)
	}
	if errors.Is(err, sql.ErrNoRows) {
		if from != "" {
			return 0, handoff.Errorf(handoff.ECONFLICT, "The parcel was changed by someone else; try again.")
		}
		return 0, handoff.NotFound("Package")
	}
	if err != nil {
		return 0, handoff.Internal(err, "bump package sequence")
	}
	return seq, d.logEvents(ctx, tx, trackingID, seq, hooks, e)
}

// logEvents inserts a parcel's events, numbered from first on, in one
// statement, and queues their webhook deliveries when the parcel's shipper
// has webhooks (hooks).
func (d *DB) logEvents(ctx context.Context, tx *sql.Tx, trackingID string, first int, hooks bool, es ...tracking.Event) error {
	rows := make([][]any, len(es))
	for i, e := range es {
		rows[i] = []any{trackingID, first + i, e.Code, e.Detail, micros(e.Time), e.Location.City, e.Location.StateOrRegion, e.Location.PostalCode,
			e.Location.CountryCode, e.Actor, e.Note}
	}
	if err := d.insertRows(ctx, tx, `INSERT INTO events (tracking_id, seq, code, detail, at, city, state_or_region, postal_code, country_code, actor, note) VALUES `,
		rows, ""); err != nil {
		return handoff.Internal(err, "insert event")
	}
	if !hooks {
		return nil
	}
	for i, e := range es {
		if err := d.queueWebhooks(ctx, tx, trackingID, first+i, e); err != nil {
			return err
		}
	}
	return nil
}

// FindShipment implements handoff.ShipmentService.
func (d *DB) FindShipment(ctx context.Context, shipperID, shipmentID string) (*handoff.Shipment, error) {
	var s handoff.Shipment
	var mkt, shipTo, shipFrom, buyer, warnings string
	var mobileState int
	var created int64
	err := d.db.QueryRowContext(ctx, `SELECT id, shipper_id, marketplace, payment_type, ship_to, ship_from, recipient_mobile, mobile_state,
		buyer, buyer_mobile, confidential_address, gift_registry, warnings, created_at, signature_required, minimum_age, typed_signature_refused
		FROM shipments WHERE id = $1 AND shipper_id = $2`, shipmentID, shipperID).Scan(
		&s.ID, &s.ShipperID, &mkt, &s.PaymentType, &shipTo, &shipFrom, &s.RecipientMobile, &mobileState,
		&buyer, &s.BuyerMobile, &s.Preferences.ConfidentialAddress, &s.Preferences.GiftRegistry, &warnings, &created,
		&s.Preferences.Signature, &s.Preferences.MinimumAge, &s.TypedSignatureRefused)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Shipment")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find shipment")
	}
	s.Marketplace, _ = market.Lookup(mkt)
	s.MobileState = eligibility.MobileState(mobileState)
	s.CreatedAt = fromMicros(created)
	json.Unmarshal([]byte(shipTo), &s.ShipTo)
	json.Unmarshal([]byte(shipFrom), &s.ShipFrom)
	json.Unmarshal([]byte(warnings), &s.Warnings)
	if buyer != "" {
		s.Gift = &handoff.Party{}
		json.Unmarshal([]byte(buyer), s.Gift)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT `+packageCols+` FROM packages WHERE shipment_id = $1 ORDER BY position`, s.ID)
	if err != nil {
		return nil, handoff.Internal(err, "find packages")
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanPackage(rows)
		if err != nil {
			return nil, handoff.Internal(err, "scan package")
		}
		s.Packages = append(s.Packages, *p)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "find packages")
	}
	return &s, nil
}

const packageCols = `tracking_id, client_ref, insured_minor, currency, contents, otp_required, otp_reasons, bag_required, bag_reasons, status, detail, updated_at`

func scanPackage(row interface{ Scan(...any) error }) (*handoff.Package, error) {
	var p handoff.Package
	var cur, cont, otpReasons, bagReasons string
	var updated int64
	if err := row.Scan(&p.TrackingID, &p.ClientRef, &p.InsuredValue.Minor, &cur, &cont, &p.Decision.OTPRequired, &otpReasons,
		&p.Decision.BagRequired, &bagReasons, &p.Status, &p.Detail, &updated); err != nil {
		return nil, err
	}
	p.InsuredValue = money.Amount{Minor: p.InsuredValue.Minor, Currency: cur}
	p.Decision.OTPReasons = splitList(otpReasons)
	p.Decision.BagReasons = splitList(bagReasons)
	p.UpdatedAt = fromMicros(updated)
	var c contents
	json.Unmarshal([]byte(cont), &c)
	p.Weight, p.Dimensions, p.Items = c.Weight, c.Dimensions, c.Items
	return &p, nil
}

func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// ListPackages implements handoff.ShipmentService.
func (d *DB) ListPackages(ctx context.Context, f handoff.ShipmentFilter) ([]handoff.PackageView, error) {
	limit := f.Limit
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	// The cursor is (created_at, tracking_id) of the last package seen: the
	// packages of one shipment share a time, so the ID breaks the tie.
	before, afterID := int64(1<<62), ""
	if f.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		us, id, ok := strings.Cut(string(b), "_")
		n, perr := strconv.ParseInt(us, 10, 64)
		if err != nil || !ok || perr != nil || len(id) > 64 {
			return nil, handoff.Invalid(handoff.FieldError{Field: "cursor", Message: "is not a cursor this list gave out"})
		}
		before, afterID = n, id
	}
	where, args := packageFilter(f, before, afterID)
	rows, err := d.db.QueryContext(ctx, `SELECT p.tracking_id, p.client_ref, p.insured_minor, p.currency, p.contents, p.otp_required, p.otp_reasons,
		p.bag_required, p.bag_reasons, p.status, p.detail, p.updated_at, s.id, s.ship_to, s.marketplace, p.created_at
		FROM packages p JOIN shipments s ON s.id = p.shipment_id
		WHERE `+where+` ORDER BY p.created_at DESC, p.tracking_id LIMIT `+strconv.Itoa(limit), args...)
	if err != nil {
		return nil, handoff.Internal(err, "list packages")
	}
	defer rows.Close()
	var out []handoff.PackageView
	for rows.Next() {
		var v handoff.PackageView
		var cur, cont, otpReasons, bagReasons, shipTo string
		var updated, created int64
		if err := rows.Scan(&v.TrackingID, &v.ClientRef, &v.InsuredValue.Minor, &cur, &cont, &v.Decision.OTPRequired, &otpReasons,
			&v.Decision.BagRequired, &bagReasons, &v.Status, &v.Detail, &updated, &v.ShipmentID, &shipTo, &v.Marketplace, &created); err != nil {
			return nil, handoff.Internal(err, "scan package")
		}
		v.InsuredValue.Currency = cur
		v.Decision.OTPReasons = splitList(otpReasons)
		v.Decision.BagReasons = splitList(bagReasons)
		v.UpdatedAt, v.CreatedAt = fromMicros(updated), fromMicros(created)
		v.Cursor = base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(created, 10) + "_" + v.TrackingID))
		var a handoff.Address
		json.Unmarshal([]byte(shipTo), &a)
		v.Recipient, v.City, v.PostalCode = a.Name, a.City, a.PostalCode
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "list packages")
	}
	return out, nil
}

// packageFilter returns the WHERE clause of a shipper's package list and its
// arguments: the shipper and the cursor, then each filter that is set. Every
// value travels as an argument; only fixed SQL is joined.
func packageFilter(f handoff.ShipmentFilter, before int64, afterID string) (string, []any) {
	args := []any{f.ShipperID, before, afterID}
	conds := []string{"p.shipper_id = $1", "(p.created_at < $2 OR (p.created_at = $2 AND p.tracking_id > $3))"}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.Status != "" {
		conds = append(conds, "p.status = "+arg(f.Status))
	}
	switch f.Secure {
	case handoff.SecureOTP:
		conds = append(conds, "p.otp_required")
	case handoff.SecureBag:
		conds = append(conds, "p.bag_required")
	case handoff.SecureSignature:
		conds = append(conds, "s.signature_required <> ''")
	case handoff.SecureAge:
		conds = append(conds, "s.minimum_age > 0")
	case handoff.SecureNone:
		conds = append(conds, "NOT p.otp_required AND NOT p.bag_required AND s.signature_required = '' AND s.minimum_age = 0")
	}
	if !f.From.IsZero() {
		conds = append(conds, "p.created_at >= "+arg(micros(f.From)))
	}
	if !f.To.IsZero() {
		conds = append(conds, "p.created_at < "+arg(micros(f.To)))
	}
	if f.Reference != "" {
		// substr rather than LIKE: LIKE ignores case on SQLite, not on
		// PostgreSQL, and a reference's own % or _ would be wildcards.
		conds = append(conds, "substr(p.client_ref, 1, "+arg(utf8.RuneCountInString(f.Reference))+") = "+arg(f.Reference))
	}
	switch m := f.Recipient; {
	case m.Email != "":
		conds = append(conds, "s.recipient_email = "+arg(m.Email))
	case len(m.Mobiles) > 0:
		var in []string
		for _, e164 := range m.Mobiles {
			in = append(in, arg(e164))
		}
		conds = append(conds, "s.recipient_mobile IN ("+strings.Join(in, ", ")+")")
	case m.Name != "":
		// Both sides are lower-cased by Go, so LIKE's case rules on either
		// engine do not matter; the name's own wildcards are escaped.
		esc := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(m.Name)
		conds = append(conds, "s.recipient_name LIKE "+arg("%"+esc+"%")+` ESCAPE '\'`)
	}
	return strings.Join(conds, " AND "), args
}

// Tracking implements handoff.ShipmentService.
func (d *DB) Tracking(ctx context.Context, shipperID, trackingID string) (*handoff.Tracking, error) {
	t := &handoff.Tracking{TrackingID: trackingID}
	err := d.db.QueryRowContext(ctx, `SELECT shipment_id FROM packages WHERE tracking_id = $1 AND shipper_id = $2`, trackingID, shipperID).Scan(&t.ShipmentID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Tracking ID")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find package")
	}
	t.Events, err = listEvents(ctx, d.db, trackingID)
	if err != nil {
		return nil, err
	}
	t.Summary = tracking.Summarize(t.Events)
	return t, nil
}

func listEvents(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, trackingID string) ([]tracking.Event, error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, code, detail, at, city, state_or_region, postal_code, country_code, actor, note
		FROM events WHERE tracking_id = $1 ORDER BY seq`, trackingID)
	if err != nil {
		return nil, handoff.Internal(err, "list events")
	}
	defer rows.Close()
	var out []tracking.Event
	for rows.Next() {
		var e tracking.Event
		var at int64
		if err := rows.Scan(&e.Seq, &e.Code, &e.Detail, &at, &e.Location.City, &e.Location.StateOrRegion, &e.Location.PostalCode,
			&e.Location.CountryCode, &e.Actor, &e.Note); err != nil {
			return nil, handoff.Internal(err, "scan event")
		}
		e.Time = fromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "list events")
	}
	return out, nil
}
