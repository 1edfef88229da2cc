package api_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// monday is a working day at 10:00 in London.
var monday = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// day is a delivery-day fixture: a shipper with OTP on, a station with two
// associates, and the clock set.
type day struct {
	*env
	shipperKey, stationKey string
	stationID              string
	da1, da2               string // associate IDs
	da1Key, da2Key         string
	shipmentOf             map[string]string // tracking ID → shipment ID, of the labels made by label
}

func newDay(t *testing.T, e *env, now time.Time) *day {
	t.Helper()
	e.db.Now = func() time.Time { return now }
	d := &day{env: e, shipmentOf: map[string]string{}}
	_, d.shipperKey = e.shipper()
	e.otpOn(d.shipperKey)
	st := e.do("POST", "/v1/admin/stations", adminToken, map[string]any{"name": "East", "marketplace": "GB"}).JSON(t)
	d.stationKey, d.stationID = st["apiKey"].(string), st["stationId"].(string)
	for i := range 2 {
		a := e.do("POST", "/v1/admin/associates", adminToken, map[string]any{"name": fmt.Sprint("DA", i), "stationId": st["stationId"]}).JSON(t)
		if i == 0 {
			d.da1, d.da1Key = a["associateId"].(string), a["apiKey"].(string)
		} else {
			d.da2, d.da2Key = a["associateId"].(string), a["apiKey"].(string)
		}
	}
	return d
}

// label creates one GB parcel for a recipient, with the delivery
// preferences given if any, and returns its tracking ID.
func (d *day) label(name, line1, phone, value, category string, prefs ...map[string]any) string {
	d.t.Helper()
	b := shipment("GB", "GBP", value, phone)
	if len(prefs) > 0 {
		b["deliveryPreferences"] = prefs[0]
	}
	b["shipTo"].(map[string]any)["name"] = name
	b["shipTo"].(map[string]any)["addressLine1"] = line1
	b["packages"].([]any)[0].(map[string]any)["items"] = []any{map[string]any{"description": "x", "quantity": 1, "category": category}}
	r := d.do("POST", "/v1/shipments", d.shipperKey, b)
	if r.Status != 201 {
		d.t.Fatalf("label: %d %s", r.Status, r.Body)
	}
	m := r.JSON(d.t)
	id := m["packages"].([]any)[0].(map[string]any)["trackingId"].(string)
	d.shipmentOf[id] = m["shipmentId"].(string)
	return id
}

func (d *day) receive(ids ...string) []map[string]any {
	d.t.Helper()
	var out []map[string]any
	for _, id := range ids {
		r := d.do("POST", "/v1/station/parcels/"+id+"/receive", d.stationKey, nil)
		if r.Status != 200 {
			d.t.Fatalf("receive %s: %d %s", id, r.Status, r.Body)
		}
		out = append(out, r.JSON(d.t))
	}
	return out
}

// route plans and loads a route for da1 and returns it.
func (d *day) route(date string, parcels []any) map[string]any {
	d.t.Helper()
	r := d.do("POST", "/v1/station/routes", d.stationKey, map[string]any{"associateId": d.da1, "serviceDate": date, "parcels": parcels})
	if r.Status != 201 {
		d.t.Fatalf("route: %d %s", r.Status, r.Body)
	}
	id := r.JSON(d.t)["routeId"].(string)
	l := d.do("POST", "/v1/associate/routes/"+id+"/load", d.da1Key, nil)
	if l.Status != 200 {
		d.t.Fatalf("load: %d %s", l.Status, l.Body)
	}
	return l.JSON(d.t)
}

// routeAll plans and loads a route of the parcels on date and returns it
// with a lookup of the stop of each.
func (d *day) routeAll(date string, ids ...string) (map[string]any, func(trackingID string) string) {
	d.t.Helper()
	var ps []any
	for _, id := range ids {
		ps = append(ps, map[string]any{"trackingId": id})
	}
	rt := d.route(date, ps)
	return rt, func(id string) string { return stopOf(d.t, rt, id)["stopId"].(string) }
}

// stopOf returns the stop holding a tracking ID.
func stopOf(t *testing.T, route map[string]any, trackingID string) map[string]any {
	t.Helper()
	for _, s := range route["stops"].([]any) {
		s := s.(map[string]any)
		for _, p := range s["parcels"].([]any) {
			if p.(map[string]any)["trackingId"] == trackingID {
				return s
			}
		}
	}
	t.Fatalf("no stop holds %s", trackingID)
	return nil
}

// seal issues a bag to the station and seals the parcel in it.
func (d *day) seal(trackingID string) string {
	d.t.Helper()
	r := d.do("POST", "/v1/station/bags/batches", d.stationKey, map[string]any{"count": 1})
	if r.Status != 201 {
		d.t.Fatalf("batch: %d %s", r.Status, r.Body)
	}
	id := r.JSON(d.t)["bags"].([]any)[0].(map[string]any)["bagId"].(string)
	if s := d.do("POST", "/v1/station/parcels/"+trackingID+"/seal", d.stationKey, map[string]any{"bagId": id}); s.Status != 200 {
		d.t.Fatalf("seal: %d %s", s.Status, s.Body)
	}
	return id
}

// scan scans a bag at a stop, which must match.
func (d *day) scan(stopID, bagID string) {
	d.t.Helper()
	if r := d.do("POST", "/v1/associate/stops/"+stopID+"/scan-bag", d.da1Key, map[string]any{"bagId": bagID}); r.Status != 200 {
		d.t.Fatalf("scan: %d %s", r.Status, r.Body)
	}
}

// code returns the passcode the recipient reads in the portal on date, the
// store's today.
func (d *day) code(mobile, date string) string {
	d.t.Helper()
	if today := d.db.Today("GB"); today != date {
		d.t.Fatalf("asked for the code of %s on %s", date, today)
	}
	return sqlstoretest.ContactCode(d.t, d.db, mobile)
}

func (d *day) events(trackingID string) []string {
	d.t.Helper()
	var out []string
	for _, e := range d.do("GET", "/v1/tracking/"+trackingID, d.shipperKey, nil).JSON(d.t)["eventHistory"].([]any) {
		e := e.(map[string]any)
		s := e["eventCode"].(string)
		if dc, ok := e["detailCode"].(string); ok {
			s += "/" + dc
		}
		out = append(out, s)
	}
	return out
}

// wrongCode returns a well-formed code that is not want.
func wrongCode(want string, i int) string {
	for n := i; ; n++ {
		c := fmt.Sprintf("%06d", (n*7919)%1000000)
		if c != want {
			return c
		}
	}
}

func TestPasscodeDeliveryEndToEnd(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		const mobile = "+447700900123"
		otp1 := d.label("Priya", "12 Mare St", "07700 900123", "899", "smartphone")
		otp2 := d.label("Priya", "12 Mare St", "+44 7700 900123", "250", "shoes")
		plain := d.label("Priya", "12 Mare St", "07700900123", "20", "books")
		other := d.label("Tom", "40 Bow Rd", "07700900456", "30", "books")
		d.receive(otp1, otp2, plain, other)
		// The phone needs a bag (the default categories) and cannot go out
		// unsealed.
		bagID := d.seal(otp1)

		// A stop planned before 08:00 is flagged, and the itinerary groups
		// Priya's three parcels into one stop that needs the passcode.
		rt := d.route("2026-11-23", []any{
			map[string]any{"trackingId": otp1, "plannedTime": "07:30"},
			map[string]any{"trackingId": otp2}, map[string]any{"trackingId": plain}, map[string]any{"trackingId": other, "plannedTime": "11:00"},
		})
		stop := stopOf(t, rt, otp1)
		stopID := stop["stopId"].(string)
		if len(stop["parcels"].([]any)) != 3 || stop["needs"].(map[string]any)["passcode"] != true || stop["outsideContactHours"] != true {
			t.Fatalf("stop = %v", stop)
		}
		if o := stopOf(t, rt, other); o["needs"].(map[string]any)["passcode"] != false || o["outsideContactHours"] != false {
			t.Errorf("plain stop = %v", o)
		}
		if rt["stopsOutsideContactHours"].(float64) != 1 {
			t.Errorf("flagged = %v", rt["stopsOutsideContactHours"])
		}

		// Only the route's associate sees or acts on the stop.
		problem(t, d.do("GET", "/v1/associate/stops/"+stopID, d.da2Key, nil), 404, "")
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da2Key, map[string]any{"code": "123456"}), 404, "")
		if it := d.do("GET", "/v1/associate/itinerary", d.da2Key, nil).JSON(t)["routes"].([]any); len(it) != 0 {
			t.Errorf("da2 itinerary = %v", it)
		}
		if it := d.do("GET", "/v1/associate/itinerary", d.da1Key, nil).JSON(t)["routes"].([]any); len(it) != 1 {
			t.Errorf("da1 itinerary has %d routes", len(it))
		}

		// An OTP parcel can never be completed without the code.
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/deliver", d.da1Key, map[string]any{"place": "DeliveredToPorch", "trackingIds": []string{otp1}}), 403, "")

		mondayCode := d.code(mobile, "2026-11-23")
		// No code is taken before the bag is scanned.
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da1Key, map[string]any{"code": mondayCode}), 409, "")
		d.scan(stopID, bagID)
		// Out for delivery, the stop is still nobody else's: another
		// associate's entries are not found and use none of its attempts
		// (the owner's three below still count down from three).
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da2Key, map[string]any{"code": mondayCode}), 404, "")
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/phone-digits", d.da2Key, map[string]any{"digits": mobile[len(mobile)-2:]}), 404, "")
		if n, _ := sqlstoretest.CodeChecks(t, e.db, stopID); n != 0 {
			t.Fatalf("another associate's entries were evaluated %d times", n)
		}
		// Nor can they hand over its parcels without a code.
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/deliver", d.da2Key, map[string]any{"place": "DeliveredToCustomer", "trackingIds": []string{plain}}), 404, "")
		if ev := d.events(plain); ev[len(ev)-1] != "OutForDelivery" {
			t.Fatalf("after another associate's delivery, the parcel's events are %v", ev)
		}
		for i, left := range []float64{2, 1, 0} {
			r := d.do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da1Key, map[string]any{"code": wrongCode(mondayCode, i)})
			p := problem(t, r, 422, "")
			if p["attemptsLeft"] != left || p["attemptEnded"] != (left == 0) {
				t.Fatalf("wrong %d: %s", i, r.Body)
			}
		}
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da1Key, map[string]any{"code": mondayCode}), 409, "")

		// The non-OTP parcel at the same stop can still be left at the porch.
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/deliver", d.da1Key, map[string]any{"place": "DeliveredToPorch"}), 400, "photo")
		if r := d.deliverWithPhoto(stopID, "DeliveredToPorch", "gps-orientation6.jpg"); r.Status != 200 {
			t.Fatalf("porch: %d %s", r.Status, r.Body)
		}

		// Back at the station: the next working day is Tuesday.
		got := d.receive(otp1, otp2)
		if got[0]["returned"] != true || got[0]["nextAttemptDate"] != "2026-11-24" {
			t.Fatalf("received back = %v", got[0])
		}
		// Not again on Monday.
		problem(t, d.do("POST", "/v1/station/routes", d.stationKey, map[string]any{"associateId": d.da1, "serviceDate": "2026-11-23", "trackingIds": []string{otp1}}), 400, "trackingIds[0]")

		// Tuesday: a new code; Monday's no longer works.
		tuesday := monday.AddDate(0, 0, 1)
		e.db.Now = func() time.Time { return tuesday }
		rt = d.route("2026-11-24", []any{map[string]any{"trackingId": otp1}, map[string]any{"trackingId": otp2}})
		stopID = stopOf(t, rt, otp1)["stopId"].(string)
		tuesdayCode := d.code(mobile, "2026-11-24")
		d.scan(stopID, bagID)
		if tuesdayCode == mondayCode {
			t.Fatal("Tuesday's code equals Monday's")
		}
		if mondayCode != wrongCode(tuesdayCode, 0) {
			problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da1Key, map[string]any{"code": mondayCode}), 422, "")
		}
		r := d.do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da1Key, map[string]any{"code": tuesdayCode})
		if r.Status != 200 {
			t.Fatalf("right code: %d %s", r.Status, r.Body)
		}
		if del := r.JSON(t)["delivered"].([]any); len(del) != 2 {
			t.Errorf("delivered = %v", del)
		}

		want := []string{"ReadyForReceive", "PickupDone", "ArrivedAtCarrierFacility", "OutForDelivery", "DeliveryAttempted/OtpNotAvailable",
			"ArrivedAtCarrierFacility", "OutForDelivery", "Delivered/DeliveredWithOTP"}
		if got := d.events(otp2); !slices.Equal(got, want) {
			t.Errorf("events = %v\nwant %v", got, want)
		}
		bagged := append(want[:3:3], append([]string{"BagSealed"}, want[3:]...)...)
		if got := d.events(otp1); !slices.Equal(got, bagged) {
			t.Errorf("bagged parcel's events = %v\nwant %v", got, bagged)
		}
		if got := d.events(plain); got[len(got)-1] != "Delivered/DeliveredToPorch" {
			t.Errorf("plain events = %v", got)
		}
		// The shipper's list says "Delivered with OTP".
		for _, p := range d.do("GET", "/v1/shipments", d.shipperKey, nil).JSON(t)["packages"].([]any) {
			p := p.(map[string]any)
			if p["trackingId"] == otp1 && p["statusText"] != "Delivered with OTP" {
				t.Errorf("statusText = %v", p["statusText"])
			}
		}

		// The code was sent (as a reference, not in plain text) to the label's
		// own phone and email when the van was loaded each day.
		msgs := sqlstoretest.Notifications(t, e.db, otp1)
		var codeMsgs int
		for _, m := range msgs {
			if m.Passcode {
				codeMsgs++
				if m.Recipient != mobile && m.Recipient != "rec@example.com" {
					t.Errorf("code message to %s", m.Recipient)
				}
			}
		}
		if codeMsgs != 4 {
			t.Errorf("%d code messages, want 4 (SMS and email, two days): %+v", codeMsgs, msgs)
		}

		// The code never appears in a response or a log line.
		assertNoSecret(t, e, mondayCode, tuesdayCode)
	})
}

// assertNoSecret fails when any response body or log line holds one of the codes.
func assertNoSecret(t *testing.T, e *env, codes ...string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range codes {
		for _, b := range e.bodies {
			if strings.Contains(string(b), c) {
				t.Errorf("a response contains the code %s: %s", c, b)
			}
		}
		if strings.Contains(e.logs.String(), c) {
			t.Errorf("the logs contain the code %s", c)
		}
	}
}

// raceSettled checks how a race of entries at one stop, one of them the
// right code (results[right]), ended: at most three wrong entries are ever
// evaluated; the right one is taken exactly when fewer than three wrong ones
// were evaluated before it, and then the parcel is delivered, once;
// otherwise the attempt ended and the parcel is OtpNotAvailable — never
// neither, never both.
func raceSettled(t *testing.T, d *day, results []resp, right int, trackingID string) {
	t.Helper()
	wrongEvaluated := 0
	for i, r := range results {
		if i == right {
			continue
		}
		switch {
		case wrong(t, r):
			wrongEvaluated++
		case r.Status == http.StatusConflict:
		default:
			t.Fatalf("wrong entry %d: %d %s", i, r.Status, r.Body)
		}
	}
	if wrongEvaluated > 3 {
		t.Fatalf("%d wrong entries were evaluated at one stop; at most 3", wrongEvaluated)
	}
	events := d.events(trackingID)
	delivered := 0
	for _, e := range events {
		if e == "Delivered/DeliveredWithOTP" {
			delivered++
		}
	}
	last := events[len(events)-1]
	switch r := results[right]; {
	case r.Status == http.StatusOK && r.JSON(t)["correct"] == true:
		if wrongEvaluated > 2 {
			t.Fatalf("the right code was taken after %d wrong entries had ended the attempt", wrongEvaluated)
		}
		if delivered != 1 || last != "Delivered/DeliveredWithOTP" {
			t.Fatalf("the right code was taken but the parcel's events are %v", events)
		}
	case r.Status == http.StatusConflict:
		if wrongEvaluated != 3 {
			t.Fatalf("the right code was refused with only %d wrong entries evaluated: %s", wrongEvaluated, r.Body)
		}
		if delivered != 0 || last != "DeliveryAttempted/OtpNotAvailable" {
			t.Fatalf("the attempt ended but the parcel's events are %v", events)
		}
	default:
		t.Fatalf("the right code was answered %d %s", r.Status, r.Body)
	}
}

// guessRace sends n entries at a stop at once, through the nodes in turn,
// all wrong but the one at right, and returns the answers.
func guessRace(d *day, nodes []*env, stopID, code string, n, right int) []resp {
	var wg sync.WaitGroup
	results := make([]resp, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			entry := wrongCode(code, i)
			if i == right {
				entry = code
			}
			<-start
			results[i] = nodes[i%len(nodes)].do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da1Key, map[string]any{"code": entry})
		}()
	}
	close(start)
	wg.Wait()
	return results
}

// TestConcurrentGuesses races entries at a stop: 50 wrong ones with the
// right one among them, and, at another stop, two wrong ones with the right
// one, which must then always be taken.
func TestConcurrentGuesses(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		e.db.Policy.WrongCodeLimit = 1000 // the associate's own budget is another test's
		crowd := d.label("Ann", "1 High St", "07700900999", "500", "books")
		few := d.label("Ben", "2 High St", "07700900998", "500", "books")
		d.receive(crowd, few)
		rt := d.route("2026-11-23", []any{map[string]any{"trackingId": crowd}, map[string]any{"trackingId": few}})
		crowdStop, fewStop := stopOf(t, rt, crowd)["stopId"].(string), stopOf(t, rt, few)["stopId"].(string)
		right := d.code("+447700900999", "2026-11-23")
		results := guessRace(d, []*env{e}, crowdStop, right, 51, 25)
		raceSettled(t, d, results, 25, crowd)
		if evaluated, _ := sqlstoretest.CodeChecks(t, e.db, crowdStop); evaluated > 3 {
			t.Fatalf("%d entries recorded as evaluated, at most 3", evaluated)
		}
		fewRight := d.code("+447700900998", "2026-11-23")
		results = guessRace(d, []*env{e}, fewStop, fewRight, 3, 1)
		raceSettled(t, d, results, 1, few)
		if results[1].Status != http.StatusOK {
			t.Fatalf("the right code raced with only two wrong ones and was refused: %d %s", results[1].Status, results[1].Body)
		}
		assertNoSecret(t, e, right)
	})
}

func TestConcurrentCorrectEntries(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		a := d.label("Bea", "5 Mile End Rd", "07700900555", "300", "books")
		b := d.label("Bea", "5 Mile End Rd", "07700900555", "400", "books")
		d.receive(a, b)
		stopID := stopOf(t, d.route("2026-11-23", []any{map[string]any{"trackingId": a}, map[string]any{"trackingId": b}}), a)["stopId"].(string)
		right := d.code("+447700900555", "2026-11-23")

		var wg sync.WaitGroup
		var mu sync.Mutex
		count := map[int]int{}
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := d.do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da1Key, map[string]any{"code": right})
				mu.Lock()
				count[r.Status]++
				mu.Unlock()
				if r.Status == 409 && !strings.Contains(string(r.Body), "already delivered") {
					t.Errorf("loser told %s", r.Body)
				}
			}()
		}
		wg.Wait()
		if count[200] != 1 || count[409] != 19 {
			t.Fatalf("statuses = %v, want one 200 and nineteen 409", count)
		}
		for _, id := range []string{a, b} {
			var delivered int
			for _, ev := range d.events(id) {
				if strings.HasPrefix(ev, "Delivered") {
					delivered++
				}
			}
			if delivered != 1 {
				t.Errorf("%s has %d Delivered events", id, delivered)
			}
		}
		msgs := sqlstoretest.Notifications(t, e.db, a)
		var deliveredMsgs int
		for _, m := range msgs {
			if m.Kind == "delivered" {
				deliveredMsgs++
			}
		}
		if deliveredMsgs != 2 {
			t.Errorf("%d delivered messages, want 2 (SMS and email, once each)", deliveredMsgs)
		}
	})
}

func TestAssociateWrongCodeLimit(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		e.db.Policy.WrongCodeLimit = 4
		d := newDay(t, e, monday)
		x := d.label("Xi", "1 A St", "07700900001", "500", "books")
		y := d.label("Yu", "2 B St", "07700900002", "500", "books")
		d.receive(x, y)
		rt := d.route("2026-11-23", []any{map[string]any{"trackingId": x}, map[string]any{"trackingId": y}})
		sx, sy := stopOf(t, rt, x)["stopId"].(string), stopOf(t, rt, y)["stopId"].(string)
		cx, cy := d.code("+447700900001", "2026-11-23"), d.code("+447700900002", "2026-11-23")
		for i := range 3 {
			problem(t, d.do("POST", "/v1/associate/stops/"+sx+"/verify", d.da1Key, map[string]any{"code": wrongCode(cx, i)}), 422, "")
		}
		problem(t, d.do("POST", "/v1/associate/stops/"+sy+"/verify", d.da1Key, map[string]any{"code": wrongCode(cy, 9)}), 422, "")
		// The fifth check is refused, even with the right code, and the
		// station sees the associate flagged.
		problem(t, d.do("POST", "/v1/associate/stops/"+sy+"/verify", d.da1Key, map[string]any{"code": cy}), 423, "")
		as := d.do("GET", "/v1/station/associates", d.stationKey, nil).JSON(t)["associates"].([]any)
		var flagged bool
		for _, a := range as {
			a := a.(map[string]any)
			if a["associateId"] == d.da1 {
				flagged = a["locked"] == true
			}
		}
		if !flagged {
			t.Fatalf("associate not flagged: %v", as)
		}
		if r := d.do("POST", "/v1/station/associates/"+d.da1+"/unlock", d.stationKey, nil); r.Status != 200 {
			t.Fatalf("unlock: %d %s", r.Status, r.Body)
		}
		if r := d.do("POST", "/v1/associate/stops/"+sy+"/verify", d.da1Key, map[string]any{"code": cy}); r.Status != 200 {
			t.Fatalf("after unlock: %d %s", r.Status, r.Body)
		}
	})
}

// TestLoadOnlyOwnRouteOnce: a route is loaded by its own associate, once;
// another associate's load is not found and changes nothing.
func TestLoadOnlyOwnRouteOnce(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		id := d.label("Lu", "5 E St", "07700900555", "20", "books")
		d.receive(id)
		r := d.do("POST", "/v1/station/routes", d.stationKey, map[string]any{"associateId": d.da1, "serviceDate": "2026-11-23", "trackingIds": []string{id}})
		if r.Status != 201 {
			t.Fatalf("route: %d %s", r.Status, r.Body)
		}
		routeID := r.JSON(t)["routeId"].(string)
		problem(t, d.do("POST", "/v1/associate/routes/"+routeID+"/load", d.da2Key, nil), 404, "")
		if ev := d.events(id); slices.Contains(ev, "OutForDelivery") {
			t.Fatalf("another associate's load put the parcel out: %v", ev)
		}
		l := d.do("POST", "/v1/associate/routes/"+routeID+"/load", d.da1Key, nil)
		if l.Status != 200 || l.JSON(t)["status"] != "loaded" || len(l.JSON(t)["stops"].([]any)) != 1 {
			t.Fatalf("load: %d %s", l.Status, l.Body)
		}
		problem(t, d.do("POST", "/v1/associate/routes/"+routeID+"/load", d.da1Key, nil), 409, "")
		out := 0
		for _, m := range sqlstoretest.Notifications(t, e.db, id) {
			if m.Kind == "out_for_delivery" {
				out++
			}
		}
		if out != 2 {
			t.Errorf("%d out-for-delivery messages, want 2 (SMS and email, once)", out)
		}
	})
}

// TestRightCodesSpendNoBudget: only wrong entries count against the
// associate's budget; a right one needs room in it but takes none.
func TestRightCodesSpendNoBudget(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		e.db.Policy.WrongCodeLimit = 2
		d := newDay(t, e, monday)
		x := d.label("Xi", "1 A St", "07700900001", "500", "books")
		y := d.label("Yu", "2 B St", "07700900002", "500", "books")
		z := d.label("Zo", "3 C St", "07700900003", "500", "books")
		d.receive(x, y, z)
		rt := d.route("2026-11-23", []any{map[string]any{"trackingId": x}, map[string]any{"trackingId": y}, map[string]any{"trackingId": z}})
		sx, sy, sz := stopOf(t, rt, x)["stopId"].(string), stopOf(t, rt, y)["stopId"].(string), stopOf(t, rt, z)["stopId"].(string)
		cx, cy, cz := d.code("+447700900001", "2026-11-23"), d.code("+447700900002", "2026-11-23"), d.code("+447700900003", "2026-11-23")
		problem(t, d.do("POST", "/v1/associate/stops/"+sx+"/verify", d.da1Key, map[string]any{"code": wrongCode(cx, 1)}), 422, "")
		if r := d.do("POST", "/v1/associate/stops/"+sy+"/verify", d.da1Key, map[string]any{"code": cy}); r.Status != 200 {
			t.Fatalf("right code: %d %s", r.Status, r.Body)
		}
		// The second wrong entry is still evaluated (the right one took
		// nothing), and spends the budget.
		problem(t, d.do("POST", "/v1/associate/stops/"+sz+"/verify", d.da1Key, map[string]any{"code": wrongCode(cz, 2)}), 422, "")
		problem(t, d.do("POST", "/v1/associate/stops/"+sz+"/verify", d.da1Key, map[string]any{"code": cz}), 423, "")
	})
}

func TestResendAndFallback(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		id := d.label("Cy", "3 C St", "07700900377", "500", "books")
		d.receive(id)
		stopID := stopOf(t, d.route("2026-11-23", []any{map[string]any{"trackingId": id}}), id)["stopId"].(string)

		// A number given at the door is refused: the body takes no fields.
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/resend", d.da1Key, map[string]any{"phoneNumber": "+447700900000"}), 400, "phoneNumber")
		for i := range 3 {
			if r := d.do("POST", "/v1/associate/stops/"+stopID+"/resend", d.da1Key, nil); r.Status != 202 {
				t.Fatalf("resend %d: %d %s", i, r.Status, r.Body)
			}
		}
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/resend", d.da1Key, nil), 429, "")
		msgs := sqlstoretest.Notifications(t, e.db, id)
		for _, m := range msgs {
			if m.Recipient == "+447700900000" {
				t.Fatal("a message went to a number given at the door")
			}
		}

		// The fallback is off by default.
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/phone-digits", d.da1Key, map[string]any{"digits": "77"}), 409, "")
		if r := d.do("PATCH", "/v1/account/settings", d.shipperKey, `{"secureDelivery":{"phoneDigitsFallback":true}}`); r.Status != 200 {
			t.Fatal(r.Status)
		}
		// One wrong code, then the digits: both count against the same three.
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da1Key, map[string]any{"code": wrongCode(d.code("+447700900377", "2026-11-23"), 1)}), 422, "")
		p := problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/phone-digits", d.da1Key, map[string]any{"digits": "11"}), 422, "")
		if p["attemptsLeft"] != 1.0 {
			t.Errorf("attemptsLeft = %v", p["attemptsLeft"])
		}
		if r := d.do("POST", "/v1/associate/stops/"+stopID+"/phone-digits", d.da1Key, map[string]any{"digits": "77"}); r.Status != 200 {
			t.Fatalf("digits: %d %s", r.Status, r.Body)
		}
		if ev := d.events(id); ev[len(ev)-1] != "Delivered/DeliveredWithPhoneDigits" {
			t.Errorf("events = %v", ev)
		}
	})
}

func TestParcelBackFromAnUnfinishedRoute(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		id := d.label("Di", "4 D St", "07700900444", "20", "books")
		d.receive(id)
		rt := d.route("2026-11-23", []any{map[string]any{"trackingId": id}})
		_ = rt
		// The van comes back with it; the next day it goes out again.
		got := d.receive(id)[0]
		if got["stage"] != "station" || got["returned"] != true {
			t.Fatalf("received back = %v", got)
		}
		e.db.Now = func() time.Time { return monday.AddDate(0, 0, 1) }
		d.route("2026-11-24", []any{map[string]any{"trackingId": id}})
		if ev := d.events(id); ev[len(ev)-1] != "OutForDelivery" {
			t.Errorf("events = %v", ev)
		}
	})
}

// TestGuessesAcrossNodes races wrong guesses and the right one through two
// server nodes on one database: still at most three are evaluated.
func TestGuessesAcrossNodes(t *testing.T) {
	sqlstoretest.EachNodes(t, 2, func(t *testing.T, nodes []*sqlstore.DB) {
		for _, n := range nodes {
			n.Now = func() time.Time { return monday }
		}
		a, b := newEnv(t, nodes[0]), newEnv(t, nodes[1])
		d := newDay(t, a, monday)
		id := d.label("Nia", "2 Node St", "07700900222", "500", "books")
		d.receive(id)
		stopID := stopOf(t, d.route("2026-11-23", []any{map[string]any{"trackingId": id}}), id)["stopId"].(string)
		right := d.code("+447700900222", "2026-11-23")
		results := guessRace(d, []*env{a, b}, stopID, right, 30, 17)
		raceSettled(t, d, results, 17, id)
		if evaluated, _ := sqlstoretest.CodeChecks(t, nodes[1], stopID); evaluated > 3 {
			t.Fatalf("%d entries recorded as evaluated across two nodes, at most 3", evaluated)
		}
		// Two wrong entries and the right one, across the nodes: the right
		// one is always evaluated, and taken.
		few := d.label("Noa", "3 Node St", "07700900223", "500", "books")
		d.receive(few)
		fewStop := stopOf(t, d.route("2026-11-23", []any{map[string]any{"trackingId": few}}), few)["stopId"].(string)
		fewRight := d.code("+447700900223", "2026-11-23")
		results = guessRace(d, []*env{a, b}, fewStop, fewRight, 3, 2)
		raceSettled(t, d, results, 2, few)
		if results[2].Status != http.StatusOK {
			t.Fatalf("the right code raced with only two wrong ones and was refused: %d %s", results[2].Status, results[2].Body)
		}
	})
}

// TestReattemptsOnWorkingDays: a parcel that failed on Saturday cannot go
// out again on Sunday (not a working day by default), but on Monday; a first
// attempt may go out on a Sunday if the station plans it.
func TestReattemptsOnWorkingDays(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		saturday := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
		d := newDay(t, e, saturday)
		id := d.label("Sol", "6 Weekend Rd", "07700900666", "20", "books")
		d.receive(id)
		stopID := stopOf(t, d.route("2026-11-21", []any{map[string]any{"trackingId": id}}), id)["stopId"].(string)
		if r := d.do("POST", "/v1/associate/stops/"+stopID+"/attempt", d.da1Key, map[string]any{"reason": "CustomerUnavailable"}); r.Status != 200 {
			t.Fatalf("attempt: %d %s", r.Status, r.Body)
		}
		if got := d.receive(id)[0]; got["nextAttemptDate"] != "2026-11-23" {
			t.Fatalf("next attempt = %v", got["nextAttemptDate"])
		}
		sunday := saturday.AddDate(0, 0, 1)
		e.db.Now = func() time.Time { return sunday }
		problem(t, d.do("POST", "/v1/station/routes", d.stationKey, map[string]any{"associateId": d.da1, "serviceDate": "2026-11-22", "trackingIds": []string{id}}), 400, "trackingIds[0]")
		fresh := d.label("Sun", "7 Weekend Rd", "07700900667", "20", "books")
		d.receive(fresh)
		if r := d.do("POST", "/v1/station/routes", d.stationKey, map[string]any{"associateId": d.da1, "serviceDate": "2026-11-22", "trackingIds": []string{fresh}}); r.Status != 201 {
			t.Fatalf("first attempt on Sunday: %d %s", r.Status, r.Body)
		}
		if r := d.do("POST", "/v1/station/routes", d.stationKey, map[string]any{"associateId": d.da1, "serviceDate": "2026-11-23", "trackingIds": []string{id}}); r.Status != 201 {
			t.Fatalf("re-attempt on Monday: %d %s", r.Status, r.Body)
		}
	})
}

// TestPullBackDoesNotResetGuesses: a parcel pulled back from a stop where
// codes were tried cannot be routed again the same day for three new ones.
func TestPullBackDoesNotResetGuesses(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		id := d.label("Rex", "3 Reset Rd", "07700900333", "500", "books")
		d.receive(id)
		stopID := stopOf(t, d.route("2026-11-23", []any{map[string]any{"trackingId": id}}), id)["stopId"].(string)
		right := d.code("+447700900333", "2026-11-23")
		for i := range 2 {
			problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da1Key, map[string]any{"code": wrongCode(right, i)}), 422, "")
		}
		back := d.receive(id)[0]
		if back["nextAttemptDate"] != "2026-11-24" {
			t.Errorf("next attempt = %v", back["nextAttemptDate"])
		}
		problem(t, d.do("POST", "/v1/station/routes", d.stationKey, map[string]any{"associateId": d.da1, "serviceDate": "2026-11-23", "trackingIds": []string{id}}), 400, "trackingIds[0]")
	})
}
