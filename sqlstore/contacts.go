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

// SearchParcels implements handoff.ContactService. Each way of matching is
// its own indexed lookup (the tracking ID's key, the reference's index, the
// recipient's mobile or email index), joined by UNION ALL: an OR across the
// two tables would read every parcel. A phone number matches only parcels of
// the marketplace whose rules read it.
func (d *DB) SearchParcels(ctx context.Context, agent *handoff.Principal, q handoff.ParcelQuery, limit int) ([]handoff.ParcelMatch, error) {
	if err := requireKind(agent, auth.KindAgent); err != nil {
		return nil, err
	}
	out := []handoff.ParcelMatch{}
	if q.Blank() {
		return out, nil
	}
	query, args := searchSQL(q, limit)
	rows, err := d.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, handoff.Internal(err, "search parcels")
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var m handoff.ParcelMatch
		var shipTo, detail, mobile, email string
		var created int64
		if err := rows.Scan(&m.MatchedBy, &m.TrackingID, &m.Reference, &m.ShipperID, &m.ShipperName, &shipTo, &m.Marketplace, &m.Status, &detail,
			&mobile, &email, &created); err != nil {
			return nil, handoff.Internal(err, "search parcels")
		}
		if seen[m.TrackingID] || len(out) == limit {
			continue // matched twice (a reference that is also a tracking ID): the first way is enough
		}
		seen[m.TrackingID] = true
		var to handoff.Address
		json.Unmarshal([]byte(shipTo), &to)
		if mobile == "" {
			mobile = to.PhoneNumber
		}
		m.Recipient, m.City, m.StatusText = to.Name, to.City, tracking.Describe(m.Status, detail)
		m.Contacts = handoff.RecipientContacts{Phone: mobile, Email: email}.Masked()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "search parcels")
	}
	return out, nil
}

// searchSQL builds the search: one SELECT per way of matching, each on an
// index, newest parcels first, the tracking ID's match before the others.
func searchSQL(q handoff.ParcelQuery, limit int) (string, []any) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	// by is one of handoff's Match constants, never typed text.
	branch := func(by, where string) string {
		return `SELECT '` + by + `' AS matched_by, p.tracking_id, p.client_ref, p.shipper_id, COALESCE(sh.name, ''), s.ship_to, s.marketplace, p.status, p.detail,
			s.recipient_mobile, s.recipient_email, p.created_at
			FROM packages p JOIN shipments s ON s.id = p.shipment_id LEFT JOIN principals sh ON sh.id = p.shipper_id WHERE ` + where
	}
	parts := []string{branch(handoff.MatchTrackingID, `p.tracking_id = `+arg(q.TrackingID))}
	if q.Reference != "" {
		parts = append(parts, branch(handoff.MatchReference, `p.client_ref = `+arg(q.Reference)))
	}
	if q.Email != "" {
		parts = append(parts, branch(handoff.MatchEmail, `s.recipient_email = `+arg(q.Email)))
	}
	for _, m := range q.Mobiles {
		parts = append(parts, branch(handoff.MatchPhone, `s.recipient_mobile = `+arg(m.E164)+` AND s.marketplace = `+arg(m.Market)))
	}
	// Twice the limit, so that parcels found two ways still fill it.
	return `SELECT * FROM (` + strings.Join(parts, "\nUNION ALL\n") + `) AS found
		ORDER BY CASE WHEN matched_by = '` + handoff.MatchTrackingID + `' THEN 0 ELSE 1 END, created_at DESC, tracking_id LIMIT ` + arg(limit*2), args
}

// RevealContacts implements handoff.ContactService. The look is logged and
// audited in the same transaction as the read, so no contact is shown
// unlogged.
func (d *DB) RevealContacts(ctx context.Context, agent *handoff.Principal, trackingID, reason string) (*handoff.RecipientContacts, error) {
	if err := requireKind(agent, auth.KindAgent); err != nil {
		return nil, err
	}
	var fe handoff.FieldErrors
	handoff.Text{Max: 200, Required: true}.Check(&fe, "reason", &reason)
	if err := fe.Err(); err != nil {
		return nil, err
	}
	var c *handoff.RecipientContacts
	err := d.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if c, err = recipientContacts(ctx, tx, trackingID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO contact_views (id, tracking_id, viewer_id, viewer_kind, viewer_name, reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			newID("cv_"), trackingID, agent.ID, agent.Kind, agent.Name, reason, micros(d.Now())); err != nil {
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
func contactViews(ctx context.Context, q querier, trackingID string) ([]handoff.ContactView, error) {
	rows, err := q.QueryContext(ctx, `SELECT viewer_id, viewer_kind, viewer_name, reason, at FROM contact_views WHERE tracking_id = $1 ORDER BY at, id`, trackingID)
	if err != nil {
		return nil, handoff.Internal(err, "contact views")
	}
	defer rows.Close()
	out := []handoff.ContactView{}
	for rows.Next() {
		var v handoff.ContactView
		var at int64
		if err := rows.Scan(&v.ViewerID, &v.ViewerKind, &v.ViewerName, &v.Reason, &at); err != nil {
			return nil, handoff.Internal(err, "contact views")
		}
		v.At = fromMicros(at)
		out = append(out, v)
	}
	return out, rows.Err()
}
