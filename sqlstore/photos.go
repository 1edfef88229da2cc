package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/photo"
	"github.com/handoff-dev/handoff/tracking"
)

type photoRow struct {
	id, blob, thumb string
	deleted         int64
}

// latestPhoto returns a parcel's newest photo row.
func (d *DB) latestPhoto(ctx context.Context, trackingID string) (*photoRow, error) {
	var p photoRow
	err := d.db.QueryRowContext(ctx, `SELECT id, blob_key, thumb_key, deleted_at FROM photos WHERE tracking_id = $1 ORDER BY taken_at DESC, id LIMIT 1`,
		trackingID).Scan(&p.id, &p.blob, &p.thumb, &p.deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Photo")
	}
	if err != nil {
		return nil, handoff.Internal(err, "find photo")
	}
	return &p, nil
}

func (d *DB) photoBytes(ctx context.Context, p *photoRow, thumb bool) ([]byte, error) {
	if p.deleted > 0 {
		return nil, handoff.Errorf(handoff.EGONE, "The photo was deleted at the end of its retention period.")
	}
	if d.Photos == nil {
		return nil, handoff.Errorf(handoff.EUNAVAILABLE, "Photo storage is not configured.")
	}
	key := p.blob
	if thumb {
		key = p.thumb
	}
	b, err := d.Photos.Get(ctx, key)
	if errors.Is(err, photo.ErrNotFound) {
		return nil, handoff.Errorf(handoff.EGONE, "The photo is no longer stored.")
	}
	if err != nil {
		return nil, handoff.Internal(err, "read photo")
	}
	return b, nil
}

// ParcelPhoto implements handoff.PhotoService. The view is logged before the
// bytes leave, so no view goes unrecorded, and only views that showed
// something are.
func (d *DB) ParcelPhoto(ctx context.Context, viewer *handoff.Principal, trackingID string, thumb bool) ([]byte, error) {
	if viewer == nil {
		return nil, handoff.NotFound("Photo")
	}
	switch viewer.Kind {
	case auth.KindShipper:
		var n int
		if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM packages WHERE tracking_id = $1 AND shipper_id = $2`, trackingID, viewer.ID).Scan(&n); err != nil {
			return nil, handoff.Internal(err, "find parcel")
		}
		if n == 0 {
			return nil, handoff.NotFound("Photo")
		}
	case auth.KindAgent:
	default:
		return nil, handoff.NotFound("Photo")
	}
	p, err := d.latestPhoto(ctx, trackingID)
	if err != nil {
		return nil, err
	}
	b, err := d.photoBytes(ctx, p, thumb)
	if err != nil {
		return nil, err
	}
	// The view is logged before the bytes leave; if it cannot be logged,
	// they do not leave.
	if _, err := d.db.ExecContext(ctx, `INSERT INTO photo_views (id, photo_id, viewer_id, viewer_kind, viewer_name, at) VALUES ($1, $2, $3, $4, $5, $6)`,
		newID("pv_"), p.id, viewer.ID, viewer.Kind, viewer.Name, micros(d.Now())); err != nil {
		return nil, handoff.Internal(err, "log photo view")
	}
	return b, nil
}

// RecipientPhoto implements handoff.PhotoService. The recipient's own views
// are not staff views and are not logged.
func (d *DB) RecipientPhoto(ctx context.Context, contact, trackingID string, thumb bool) ([]byte, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM packages p JOIN shipments s ON s.id = p.shipment_id
		WHERE p.tracking_id = $1 AND (s.recipient_mobile = $2 OR s.recipient_email = $2)`, trackingID, contact).Scan(&n); err != nil {
		return nil, handoff.Internal(err, "find parcel")
	}
	if n == 0 {
		return nil, handoff.NotFound("Photo")
	}
	p, err := d.latestPhoto(ctx, trackingID)
	if err != nil {
		return nil, err
	}
	return d.photoBytes(ctx, p, thumb)
}

// PhotoInfo implements handoff.PhotoService.
func (d *DB) PhotoInfo(ctx context.Context, trackingID string) (*handoff.PhotoInfo, error) {
	var info handoff.PhotoInfo
	var taken, deleted int64
	err := d.db.QueryRowContext(ctx, `SELECT id, taken_by, taken_at, width, height, deleted_at FROM photos WHERE tracking_id = $1
		ORDER BY taken_at DESC, id LIMIT 1`, trackingID).Scan(&info.ID, &info.TakenBy, &taken, &info.Width, &info.Height, &deleted)
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

// AgentParcel implements handoff.PhotoService.
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
	rows, err := d.db.QueryContext(ctx, `SELECT v.viewer_id, v.viewer_kind, v.viewer_name, v.at FROM photo_views v JOIN photos p ON p.id = v.photo_id
		WHERE p.tracking_id = $1 ORDER BY v.at, v.id`, trackingID)
	if err != nil {
		return nil, handoff.Internal(err, "photo views")
	}
	defer rows.Close()
	for rows.Next() {
		var v handoff.PhotoView
		var at int64
		if err := rows.Scan(&v.ViewerID, &v.ViewerKind, &v.ViewerName, &at); err != nil {
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
	return a, nil
}

// photoPurgeLease is how long a node holds the photos it is deleting.
const photoPurgeLease = 5 * time.Minute

// PurgeExpiredPhotos implements handoff.PhotoService. Rows are leased first
// (an UPDATE that re-checks the lease, so two nodes never take the same row),
// their blobs deleted, and only then marked deleted: a node that dies midway
// leaves the rows to be taken again when the lease ends, and deleting a blob
// twice is harmless. The rows are picked by a materialised CTE, which runs
// once, as in ClaimNotifications: PostgreSQL may run a `WHERE id IN (SELECT …
// LIMIT n FOR UPDATE SKIP LOCKED)` once per row and lease the whole backlog.
func (d *DB) PurgeExpiredPhotos(ctx context.Context, limit int) (int, error) {
	if d.Photos == nil {
		return 0, nil
	}
	now := d.Now()
	lock := ""
	if d.Engine == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	rows, err := d.db.QueryContext(ctx, `WITH picked AS MATERIALIZED (
			SELECT id AS picked_id FROM photos WHERE deleted_at = 0 AND expires_at <= $2 AND purge_until <= $2
			ORDER BY expires_at, id LIMIT $3`+lock+`)
		UPDATE photos SET purge_until = $1
		FROM picked WHERE id = picked_id AND deleted_at = 0 AND purge_until <= $2
		RETURNING id, blob_key, thumb_key`, micros(now.Add(photoPurgeLease)), micros(now), limit)
	if err != nil {
		return 0, handoff.Internal(err, "lease expired photos")
	}
	var batch []photoRow
	for rows.Next() {
		var p photoRow
		if err := rows.Scan(&p.id, &p.blob, &p.thumb); err != nil {
			rows.Close()
			return 0, handoff.Internal(err, "lease expired photos")
		}
		batch = append(batch, p)
	}
	rows.Close()
	n := 0
	for _, p := range batch {
		if err := d.Photos.Delete(ctx, p.blob); err != nil {
			d.Log.Error("photo purge: delete failed; will retry after the lease", "photo_id", p.id, "err", err)
			continue
		}
		if err := d.Photos.Delete(ctx, p.thumb); err != nil {
			d.Log.Error("photo purge: delete failed; will retry after the lease", "photo_id", p.id, "err", err)
			continue
		}
		if _, err := d.db.ExecContext(ctx, `UPDATE photos SET deleted_at = $1 WHERE id = $2 AND deleted_at = 0`, micros(d.Now()), p.id); err != nil {
			return n, handoff.Internal(err, "mark photo deleted")
		}
		n++
	}
	return n, nil
}
