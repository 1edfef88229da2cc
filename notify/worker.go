package notify

import (
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// Queued is a message as the outbox holds it: never with a code in it.
type Queued struct {
	ID, Token, Kind, Channel, To, Lang string
	Data                               json.RawMessage
	PasscodeSet, PasscodeDate          string // the code to put in when sending: a contact set's of a day
	Attempts                           int    // including this one
	Created                            time.Time
}

// Store is what the worker needs of the outbox.
type Store interface {
	// ClaimNotifications leases up to limit due messages of a channel to the
	// caller, oldest first, leaving out those to the recipients in except; a
	// claim that is neither settled nor renewed before its lease ends is
	// claimed again by someone else.
	ClaimNotifications(ctx context.Context, channel string, limit int, lease time.Duration, except ...string) ([]Queued, error)
	// RenewNotifications extends the lease of those of ids still claimed
	// under token, and returns them.
	RenewNotifications(ctx context.Context, token string, ids []string, lease time.Duration) ([]string, error)
	// MarkSent settles a claimed message as sent; ErrLeaseLost, changing
	// nothing, when the claim is no longer the caller's.
	MarkSent(ctx context.Context, id, token string) error
	// MarkSentAll is MarkSent for several messages claimed under one token,
	// in one statement; it returns those it marked (the others' claims were
	// lost).
	MarkSentAll(ctx context.Context, token string, ids []string) ([]string, error)
	// MarkFailed records a failed attempt: retry at retryAt, or dead;
	// ErrLeaseLost as MarkSent.
	MarkFailed(ctx context.Context, id, token, lastErr string, retryAt time.Time, dead bool) error
	// ReleaseNotification gives a claimed message back unsent, due at
	// retryAt, without using an attempt; ErrLeaseLost as MarkSent.
	ReleaseNotification(ctx context.Context, id, token string, retryAt time.Time) error
	// DeferRecipient puts off the unclaimed messages of a channel to one
	// recipient until then, without using attempts, and returns how many.
	DeferRecipient(ctx context.Context, channel, recipient string, until time.Time) (int, error)
	// Passcode derives the code of a contact set (see package passcode) of a
	// day, for the moment of sending.
	Passcode(ctx context.Context, set, date string) (string, error)
}

// Worker delivers queued messages. Each channel has its own loop, so a
// provider that fails or hangs holds up only its own messages; shippers'
// webhooks, which go to many endpoints, are sent by a pool (see
// EndpointLimits), so an endpoint that fails or hangs holds up only its own.
type Worker struct {
	Store   Store
	Senders map[string]Sender // by channel
	Log     *slog.Logger
	Now     func() time.Time
	// PublicURL is the base URL people reach the server at, for the links
	// in messages.
	PublicURL string
	// Unseal opens secrets sealed into a message's data (sign-in codes).
	Unseal func(purpose, sealed string) ([]byte, error)

	// Observe, when set, is told each attempt's channel and outcome (sent,
	// retry, dead), for metrics.
	Observe func(channel, outcome string)

	MaxAttempts int // then the message is dead (default 8)
	// Lease is how long a claim keeps other workers off a message (default
	// 1 minute). A send starts only when the lease has SendTimeout and a
	// margin left, renewed first if need be, so a send never outlives it.
	Lease time.Duration
	// SendTimeout bounds one send (default 15 seconds, at most Lease/2).
	SendTimeout time.Duration
	Poll        time.Duration // default 500ms
	// Concurrency is how many messages of a channel are sent at once
	// (default 1, one after another). A provider's answer takes its round
	// trip: at 100 ms a message, one at a time is 10 a second, and a
	// morning's codes would take hours to go out. Messages to one
	// recipient still go one after another, in the order they were queued.
	Concurrency int
	// Batch is how many messages one claim takes (default 100). A claim
	// and its mark are a store write each, shared by the whole batch, so
	// the batch sets what they cost a message: 20 a claim cost 96 µs of
	// CPU a message, 100 cost 62 µs (BenchmarkSendMessage). Sends within a
	// batch go one after another, and the lease is renewed for those still
	// waiting whenever a send could outlive it (see claim.hold).
	Batch int
	// Endpoints bounds the sending of shippers' webhooks.
	Endpoints EndpointLimits

	setup sync.Once
}

// defaults fills the settings left zero, once, before the first claim: the
// channels' loops share the worker.
func (w *Worker) defaults() { w.setup.Do(w.fill) }

func (w *Worker) fill() {
	if w.MaxAttempts == 0 {
		w.MaxAttempts = 8
	}
	if w.Lease == 0 {
		w.Lease = time.Minute
	}
	if w.SendTimeout == 0 {
		w.SendTimeout = 15 * time.Second
	}
	if w.SendTimeout > w.Lease/2 { // only when it must change: RunOnce calls this from every channel's loop at once
		w.SendTimeout = w.Lease / 2
	}
	if w.Poll == 0 {
		w.Poll = 500 * time.Millisecond
	}
	if w.Batch == 0 {
		w.Batch = 100
	}
	if w.Concurrency < 1 {
		w.Concurrency = 1
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.Log == nil {
		w.Log = slog.Default()
	}
}

// Run delivers until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	w.defaults()
	var wg sync.WaitGroup
	for ch, s := range w.Senders {
		wg.Add(1)
		if ch == ShipperWebhook {
			go func() { defer wg.Done(); newPool(w, ch, s).run(ctx) }()
			continue
		}
		go func() {
			defer wg.Done()
			defer w.release(ch)
			t := time.NewTicker(w.Poll)
			defer t.Stop()
			for {
				for first := true; ; first = false {
					n, err := w.RunOnce(ctx, ch)
					if err != nil && ctx.Err() == nil {
						w.Log.Error("notification claim failed", "channel", ch, "err", err)
					}
					if n == 0 && first {
						// A whole poll went by with nothing due: the
						// kept connections go. While messages keep
						// coming they stay open from one batch to the
						// next instead of being dialled again.
						w.release(ch)
					}
					if n == 0 || err != nil {
						break
					}
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	wg.Wait()
}

// RunOnce claims one batch of a channel's due messages and tries each. It
// returns how many it claimed.
func (w *Worker) RunOnce(ctx context.Context, channel string) (int, error) {
	w.defaults()
	sender, ok := w.Senders[channel]
	if !ok {
		return 0, nil
	}
	start := w.Now()
	batch, err := w.Store.ClaimNotifications(ctx, channel, w.Batch, w.Lease)
	if err != nil {
		return 0, err
	}
	c := &claim{w: w, batch: batch, until: start.Add(w.Lease), done: map[string]bool{}}
	// A sent message is marked while the next one goes out, and the batch
	// ends when every mark has: the marks that wait together are written
	// in one statement and one commit instead of one each.
	m := w.startMarker(ctx, sender.Name(), len(batch))
	defer m.wait()
	send := func(i int) {
		if timeout, ok := c.hold(ctx, i); ok {
			w.deliver(ctx, sender, batch[i], timeout, m)
		}
	}
	if w.Concurrency == 1 {
		for i := range batch {
			send(i)
		}
		return len(batch), nil
	}
	// Each recipient's messages go in order on one goroutine; up to
	// Concurrency recipients at once.
	var wg sync.WaitGroup
	slots := make(chan struct{}, w.Concurrency)
	for _, group := range byRecipient(batch) {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			for _, i := range group {
				send(i)
			}
		})
	}
	wg.Wait()
	return len(batch), nil
}

// byRecipient groups the indexes of a batch's messages by recipient, each
// group in the batch's order, the groups in the order of their first
// message.
func byRecipient(batch []Queued) [][]int {
	at := map[string]int{}
	var groups [][]int
	for i, q := range batch {
		g, ok := at[q.To]
		if !ok {
			g = len(groups)
			at[q.To] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// marker marks the messages of one claim sent, in groups: it waits until
// the claim's sends are over, or the oldest message sent and not yet marked
// has waited maxWait, and then marks all those waiting in one statement.
// Marking each message as it went out cost a store write and, most often,
// a commit of its own per message (the writer was idle between sends),
// which was more than the send; a claim whose sends take a few milliseconds
// is now marked once. maxWait is well inside the margin a sent message has
// to be marked in before its lease ends (see claim.hold), so that a slow
// provider's messages are still marked long before another node may take
// them over.
type marker struct {
	w        *Worker
	ctx      context.Context
	provider string
	maxWait  time.Duration
	sent     chan Queued
	done     chan struct{}
}

// maxMarkWait bounds how long a sent message waits to be marked.
const maxMarkWait = 50 * time.Millisecond

func (w *Worker) startMarker(ctx context.Context, provider string, n int) *marker {
	wait := min(maxMarkWait, (w.Lease-w.SendTimeout)/8)
	m := &marker{w: w, ctx: ctx, provider: provider, maxWait: wait, sent: make(chan Queued, n), done: make(chan struct{})}
	go m.run()
	return m
}

// add queues a sent message for marking; the channel holds the whole claim,
// so it never blocks the sending.
func (m *marker) add(q Queued) { m.sent <- q }

// wait returns when every message added has been marked (or its mark
// failed and was logged).
func (m *marker) wait() {
	close(m.sent)
	<-m.done
}

func (m *marker) run() {
	defer close(m.done)
	var group []Queued
	timer := time.NewTimer(m.maxWait)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case q, ok := <-m.sent:
			if !ok {
				if len(group) > 0 {
					m.mark(group)
				}
				return
			}
			if group = append(group, q); len(group) == 1 {
				timer.Reset(m.maxWait)
			}
			if len(group) < cap(m.sent) {
				continue
			}
		case <-timer.C:
		}
		timer.Stop()
		if len(group) > 0 {
			m.mark(group)
		}
		group = nil
	}
}

// mark settles a group of messages sent under one claim.
func (m *marker) mark(group []Queued) {
	w := m.w
	ids := make([]string, len(group))
	for i, q := range group {
		ids[i] = q.ID
	}
	marked, err := w.Store.MarkSentAll(m.ctx, group[0].Token, ids)
	for _, q := range group {
		switch {
		case err != nil:
			w.logMessage(m.ctx, slog.LevelError, "notification sent but not marked; it may be sent again with the same ID", q, m.provider, slog.Any("err", err))
		case !slices.Contains(marked, q.ID):
			w.logMessage(m.ctx, slog.LevelError, "notification sent but not marked; it may be sent again with the same ID", q, m.provider, slog.Any("err", ErrLeaseLost))
		default:
			w.logMessage(m.ctx, slog.LevelInfo, "notification sent", q, m.provider)
			w.observe(q.Channel, "sent")
		}
	}
}

// logMessage logs what happened to a message by its ID, kind, channel,
// provider and attempt, never its text (which may hold a code). Its
// attributes are put together only when the level is logged: a logger made
// With them for every message cost more than the rest of its log line.
func (w *Worker) logMessage(ctx context.Context, level slog.Level, msg string, q Queued, provider string, extra ...slog.Attr) {
	if !w.Log.Enabled(ctx, level) {
		return
	}
	attrs := append([]slog.Attr{slog.String("message_id", q.ID), slog.String("kind", q.Kind), slog.String("channel", q.Channel),
		slog.String("provider", provider), slog.Int("attempt", q.Attempts)}, extra...)
	w.Log.LogAttrs(ctx, level, msg, attrs...)
}

// claim is a batch claimed together under one token.
type claim struct {
	mu    sync.Mutex // hold is called by the sends of a batch side by side
	w     *Worker
	batch []Queued
	until time.Time       // the lease's end as this worker reckons it: early, as it read the clock before the store did
	done  map[string]bool // started, given back or lost: no longer renewed
}

// hold returns the time the send of message i may take, renewing the lease of
// the messages still waiting first when less than a send and a margin is left
// of it. It returns false when the message is no longer this worker's, or the
// lease cannot be renewed: another worker may then send it, so this one must
// not start.
func (c *claim) hold(ctx context.Context, i int) (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w, q := c.w, c.batch[i]
	margin := (w.Lease - w.SendTimeout) / 2 // for settling the message and clocks that differ between nodes
	now := w.Now()
	if c.done[q.ID] {
		return 0, false
	}
	if c.until.Sub(now) < w.SendTimeout+margin {
		var ids []string
		for _, r := range c.batch {
			if !c.done[r.ID] {
				ids = append(ids, r.ID)
			}
		}
		held, err := w.Store.RenewNotifications(ctx, q.Token, ids, w.Lease)
		if err != nil {
			if ctx.Err() == nil {
				w.Log.Error("notification lease not renewed; the message goes when it ends", "message_id", q.ID, "channel", q.Channel, "err", err)
			}
			c.done[q.ID] = true // not renewed by its neighbours' sends either
			return 0, false
		}
		c.until = now.Add(w.Lease)
		for _, id := range ids {
			c.done[id] = !slices.Contains(held, id)
		}
		if c.done[q.ID] {
			w.Log.Warn("notification lease taken over by another worker; not sending", "message_id", q.ID, "channel", q.Channel)
			return 0, false
		}
	}
	c.done[q.ID] = true
	return min(w.SendTimeout, c.until.Sub(now)-margin), true
}

// Drain runs every channel until nothing is due, for tests and shutdown,
// and then lets the kept connections go.
func (w *Worker) Drain(ctx context.Context) error {
	w.defaults()
	for ch := range w.Senders {
		for {
			n, err := w.RunOnce(ctx, ch)
			if err != nil {
				w.release(ch)
				return err
			}
			if n == 0 {
				break
			}
		}
		w.release(ch)
	}
	return nil
}

// release ends the kept connections of a channel's sender, if it keeps any.
func (w *Worker) release(channel string) {
	if r, ok := w.Senders[channel].(Reuser); ok {
		r.Release()
	}
}

// Build renders a queued message, putting in the code only now. A shipper
// webhook delivery is its queued JSON as it is.
func (w *Worker) Build(ctx context.Context, q Queued) (Message, error) {
	if q.Channel == ShipperWebhook {
		return Message{ID: q.ID, Kind: q.Kind, Channel: q.Channel, To: q.To, Text: string(q.Data)}, nil
	}
	var d struct {
		TrackingIDs     []string `json:"trackingIds"`
		RecipientName   string   `json:"recipientName"`
		BuyerName       string   `json:"buyerName"`
		Shipper         string   `json:"shipper"`
		NeedsCode       bool     `json:"needsCode"`
		COD             bool     `json:"cod"`
		Photo           string   `json:"photo"` // a parcel of the message with a delivery photo
		ServiceDate     string   `json:"serviceDate"`
		WindowFrom      string   `json:"windowFrom"`
		WindowTo        string   `json:"windowTo"`
		DetailCode      string   `json:"detailCode"`
		NextAttemptDate string   `json:"nextAttemptDate"`
		BagIDs          []string `json:"bagIds"`
		ToBuyer         bool     `json:"toBuyer"`
		Link            string   `json:"link"`
		Sealed          string   `json:"sealed"`
		Note            string   `json:"note"`
	}
	// The v2 decoder: about twice as fast as encoding/json's on this
	// struct, which every message is decoded into (the queued data is
	// what encoding/json wrote, with these very names).
	if err := jsonv2.Unmarshal(q.Data, &d); err != nil {
		return Message{}, Permanent("bad message data: %v", err)
	}
	data := Data{TrackingIDs: d.TrackingIDs, RecipientName: d.RecipientName, BuyerName: d.BuyerName, ToBuyer: d.ToBuyer, Shipper: d.Shipper,
		NeedsCode: d.NeedsCode, COD: d.COD, ServiceDate: d.ServiceDate, WindowFrom: d.WindowFrom, WindowTo: d.WindowTo, DetailCode: d.DetailCode,
		NextAttemptDate: d.NextAttemptDate, BagIDs: d.BagIDs, Link: d.Link, Note: d.Note}
	w.links(&data, d.Photo)
	if q.PasscodeSet != "" {
		code, err := w.Store.Passcode(ctx, q.PasscodeSet, q.PasscodeDate)
		if err != nil {
			return Message{}, err
		}
		data.Passcode = code
	}
	if d.Sealed != "" {
		if w.Unseal == nil {
			return Message{}, Permanent("a sealed message needs a keyring")
		}
		secret, err := w.Unseal(q.Kind, d.Sealed)
		if err != nil {
			return Message{}, Permanent("cannot open the sealed part")
		}
		var s struct{ Code, Link string }
		if err := json.Unmarshal(secret, &s); err != nil {
			return Message{}, Permanent("bad sealed part")
		}
		data.Code, data.Link = s.Code, s.Link
	}
	subject, text, err := Render(q.Kind, q.Lang, q.Channel, data)
	if err != nil {
		return Message{}, Permanent("%v", err)
	}
	return Message{ID: q.ID, Kind: q.Kind, Channel: q.Channel, To: q.To, Subject: subject, Text: text,
		secrets: []string{data.Passcode, data.Code, data.Link}}, nil
}

// links fills the message's links from the public URL: the public
// tracking page of its first parcel, which shows the status only; the
// portal, where the rest needs sign-in; and, after a delivery with a photo,
// the photo, behind that same sign-in. None of them carries a code or a
// token, so a forwarded message gives nothing away.
func (w *Worker) links(d *Data, photo string) {
	base := strings.TrimRight(w.PublicURL, "/")
	d.PortalURL = base + "/portal"
	if len(d.TrackingIDs) == 0 {
		return
	}
	d.TrackURL = base + "/track?id=" + url.QueryEscape(d.TrackingIDs[0])
	if photo != "" {
		d.PhotoURL = base + "/portal/parcels/" + url.PathEscape(photo) + "/photo"
	}
}

// deliver builds and sends a claimed message within timeout and settles it;
// with marks, a sent message is handed to marks to be marked with the others
// sent meanwhile.
// It returns the send's error.
func (w *Worker) deliver(ctx context.Context, s Sender, q Queued, timeout time.Duration, marks *marker) error {
	sctx, cancel := context.WithTimeout(ctx, timeout)
	m, err := w.Build(sctx, q)
	if err == nil {
		err = s.Send(sctx, m)
	}
	cancel()
	// The rendered text may hold a code: it goes nowhere but the provider.
	if err == nil {
		mark := func() {
			if err := w.Store.MarkSent(ctx, q.ID, q.Token); err != nil {
				w.logMessage(ctx, slog.LevelError, "notification sent but not marked; it may be sent again with the same ID", q, s.Name(), slog.Any("err", err))
				return
			}
			w.logMessage(ctx, slog.LevelInfo, "notification sent", q, s.Name())
			w.observe(q.Channel, "sent")
		}
		if marks == nil {
			mark()
			return nil
		}
		marks.add(q)
		return nil
	}
	failure := err
	max := w.MaxAttempts
	if p, ok := s.(Patient); ok {
		max = p.MaxAttempts()
	}
	dead := IsPermanent(err) || q.Attempts >= max
	// A code must never reach the error column or the log, whatever a
	// provider echoed back: check the whole text, escaped or not, before
	// cutting it.
	msg := err.Error()
	for _, secret := range m.secrets {
		if secret != "" && (strings.Contains(msg, secret) || strings.Contains(msg, url.QueryEscape(secret))) {
			msg = "provider error (withheld: it quoted the message)"
		}
	}
	if len(msg) > 300 {
		msg = msg[:300]
	}
	retryAt := w.Now().Add(backoff(q.Attempts))
	if err := w.Store.MarkFailed(ctx, q.ID, q.Token, msg, retryAt, dead); err != nil {
		w.logMessage(ctx, slog.LevelError, "notification failure not recorded", q, s.Name(), slog.Any("err", err))
		return failure
	}
	if dead {
		w.observe(q.Channel, "dead")
		w.logMessage(ctx, slog.LevelError, "notification dead", q, s.Name(), slog.String("err", msg))
	} else {
		w.observe(q.Channel, "retry")
		w.logMessage(ctx, slog.LevelWarn, "notification failed; will retry", q, s.Name(), slog.String("err", msg), slog.Time("retry_at", retryAt))
	}
	return failure
}

// backoff grows exponentially from 5s to an hour, with jitter so that a
// provider coming back is not hit by every retry at once.
func backoff(attempt int) time.Duration {
	d := 5 * time.Second << min(attempt-1, 10)
	if d > time.Hour || d <= 0 {
		d = time.Hour
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func (w *Worker) observe(channel, outcome string) {
	if w.Observe != nil {
		w.Observe(channel, outcome)
	}
}
