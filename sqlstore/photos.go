package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/deliveryphoto"
	"github.com/handoff-dev/handoff/tracking"
)

var _ deliveryphoto.Store = (*DB)(nil)

// LatestPhoto implements deliveryphoto.Store.
func (d *DB) LatestPhoto(ctx context.Context, trackingID string, signature bool) (*deliveryphoto.Record, error) {
	var p deliveryphoto.Record
	var deleted int64
	kind := map[bool]string{false: photoDelivery, true: photoSignature}[signature]
	err := d.db.QueryRowContext(ctx, `SELECT id, blob_key, thumb_key, deleted_at FROM photos WHERE tracking_id = $1 AND kind = $2 ORDER BY taken_at DESC, id LIMIT 1`,
		trackingID, kind).Scan(&p.ID, &p.Blob, &p.Thumb, &deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Photo")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find photo")
	}
	p.Deleted = deleted > 0
	return &p, nil
}

// ShipperParcel implements deliveryphoto.Store.
func (d *DB) ShipperParcel(ctx context.Context, shipperID, trackingID string) (bool, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM packages WHERE tracking_id = $1 AND shipper_id = $2`, trackingID, shipperID).Scan(&n); err != nil {
		return false, handoff.Internal(err, "find parcel")
	}
	return n > 0, nil
}

// RecipientParcel implements deliveryphoto.Store.
func (d *DB) RecipientParcel(ctx context.Context, contact, trackingID string) (bool, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM packages p JOIN shipments s ON s.id = p.shipment_id
		WHERE p.tracking_id = $1 AND (s.recipient_mobile = $2 OR s.recipient_email = $2)`, trackingID, contact).Scan(&n); err != nil {
		return false, handoff.Internal(err, "find parcel")
	}
	return n > 0, nil
}

// LogPhotoView implements deliveryphoto.Store. The view is audited in the
// same transaction.
func (d *DB) LogPhotoView(ctx context.Context, photoID, trackingID string, viewer *handoff.Principal, at time.Time) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO photo_views (id, photo_id, viewer_id, viewer_kind, viewer_name, at) VALUES ($1, $2, $3, $4, $5, $6)`,
			newID("pv_"), photoID, viewer.ID, viewer.Kind, viewer.Name, micros(at)); err != nil {
			return handoff.Internal(err, "log photo view")
		}
		return d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionPhotoView, Actor: viewer.ID, Subject: trackingID, Outcome: audit.OutcomeOK, Detail: "photo=" + photoID})
	})
}

// PhotoInfo implements deliveryphoto.Store.
func (d *DB) PhotoInfo(ctx context.Context, trackingID string) (*handoff.PhotoInfo, error) {
	var info handoff.PhotoInfo
	var taken, deleted int64
	err := d.db.QueryRowContext(ctx, `SELECT id, taken_by, taken_at, width, height, deleted_at FROM photos WHERE tracking_id = $1 AND kind = $2
		ORDER BY taken_at DESC, id LIMIT 1`, trackingID, photoDelivery).Scan(&info.ID, &info.TakenBy, &taken, &info.Width, &info.Height, &deleted)
	switch {
	case err == nil:
		t := fromMicros(taken)
		info.TakenAt = &t
		if deleted > 0 {
			r := fromMicros(deleted)
			info.RemovedAt = &r
		}
		return &info, nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, handoff.Internal(err, "photo info")
	}
	if err := d.db.QueryRowContext(ctx, `SELECT no_photo_reason FROM packages WHERE tracking_id = $1`, trackingID).Scan(&info.SkippedReason); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		return nil, handoff.Internal(err, "photo info")
	}
	if info.SkippedReason == "" {
		return nil, nil
	}
	return &info, nil
}

// AgentParcel implements deliveryphoto.Store.
func (d *DB) AgentParcel(ctx context.Context, agent *handoff.Principal, trackingID string) (*handoff.AgentParcel, error) {
	if err := requireKind(agent, auth.KindAgent); err != nil {
		return nil, err
	}
	a := &handoff.AgentParcel{TrackingID: trackingID, PhotoViews: []handoff.PhotoView{}, Cases: []handoff.Case{}}
	var shipTo, detail string
	err := d.db.QueryRowContext(ctx, `SELECT p.shipment_id, p.shipper_id, s.ship_to, p.status, p.detail FROM packages p JOIN shipments s ON s.id = p.shipment_id
		WHERE p.tracking_id = $1`, trackingID).Scan(&a.ShipmentID, &a.ShipperID, &shipTo, &a.Status, &detail)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Parcel")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find parcel")
	}
	var to handoff.Address
	json.Unmarshal([]byte(shipTo), &to)
	a.Recipient, a.City, a.StatusText = to.Name, to.City, tracking.Describe(a.Status, detail)
	if a.Events, err = listEvents(ctx, d.db, trackingID); err != nil {
		return nil, err
	}
	if a.Photo, err = d.PhotoInfo(ctx, trackingID); err != nil {
		return nil, err
	}
	if a.DoorCheck, err = d.DoorCheck(ctx, trackingID); err != nil {
		return nil, err
	}
	rows, err := d.db.QueryContext(ctx, `SELECT v.viewer_id, v.viewer_kind, v.viewer_name, v.at, p.kind FROM photo_views v JOIN photos p ON p.id = v.photo_id
		WHERE p.tracking_id = $1 ORDER BY v.at, v.id`, trackingID)
	if err != nil {
		return nil, handoff.Internal(err, "photo views")
	}
	defer rows.Close()
	for rows.Next() {
		var v handoff.PhotoView
		var at int64
		if err := rows.Scan(&v.ViewerID, &v.ViewerKind, &v.ViewerName, &at, &v.Image); err != nil {
			return nil, handoff.Internal(err, "photo views")
		}
		v.At = fromMicros(at)
		a.PhotoViews = append(a.PhotoViews, v)
	}
	cs, err := d.db.QueryContext(ctx, `SELECT `+caseCols+` FROM cases WHERE tracking_id = $1 ORDER BY opened_at, id`, trackingID)
	if err != nil {
		return nil, handoff.Internal(err, "cases")
	}
	defer cs.Close()
	for cs.Next() {
		c, err := scanCase(cs)
		if err != nil {
			return nil, handoff.Internal(err, "cases")
		}
		a.Cases = append(a.Cases, c)
	}
	c, err := recipientContacts(ctx, d.db, trackingID)
	if err != nil {
		return nil, err
	}
	a.Contacts = c.Masked()
	if a.ContactViews, err = contactViews(ctx, d.db, trackingID); err != nil {
		return nil, err
	}
	return a, nil
}

// LeaseExpiredPhotos implements deliveryphoto.Store. The UPDATE re-checks
// the lease, so two nodes never take the same row.
func (d *DB) LeaseExpiredPhotos(ctx context.Context, limit int, now, until time.Time) ([]deliveryphoto.Record, error) {
	lock := ""
	if d.Engine == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := d.db.QueryContext(ctx, `WITH picked AS MATERIALIZED (
			SELECT id AS picked_id FROM photos WHERE deleted_at = 0 AND expires_at <= $2 AND purge_until <= $2
			ORDER BY expires_at, id LIMIT $3`+lock+`)
		UPDATE photos SET purge_until = $1
		FROM picked WHERE id = picked_id AND deleted_at = 0 AND purge_until <= $2
		RETURNING id, blob_key, thumb_key`, micros(until), micros(now), limit)
	if err != nil {
		return nil, handoff.Internal(err, "lease expired photos")
	}
	defer rows.Close()
	var batch []deliveryphoto.Record
	for rows.Next() {
		var p deliveryphoto.Record
		if err := rows.Scan(&p.ID, &p.Blob, &p.Thumb); err != nil {
			return nil, handoff.Internal(err, "lease expired photos")
		}
		batch = append(batch, p)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "lease expired photos")
	}
	return batch, nil
}

// MarkPhotoDeleted implements deliveryphoto.Store.
func (d *DB) MarkPhotoDeleted(ctx context.Context, photoID string, at time.Time) error {
	if _, err := d.exec(ctx, `UPDATE photos SET deleted_at = $1 WHERE id = $2 AND deleted_at = 0`, micros(at), photoID); err != nil {
		return handoff.Internal(err, "mark photo deleted")
	}
	return nil
}

// DoorCheck implements deliveryphoto.Store: the newest check of a parcel at
// the door, nil when none was made.
func (d *DB) DoorCheck(ctx context.Context, trackingID string) (*handoff.DoorCheckInfo, error) {
	var c handoff.DoorCheckInfo
	var at, removed int64
	err := d.db.QueryRowContext(ctx, `SELECT dc.signature_kind, dc.signer_name, dc.relationship, dc.signature_sha256, dc.document_type, dc.minimum_age,
			dc.age_verified, dc.checked_at, COALESCE(ph.deleted_at, 0)
		FROM door_checks dc LEFT JOIN photos ph ON ph.id = dc.signature_photo
		WHERE dc.tracking_id = $1 ORDER BY dc.checked_at DESC, dc.id LIMIT 1`, trackingID).
		Scan(&c.SignatureKind, &c.SignerName, &c.Relationship, &c.SignatureSHA256, &c.DocumentType, &c.MinimumAge, &c.AgeVerified, &at, &removed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, handoff.Internal(err, "door check")
	}
	c.At = fromMicros(at)
	if removed > 0 {
		r := fromMicros(removed)
		c.SignatureRemovedAt = &r
	}
	return &c, nil
}
