package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/audit"
	"github.com/handoff-dev/handoff/tracking"
)

// ChannelShipperWebhook is the outbox channel of shipper webhook deliveries.
const ChannelShipperWebhook = "shipper_webhook"

// webhookChannel is the condition of the index of webhook deliveries by
// recipient (migration 026), written out: a partial index serves only a
// statement whose own condition names its channel as a literal, not as a
// parameter.
const webhookChannel = `channel = '` + ChannelShipperWebhook + `'`

// MsgTrackingEvent is the kind of a webhook delivery.
const MsgTrackingEvent = "tracking_event"

// MaxWebhooks bounds the endpoints of one shipper.
const MaxWebhooks = 10

// CreateWebhook implements handoff.WebhookService's store part: it keeps an
// endpoint whose URL the use-case (package shipperhooks) accepted, within
// the shipper's limit.
func (d *DB) CreateWebhook(ctx context.Context, shipperID, raw string) (*handoff.Webhook, error) {
	w := &handoff.Webhook{ID: newID("wh_"), URL: raw, CreatedAt: d.Now(), Secret: newWebhookSecret()}
	err := d.tx(ctx, func(tx *sql.Tx) error {
		if err := d.lockPrincipal(ctx, tx, shipperID); err != nil {
			return err
		}
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
		return d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionWebhook + "created", Actor: shipperID, Subject: w.ID, Outcome: audit.OutcomeOK})
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// ListWebhooks implements handoff.WebhookService.
func (d *DB) ListWebhooks(ctx context.Context, shipperID string) ([]handoff.Webhook, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, url, created_at, previous_until FROM shipper_webhooks WHERE shipper_id = $1 AND deleted_at = 0 ORDER BY created_at, id`, shipperID)
	if err != nil {
		return nil, handoff.Internal(err, "list webhooks")
	}
	defer rows.Close()
	out := []handoff.Webhook{}
	for rows.Next() {
		var w handoff.Webhook
		var created, until int64
		if err := rows.Scan(&w.ID, &w.URL, &created, &until); err != nil {
			return nil, handoff.Internal(err, "scan webhook")
		}
		w.CreatedAt = fromMicros(created)
		if until > micros(d.Now()) {
			t := fromMicros(until)
			w.PreviousSecretUntil = &t
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// DeleteWebhook implements handoff.WebhookService.
func (d *DB) DeleteWebhook(ctx context.Context, shipperID, id string) error {
	return d.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE shipper_webhooks SET deleted_at = $1 WHERE id = $2 AND shipper_id = $3 AND deleted_at = 0`, micros(d.Now()), id, shipperID)
		if err != nil {
			return handoff.Internal(err, "delete webhook")
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return handoff.NotFound("Webhook")
		}
		return d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionWebhook + "deleted", Actor: shipperID, Subject: id, Outcome: audit.OutcomeOK})
	})
}

// newWebhookSecret returns a fresh signing secret in the Standard Webhooks
// form: "whsec_" and the standard base64 of 32 random bytes, which is what
// its libraries decode. (Secrets made before used URL-safe base64 without
// padding; notify.WebhookKey reads both.)
func newWebhookSecret() string {
	key := make([]byte, 32)
	rand.Read(key)
	return "whsec_" + base64.StdEncoding.EncodeToString(key)
}

// ResolveWebhook returns where a delivery goes and the secrets to sign it
// with, the current one first, then the one replaced by the last rotation
// while its overlap lasts; an ENOTFOUND error for a deleted endpoint, which
// the worker treats as final.
func (d *DB) ResolveWebhook(ctx context.Context, id string) (string, [][]byte, error) {
	var u, sealed, prev string
	var deleted, until int64
	err := d.db.QueryRowContext(ctx, `SELECT url, sealed_secret, deleted_at, previous_sealed_secret, previous_until FROM shipper_webhooks WHERE id = $1`, id).
		Scan(&u, &sealed, &deleted, &prev, &until)
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
	secrets := [][]byte{secret}
	if prev != "" && until > micros(d.Now()) {
		old, err := d.Keys.Open("webhook", prev, []byte(id))
		if err != nil {
			return "", nil, handoff.Internal(err, "open previous webhook secret")
		}
		secrets = append(secrets, old)
	}
	return u, secrets, nil
}

// RotateWebhookSecret implements handoff.WebhookService. The current secret
// becomes the previous one, replacing any earlier previous one.
func (d *DB) RotateWebhookSecret(ctx context.Context, shipperID, id string, overlap time.Duration) (*handoff.Webhook, error) {
	if overlap < 0 || overlap > handoff.MaxSecretOverlap {
		return nil, handoff.Invalid(handoff.FieldError{Field: "overlapHours", Message: "must be from 0 to " + itoa(int(handoff.MaxSecretOverlap/time.Hour))})
	}
	now := d.Now()
	w := &handoff.Webhook{ID: id, Secret: newWebhookSecret()}
	until := int64(0)
	if overlap > 0 {
		t := now.Add(overlap)
		until, w.PreviousSecretUntil = micros(t), &t
	}
	// One statement, so that two rotations at once each keep the secret
	// they replaced (SET reads the row as it was).
	previous := "''"
	if until > 0 {
		previous = "sealed_secret"
	}
	var created int64
	err := d.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE shipper_webhooks SET sealed_secret = $1, previous_until = $2, previous_sealed_secret = `+previous+`
			WHERE id = $3 AND shipper_id = $4 AND deleted_at = 0 RETURNING url, created_at`,
			d.Keys.Seal("webhook", []byte(w.Secret), []byte(id)), until, id, shipperID).Scan(&w.URL, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return handoff.NotFound("Webhook")
		}
		if err != nil {
			return handoff.Internal(err, "rotate webhook secret")
		}
		return d.appendAudit(ctx, tx, audit.Entry{Action: audit.ActionWebhook + "rotated", Actor: shipperID, Subject: id, Outcome: audit.OutcomeOK,
			Detail: "overlap=" + overlap.String()})
	})
	if err != nil {
		return nil, err
	}
	w.CreatedAt = fromMicros(created)
	return w, nil
}

// MsgWebhookTest is the kind of a test delivery.
const MsgWebhookTest = "webhook_test"

// deliveryTypes are the payload types of the delivery kinds.
var deliveryTypes = map[string]string{MsgTrackingEvent: "tracking.event", MsgWebhookTest: "webhook.test"}

// ownWebhook returns ENOTFOUND unless the live webhook is the shipper's.
func (d *DB) ownWebhook(ctx context.Context, shipperID, id string) error {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM shipper_webhooks WHERE id = $1 AND shipper_id = $2 AND deleted_at = 0`, id, shipperID).Scan(&n); err != nil {
		return handoff.Internal(err, "find webhook")
	}
	if n == 0 {
		return handoff.NotFound("Webhook")
	}
	return nil
}

// SendTestEvent implements handoff.WebhookService. The test goes through
// the outbox like any event, so it is signed, retried and logged the same.
func (d *DB) SendTestEvent(ctx context.Context, shipperID, id string) (*handoff.WebhookDelivery, error) {
	if err := d.ownWebhook(ctx, shipperID, id); err != nil {
		return nil, err
	}
	now := d.Now()
	dl := &handoff.WebhookDelivery{ID: newID("whd_"), Type: deliveryTypes[MsgWebhookTest], Status: StatusPending, CreatedAt: now, NextAttemptAt: &now}
	body, _ := json.Marshal(map[string]any{"type": dl.Type, "timestamp": now.UTC().Format(time.RFC3339), "webhookId": id})
	if _, err := d.exec(ctx, `INSERT INTO notifications (id, dedupe_key, kind, channel, recipient, lang, data, status, next_attempt_at, created_at)
		VALUES ($1, $2, $3, $4, $5, '', $6, 'pending', $7, $7)`,
		dl.ID, "wh|"+id+"|test|"+dl.ID, MsgWebhookTest, ChannelShipperWebhook, id, string(body), micros(now)); err != nil {
		return nil, handoff.Internal(err, "queue test event")
	}
	return dl, nil
}

// ListDeliveries implements handoff.WebhookService.
func (d *DB) ListDeliveries(ctx context.Context, shipperID, id string, limit int) ([]handoff.WebhookDelivery, error) {
	if err := d.ownWebhook(ctx, shipperID, id); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	rows, err := d.db.QueryContext(ctx, `SELECT id, kind, data, status, attempts, last_error, created_at, next_attempt_at, sent_at FROM notifications
		WHERE recipient = $1 AND `+webhookChannel+` ORDER BY created_at DESC, id DESC LIMIT $2`, id, limit)
	if err != nil {
		return nil, handoff.Internal(err, "list deliveries")
	}
	defer rows.Close()
	out := []handoff.WebhookDelivery{}
	for rows.Next() {
		var dl handoff.WebhookDelivery
		var kind, data string
		var created, next, sent int64
		if err := rows.Scan(&dl.ID, &kind, &data, &dl.Status, &dl.Attempts, &dl.LastError, &created, &next, &sent); err != nil {
			return nil, handoff.Internal(err, "scan delivery")
		}
		dl.Type, dl.CreatedAt = deliveryTypes[kind], fromMicros(created)
		var body struct {
			TrackingID string `json:"trackingId"`
		}
		json.Unmarshal([]byte(data), &body)
		dl.TrackingID = body.TrackingID
		switch dl.Status {
		case StatusPending:
			t := fromMicros(next)
			dl.NextAttemptAt = &t
		case StatusSent:
			t := fromMicros(sent)
			dl.SentAt = &t
		}
		out = append(out, dl)
	}
	return out, rows.Err()
}

// webhookPayload is what a shipper's endpoint receives for one event.
type webhookPayload struct {
	Type string `json:"type"`
	// Timestamp is when the event happened (Standard Webhooks' field).
	Timestamp  string `json:"timestamp"`
	TrackingID string `json:"trackingId"`
	ShipmentID string `json:"shipmentId"`
	// Reference is the shipper's own reference of the package.
	Reference string        `json:"packageClientReferenceId"`
	Event     webhookEvent  `json:"event"`
	Summary   webhookStatus `json:"summary"`
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
	rows, err := d.txQuery(ctx, tx, `SELECT w.id, p.tracking_id, p.status, p.shipment_id, p.client_ref FROM shipper_webhooks w JOIN packages p ON p.shipper_id = w.shipper_id
		WHERE `+where+` AND w.deleted_at = 0`, args...)
	if err != nil {
		return handoff.Internal(err, "find webhooks")
	}
	type hit struct{ hookID, trackingID, status, shipment, ref string }
	var hits []hit
	for rows.Next() {
		var h hit
		if err := rows.Scan(&h.hookID, &h.trackingID, &h.status, &h.shipment, &h.ref); err != nil {
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
		at := ev.e.Time.UTC().Format(time.RFC3339)
		body, _ := json.Marshal(webhookPayload{Type: deliveryTypes[MsgTrackingEvent], Timestamp: at, TrackingID: h.trackingID, ShipmentID: h.shipment, Reference: h.ref,
			Event:   webhookEvent{Sequence: ev.seq, EventCode: ev.e.Code, EventTime: at, Location: ev.e.Location, DetailCode: ev.e.Detail},
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
