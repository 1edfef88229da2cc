package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/garage"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/tracking"
)

// GarageSettings bound in-garage delivery.
type GarageSettings struct {
	Timeouts     garage.Timeouts
	GrantTTL     time.Duration // a grant must be used (opened) within this
	OpenWithin   time.Duration // the door must read open within this
	CloseWithin  time.Duration // … and closed within this, or the alert goes out
	PollInterval time.Duration
	NearMeters   float64 // the associate must be this close, when both positions are known
	Simulators   *garage.Simulators
}

// DefaultGarageSettings are five-minute grants, 30 s to open, 60 s to close,
// and 250 m of the address.
func DefaultGarageSettings() GarageSettings {
	return GarageSettings{Timeouts: garage.DefaultTimeouts, GrantTTL: 5 * time.Minute, OpenWithin: 30 * time.Second,
		CloseWithin: 60 * time.Second, PollInterval: time.Second, NearMeters: 250, Simulators: garage.NewSimulators()}
}

// Tracking codes of garage steps; they record facts without changing status.
const (
	EventGarageRequested   = tracking.GarageAccessRequested
	EventGarageOpened      = tracking.GarageOpened
	EventGarageClosed      = tracking.GarageClosed
	EventGarageFailed      = tracking.GarageAccessFailed
	EventGarageCloseFailed = tracking.GarageCloseFailed
	EventGarageRevoked     = tracking.GarageAccessRevoked
)

// CaseGarage is the kind of case a door that did not close opens.
const CaseGarage = handoff.CaseGarage

// MsgGarage is the message kind of garage steps.
const MsgGarage = "garage"

func (d *DB) sealGarage(id string, c garage.Config) string {
	b, _ := json.Marshal(c)
	return d.Keys.Seal("garage", b, []byte(id))
}

func (d *DB) device(id, sealed string) (garage.Device, error) {
	b, err := d.Keys.Open("garage", sealed, []byte(id))
	if err != nil {
		return nil, handoff.Internal(err, "open garage credentials")
	}
	var c garage.Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, handoff.Internal(err, "garage config")
	}
	return garage.New(c, d.Garage.Timeouts, d.Garage.Simulators)
}

// EnrollGarage implements handoff.GarageService. The door's state is read
// once before anything is stored, so a recipient learns at once when the
// details are wrong.
func (d *DB) EnrollGarage(ctx context.Context, contact string, in handoff.GarageEnrollment) (*handoff.Garage, error) {
	var fe handoff.FieldErrors
	line, required := handoff.Text{}, handoff.Text{Required: true}
	required.Check(&fe, "label", &in.Label)
	required.Check(&fe, "addressLine1", &in.AddressLine1)
	required.Check(&fe, "postalCode", &in.PostalCode)
	line.Check(&fe, "deviceKey", &in.DeviceKey)
	line.Check(&fe, "token", &in.Token)
	line.Check(&fe, "entityId", &in.EntityID)
	cfg := garage.Config{Kind: in.Kind, URL: strings.TrimSpace(in.URL), DeviceKey: in.DeviceKey, Token: in.Token, EntityID: in.EntityID, SimulatorID: in.SimulatorID}
	switch in.Kind {
	case garage.KindOpenGarage, garage.KindHomeAssistant:
		if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fe.Add("url", "must be the device's http(s) address")
		}
	case garage.KindSimulator:
		if cfg.SimulatorID == "" {
			cfg.SimulatorID = newID("sim_")
		}
	default:
		fe.Add("kind", "must be opengarage, homeassistant or simulator")
	}
	if (in.Lat == nil) != (in.Lon == nil) || (in.Lat != nil && !(math.Abs(*in.Lat) <= 90 && math.Abs(*in.Lon) <= 180)) {
		fe.Add("lat", "give both lat and lon, in degrees")
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	dev, err := garage.New(cfg, d.Garage.Timeouts, d.Garage.Simulators)
	if err != nil {
		return nil, handoff.Invalid(handoff.FieldError{Field: "kind", Message: err.Error()})
	}
	state, err := dev.State(ctx)
	if err != nil || state == garage.Unknown {
		return nil, handoff.Errorf(handoff.EUNAVAILABLE, "The garage opener did not answer with its door state; check the address and credentials.")
	}
	if c, ok := dev.(garage.Checker); ok {
		if err := c.CheckCredentials(ctx); err != nil {
			return nil, handoff.Invalid(handoff.FieldError{Field: "deviceKey", Message: "was refused by the opener"})
		}
	}
	g := &handoff.Garage{ID: newID("gar_"), Kind: in.Kind, Label: strings.TrimSpace(in.Label), AddressLine1: strings.TrimSpace(in.AddressLine1),
		PostalCode: strings.TrimSpace(in.PostalCode), HasPosition: in.Lat != nil, CreatedAt: d.Now()}
	var lat, lon int64
	if in.Lat != nil {
		lat, lon = int64(*in.Lat*1e6), int64(*in.Lon*1e6)
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO garages (id, contact, kind, label, address_line1, postal_code, address_key, sealed_config,
			lat_e6, lon_e6, has_position, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			g.ID, contact, g.Kind, g.Label, g.AddressLine1, g.PostalCode, route.AddressKey(g.AddressLine1, g.PostalCode), d.sealGarage(g.ID, cfg),
			lat, lon, g.HasPosition, micros(g.CreatedAt)); err != nil {
			return handoff.Internal(err, "enrol garage")
		}
		return garageEvent(ctx, tx, g.ID, "", "enrolled", "door reads "+string(state), g.CreatedAt)
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

func garageEvent(ctx context.Context, tx *sql.Tx, garageID, grantID, step, detail string, at time.Time) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO garage_events (id, garage_id, grant_id, step, detail, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		newID("ge_"), garageID, grantID, step, detail, micros(at)); err != nil {
		return handoff.Internal(err, "garage log")
	}
	return nil
}

// ownGarage returns the sealed config of one of the contact's openers.
func (d *DB) ownGarage(ctx context.Context, contact, garageID string) (string, error) {
	var sealed string
	err := d.db.QueryRowContext(ctx, `SELECT sealed_config FROM garages WHERE id = $1 AND contact = $2 AND removed_at = 0`, garageID, contact).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", handoff.NotFound("Garage")
	}
	if err != nil {
		return "", handoff.Internal(err, "find garage")
	}
	return sealed, nil
}

// TestGarage implements handoff.GarageService.
func (d *DB) TestGarage(ctx context.Context, contact, garageID string) (string, error) {
	sealed, err := d.ownGarage(ctx, contact, garageID)
	if err != nil {
		return "", err
	}
	dev, err := d.device(garageID, sealed)
	if err != nil {
		return "", err
	}
	state, err := dev.State(ctx)
	detail := "door reads " + string(state)
	if err != nil {
		state, detail = garage.Unknown, "no answer"
	}
	d.tx(ctx, func(tx *sql.Tx) error { return garageEvent(ctx, tx, garageID, "", "tested", detail, d.Now()) })
	return string(state), nil
}

// RecipientGarages implements handoff.GarageService.
func (d *DB) RecipientGarages(ctx context.Context, contact string) ([]handoff.Garage, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, kind, label, address_line1, postal_code, key_delivery, has_position, created_at
		FROM garages WHERE contact = $1 AND removed_at = 0 ORDER BY created_at, id`, contact)
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

// revokeGrants revokes every live grant of a garage, in the caller's
// transaction: a grant not yet opened can then never open, one opening
// closes its door at once, and one whose door is open is reported back so
// the caller closes the door after commit.
func (d *DB) revokeGrants(ctx context.Context, tx *sql.Tx, garageID, why string) (openDoors []string, err error) {
	rows, err := tx.QueryContext(ctx, `UPDATE garage_grants SET state = $1 WHERE garage_id = $2 AND state IN ($3, $4, $5)
		RETURNING id, tracking_ids, opened_at`, handoff.GrantRevoked, garageID, handoff.GrantPending, handoff.GrantOpening, handoff.GrantOpen)
	if err != nil {
		return nil, handoff.Internal(err, "revoke grants")
	}
	type revoked struct {
		id, parcels string
		opened      int64
	}
	var grants []revoked
	for rows.Next() {
		var g revoked
		if err := rows.Scan(&g.id, &g.parcels, &g.opened); err != nil {
			rows.Close()
			return nil, handoff.Internal(err, "revoke grants")
		}
		grants = append(grants, g)
	}
	rows.Close()
	for _, g := range grants {
		if g.opened > 0 {
			openDoors = append(openDoors, g.id)
		}
		if err := garageEvent(ctx, tx, garageID, g.id, "revoked", why, d.Now()); err != nil {
			return nil, err
		}
		for _, t := range strings.Split(g.parcels, ",") {
			if _, err := d.appendEvent(ctx, tx, t, tracking.Event{Code: EventGarageRevoked, Time: d.Now(), Actor: "recipient", Note: "Garage access withdrawn: " + why}); err != nil {
				return nil, err
			}
		}
	}
	return openDoors, nil
}

// shutDoors closes the doors of grants that were open when they ended
// (revoked, expired) and confirms it; a door that will not close raises the
// same alert and case as at a delivery. It runs after the transaction that
// ended the grants, so the recipient's switch takes effect even if a door
// does not answer.
func (d *DB) shutDoors(ctx context.Context, garageID, sealed string, grantIDs []string, why string) {
	if len(grantIDs) == 0 {
		return
	}
	dev, err := d.device(garageID, sealed)
	if err == nil {
		if err = dev.Close(ctx); err == nil {
			err = garage.Confirm(ctx, dev, garage.Closed, d.Garage.CloseWithin, d.Garage.PollInterval)
		}
	}
	d.tx(ctx, func(tx *sql.Tx) error {
		for _, id := range grantIDs {
			var parcels string
			tx.QueryRowContext(ctx, `SELECT tracking_ids FROM garage_grants WHERE id = $1`, id).Scan(&parcels)
			ids := strings.Split(parcels, ",")
			if err == nil {
				if e := garageEvent(ctx, tx, garageID, id, "closed", "closed by the server: "+why, d.Now()); e != nil {
					return e
				}
				continue
			}
			d.Log.Error("garage door did not close after its access ended", "grant_id", id, "err", err)
			if _, e := tx.ExecContext(ctx, `UPDATE garage_grants SET state = $1 WHERE id = $2`, handoff.GrantCloseFailed, id); e != nil {
				return handoff.Internal(e, "garage state")
			}
			if e := garageEvent(ctx, tx, garageID, id, "close_failed", "the door did not close after "+why, d.Now()); e != nil {
				return e
			}
			for _, t := range ids {
				if _, e := d.appendEvent(ctx, tx, t, tracking.Event{Code: EventGarageCloseFailed, Time: d.Now(), Actor: "system", Note: "The garage door did not close"}); e != nil {
					return e
				}
			}
			if e := d.enqueue(ctx, tx, MsgGarage, id+"|close_failed", ids, map[string]any{"note": "close_failed"}, ""); e != nil {
				return e
			}
			if e := openCase(ctx, tx, CaseGarage, ids[0], "system", d.Now(), "Garage door did not close after its access ended (grant "+id+")"); e != nil {
				return e
			}
		}
		return nil
	})
}

// RemoveGarage implements handoff.GarageService. Open doors are closed
// before the credentials are wiped, while the server can still reach them.
func (d *DB) RemoveGarage(ctx context.Context, contact, garageID string) error {
	sealed, err := d.ownGarage(ctx, contact, garageID)
	if err != nil {
		return err
	}
	var open []string
	err = d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE garages SET key_delivery = FALSE WHERE id = $1`, garageID); err != nil {
			return handoff.Internal(err, "remove garage")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM garage_parcels WHERE garage_id = $1`, garageID); err != nil {
			return handoff.Internal(err, "remove garage")
		}
		open, err = d.revokeGrants(ctx, tx, garageID, "opener removed")
		return err
	})
	if err != nil {
		return err
	}
	d.shutDoors(ctx, garageID, sealed, open, "the opener was removed")
	if _, err := d.db.ExecContext(ctx, `UPDATE garages SET removed_at = $1, sealed_config = '' WHERE id = $2`, micros(d.Now()), garageID); err != nil {
		return handoff.Internal(err, "remove garage")
	}
	return nil
}

// SetKeyDelivery implements handoff.GarageService. Switching off revokes in
// the same transaction, so a request after it is refused even if it started
// before, and a door left open under a grant is closed at once.
func (d *DB) SetKeyDelivery(ctx context.Context, contact, garageID string, on bool) error {
	sealed, err := d.ownGarage(ctx, contact, garageID)
	if err != nil {
		return err
	}
	var open []string
	err = d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE garages SET key_delivery = $1 WHERE id = $2`, on, garageID); err != nil {
			return handoff.Internal(err, "key delivery")
		}
		if on {
			return garageEvent(ctx, tx, garageID, "", "key_delivery_on", "", d.Now())
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM garage_parcels WHERE garage_id = $1`, garageID); err != nil {
			return handoff.Internal(err, "key delivery")
		}
		if err := garageEvent(ctx, tx, garageID, "", "key_delivery_off", "", d.Now()); err != nil {
			return err
		}
		open, err = d.revokeGrants(ctx, tx, garageID, "key delivery switched off by the recipient")
		return err
	})
	if err != nil {
		return err
	}
	d.shutDoors(ctx, garageID, sealed, open, "key delivery was switched off")
	return nil
}

// SetParcelKeyDelivery implements handoff.GarageService.
func (d *DB) SetParcelKeyDelivery(ctx context.Context, contact, trackingID, garageID string, on bool) error {
	sealed, err := d.ownGarage(ctx, contact, garageID)
	if err != nil {
		return err
	}
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM packages p JOIN shipments s ON s.id = p.shipment_id
		WHERE p.tracking_id = $1 AND (s.recipient_mobile = $2 OR s.recipient_email = $2)`, trackingID, contact).Scan(&n); err != nil {
		return handoff.Internal(err, "find parcel")
	}
	if n == 0 {
		return handoff.NotFound("Parcel")
	}
	var open []string
	err = d.tx(ctx, func(tx *sql.Tx) error {
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
		open, err = d.revokeGrants(ctx, tx, garageID, "key delivery switched off for "+trackingID)
		return err
	})
	if err != nil {
		return err
	}
	d.shutDoors(ctx, garageID, sealed, open, "key delivery was switched off")
	return nil
}

// GarageLog implements handoff.GarageService.
func (d *DB) GarageLog(ctx context.Context, contact string) ([]handoff.GarageEvent, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT e.garage_id, e.grant_id, e.step, e.detail, e.at FROM garage_events e JOIN garages g ON g.id = e.garage_id
		WHERE g.contact = $1 ORDER BY e.at DESC, e.id DESC LIMIT 200`, contact)
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

// garageParcel is a parcel of a stop that may go into a garage.
type garageParcel struct {
	trackingID, garageID, sealed string
	otp, otpOK, bagged, scanned  bool
	hasPos                       bool
	lat, lon                     int64
}

// garageParcels lists the stop's open parcels whose recipient has an opener
// at the address with key delivery on, for everything or for that parcel.
func (d *DB) garageParcels(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, stopID string) ([]garageParcel, error) {
	rows, err := q.QueryContext(ctx, `SELECT rp.tracking_id, g.id, g.sealed_config, p.otp_required, ss.body, p.bag_id <> '', rp.bag_scanned,
		g.has_position, g.lat_e6, g.lon_e6
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
		if err := rows.Scan(&g.trackingID, &g.garageID, &g.sealed, &g.otp, &body, &g.bagged, &g.scanned, &g.hasPos, &g.lat, &g.lon); err != nil {
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

// SweepGarageGrants ends grants past their time: a pending one simply
// expires, and an open door whose associate never asked to close it within
// the grant's time is closed by the server (and alerted on if it will not
// close). The parcels of such a grant are not delivered: nobody confirmed
// them. Safe on several nodes: each grant is taken by a conditional UPDATE.
func (d *DB) SweepGarageGrants(ctx context.Context) (int, error) {
	now := d.Now()
	if _, err := d.db.ExecContext(ctx, `UPDATE garage_grants SET state = $1 WHERE state = $2 AND expires_at <= $3`,
		handoff.GrantExpired, handoff.GrantPending, micros(now)); err != nil {
		return 0, handoff.Internal(err, "expire grants")
	}
	rows, err := d.db.QueryContext(ctx, `UPDATE garage_grants SET state = $1 WHERE state = $2 AND expires_at <= $3 RETURNING id, garage_id`,
		handoff.GrantExpired, handoff.GrantOpen, micros(now))
	if err != nil {
		return 0, handoff.Internal(err, "expire grants")
	}
	type grant struct{ id, garage string }
	var expired []grant
	for rows.Next() {
		var g grant
		if err := rows.Scan(&g.id, &g.garage); err != nil {
			rows.Close()
			return 0, handoff.Internal(err, "expire grants")
		}
		expired = append(expired, g)
	}
	rows.Close()
	for _, g := range expired {
		var sealed string
		d.db.QueryRowContext(ctx, `SELECT sealed_config FROM garages WHERE id = $1`, g.garage).Scan(&sealed)
		d.shutDoors(ctx, g.garage, sealed, []string{g.id}, "the access expired")
	}
	return len(expired), nil
}

// metersBetween is the great-circle distance of two positions.
func metersBetween(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371000.0
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := (lat2-lat1)*math.Pi/180, (lon2-lon1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Atan2(math.Sqrt(a), math.Sqrt(1-a))
}

// OpenGarage implements handoff.GarageService. The checks come first; then a
// pending grant is written in the same transaction that re-reads that key
// delivery is on; then the grant moves pending -> opening by a conditional
// UPDATE, which a revocation in between makes fail. The server itself opens
// the door and confirms it reads open; if the grant was revoked while the
// door moved, it closes it again at once.
func (d *DB) OpenGarage(ctx context.Context, da *handoff.Principal, stopID string, pos *handoff.Position) (*handoff.GarageGrant, error) {
	s, err := d.outStop(ctx, da, stopID)
	if err != nil {
		return nil, err
	}
	if err := d.garageSettled(ctx, s.id); err != nil {
		return nil, err
	}
	if m := localMinute(d.Now(), s.market); !d.Policy.ContactHours.Contains(m) {
		return nil, handoff.Errorf(handoff.EPRECONDITION, "Garages are opened only in the delivery window (%s local time).", d.Policy.ContactHours)
	}
	gps, err := d.garageParcels(ctx, d.db, s.id)
	if err != nil {
		return nil, err
	}
	if len(gps) == 0 {
		return nil, handoff.Errorf(handoff.EPRECONDITION, "Key delivery is not on for any open parcel at this stop.")
	}
	g := gps[0]
	var ids []string
	for _, p := range gps {
		if p.garageID != g.garageID || !p.otpOK {
			continue
		}
		if p.bagged && !p.scanned {
			return nil, handoff.Errorf(handoff.EPRECONDITION, "Scan the tamper-evident bag of %s before opening the garage.", p.trackingID)
		}
		ids = append(ids, p.trackingID)
	}
	if len(ids) == 0 {
		return nil, handoff.Errorf(handoff.EPRECONDITION, "The parcels here need the passcode: garage delivery does not replace it for this shipper.")
	}
	if pos != nil && !(math.Abs(pos.Lat) <= 90 && math.Abs(pos.Lon) <= 180) {
		return nil, handoff.Invalid(handoff.FieldError{Field: "lat", Message: "is not a position in degrees"})
	}
	if pos != nil && g.hasPos {
		if metersBetween(pos.Lat, pos.Lon, float64(g.lat)/1e6, float64(g.lon)/1e6) > d.Garage.NearMeters {
			return nil, handoff.Errorf(handoff.EFORBIDDEN, "You are not at the delivery address.")
		}
	}
	now := d.Now()
	grant := &handoff.GarageGrant{ID: newID("gg_"), StopID: s.id, State: handoff.GrantPending, TrackingIDs: ids, Delivered: []string{},
		ExpiresAt: now.Add(d.Garage.GrantTTL)}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO garage_grants (id, garage_id, associate_id, stop_id, tracking_ids, state, created_at, expires_at)
			SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM garages g WHERE g.id = $2 AND g.removed_at = 0
				AND (g.key_delivery OR EXISTS (SELECT 1 FROM garage_parcels gp WHERE gp.garage_id = g.id AND gp.tracking_id = $9)))`,
			grant.ID, g.garageID, da.ID, s.id, strings.Join(ids, ","), handoff.GrantPending, micros(now), micros(grant.ExpiresAt), ids[0])
		if isUnique(err) {
			return handoff.Errorf(handoff.ECONFLICT, "The garage of this stop is already open or opening; a grant is used once.")
		}
		if err != nil {
			return handoff.Internal(err, "grant")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return handoff.Errorf(handoff.EFORBIDDEN, "The recipient has switched key delivery off.")
		}
		return d.garageStep(ctx, tx, g.garageID, grant.ID, ids, "requested", EventGarageRequested, "Garage access requested by the associate", s, da.ID)
	})
	if err != nil {
		return nil, err
	}
	if !d.moveGrant(ctx, grant.ID, handoff.GrantPending, handoff.GrantOpening, "AND expires_at > $4", micros(d.Now())) {
		return nil, handoff.Errorf(handoff.EFORBIDDEN, "The recipient has switched key delivery off.")
	}
	dev, err := d.device(g.garageID, g.sealed)
	if err == nil {
		if err = dev.Open(ctx); err == nil {
			err = garage.Confirm(ctx, dev, garage.Open, d.Garage.OpenWithin, d.Garage.PollInterval)
		}
	}
	if err != nil {
		d.moveGrant(ctx, grant.ID, handoff.GrantOpening, handoff.GrantFailed, "")
		d.tx(ctx, func(tx *sql.Tx) error {
			return d.garageStep(ctx, tx, g.garageID, grant.ID, ids, "failed", EventGarageFailed, "The garage did not open", s, da.ID)
		})
		if errors.Is(err, garage.ErrTimeout) {
			// It may have started to move: ask it to close, to be safe.
			dev.Close(context.WithoutCancel(ctx))
		}
		d.Log.Warn("garage did not open", "grant_id", grant.ID, "err", err)
		return nil, handoff.Errorf(handoff.EUNAVAILABLE, "The garage did not open; deliver another way.")
	}
	if !d.moveGrant(ctx, grant.ID, handoff.GrantOpening, handoff.GrantOpen, ", opened_at = $4", micros(d.Now())) {
		// Revoked while the door moved: the recipient wins.
		dev.Close(ctx)
		garage.Confirm(ctx, dev, garage.Closed, d.Garage.CloseWithin, d.Garage.PollInterval)
		return nil, handoff.Errorf(handoff.EFORBIDDEN, "The recipient has switched key delivery off; the garage was closed again.")
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		return d.garageStep(ctx, tx, g.garageID, grant.ID, ids, "opened", EventGarageOpened, "Garage opened for delivery", s, da.ID)
	})
	grant.State = handoff.GrantOpen
	return grant, err
}

// moveGrant moves a grant between states by a conditional UPDATE; extra is
// more SQL for the SET or WHERE (with $4 as its argument).
func (d *DB) moveGrant(ctx context.Context, id, from, to, extra string, args ...any) bool {
	q := `UPDATE garage_grants SET state = $1 WHERE id = $2 AND state = $3`
	if strings.HasPrefix(extra, ",") {
		q = `UPDATE garage_grants SET state = $1` + extra + ` WHERE id = $2 AND state = $3`
	} else if extra != "" {
		q += " " + extra
	}
	res, err := d.db.ExecContext(ctx, q, append([]any{to, id, from}, args...)...)
	if err != nil {
		d.Log.Error("garage grant", "grant_id", id, "err", err)
		return false
	}
	n, _ := res.RowsAffected()
	return n == 1
}

// garageStep logs a step, records it in the parcels' tracking and tells the
// recipient, all in the caller's transaction.
func (d *DB) garageStep(ctx context.Context, tx *sql.Tx, garageID, grantID string, ids []string, step, code, note string, s *doorStop, actor string) error {
	now := d.Now()
	if err := garageEvent(ctx, tx, garageID, grantID, step, note, now); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := d.appendEvent(ctx, tx, id, tracking.Event{Code: code, Time: now, Actor: actor, Note: note,
			Location: tracking.Location{CountryCode: s.market}}); err != nil {
			return err
		}
	}
	return d.enqueue(ctx, tx, MsgGarage, grantID+"|"+step, ids, map[string]any{"note": step}, "")
}

// localMinute is the minute of the day now in a marketplace.
func localMinute(now time.Time, mkt string) int {
	m, ok := market.Lookup(mkt)
	if !ok {
		m, _ = market.Lookup("GB")
	}
	loc, err := time.LoadLocation(m.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	l := now.In(loc)
	return l.Hour()*60 + l.Minute()
}

// OpenGrant implements handoff.GarageService.
func (d *DB) OpenGrant(ctx context.Context, da *handoff.Principal, stopID string) (*handoff.GarageGrant, error) {
	s, err := d.associateStop(ctx, d.db, da, stopID)
	if err != nil {
		return nil, err
	}
	g := &handoff.GarageGrant{StopID: s.id, State: handoff.GrantOpen, Delivered: []string{}}
	var ids string
	var expires int64
	err = d.db.QueryRowContext(ctx, `SELECT id, tracking_ids, expires_at FROM garage_grants WHERE stop_id = $1 AND associate_id = $2 AND state = $3`,
		s.id, da.ID, handoff.GrantOpen).Scan(&g.ID, &ids, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Grant")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find grant")
	}
	g.TrackingIDs, g.ExpiresAt = strings.Split(ids, ","), fromMicros(expires)
	return g, nil
}

// CloseGarage implements handoff.GarageService.
func (d *DB) CloseGarage(ctx context.Context, da *handoff.Principal, stopID, grantID string) (*handoff.GarageGrant, error) {
	s, err := d.associateStop(ctx, d.db, da, stopID)
	if err != nil {
		return nil, err
	}
	var garageID, ids, state, sealed string
	var expires int64
	err = d.db.QueryRowContext(ctx, `SELECT gg.garage_id, gg.tracking_ids, gg.state, gg.expires_at, g.sealed_config FROM garage_grants gg
		JOIN garages g ON g.id = gg.garage_id WHERE gg.id = $1 AND gg.stop_id = $2 AND gg.associate_id = $3`, grantID, s.id, da.ID).
		Scan(&garageID, &ids, &state, &expires, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Grant")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find grant")
	}
	grant := &handoff.GarageGrant{ID: grantID, StopID: s.id, TrackingIDs: strings.Split(ids, ","), Delivered: []string{}, ExpiresAt: fromMicros(expires)}
	if !d.moveGrant(ctx, grantID, handoff.GrantOpen, handoff.GrantClosing, "") {
		return nil, handoff.Errorf(handoff.ECONFLICT, "This grant is not open (it is %s).", state)
	}
	dev, err := d.device(garageID, sealed)
	if err == nil {
		if err = dev.Close(ctx); err == nil {
			err = garage.Confirm(ctx, dev, garage.Closed, d.Garage.CloseWithin, d.Garage.PollInterval)
		}
	}
	if err != nil {
		// The door did not close: alert the recipient and customer service;
		// the parcels are not delivered as if nothing happened.
		d.moveGrant(ctx, grantID, handoff.GrantClosing, handoff.GrantCloseFailed, "")
		terr := d.tx(ctx, func(tx *sql.Tx) error {
			if err := d.garageStep(ctx, tx, garageID, grantID, grant.TrackingIDs, "close_failed", EventGarageCloseFailed,
				"The garage door did not close", s, da.ID); err != nil {
				return err
			}
			return openCase(ctx, tx, CaseGarage, grant.TrackingIDs[0], da.ID, d.Now(), "Garage door did not close after a delivery attempt (grant "+grantID+")")
		})
		if terr != nil {
			return nil, terr
		}
		d.Log.Error("garage door did not close", "grant_id", grantID, "err", err)
		return nil, handoff.Errorf(handoff.EUNAVAILABLE, "The garage door did not close. The recipient and customer service have been alerted; stay until it is resolved.")
	}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE garage_grants SET state = $1, closed_at = $2 WHERE id = $3 AND state = $4`,
			handoff.GrantClosed, micros(d.Now()), grantID, handoff.GrantClosing)
		if err != nil {
			return handoff.Internal(err, "close grant")
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return handoff.Errorf(handoff.ECONFLICT, "The grant changed meanwhile.")
		}
		if err := d.garageStep(ctx, tx, garageID, grantID, grant.TrackingIDs, "closed", EventGarageClosed, "Garage closed and confirmed closed", s, da.ID); err != nil {
			return err
		}
		grant.Delivered, err = d.deliverToGarage(ctx, tx, s, da.ID, grant.TrackingIDs)
		return err
	})
	if err != nil {
		return nil, err
	}
	grant.State = handoff.GrantClosed
	return grant, nil
}

// deliverToGarage delivers the grant's parcels with DeliveredToGarage. An
// OTP parcel among them is there only because its shipper lets the garage
// stand in for the code, so the stop's passcode is settled too.
func (d *DB) deliverToGarage(ctx context.Context, tx *sql.Tx, s *doorStop, actor string, ids []string) ([]string, error) {
	done, err := d.completeParcels(ctx, tx, s, actor, func(p stopParcel) bool { return slices.Contains(ids, p.trackingID) },
		tracking.DeliveredToGarage, "Delivered to garage")
	if err != nil {
		return nil, err
	}
	if err := endPasscodeIfNone(ctx, tx, s.id, handoff.OTPVerified); err != nil {
		return nil, err
	}
	return done, nil
}
