package sqlstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/door"
	"github.com/handoff-dev/handoff/proof"
	"github.com/handoff-dev/handoff/tracking"
)

// This file keeps the signed proofs of delivery (SPEC §7): each is written
// in the transaction that delivers its parcel, from the facts that
// transaction sees, so no delivery exists without its proof.

// issueProof signs and stores the proof of a parcel being delivered now by
// detail at stop s, and returns its ID.
func (d *DB) issueProof(ctx context.Context, tx *sql.Tx, s *door.Stop, p stopParcel, detail string, at time.Time) (string, error) {
	if d.Keys == nil {
		return "", handoff.Internal(nil, "no keyring configured")
	}
	rec := proof.Record{Issuer: proof.Issuer, ID: newID("pod_"), IssuedAt: at.Unix(), Subject: p.trackingID, TrackingID: p.trackingID,
		DeliveredAt: stamp(at), Method: detail, AssociateID: s.AssociateID, RouteID: s.RouteID,
		Location: tracking.Location{City: p.city, PostalCode: p.pc, CountryCode: s.Market}}
	var bagID, photoSum string
	var scanned bool
	var scannedAt, photoAt int64
	err := d.txQueryRow(ctx, tx, `SELECT pk.shipment_id, pk.shipper_id, pk.client_ref, pk.bag_id, rp.bag_scanned,
			COALESCE((SELECT MAX(bs.at) FROM bag_scans bs WHERE bs.stop_id = rp.stop_id AND bs.tracking_id = pk.tracking_id AND bs.matched), 0),
			COALESCE((SELECT ph.sha256 FROM photos ph WHERE ph.tracking_id = pk.tracking_id AND ph.kind = $3 ORDER BY ph.taken_at DESC, ph.id LIMIT 1), ''),
			COALESCE((SELECT MAX(ph.taken_at) FROM photos ph WHERE ph.tracking_id = pk.tracking_id AND ph.kind = $3), 0)
		FROM packages pk JOIN route_parcels rp ON rp.tracking_id = pk.tracking_id AND rp.route_id = $2 WHERE pk.tracking_id = $1`,
		p.trackingID, s.RouteID, photoDelivery).
		Scan(&rec.Recipient.ShipmentID, &rec.ShipperID, &rec.Recipient.Reference, &bagID, &scanned, &scannedAt, &photoSum, &photoAt)
	if err != nil {
		return "", handoff.Internal(err, "proof facts")
	}
	if bagID != "" {
		rec.Bag = &proof.Bag{BagID: bagID, ScannedAndMatched: scanned}
		if scannedAt > 0 {
			rec.Bag.ScannedAt = stamp(fromMicros(scannedAt))
		}
	}
	// A photo is taken only at the delivery, in its transaction: the
	// parcel's newest is this delivery's.
	if photoSum != "" {
		rec.Photo = &proof.Photo{SHA256: photoSum, TakenAt: stamp(fromMicros(photoAt))}
	}
	if detail == tracking.DeliveredWithSignature {
		// The check was recorded just before, in this transaction.
		if err := doorCheckProof(ctx, tx, &rec); err != nil {
			return "", err
		}
	}
	if detail == tracking.DeliveredToGarage {
		// The grant that delivers was stamped closed in this transaction.
		var g proof.Garage
		var opened, closed int64
		err := tx.QueryRowContext(ctx, `SELECT id, opened_at, closed_at FROM garage_grants WHERE stop_id = $1 AND closed_at > 0
			ORDER BY closed_at DESC, id LIMIT 1`, s.ID).Scan(&g.GrantID, &opened, &closed)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", handoff.Internal(err, "proof garage")
		}
		if err == nil {
			g.OpenedAt, g.ClosedAt = stamp(fromMicros(opened)), stamp(fromMicros(closed))
			rec.Garage = &g
		}
	}
	kid, token, err := proof.Sign(d.Keys, rec)
	if err != nil {
		return "", handoff.Internal(err, "sign proof")
	}
	if _, err := d.txExec(ctx, tx, `INSERT INTO delivery_proofs (id, tracking_id, shipment_id, shipper_id, key_id, token, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, rec.ID, p.trackingID, rec.Recipient.ShipmentID, rec.ShipperID, kid, token, micros(at)); err != nil {
		return "", handoff.Internal(err, "store proof")
	}
	return rec.ID, nil
}

// stamp formats a time as the records do: RFC 3339 in UTC, to the
// microsecond the database keeps.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// latestProof returns the token of a parcel's newest proof of delivery, ""
// when it has none.
func latestProof(ctx context.Context, tx *sql.Tx, trackingID string) (string, error) {
	var token string
	err := tx.QueryRowContext(ctx, `SELECT token FROM delivery_proofs WHERE tracking_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, trackingID).Scan(&token)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", handoff.Internal(err, "read proof")
	}
	return token, nil
}

// ShipmentProofs implements handoff.ProofService.
func (d *DB) ShipmentProofs(ctx context.Context, shipperID, shipmentID string) ([]handoff.DeliveryProof, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM shipments WHERE id = $1 AND shipper_id = $2`, shipmentID, shipperID).Scan(&n); err != nil {
		return nil, handoff.Internal(err, "find shipment")
	}
	if n == 0 {
		return nil, handoff.NotFound("Shipment")
	}
	rows, err := d.db.QueryContext(ctx, `SELECT tracking_id, key_id, token, created_at FROM delivery_proofs
		WHERE shipment_id = $1 AND shipper_id = $2 ORDER BY tracking_id, created_at DESC, id DESC`, shipmentID, shipperID)
	if err != nil {
		return nil, handoff.Internal(err, "list proofs")
	}
	defer rows.Close()
	out := []handoff.DeliveryProof{}
	for rows.Next() {
		var p handoff.DeliveryProof
		var at int64
		if err := rows.Scan(&p.TrackingID, &p.KeyID, &p.Token, &at); err != nil {
			return nil, handoff.Internal(err, "scan proof")
		}
		// The newest proof of each parcel.
		if len(out) > 0 && out[len(out)-1].TrackingID == p.TrackingID {
			continue
		}
		p.IssuedAt = fromMicros(at)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "list proofs")
	}
	return out, nil
}

// PublishProofKeys records the public halves of the keyring's proof keys,
// so that they stay published after the keyring loses a key. A node calls
// it at start, once its keys are accepted.
func (d *DB) PublishProofKeys(ctx context.Context) error {
	now := micros(d.Now())
	for _, id := range d.Keys.IDs() {
		pub, _ := proof.PublicKey(d.Keys, id)
		if _, err := d.exec(ctx, `INSERT INTO proof_keys (key_id, public_key, created_at) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING`,
			id, base64.RawURLEncoding.EncodeToString(pub), now); err != nil {
			return handoff.Internal(err, "publish proof key")
		}
	}
	return nil
}

// ProofKeys implements handoff.ProofService: the published keys and the
// keyring's own.
func (d *DB) ProofKeys(ctx context.Context) ([]handoff.ProofKey, error) {
	var out []handoff.ProofKey
	if d.Keys != nil {
		for _, id := range d.Keys.IDs() {
			pub, _ := proof.PublicKey(d.Keys, id)
			out = append(out, handoff.ProofKey{KeyID: id, PublicKey: pub})
		}
	}
	rows, err := d.db.QueryContext(ctx, `SELECT key_id, public_key FROM proof_keys ORDER BY key_id`)
	if err != nil {
		return nil, handoff.Internal(err, "list proof keys")
	}
	defer rows.Close()
	for rows.Next() {
		var id, pub string
		if err := rows.Scan(&id, &pub); err != nil {
			return nil, handoff.Internal(err, "scan proof key")
		}
		b, err := base64.RawURLEncoding.DecodeString(pub)
		if err != nil || slices.ContainsFunc(out, func(k handoff.ProofKey) bool { return k.KeyID == id }) {
			continue
		}
		out = append(out, handoff.ProofKey{KeyID: id, PublicKey: b})
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "list proof keys")
	}
	slices.SortFunc(out, func(a, b handoff.ProofKey) int { return strings.Compare(a.KeyID, b.KeyID) })
	return out, nil
}

// doorCheckProof adds the signature and age check a parcel was handed over
// against to its record.
func doorCheckProof(ctx context.Context, tx *sql.Tx, rec *proof.Record) error {
	var kind, name, rel, sum, doc string
	var minAge int
	var verified bool
	var at int64
	err := tx.QueryRowContext(ctx, `SELECT signature_kind, signer_name, relationship, signature_sha256, document_type, minimum_age, age_verified, checked_at
		FROM door_checks WHERE tracking_id = $1 ORDER BY checked_at DESC, id DESC LIMIT 1`, rec.TrackingID).
		Scan(&kind, &name, &rel, &sum, &doc, &minAge, &verified, &at)
	if err != nil {
		return handoff.Internal(err, "proof door check")
	}
	if kind != "" {
		rec.Signature = &proof.Signature{Kind: kind, SHA256: sum, SignerName: name, Relationship: rel, SignedAt: stamp(fromMicros(at))}
	}
	if doc != "" {
		rec.AgeCheck = &proof.AgeCheck{DocumentType: doc, MinimumAge: minAge, Verified: verified}
	}
	return nil
}
