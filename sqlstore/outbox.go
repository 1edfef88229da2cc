package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/bag"
	"github.com/handoff-dev/handoff/market"
	"github.com/handoff-dev/handoff/notify"
)

// Notification kinds.
const (
	MsgShipped        = "shipped"          // picked up; a passcode will be needed
	MsgOutForDelivery = "out_for_delivery" // today's code, bag IDs
	MsgDelivered      = "delivered"        // how it was delivered
	MsgAttemptFailed  = "attempt_failed"   // what happens next
	MsgResend         = "resend"           // the code again, on the associate's request
	MsgReturning      = "returning"        // going back to the shipper
	MsgRefused        = "refused"          // a tampered bag refused: held for a case
)

// Channels.
const (
	ChannelSMS   = "sms"
	ChannelEmail = "email"
)

// codeKinds carry the day's passcode; the gift buyer gets them too.
var codeKinds = map[string]bool{MsgOutForDelivery: true, MsgResend: true}

type contactRow struct {
	trackingID  string
	bagID       string
	otp         bool
	mobile      string
	email       string
	buyerMobile string
	buyerEmail  string
	codeSet     string
	name        string
	buyerName   string
	shipper     string // the display name messages are signed with
	cod         bool
	photo       bool
	lang        string
	settings    handoff.Settings
}

// unmarshalIf decodes a JSON column into v unless it is empty.
func unmarshalIf(col string, v any) error {
	if col == "" {
		return nil
	}
	return json.Unmarshal([]byte(col), v)
}

// placeholders returns "$from, $from+1, …" for n arguments.
func placeholders(from, n int) string {
	p := make([]string, n)
	for i := range p {
		p[i] = "$" + strconv.Itoa(from+i)
	}
	return strings.Join(p, ", ")
}

// params is placeholders for the long lists of multi-row statements, which
// follow every other parameter of theirs: on SQLite, where "$n" is a named
// parameter that the parser and the driver look up by name (a cost that
// grows with the square of a statement's parameters), they are the
// positional "?", which take the numbers after the last one before them.
func (d *DB) params(from, n int) string {
	if d.Engine != SQLite {
		return placeholders(from, n)
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// enqueue writes the messages that an event about the parcels causes, in the
// caller's transaction, so a message exists exactly when its event does.
// Messages go only to the label's own phone and email (and, for code
// messages, the gift buyer's), on the channels the shipper has switched on,
// one message per address listing all of its parcels. scope makes the message
// unique: enqueueing the same scope twice adds nothing. For code messages,
// codeDate is the service date whose passcode the sender puts in.
func (d *DB) enqueue(ctx context.Context, tx *sql.Tx, kind, scope string, trackingIDs []string, data map[string]any, codeDate string) error {
	if len(trackingIDs) == 0 {
		return nil
	}
	args := make([]any, len(trackingIDs))
	for i, id := range trackingIDs {
		args[i] = id
	}
	contacts, err := d.readContacts(ctx, tx, `p.tracking_id IN (`+placeholders(1, len(args))+`)`, args...)
	if err != nil {
		return err
	}
	return d.writeMessages(ctx, tx, composeMessages(kind, scope, contacts, data, codeDate))
}

// readContacts returns what messages need of the parcels that match where
// (a condition on packages p), in the order of their tracking IDs.
func (d *DB) readContacts(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]contactRow, error) {
	rows, err := d.txQuery(ctx, tx, `SELECT p.tracking_id, p.bag_id, p.otp_required, s.recipient_mobile, s.recipient_email, s.buyer, s.buyer_mobile,
		s.code_set, s.ship_to, s.marketplace, ss.body, pr.name, s.payment_type,
		EXISTS (SELECT 1 FROM photos ph WHERE ph.tracking_id = p.tracking_id)
		FROM packages p JOIN shipments s ON s.id = p.shipment_id JOIN shipper_settings ss ON ss.shipper_id = p.shipper_id
		JOIN principals pr ON pr.id = p.shipper_id
		WHERE `+where+` ORDER BY p.tracking_id`, args...)
	if err != nil {
		return nil, handoff.Internal(err, "read contacts")
	}
	defer rows.Close()
	var contacts []contactRow
	for rows.Next() {
		var c contactRow
		var buyer, shipTo, mkt, body, payment string
		if err := rows.Scan(&c.trackingID, &c.bagID, &c.otp, &c.mobile, &c.email, &buyer, &c.buyerMobile, &c.codeSet, &shipTo, &mkt, &body,
			&c.shipper, &payment, &c.photo); err != nil {
			return nil, handoff.Internal(err, "scan contacts")
		}
		// A message to the wrong channels or in the wrong words is worse
		// than none: a row that cannot be read stops the event.
		var b handoff.Party
		c.cod = payment == handoff.CashOnDelivery
		var a handoff.Address
		set, setErr := decodeSettings(body)
		c.settings = set
		if err := errors.Join(unmarshalIf(buyer, &b), json.Unmarshal([]byte(shipTo), &a), setErr); err != nil {
			return nil, handoff.Internal(err, "read contacts of "+c.trackingID)
		}
		c.buyerEmail, c.buyerName, c.name = b.Email, b.Name, a.Name
		m, _ := market.Lookup(mkt)
		c.lang = m.Language
		if n := c.settings.Notifications.SenderName; n != "" {
			c.shipper = n
		}
		contacts = append(contacts, c)
	}
	if err := rows.Err(); err != nil {
		return nil, handoff.Internal(err, "read contacts")
	}
	return contacts, nil
}

// message is a notification to queue.
type message struct {
	kind, dedupe, channel, to, lang, body, codeSet, codeDate string
}

// composeMessages groups the contacts of one event's parcels into messages.
func composeMessages(kind, scope string, contacts []contactRow, data map[string]any, codeDate string) []message {
	// One message per address and code: a code message goes only to the
	// contacts of the labels whose parcels that code opens (their contact
	// set), so a recipient whose parcels come under two codes (another
	// shipper's label with another email, a gift) gets one message per code,
	// each naming only its own parcels. A parcel that needs no code joins the
	// first message to its address, with or without a code, since it gives
	// nothing away.
	type key struct{ channel, to, set string }
	type group struct {
		lang, name, buyerName, codeSet string
		ids, bags, shippers            []string
		buyer, needsCode, cod          bool
		photo                          string
	}
	groups := map[key]*group{}
	var order []key
	add := func(k key, c contactRow, buyer bool) {
		g, ok := groups[k]
		if !ok {
			g = &group{lang: c.lang, name: c.name, buyer: buyer, codeSet: k.set}
			groups[k] = g
			order = append(order, k)
		}
		if !slices.Contains(g.ids, c.trackingID) {
			g.ids = append(g.ids, c.trackingID)
			if g.buyerName == "" {
				g.buyerName = c.buyerName
			}
			if !slices.Contains(g.shippers, c.shipper) {
				g.shippers = append(g.shippers, c.shipper)
			}
			g.needsCode = g.needsCode || (c.otp && c.mobile != "")
			g.cod = g.cod || c.cod
			if c.photo && g.photo == "" {
				g.photo = c.trackingID
			}
			// Every message about a bagged parcel names its bag.
			if c.bagID != "" {
				g.bags = append(g.bags, bag.Format(c.bagID))
			}
		}
	}
	// firstTo finds the first message to an address, whatever its code.
	firstTo := func(channel, to string) (key, bool) {
		for _, k := range order {
			if k.channel == channel && k.to == to {
				return k, true
			}
		}
		return key{channel, to, ""}, false
	}
	withCode := func(c contactRow) bool { return codeKinds[kind] && c.otp && c.mobile != "" }
	for _, pass := range []bool{true, false} { // code parcels first, so plain ones can join them
		for _, c := range contacts {
			if withCode(c) != pass {
				continue
			}
			to := func(channel, addr string, buyer bool) {
				if pass {
					add(key{channel, addr, c.codeSet}, c, buyer)
					return
				}
				k, _ := firstTo(channel, addr)
				add(k, c, buyer)
			}
			if c.settings.Notifications.SMS && c.mobile != "" {
				to(ChannelSMS, c.mobile, false)
			}
			if c.settings.Notifications.Email && c.email != "" {
				to(ChannelEmail, c.email, false)
			}
			if pass {
				if c.settings.Notifications.SMS && c.buyerMobile != "" {
					to(ChannelSMS, c.buyerMobile, true)
				}
				if c.settings.Notifications.Email && c.buyerEmail != "" {
					to(ChannelEmail, c.buyerEmail, true)
				}
			}
		}
	}
	out := make([]message, 0, len(order))
	for _, k := range order {
		g := groups[k]
		msg := map[string]any{"trackingIds": g.ids, "recipientName": g.name, "passcode": g.codeSet != "", "toBuyer": g.buyer,
			"shipper": strings.Join(g.shippers, ", "), "needsCode": g.needsCode, "cod": g.cod}
		if g.buyer {
			msg["buyerName"] = g.buyerName
		}
		if g.photo != "" && !g.buyer { // the photo is the recipient's
			msg["photo"] = g.photo
		}
		if len(g.bags) > 0 {
			msg["bagIds"] = g.bags
		}
		for name, v := range data {
			msg[name] = v
		}
		body, _ := json.Marshal(msg)
		m := message{kind: kind, dedupe: kind + "|" + scope + "|" + k.channel + "|" + k.to, channel: k.channel, to: k.to, lang: g.lang, body: string(body)}
		if g.codeSet != "" {
			m.codeSet, m.codeDate, m.dedupe = g.codeSet, codeDate, m.dedupe+"|"+g.codeSet
		}
		out = append(out, m)
	}
	return out
}

// writeMessages queues messages in tx. The key each code message's code
// is derived with is fixed now, so a key rotated before the message goes
// out does not change it.
func (d *DB) writeMessages(ctx context.Context, tx *sql.Tx, msgs []message) error {
	if len(msgs) == 0 {
		return nil
	}
	type codeDay struct{ set, date string }
	var keys [][]any
	seen := map[codeDay]bool{}
	for _, m := range msgs {
		if cd := (codeDay{m.codeSet, m.codeDate}); m.codeSet != "" && !seen[cd] {
			if d.Keys == nil {
				return handoff.Internal(nil, "no keyring configured")
			}
			seen[cd] = true
			keys = append(keys, []any{m.codeSet, m.codeDate, d.Keys.ActiveID()})
		}
	}
	if len(keys) > 0 {
		if err := d.insertRows(ctx, tx, `INSERT INTO passcode_sets (code_set, service_date, key_id) VALUES `, keys, ` ON CONFLICT DO NOTHING`); err != nil {
			return handoff.Internal(err, "fix passcode key")
		}
	}
	now := micros(d.Now())
	rows := make([][]any, len(msgs))
	for i, m := range msgs {
		rows[i] = []any{newID("msg_"), m.dedupe, m.kind, m.channel, m.to, m.lang, m.body, m.codeSet, m.codeDate, StatusPending, now, now}
	}
	if err := d.insertRows(ctx, tx, `INSERT INTO notifications (id, dedupe_key, kind, channel, recipient, lang, data, passcode_set, passcode_date,
		status, next_attempt_at, created_at) VALUES `, rows, ` ON CONFLICT (dedupe_key) DO NOTHING`); err != nil {
		return handoff.Internal(err, "enqueue notification")
	}
	return nil
}

// Notification statuses.
const (
	StatusPending = "pending"
	StatusSent    = "sent"
	StatusDead    = "dead"
)

// maxClaimExcept bounds the recipients a claim skips; beyond it they are
// claimed and the worker puts them back.
const maxClaimExcept = 100

// ClaimNotifications implements notify.Store. The CTE picks due, unleased
// messages in the order they fall due and stops at limit; it is materialised,
// so it runs once: PostgreSQL may run a `WHERE id IN (SELECT … LIMIT n FOR
// UPDATE SKIP LOCKED)` once per row, each run skipping the rows the statement
// has just updated and taking the next n, until one claim held the whole
// backlog. SKIP LOCKED lets nodes claim side by side; the UPDATE repeats the
// lease condition, so a row claimed meanwhile is not claimed twice. The
// messages come back oldest first.
func (d *DB) ClaimNotifications(ctx context.Context, channel string, limit int, lease time.Duration, except ...string) ([]notify.Queued, error) {
	now := d.Now()
	token := auth.Random(16)
	args := []any{token, micros(now.Add(lease)), channel, micros(now), limit}
	skip := ""
	if len(except) > maxClaimExcept {
		except = except[:maxClaimExcept]
	}
	if len(except) > 0 {
		skip = " AND recipient NOT IN (" + placeholders(len(args)+1, len(except)) + ")"
		for _, r := range except {
			args = append(args, r)
		}
	}
	lock := ""
	if d.Engine == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var out []notify.Queued
	err := d.writeRows(ctx, func(rows *sql.Rows) error {
		q := notify.Queued{Token: token}
		var data string
		var created int64
		if err := rows.Scan(&q.ID, &q.Kind, &q.Channel, &q.To, &q.Lang, &data, &q.PasscodeSet, &q.PasscodeDate, &q.Attempts, &created); err != nil {
			return err
		}
		q.Data, q.Created = json.RawMessage(data), fromMicros(created)
		out = append(out, q)
		return nil
	}, `WITH picked AS MATERIALIZED (
			SELECT id AS picked_id FROM notifications
			WHERE status = 'pending' AND channel = $3 AND next_attempt_at <= $4 AND claimed_until <= $4`+skip+`
			ORDER BY next_attempt_at, id LIMIT $5`+lock+`)
		UPDATE notifications SET claim_token = $1, claimed_until = $2, attempts = attempts + 1
		FROM picked WHERE id = picked_id AND status = 'pending' AND claimed_until <= $4
		RETURNING id, kind, channel, recipient, lang, data, passcode_set, passcode_date, attempts, created_at`, args...)
	if err != nil {
		return nil, handoff.Internal(err, "claim notifications")
	}
	// RETURNING keeps no order.
	slices.SortFunc(out, func(a, b notify.Queued) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RenewNotifications implements notify.Store. A claim by another node
// changes the token, so a message whose lease was taken over is not renewed.
func (d *DB) RenewNotifications(ctx context.Context, token string, ids []string, lease time.Duration) ([]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	args := []any{micros(d.Now().Add(lease)), token}
	for _, id := range ids {
		args = append(args, id)
	}
	var out []string
	err := d.writeRows(ctx, func(rows *sql.Rows) error {
		var id string
		err := rows.Scan(&id)
		out = append(out, id)
		return err
	}, `UPDATE notifications SET claimed_until = $1
		WHERE claim_token = $2 AND `+pendingByID+` AND id IN (`+placeholders(3, len(ids))+`) RETURNING id`, args...)
	if err != nil {
		return nil, handoff.Internal(err, "renew notifications")
	}
	return out, nil
}

// settle runs an UPDATE of a claimed message; notify.ErrLeaseLost when the
// claim is no longer the caller's.
func (d *DB) settle(ctx context.Context, what, query string, args ...any) error {
	res, err := d.exec(ctx, query, args...)
	if err != nil {
		return handoff.Internal(err, what)
	}
	if n, err := res.RowsAffected(); err != nil {
		return handoff.Internal(err, what)
	} else if n == 0 {
		return notify.ErrLeaseLost
	}
	return nil
}

// MarkSent implements notify.Store.
func (d *DB) MarkSent(ctx context.Context, id, token string) error {
	return d.settle(ctx, "mark sent", `UPDATE notifications SET status = 'sent', sent_at = $1, claimed_until = 0, last_error = ''
		WHERE id = $2 AND claim_token = $3 AND status = 'pending'`, micros(d.Now()), id, token)
}

// pendingByID is "the message is still pending" for statements that find
// their messages by a list of IDs. Written plainly (status = 'pending'),
// SQLite, which keeps no statistics here, takes a list of five IDs or more
// as costlier than the pending messages' range of notifications_status_created
// and reads the whole outbox backlog to settle twenty messages (4 ms a mark
// with 13,000 waiting); through COALESCE (status is never NULL) the term
// cannot use an index, so the IDs are looked up one by one.
// TestOutboxSettlesByID checks the plans.
const pendingByID = `COALESCE(status, '') = 'pending'`

// MarkSentAll implements notify.Store.
func (d *DB) MarkSentAll(ctx context.Context, token string, ids []string) ([]string, error) {
	var out []string
	for chunk := range slices.Chunk(ids, maxInList) {
		args := []any{micros(d.Now()), token}
		for _, id := range chunk {
			args = append(args, id)
		}
		err := d.writeRows(ctx, func(rows *sql.Rows) error {
			var id string
			err := rows.Scan(&id)
			out = append(out, id)
			return err
		}, `UPDATE notifications SET status = 'sent', sent_at = $1, claimed_until = 0, last_error = ''
			WHERE claim_token = $2 AND `+pendingByID+` AND id IN (`+placeholders(3, len(chunk))+`) RETURNING id`, args...)
		if err != nil {
			return out, handoff.Internal(err, "mark sent")
		}
	}
	return out, nil
}

// MarkFailed implements notify.Store.
func (d *DB) MarkFailed(ctx context.Context, id, token, lastErr string, retryAt time.Time, dead bool) error {
	status := StatusPending
	if dead {
		status = StatusDead
	}
	return d.settle(ctx, "mark failed", `UPDATE notifications SET status = $1, next_attempt_at = $2, claimed_until = 0, last_error = $3
		WHERE id = $4 AND claim_token = $5 AND status = 'pending'`, status, micros(retryAt), lastErr, id, token)
}

// ReleaseNotification implements notify.Store.
func (d *DB) ReleaseNotification(ctx context.Context, id, token string, retryAt time.Time) error {
	return d.settle(ctx, "release notification", `UPDATE notifications SET next_attempt_at = $1, claimed_until = 0, attempts = attempts - 1
		WHERE id = $2 AND claim_token = $3 AND status = 'pending'`, micros(retryAt), id, token)
}

// DeferRecipient implements notify.Store. Messages claimed meanwhile are
// left to their claimant.
func (d *DB) DeferRecipient(ctx context.Context, channel, recipient string, until time.Time) (int, error) {
	// Webhook endpoints are the recipients held back (see notify's pool):
	// their messages are found through the index of webhook deliveries by
	// recipient, which the planner takes only for the channel written out,
	// and only when the pending term (pendingByID) does not offer it the
	// channel's whole backlog of pending messages instead.
	where := `status = 'pending' AND channel = $2`
	if channel == ChannelShipperWebhook {
		where = pendingByID + ` AND channel = $2 AND ` + webhookChannel
	}
	res, err := d.exec(ctx, `UPDATE notifications SET next_attempt_at = $1
		WHERE `+where+` AND recipient = $3 AND next_attempt_at < $1 AND claimed_until <= $4`,
		micros(until), channel, recipient, micros(d.Now()))
	if err != nil {
		return 0, handoff.Internal(err, "defer notifications")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, handoff.Internal(err, "defer notifications")
	}
	return int(n), nil
}

// ListNotifications returns the newest messages of a status (all when
// empty), through the index of that list.
func (d *DB) ListNotifications(ctx context.Context, status string, limit int) ([]notify.Entry, error) {
	if limit <= 0 || limit > 500 {
		limit = 100
	}
	const cols = `SELECT id, kind, channel, recipient, status, attempts, last_error, created_at, next_attempt_at FROM notifications`
	var rows *sql.Rows
	var err error
	if status == "" {
		rows, err = d.db.QueryContext(ctx, cols+` ORDER BY created_at DESC, id DESC LIMIT $1`, limit)
	} else {
		rows, err = d.db.QueryContext(ctx, cols+` WHERE status = $1 ORDER BY created_at DESC, id DESC LIMIT $2`, status, limit)
	}
	if err != nil {
		return nil, handoff.Internal(err, "list notifications")
	}
	defer rows.Close()
	out := []notify.Entry{}
	for rows.Next() {
		var e notify.Entry
		var created, next int64
		if err := rows.Scan(&e.ID, &e.Kind, &e.Channel, &e.Recipient, &e.Status, &e.Attempts, &e.LastError, &created, &next); err != nil {
			return nil, handoff.Internal(err, "scan notification")
		}
		e.CreatedAt, e.NextTry = fromMicros(created), fromMicros(next)
		out = append(out, e)
	}
	return out, rows.Err()
}

// RetryNotification puts a dead message back in the queue.
func (d *DB) RetryNotification(ctx context.Context, id string) error {
	res, err := d.exec(ctx, `UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = $1, claimed_until = 0
		WHERE id = $2 AND status = 'dead'`, micros(d.Now()), id)
	if err != nil {
		return handoff.Internal(err, "retry notification")
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return handoff.NotFound("Dead notification")
	}
	return nil
}
