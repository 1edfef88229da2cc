package sqlstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/notify"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/station"
)

// growingTables are the tables that grow with the parcels, the days or the
// messages: a hot query must find its rows in them through an index, so that
// its cost stays that of the parcel or stop at hand as they grow.
var growingTables = []string{"shipments", "packages", "events", "idempotency_keys", "routes", "stops", "route_parcels", "code_checks",
	"notifications", "passcode_sets", "bags", "bag_scans", "cases", "photos", "garage_grants", "garage_parcels", "recipient_prefs", "garages"}

// TestHotQueriesUseIndexes runs a delivery day through the store — labels,
// receiving, a route planned and loaded, wrong and right codes, a re-send,
// deliveries, a failed attempt, the messages sent — and asks SQLite for the
// plan of every statement it ran: none may read a growing table whole.
func TestHotQueriesUseIndexes(t *testing.T) {
	db := sqlstoretest.Open(t, sqlstore.SQLite)
	db.Now = func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC) }
	var mu sync.Mutex
	seen := map[string]bool{}
	db.TraceStatements(func(q string) {
		mu.Lock()
		seen[q] = true
		mu.Unlock()
	})
	day(t, db)

	mu.Lock()
	queries := slices.Sorted(func(yield func(string) bool) {
		for q := range seen {
			if !yield(q) {
				return
			}
		}
	})
	mu.Unlock()
	scan := regexp.MustCompile(`^SCAN (\w+)`)
	for _, q := range queries {
		verb := strings.ToUpper(strings.Fields(q)[0])
		if !slices.Contains([]string{"SELECT", "UPDATE", "INSERT", "DELETE", "WITH"}, verb) {
			continue
		}
		plan, err := db.Explain(ctx, q, countParams(q))
		if err != nil {
			t.Errorf("explain %s: %v", q, err)
			continue
		}
		for _, step := range plan {
			m := scan.FindStringSubmatch(step)
			if m != nil && slices.Contains(growingTables, m[1]) {
				t.Errorf("%s reads all of %s:\n%s\n%s", verb, m[1], strings.Join(plan, "\n"), q)
			}
		}
	}
	if len(queries) < 30 {
		t.Errorf("only %d statements were seen", len(queries))
	}
}

// countParams returns how many parameters a statement takes: its highest
// $n, and then its positional ?s.
func countParams(q string) int {
	n := 0
	for _, m := range regexp.MustCompile(`\$(\d+)`).FindAllStringSubmatch(q, -1) {
		k, _ := strconv.Atoi(m[1])
		n = max(n, k)
	}
	return n + strings.Count(q, "?")
}

// day runs a small delivery day through the store and the services.
func day(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	shipper, _ := mustShipper(t, db)
	enableOTP(t, db, shipper.ID)
	st, _, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindStation, Name: "Hub", Market: "GB"})
	if err != nil {
		t.Fatal(err)
	}
	da, _, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindAssociate, Name: "Dee", StationID: st.ID})
	if err != nil {
		t.Fatal(err)
	}
	stations := station.NewService(db, db.Policy)
	var ids, mobiles []string
	for i := range 6 {
		in := gbShipment("150")
		if i%2 == 1 {
			in = gbShipment("20") // no passcode
		}
		in.Packages[0].Items[0].Category = "books" // no bag
		mobile := fmt.Sprintf("077009%05d", i)
		in.ShipTo.PhoneNumber, in.ShipTo.AddressLine1 = mobile, fmt.Sprintf("%d High St", i)
		s, _, err := db.CreateShipment(ctx, shipper.ID, in, fmt.Sprint("key-", i))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.CreateShipment(ctx, shipper.ID, in, fmt.Sprint("key-", i)); err != nil { // a replay
			t.Fatal(err)
		}
		id := s.Packages[0].TrackingID
		if _, err := stations.ReceiveParcel(ctx, st, id); err != nil {
			t.Fatal(err)
		}
		ids, mobiles = append(ids, id), append(mobiles, mobile)
	}
	r, err := stations.CreateRoute(ctx, st, handoff.NewRoute{AssociateID: da.ID, ServiceDate: "2026-11-23", TrackingIDs: ids})
	if err != nil {
		t.Fatal(err)
	}
	doors := sqlstoretest.Door(db)
	if _, err := doors.LoadRoute(ctx, da, r.ID); err != nil {
		t.Fatal(err)
	}
	w := &notify.Worker{Store: db, Senders: map[string]notify.Sender{notify.SMS: accept{}, notify.Email: accept{}}, Log: slog.New(slog.DiscardHandler)}
	if err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	for i, s := range r.Stops {
		switch {
		case s.Needs.Passcode && i == 0:
			if _, err := doors.RecordAttempt(ctx, da, s.ID, "CustomerUnavailable"); err != nil {
				t.Fatal(err)
			}
		case s.Needs.Passcode:
			if _, err := doors.ResendCode(ctx, da, s.ID); err != nil {
				t.Fatal(err)
			}
			code := sqlstoretest.ContactCode(t, db, "+44"+strings.TrimPrefix(mobiles[slices.Index(ids, s.Parcels[0].TrackingID)], "0"))
			wrong := fmt.Sprintf("%06d", (mustAtoi(code)+1)%1000000)
			if res, err := doors.VerifyCode(ctx, da, s.ID, wrong); err != nil || res.Correct {
				t.Fatalf("wrong code: %+v, %v", res, err)
			}
			if res, err := doors.VerifyCode(ctx, da, s.ID, code); err != nil || !res.Correct {
				t.Fatalf("right code: %+v, %v", res, err)
			}
		default:
			if _, err := doors.DeliverParcels(ctx, da, s.ID, handoff.Handover{Place: "DeliveredToCustomer"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := stations.FindRoute(ctx, st, r.ID); err != nil {
		t.Fatal(err)
	}
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// accept is a provider that takes every message.
type accept struct{}

func (accept) Send(context.Context, notify.Message) error { return nil }
func (accept) Name() string                               { return "accept" }

// TestOutboxSettlesByID asks SQLite for the plans of the statements that
// settle and renew a claim of many messages by their IDs, as the worker
// runs them: each must find the messages by their IDs, never read through
// the backlog of pending messages (an index on status would, and did).
func TestOutboxSettlesByID(t *testing.T) {
	db := sqlstoretest.Open(t, sqlstore.SQLite)
	sqlstoretest.QueueSMS(t, db, 25)
	claimed, err := db.ClaimNotifications(ctx, "sms", 20, time.Minute)
	if err != nil || len(claimed) != 20 {
		t.Fatalf("claim: %d, %v", len(claimed), err)
	}
	var ids []string
	for _, q := range claimed {
		ids = append(ids, q.ID)
	}
	var mu sync.Mutex
	var seen []string
	db.TraceStatements(func(q string) {
		mu.Lock()
		seen = append(seen, q)
		mu.Unlock()
	})
	if held, err := db.RenewNotifications(ctx, claimed[0].Token, ids, time.Minute); err != nil || len(held) != 20 {
		t.Fatalf("renew: %d, %v", len(held), err)
	}
	if marked, err := db.MarkSentAll(ctx, claimed[0].Token, ids); err != nil || len(marked) != 20 {
		t.Fatalf("mark: %d, %v", len(marked), err)
	}
	db.TraceStatements(func(string) {})
	mu.Lock()
	statements := slices.Clone(seen)
	mu.Unlock()
	checked := 0
	for _, q := range statements {
		if !strings.Contains(q, "id IN (") {
			continue
		}
		plan, err := db.Explain(ctx, q, countParams(q))
		if err != nil {
			t.Fatalf("explain %s: %v", q, err)
		}
		steps := strings.Join(plan, "\n")
		if !strings.Contains(steps, "(id=?)") || strings.Contains(steps, "status=?") {
			t.Errorf("settling by IDs does not look the IDs up:\n%s\n%s", steps, q)
		}
		checked++
	}
	if checked < 2 {
		t.Errorf("only %d statements by IDs were seen, want the renewal and the mark", checked)
	}
}

// TestStartupBackfillsReadOnlyWhatTheyFill asks SQLite for the plans of the
// queries the store runs at every start to fill older shipments' columns:
// they must find the rows still to fill through an index, not read every
// shipment, or a node with a million parcels takes seconds to start.
func TestStartupBackfillsReadOnlyWhatTheyFill(t *testing.T) {
	db := sqlstoretest.Open(t, sqlstore.SQLite)
	for _, q := range []string{
		`SELECT id, recipient_mobile, recipient_email, buyer_mobile, buyer_email FROM shipments WHERE code_set = '' LIMIT 500`,
		`SELECT id, ship_to FROM shipments WHERE recipient_name = '' AND id > $1 ORDER BY id LIMIT 500`,
	} {
		plan, err := db.Explain(ctx, q, countParams(q))
		if err != nil {
			t.Fatalf("explain %s: %v", q, err)
		}
		// Reading a partial index whole is reading only the rows to fill.
		steps := strings.Join(plan, "\n")
		if !strings.Contains(steps, "shipments USING INDEX shipments_") || !strings.Contains(steps, "_unfilled") {
			t.Errorf("a start-up backfill reads the shipments without its index:\n%s\n%s", steps, q)
		}
	}
}

// TestWebhookDeliveriesByRecipientUseTheirIndex asks SQLite for the plans of
// the statements that read a webhook's deliveries by their recipient, as the
// store runs them: the delivery log and the holding back of a failing
// endpoint must go through the index of webhook deliveries, which texts and
// emails are not in, and never read the outbox through.
func TestWebhookDeliveriesByRecipientUseTheirIndex(t *testing.T) {
	db := sqlstoretest.Open(t, sqlstore.SQLite)
	shipper, _ := mustShipper(t, db)
	wh, err := db.CreateWebhook(ctx, shipper.ID, "https://hooks.example.com/in")
	if err != nil {
		t.Fatal(err)
	}
	// A statement may be told more than once (prepared, then run), and on
	// more than one connection: each text is checked once.
	var mu sync.Mutex
	seen := map[string]bool{}
	db.TraceStatements(func(q string) {
		mu.Lock()
		seen[q] = true
		mu.Unlock()
	})
	if _, err := db.ListDeliveries(ctx, shipper.ID, wh.ID, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeferRecipient(ctx, sqlstore.ChannelShipperWebhook, wh.ID, db.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	db.TraceStatements(func(string) {})
	mu.Lock()
	statements := slices.Sorted(maps.Keys(seen))
	mu.Unlock()
	checked := 0
	for _, q := range statements {
		// The two that read the outbox by recipient; other work the store
		// does on its own meanwhile is not this test's.
		if !strings.Contains(q, "notifications") || !strings.Contains(q, "recipient = $") {
			continue
		}
		plan, err := db.Explain(ctx, q, countParams(q))
		if err != nil {
			t.Fatalf("explain %s: %v", q, err)
		}
		if steps := strings.Join(plan, "\n"); !strings.Contains(steps, "USING INDEX notifications_webhook_recipient (recipient=?)") {
			t.Errorf("webhook deliveries are read without their index:\n%s\n%s", steps, q)
		}
		checked++
	}
	if checked != 2 {
		t.Errorf("%d different statements by recipient on notifications were seen, want the delivery log's and the deferral's", checked)
	}
}
