package sqlstore

import (
	"context"
	"crypto/hmac"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/mail"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/phone"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/tracking"
)

// Portal sign-in limits.
const (
	portalLoginTTL     = 10 * time.Minute
	portalSessionTTL   = 12 * time.Hour
	portalRequestLimit = 5 // sign-in requests per contact per window
	portalCodeTries    = 5 // wrong codes per sign-in
	portalSigninWindow = 15 * time.Minute
)

// contacts turns what a person typed into the forms it may be stored in: a
// lower-cased email, or every E.164 reading of a phone number across the
// marketplaces. ok is false for something that is neither.
func contacts(raw string) (forms []string, channel string, ok bool) {
	raw = strings.TrimSpace(raw)
	if len(raw) > 254 {
		return nil, "", false
	}
	if strings.Contains(raw, "@") {
		a, err := mail.ParseAddress(raw)
		if err != nil || a.Address != raw {
			return nil, "", false
		}
		return []string{strings.ToLower(raw)}, ChannelEmail, true
	}
	seen := map[string]bool{}
	for _, m := range market.All() {
		if e, err := phone.Mobile(m.Code, raw); err == nil && !seen[e] {
			seen[e] = true
			forms = append(forms, e)
		}
	}
	return forms, ChannelSMS, len(forms) > 0
}

// contactLookup finds which stored form of a contact has parcels, and the
// language of its newest one; "" when none.
func contactLookup(ctx context.Context, q queryer, forms []string) (contact, lang string, err error) {
	for _, f := range forms {
		var mkt string
		err := q.QueryRowContext(ctx, `SELECT marketplace FROM shipments WHERE recipient_mobile = $1 OR recipient_email = $1 OR buyer_mobile = $1 OR buyer_email = $1
			ORDER BY created_at DESC LIMIT 1`, f).Scan(&mkt)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return "", "", handoff.Internal(err, "find contact")
		}
		m, _ := market.Lookup(mkt)
		return f, m.Language, nil
	}
	return "", "", nil
}

// RequestSignin implements handoff.RecipientService. Whether or not the
// contact is on a label, the same tries are counted and the same answer
// given; only when it is does a message go out.
func (d *DB) RequestSignin(ctx context.Context, raw, baseURL string) error {
	forms, channel, ok := contacts(raw)
	if !ok {
		return handoff.Invalid(handoff.FieldError{Field: "contact", Message: "must be the mobile number or email address on your parcel's label"})
	}
	// Every reading of the number is counted, so typing it another way does
	// not buy more tries.
	for _, f := range forms {
		if err := d.claimGuard(ctx, "portal:"+f, portalRequestLimit, portalSigninWindow); err != nil {
			return handoff.Errorf(handoff.ERATELIMITED, "Too many sign-in requests for this contact; try again in 15 minutes.")
		}
	}
	if d.Keys == nil {
		return handoff.Internal(nil, "no keyring configured")
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		contact, lang, err := contactLookup(ctx, tx, forms)
		if err != nil || contact == "" {
			return err
		}
		token := auth.NewToken()
		code := randomDigits(6)
		kid, mac := d.Keys.MAC("portal-code", []byte(contact), []byte(code))
		now := d.Now()
		id := newID("pl_")
		if _, err := tx.ExecContext(ctx, `INSERT INTO portal_logins (id, contact, token_digest, code_mac, key_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, contact, auth.Digest(token), hex.EncodeToString(mac), kid, micros(now), micros(now.Add(portalLoginTTL))); err != nil {
			return handoff.Internal(err, "insert portal login")
		}
		secret, _ := json.Marshal(map[string]string{"Code": code, "Link": strings.TrimRight(baseURL, "/") + "/portal/in/" + token})
		data, _ := json.Marshal(map[string]any{"sealed": d.Keys.Seal("message/signin", secret, nil)})
		if _, err := tx.ExecContext(ctx, `INSERT INTO notifications (id, dedupe_key, kind, channel, recipient, lang, data, status, next_attempt_at, created_at)
			VALUES ($1, $2, 'signin', $3, $4, $5, $6, 'pending', $7, $7)`, newID("msg_"), "signin|"+id, channel, contact, lang, string(data), micros(now)); err != nil {
			return handoff.Internal(err, "enqueue sign-in")
		}
		return nil
	})
}

// randomDigits returns n uniformly random decimal digits.
func randomDigits(n int) string {
	var b strings.Builder
	for b.Len() < n {
		// auth.Random draws from 32 symbols; keep only the ten digits, which
		// the alphabet lists first, so each digit stays equally likely.
		for _, c := range auth.Random(16) {
			if c >= '0' && c <= '9' && b.Len() < n {
				b.WriteRune(c)
			}
		}
	}
	return b.String()
}

// claimGuard counts one try against key in a fixed window, refusing past
// limit with the time until the window ends; the count lives in
// signin_guard so it holds across nodes. It is one statement, so a row
// pruned meanwhile (see pruneGuards) is simply started again.
func (d *DB) claimGuard(ctx context.Context, key string, limit int, window time.Duration) error {
	now := d.Now()
	var n int
	err := d.writeRow(ctx, []any{&n}, `INSERT INTO signin_guard (account, window_start, failures) VALUES ($1, $3, 1)
		ON CONFLICT (account) DO UPDATE SET
			failures = CASE WHEN signin_guard.window_start <= $2 THEN 1 ELSE signin_guard.failures + 1 END,
			window_start = CASE WHEN signin_guard.window_start <= $2 THEN $3 ELSE signin_guard.window_start END
		WHERE signin_guard.window_start <= $2 OR signin_guard.failures < $4 RETURNING failures`,
		key, micros(now.Add(-window)), micros(now), limit)
	if errors.Is(err, sql.ErrNoRows) {
		e := handoff.Errorf(handoff.ERATELIMITED, "Too many tries; wait a few minutes.")
		var start int64
		if d.db.QueryRowContext(ctx, `SELECT window_start FROM signin_guard WHERE account = $1`, key).Scan(&start) == nil {
			e.RetryAfter = max(fromMicros(start).Add(window).Sub(now), time.Second)
		}
		return e
	}
	if err != nil {
		return handoff.Internal(err, "guard")
	}
	return nil
}

// SigninWithToken implements handoff.RecipientService: the link works once.
func (d *DB) SigninWithToken(ctx context.Context, token string) (string, *handoff.RecipientSession, error) {
	bad := handoff.Errorf(handoff.EUNAUTHORIZED, "This sign-in link has expired or was already used; ask for a new one.")
	if token == "" || len(token) > 100 {
		return "", nil, bad
	}
	var contact string
	err := d.writeRow(ctx, []any{&contact}, `UPDATE portal_logins SET used_at = $1 WHERE token_digest = $2 AND used_at = 0 AND expires_at > $1 RETURNING contact`,
		micros(d.Now()), auth.Digest(token))
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, bad
	}
	if err != nil {
		return "", nil, handoff.Internal(err, "spend sign-in link")
	}
	return d.startRecipientSession(ctx, contact)
}

// SigninWithCode implements handoff.RecipientService. Each wrong code counts
// against the newest live sign-in of the contact; the fifth ends it.
func (d *DB) SigninWithCode(ctx context.Context, raw, code string) (string, *handoff.RecipientSession, error) {
	bad := handoff.Errorf(handoff.EUNAUTHORIZED, "The code is wrong or has expired; ask for a new one.")
	forms, _, ok := contacts(raw)
	code = strings.TrimSpace(code)
	if !ok || len(code) != 6 {
		return "", nil, bad
	}
	now := micros(d.Now())
	for _, contact := range forms {
		var id, macHex, kid string
		err := d.writeRow(ctx, []any{&id, &macHex, &kid}, `UPDATE portal_logins SET attempts = attempts + 1
			WHERE id = (SELECT id FROM portal_logins WHERE contact = $1 AND used_at = 0 AND expires_at > $2 ORDER BY created_at DESC LIMIT 1)
			AND attempts < $3 AND used_at = 0 RETURNING id, code_mac, key_id`, contact, now, portalCodeTries)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return "", nil, handoff.Internal(err, "check sign-in code")
		}
		want, _ := hex.DecodeString(macHex)
		got, ok := d.Keys.MACWith(kid, "portal-code", []byte(contact), []byte(code))
		if !ok || !hmac.Equal(got, want) {
			return "", nil, bad
		}
		res, err := d.exec(ctx, `UPDATE portal_logins SET used_at = $1 WHERE id = $2 AND used_at = 0`, now, id)
		if err != nil {
			return "", nil, handoff.Internal(err, "spend sign-in code")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return "", nil, bad
		}
		return d.startRecipientSession(ctx, contact)
	}
	return "", nil, bad
}

func (d *DB) startRecipientSession(ctx context.Context, contact string) (string, *handoff.RecipientSession, error) {
	token := auth.NewToken()
	now := d.Now()
	s := &handoff.RecipientSession{Contact: contact, ExpiresAt: now.Add(portalSessionTTL)}
	if _, err := d.exec(ctx, `INSERT INTO recipient_sessions (digest, contact, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		auth.Digest(token), contact, micros(now), micros(s.ExpiresAt)); err != nil {
		return "", nil, handoff.Internal(err, "start session")
	}
	return token, s, nil
}

// FindRecipientSession implements handoff.RecipientService.
func (d *DB) FindRecipientSession(ctx context.Context, token string) (*handoff.RecipientSession, error) {
	if token == "" || len(token) > 100 {
		return nil, handoff.Errorf(handoff.EUNAUTHORIZED, "Please sign in.")
	}
	var s handoff.RecipientSession
	var exp int64
	err := d.db.QueryRowContext(ctx, `SELECT contact, expires_at FROM recipient_sessions WHERE digest = $1 AND expires_at > $2`,
		auth.Digest(token), micros(d.Now())).Scan(&s.Contact, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.Errorf(handoff.EUNAUTHORIZED, "Please sign in.")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find session")
	}
	s.ExpiresAt = fromMicros(exp)
	return &s, nil
}

// EndRecipientSession implements handoff.RecipientService.
func (d *DB) EndRecipientSession(ctx context.Context, token string) error {
	if _, err := d.exec(ctx, `DELETE FROM recipient_sessions WHERE digest = $1`, auth.Digest(token)); err != nil {
		return handoff.Internal(err, "end session")
	}
	return nil
}

// RecipientParcels implements handoff.RecipientService. Today's code is shown
// for an OTP parcel on a route of today that is still open; the gift buyer
// sees the gift's code.
func (d *DB) RecipientParcels(ctx context.Context, contact string) ([]handoff.RecipientParcel, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT p.tracking_id, pr.name, s.ship_to, p.status, p.detail, p.otp_required, p.stage, p.route_id,
		s.recipient_mobile, s.code_set, s.marketplace, p.updated_at, (s.recipient_mobile = $1 OR s.recipient_email = $1)
		FROM packages p JOIN shipments s ON s.id = p.shipment_id JOIN principals pr ON pr.id = p.shipper_id
		WHERE s.recipient_mobile = $1 OR s.recipient_email = $1 OR s.buyer_mobile = $1 OR s.buyer_email = $1
		ORDER BY p.created_at DESC, p.tracking_id LIMIT 200`, contact)
	if err != nil {
		return nil, handoff.Internal(err, "recipient parcels")
	}
	type row struct {
		handoff.RecipientParcel
		stage, routeID, mobile, codeSet, mkt string
	}
	var list []row
	for rows.Next() {
		var r row
		var shipTo, detail string
		var updated int64
		var own bool
		if err := rows.Scan(&r.TrackingID, &r.ShipperName, &shipTo, &r.Status, &detail, &r.OTPRequired, &r.stage, &r.routeID,
			&r.mobile, &r.codeSet, &r.mkt, &updated, &own); err != nil {
			rows.Close()
			return nil, handoff.Internal(err, "scan parcel")
		}
		var a handoff.Address
		json.Unmarshal([]byte(shipTo), &a)
		r.Recipient, r.City, r.AsBuyer = a.Name, a.City, !own
		r.StatusText = tracking.Describe(r.Status, detail)
		r.UpdatedAt = fromMicros(updated)
		list = append(list, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "recipient parcels")
	}
	out := []handoff.RecipientParcel{}
	for _, r := range list {
		if r.Events, err = listEvents(ctx, d.db, r.TrackingID); err != nil {
			return nil, err
		}
		bags, err := d.bagsWhere(ctx, `tracking_id = $1 AND state <> $2`, r.TrackingID, handoff.BagVoided)
		if err != nil {
			return nil, err
		}
		for _, b := range bags {
			r.BagIDs = append(r.BagIDs, b.Printed)
		}
		if r.OTPRequired && r.mobile != "" && (r.stage == handoff.StageOut || r.stage == handoff.StageRouted) && r.routeID != "" {
			var date, state string
			err := d.db.QueryRowContext(ctx, `SELECT r.service_date, st.otp_state FROM routes r JOIN route_parcels rp ON rp.route_id = r.id
				JOIN stops st ON st.id = rp.stop_id WHERE r.id = $1 AND rp.tracking_id = $2`, r.routeID, r.TrackingID).Scan(&date, &state)
			if err == nil && date == d.today(r.mkt) && state == handoff.OTPPending {
				// The code of this parcel's own label: the query above found
				// it because the label names this contact.
				if r.Passcode, err = d.Passcode(ctx, r.codeSet, date); err != nil {
					return nil, err
				}
				r.ServiceDate = date
			}
		}
		out = append(out, r.RecipientParcel)
	}
	return out, nil
}

// RecipientPrefs implements handoff.RecipientService: the person's choices,
// as last saved through any of their contacts.
func (d *DB) RecipientPrefs(ctx context.Context, contact string) (handoff.RecipientPrefs, error) {
	var p handoff.RecipientPrefs
	cs, err := linkedContacts(ctx, d.db, contact)
	if err != nil {
		return p, err
	}
	args := make([]any, len(cs))
	for i, c := range cs {
		args[i] = c
	}
	err = d.db.QueryRowContext(ctx, `SELECT photo_opt_out, key_delivery FROM recipient_prefs WHERE contact IN (`+placeholders(1, len(cs))+`)
		ORDER BY updated_at DESC, contact LIMIT 1`, args...).Scan(&p.PhotoOptOut, &p.KeyDelivery)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return p, handoff.Internal(err, "read prefs")
	}
	return p, nil
}

// SetRecipientPrefs implements handoff.RecipientService: the choices are
// saved for each of the person's contacts, so that a delivery to a label
// naming either one honours them.
func (d *DB) SetRecipientPrefs(ctx context.Context, contact string, p handoff.RecipientPrefs) error {
	cs, err := linkedContacts(ctx, d.db, contact)
	if err != nil {
		return err
	}
	return d.tx(ctx, func(tx *sql.Tx) error {
		for _, c := range cs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO recipient_prefs (contact, photo_opt_out, key_delivery, updated_at) VALUES ($1, $2, $3, $4)
				ON CONFLICT (contact) DO UPDATE SET photo_opt_out = excluded.photo_opt_out, key_delivery = excluded.key_delivery, updated_at = excluded.updated_at`,
				c, p.PhotoOptOut, p.KeyDelivery, micros(d.Now())); err != nil {
				return handoff.Internal(err, "save prefs")
			}
		}
		return nil
	})
}

// PublicStatus implements handoff.RecipientService.
func (d *DB) PublicStatus(ctx context.Context, trackingID string) (string, string, error) {
	var status, detail string
	err := d.db.QueryRowContext(ctx, `SELECT status, detail FROM packages WHERE tracking_id = $1`, strings.ToUpper(strings.TrimSpace(trackingID))).Scan(&status, &detail)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", handoff.NotFound("Tracking ID")
	}
	if err != nil {
		return "", "", handoff.Internal(err, "public status")
	}
	// The detail may say how or where it was delivered, which is the
	// recipient's business: the public sees the status only.
	return status, tracking.Describe(status, ""), nil
}

// PublicTracking implements handoff.RecipientService.
func (d *DB) PublicTracking(ctx context.Context, trackingID string) (*handoff.PublicParcel, error) {
	id := strings.ToUpper(strings.TrimSpace(trackingID))
	p := &handoff.PublicParcel{TrackingID: id}
	var stage, routeID, lastAttempt, bagID string
	err := d.db.QueryRowContext(ctx, `SELECT p.status, p.otp_required, p.bag_id, p.bag_required, p.stage, p.route_id, p.last_attempt_date, s.marketplace
		FROM packages p JOIN shipments s ON s.id = p.shipment_id WHERE p.tracking_id = $1`, id).
		Scan(&p.Status, &p.NeedsCode, &bagID, &p.Bagged, &stage, &routeID, &lastAttempt, &p.Market)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Tracking ID")
	}
	if err != nil {
		return nil, handoff.Internal(err, "public tracking")
	}
	p.Bagged = p.Bagged || bagID != ""
	events, err := listEvents(ctx, d.db, id)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		p.Events = append(p.Events, tracking.Event{Code: e.Code, Time: e.Time,
			Location: tracking.Location{City: e.Location.City, StateOrRegion: e.Location.StateOrRegion, CountryCode: e.Location.CountryCode}})
	}
	switch stage {
	case handoff.StageRouted, handoff.StageOut:
		var minute int
		err := d.db.QueryRowContext(ctx, `SELECT r.service_date, st.planned_minute FROM routes r JOIN route_parcels rp ON rp.route_id = r.id
			JOIN stops st ON st.id = rp.stop_id WHERE r.id = $1 AND rp.tracking_id = $2`, routeID, id).Scan(&p.ExpectedDate, &minute)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, handoff.Internal(err, "public tracking route")
		}
		if err == nil {
			from, to := route.Window(minute)
			p.WindowFrom, p.WindowTo = route.FormatClock(from), route.FormatClock(to)
		}
	case handoff.StageAwaitingReturn, handoff.StageStation:
		if p.Status == tracking.StatusDeliveryAttempted && lastAttempt != "" {
			p.NextAttemptDate = d.Policy.WorkingDays.NextAfter(lastAttempt)
		}
	}
	return p, nil
}

// linkedContacts returns the contact and the contacts that labels name
// together with it as the recipient's (its email for a phone, its phone for
// an email): one person's contacts, as handoff.RecipientSession explains.
// A gift buyer's contacts link to nothing: the buyer is another person.
func linkedContacts(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, contact string) ([]string, error) {
	out := []string{contact}
	rows, err := q.QueryContext(ctx, `SELECT DISTINCT recipient_email FROM shipments WHERE recipient_mobile = $1 AND recipient_email <> ''
		UNION SELECT DISTINCT recipient_mobile FROM shipments WHERE recipient_email = $1 AND recipient_mobile <> '' LIMIT 20`, contact)
	if err != nil {
		return nil, handoff.Internal(err, "linked contacts")
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, handoff.Internal(err, "linked contacts")
		}
		if c != contact {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}
