package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/egress"
	"github.com/handoff-dev/handoff/tracking"
)

// ChannelShipperWebhook is the outbox channel of shipper webhook deliveries.
const ChannelShipperWebhook = "shipper_webhook"

// MsgTrackingEvent is the kind of a webhook delivery.
const MsgTrackingEvent = "tracking_event"

// MaxWebhooks bounds the endpoints of one shipper.
const MaxWebhooks = 10

// CreateWebhook implements handoff.WebhookService.
func (d *DB) CreateWebhook(ctx context.Context, shipperID, raw string) (*handoff.Webhook, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || len(raw) > 2000:
		return nil, handoff.Invalid(handoff.FieldError{Field: "url", Message: "must be an absolute https URL"})
	case u.Scheme == "http" && !d.AllowHTTPWebhooks:
		return nil, handoff.Invalid(handoff.FieldError{Field: "url", Message: "must use https"})
	case u.User != nil:
		return nil, handoff.Invalid(handoff.FieldError{Field: "url", Message: "must not carry credentials; the signature authenticates us"})
	}
	if !d.AllowPrivateWebhooks {
		if err := egress.CheckHost(ctx, u.Hostname()); err != nil {
			return nil, handoff.Invalid(handoff.FieldError{Field: "url", Message: "must reach a public address (" + err.Error() + ")"})
		}
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	w := &handoff.Webhook{ID: newID("wh_"), URL: raw, CreatedAt: d.Now(), Secret: "whsec_" + base64.RawURLEncoding.EncodeToString(secret)}
	err = d.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM shipper_webhooks WHERE shipper_id = $1 AND deleted_at = 0`, shipperID).Scan(&n); err != nil {
			return handoff.Internal(err, "count webhooks")
		}
		if n >= MaxWebhooks {
			return handoff.Errorf(handoff.ECONFLICT, "At most %d webhooks per shipper.", MaxWebhooks)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO shipper_webhooks (id, shipper_id, url, sealed_secret, created_at) VALUES ($1, $2, $3, $4, $5)`,
			w.ID, shipperID, w.URL, d.Keys.Seal("webhook", []byte(w.Secret), []byte(w.ID)), micros(w.CreatedAt)); err != nil {
			return handoff.Internal(err, "insert webhook")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// ListWebhooks implements handoff.WebhookService.
func (d *DB) ListWebhooks(ctx context.Context, shipperID string) ([]handoff.Webhook, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, url, created_at FROM shipper_webhooks WHERE shipper_id = $1 AND deleted_at = 0 ORDER BY created_at, id`, shipperID)
	if err != nil {
		return nil, handoff.Internal(err, "list webhooks")
	}
	defer rows.Close()
	out := []handoff.Webhook{}
	for rows.Next() {
		var w handoff.Webhook
		var created int64
		if err := rows.Scan(&w.ID, &w.URL, &created); err != nil {
			return nil, handoff.Internal(err, "scan webhook")
		}
		w.CreatedAt = fromMicros(created)
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWebhook implements handoff.WebhookService.
func (d *DB) DeleteWebhook(ctx context.Context, shipperID, id string) error {
	res, err := d.exec(ctx, `UPDATE shipper_webhooks SET deleted_at = $1 WHERE id = $2 AND shipper_id = $3 AND deleted_at = 0`, micros(d.Now()), id, shipperID)
	if err != nil {
		return handoff.Internal(err, "delete webhook")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return handoff.NotFound("Webhook")
	}
	return nil
}

// ResolveWebhook returns where a delivery goes and the secret to sign it
// with; an error for a deleted endpoint, which the worker treats as final.
func (d *DB) ResolveWebhook(ctx context.Context, id string) (string, []byte, error) {
	var u, sealed string
	var deleted int64
	err := d.db.QueryRowContext(ctx, `SELECT url, sealed_secret, deleted_at FROM shipper_webhooks WHERE id = $1`, id).Scan(&u, &sealed, &deleted)
	if errors.Is(err, sql.ErrNoRows) || deleted > 0 {
		return "", nil, handoff.NotFound("Webhook")
	}
	if err != nil {
		return "", nil, handoff.Internal(err, "resolve webhook")
	}
	secret, err := d.Keys.Open("webhook", sealed, []byte(id))
	if err != nil {
		return "", nil, handoff.Internal(err, "open webhook secret")
	}
	return u, secret, nil
}

// webhookPayload is what a shipper's endpoint receives for one event.
type webhookPayload struct {
	Type       string        `json:"type"`
	TrackingID string        `json:"trackingId"`
	Event      webhookEvent  `json:"event"`
	Summary    webhookStatus `json:"summary"`
	// Proof is the signed proof of delivery (compact JWS), on the
	// Delivered event.
	Proof string `json:"proof,omitempty"`
}

type webhookEvent struct {
	Sequence   int               `json:"sequence"`
	EventCode  string            `json:"eventCode"`
	EventTime  string            `json:"eventTime"`
	Location   tracking.Location `json:"location"`
	DetailCode string            `json:"detailCode,omitempty"`
}

type webhookStatus struct {
	Status string `json:"status"`
}

// queueWebhooks writes one delivery per live webhook of the parcel's shipper
// for an event, in the event's transaction.
func (d *DB) queueWebhooks(ctx context.Context, tx *sql.Tx, trackingID string, seq int, e tracking.Event) error {
	return d.queueWebhooksOf(ctx, tx, map[string]loggedEvent{trackingID: {seq, e}}, `p.tracking_id = $1`, trackingID)
}

// loggedEvent is an event as recorded on its parcel.
type loggedEvent struct {
	seq int
	e   tracking.Event
}

// queueWebhooksOf writes the deliveries of events, by tracking ID, to the
// live webhooks of their parcels' shippers; where (on packages p) selects
// those parcels.
func (d *DB) queueWebhooksOf(ctx context.Context, tx *sql.Tx, events map[string]loggedEvent, where string, args ...any) error {
	rows, err := d.txQuery(ctx, tx, `SELECT w.id, p.tracking_id, p.status FROM shipper_webhooks w JOIN packages p ON p.shipper_id = w.shipper_id
		WHERE `+where+` AND w.deleted_at = 0`, args...)
	if err != nil {
		return handoff.Internal(err, "find webhooks")
	}
	type hit struct{ hookID, trackingID, status string }
	var hits []hit
	for rows.Next() {
		var h hit
		if err := rows.Scan(&h.hookID, &h.trackingID, &h.status); err != nil {
			rows.Close()
			return handoff.Internal(err, "find webhooks")
		}
		if _, ok := events[h.trackingID]; ok {
			hits = append(hits, h)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return handoff.Internal(err, "find webhooks")
	}
	// A Delivered event carries its signed proof of delivery.
	proofs := map[string]string{}
	now := micros(d.Now())
	var out [][]any
	for _, h := range hits {
		ev := events[h.trackingID]
		pod, ok := proofs[h.trackingID]
		if !ok && ev.e.Code == tracking.Delivered {
			if pod, err = latestProof(ctx, tx, h.trackingID); err != nil {
				return err
			}
			proofs[h.trackingID] = pod
		}
		body, _ := json.Marshal(webhookPayload{Type: "tracking.event", TrackingID: h.trackingID,
			Event: webhookEvent{Sequence: ev.seq, EventCode: ev.e.Code, EventTime: ev.e.Time.UTC().Format(time.RFC3339), Location: ev.e.Location,
				DetailCode: ev.e.Detail},
			Summary: webhookStatus{Status: h.status}, Proof: pod})
		out = append(out, []any{newID("whd_"), "wh|" + h.hookID + "|" + h.trackingID + "|" + itoa(ev.seq), MsgTrackingEvent, ChannelShipperWebhook, h.hookID, "",
			string(body), StatusPending, now, now})
	}
	if err := d.insertRows(ctx, tx, `INSERT INTO notifications (id, dedupe_key, kind, channel, recipient, lang, data, status, next_attempt_at, created_at) VALUES `,
		out, ` ON CONFLICT (dedupe_key) DO NOTHING`); err != nil {
		return handoff.Internal(err, "queue webhook")
	}
	return nil
}
