package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/tracking"
)

var _ handoff.ContactService = (*DB)(nil)

// SearchParcels implements handoff.ContactService.
func (d *DB) SearchParcels(ctx context.Context, agent *handoff.Principal, q handoff.ParcelQuery, limit int) ([]handoff.ParcelMatch, error) {
	if err := requireKind(agent, auth.KindAgent); err != nil {
		return nil, err
	}
	out := []handoff.ParcelMatch{}
	if q.Blank() {
		return out, nil
	}
	args := []any{q.TrackingID, q.Reference, q.Email}
	mobiles := "''"
	if len(q.Mobiles) > 0 {
		var ph []string
		for _, m := range q.Mobiles {
			args = append(args, m)
			ph = append(ph, fmt.Sprintf("$%d", len(args)))
		}
		mobiles = strings.Join(ph, ", ")
	}
	args = append(args, limit)
	rows, err := d.db.QueryContext(ctx, `SELECT p.tracking_id, p.client_ref, s.ship_to, s.marketplace, p.status, p.detail,
			s.recipient_mobile, s.recipient_email
		FROM packages p JOIN shipments s ON s.id = p.shipment_id
		WHERE p.tracking_id = $1 OR (p.client_ref = $2 AND $2 <> '') OR (s.recipient_email = $3 AND $3 <> '')
			OR (s.recipient_mobile IN (`+mobiles+`) AND s.recipient_mobile <> '')
		ORDER BY p.created_at DESC, p.tracking_id LIMIT $`+fmt.Sprint(len(args)), args...)
	if err != nil {
		return nil, handoff.Internal(err, "search parcels")
	}
	defer rows.Close()
	for rows.Next() {
		var m handoff.ParcelMatch
		var shipTo, status, detail, mobile, email string
		if err := rows.Scan(&m.TrackingID, &m.Reference, &shipTo, &m.Marketplace, &status, &detail, &mobile, &email); err != nil {
			return nil, handoff.Internal(err, "search parcels")
		}
		var to handoff.Address
		json.Unmarshal([]byte(shipTo), &to)
		m.Recipient, m.City, m.StatusText = to.Name, to.City, tracking.Describe(status, detail)
		switch {
		case m.TrackingID == q.TrackingID:
			m.MatchedBy = "tracking ID"
		case m.Reference == q.Reference:
			m.MatchedBy = "reference"
		case email != "" && email == q.Email:
			m.MatchedBy = "email"
		default:
			m.MatchedBy = "phone"
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "search parcels")
	}
	return out, nil
}

// RevealContacts implements handoff.ContactService. The look is logged and
// audited in the same transaction as the read, so no contact is shown
// unlogged.
func (d *DB) RevealContacts(ctx context.Context, agent *handoff.Principal, trackingID string) (*handoff.RecipientContacts, error) {
	if err := requireKind(agent, auth.KindAgent); err != nil {
		return nil, err
	}
	var c *handoff.RecipientContacts
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if c, err = recipientContacts(ctx, tx, trackingID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO contact_views (id, tracking_id, viewer_id, viewer_kind, viewer_name, at) VALUES ($1, $2, $3, $4, $5, $6)`,
			newID("cv_"), trackingID, agent.ID, agent.Kind, agent.Name, micros(d.Now())); err != nil {
			return handoff.Internal(err, "log contact view")
		}
		return d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionContactView, Actor: agent.ID, Subject: trackingID, Outcome: audit.OutcomeOK})
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// querier is what both *sql.DB and *sql.Tx offer for a read.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// recipientContacts reads a parcel's recipient contacts: the normalised
// mobile when the label's number was one, else the number as written.
func recipientContacts(ctx context.Context, q querier, trackingID string) (*handoff.RecipientContacts, error) {
	var shipTo, mobile, email string
	err := q.QueryRowContext(ctx, `SELECT s.ship_to, s.recipient_mobile, s.recipient_email FROM packages p JOIN shipments s ON s.id = p.shipment_id
		WHERE p.tracking_id = $1`, trackingID).Scan(&shipTo, &mobile, &email)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handoff.NotFound("Parcel")
	}
	if err != nil {
		return nil, handoff.Internal(err, "recipient contacts")
	}
	if mobile == "" {
		var to handoff.Address
		json.Unmarshal([]byte(shipTo), &to)
		mobile = to.PhoneNumber
	}
	return &handoff.RecipientContacts{Phone: mobile, Email: email}, nil
}

// contactViews lists who revealed a parcel's contacts, oldest first.
func contactViews(ctx context.Context, q querier, trackingID string) ([]handoff.PhotoView, error) {
	rows, err := q.QueryContext(ctx, `SELECT viewer_id, viewer_kind, viewer_name, at FROM contact_views WHERE tracking_id = $1 ORDER BY at, id`, trackingID)
	if err != nil {
		return nil, handoff.Internal(err, "contact views")
	}
	defer rows.Close()
	out := []handoff.PhotoView{}
	for rows.Next() {
		var v handoff.PhotoView
		var at int64
		if err := rows.Scan(&v.ViewerID, &v.ViewerKind, &v.ViewerName, &at); err != nil {
			return nil, handoff.Internal(err, "contact views")
		}
		v.At = fromMicros(at)
		out = append(out, v)
	}
	return out, rows.Err()
}
