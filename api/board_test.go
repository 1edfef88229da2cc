package api_test

import (
	"slices"
	"testing"
)

// labelAt creates one GB parcel for a recipient at a postcode and returns
// its tracking ID.
func (d *day) labelAt(name, line1, postcode, phone, value, category string) string {
	d.t.Helper()
	b := shipment("GB", "GBP", value, phone)
	to := b["shipTo"].(map[string]any)
	to["name"], to["addressLine1"], to["postalCode"] = name, line1, postcode
	b["packages"].([]any)[0].(map[string]any)["items"] = []any{map[string]any{"description": "x", "quantity": 1, "category": category}}
	r := d.do("POST", "/v1/shipments", d.shipperKey, b)
	if r.Status != 201 {
		d.t.Fatalf("label: %d %s", r.Status, r.Body)
	}
	return r.JSON(d.t)["packages"].([]any)[0].(map[string]any)["trackingId"].(string)
}

// waitingIDs lists the tracking IDs of the waiting list for a query.
func (d *day) waitingIDs(query string) []string {
	d.t.Helper()
	r := d.do("GET", "/v1/station/waiting"+query, d.stationKey, nil)
	if r.Status != 200 {
		d.t.Fatalf("waiting%s: %d %s", query, r.Status, r.Body)
	}
	var out []string
	for _, p := range asSlice(r.JSON(d.t)["parcels"]) {
		out = append(out, p.(map[string]any)["trackingId"].(string))
	}
	return out
}

// boardCounts returns the board's counts of today.
func (d *day) boardCounts() map[string]any {
	d.t.Helper()
	r := d.do("GET", "/v1/station/board", d.stationKey, nil)
	if r.Status != 200 {
		d.t.Fatalf("board: %d %s", r.Status, r.Body)
	}
	return r.JSON(d.t)["counts"].(map[string]any)
}

// TestStationBoardAndWaiting follows a station's morning through the API:
// parcels received wait in postcode order and filter by postcode and need;
// a route made of them leaves the waiting count for the planned one, its
// stops in postcode order, which the station adjusts until the van is
// loaded.
func TestStationBoardAndWaiting(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		laptop := d.labelAt("Ola", "9 Grove Rd", "E8 1HR", "07700900909", "1200", "laptop")
		book := d.labelAt("Bea", "2 Bow Rd", "E3 4BB", "07700900202", "20", "books")
		far := d.labelAt("Cy", "5 Lea Bridge Rd", "E10 5AA", "07700900303", "20", "books")
		d.receive(laptop, book, far)

		c := d.boardCounts()
		if c["waiting"] != 3.0 || c["planned"] != 0.0 {
			t.Fatalf("counts after receiving = %v, want 3 waiting and none planned", c)
		}
		if got, want := d.waitingIDs(""), []string{book, laptop, far}; !slices.Equal(got, want) {
			t.Errorf("waiting = %v, want postcode order E3, E8, E10 %v", got, want)
		}
		if got := d.waitingIDs("?postcode=e8%201"); !slices.Equal(got, []string{laptop}) {
			t.Errorf("waiting in e8 1 = %v, want the laptop", got)
		}
		if got := d.waitingIDs("?needs=passcode"); !slices.Equal(got, []string{laptop}) {
			t.Errorf("waiting for a passcode = %v, want the laptop", got)
		}
		if got := d.waitingIDs("?needs=garage"); len(got) != 0 {
			t.Errorf("waiting for a garage = %v, want none", got)
		}
		problem(t, d.do("GET", "/v1/station/waiting?needs=ladder", d.stationKey, nil), 400, "needs")
		problem(t, d.do("GET", "/v1/station/board?date=monday", d.stationKey, nil), 400, "date")
		problem(t, d.do("GET", "/v1/station/board", d.shipperKey, nil), 403, "")

		r := d.do("POST", "/v1/station/routes", d.stationKey, map[string]any{"associateId": d.da1, "serviceDate": "2026-11-23",
			"trackingIds": []string{far, laptop, book}, "startTime": "10:30"})
		if r.Status != 201 {
			t.Fatalf("route: %d %s", r.Status, r.Body)
		}
		rt := r.JSON(t)
		routeID := rt["routeId"].(string)
		for i, want := range []struct{ id, time string }{{book, "10:30"}, {laptop, "10:45"}, {far, "11:00"}} {
			if s := stopOf(t, rt, want.id); s["position"] != float64(i+1) || s["plannedTime"] != want.time {
				t.Errorf("stop of %s at position %v, %v; want %d at %s (postcode order from the start time)", want.id, s["position"], s["plannedTime"], i+1, want.time)
			}
		}
		c = d.boardCounts()
		if c["waiting"] != 0.0 || c["planned"] != 3.0 {
			t.Errorf("counts after planning = %v, want none waiting and 3 planned", c)
		}
		board := d.do("GET", "/v1/station/board?date=2026-11-23", d.stationKey, nil).JSON(t)
		for _, a := range asSlice(board["associates"]) {
			a := a.(map[string]any)
			if want := map[bool]float64{true: 3, false: 0}[a["associateId"] == d.da1]; a["toDo"] != want {
				t.Errorf("associate %v has %v to do, want %v", a["name"], a["toDo"], want)
			}
		}

		// The laptop's stop moves up: it takes the first place and its time.
		laptopStop := stopOf(t, rt, laptop)["stopId"].(string)
		reorder := "/v1/station/routes/" + routeID + "/stops/" + laptopStop + "/reorder"
		problem(t, d.do("POST", reorder, d.stationKey, map[string]any{"direction": "sideways"}), 400, "direction")
		r = d.do("POST", reorder, d.stationKey, map[string]any{"direction": "up"})
		if r.Status != 200 {
			t.Fatalf("reorder: %d %s", r.Status, r.Body)
		}
		rt = r.JSON(t)
		if s := stopOf(t, rt, laptop); s["position"] != 1.0 || s["plannedTime"] != "10:30" {
			t.Errorf("the laptop's stop after moving up: %v at %v, want 1 at 10:30", s["position"], s["plannedTime"])
		}
		if s := stopOf(t, rt, book); s["position"] != 2.0 || s["plannedTime"] != "10:45" {
			t.Errorf("the book's stop after: %v at %v, want 2 at 10:45", s["position"], s["plannedTime"])
		}
		if r := d.do("POST", reorder, d.stationKey, map[string]any{"direction": "up"}); r.Status != 200 {
			t.Errorf("moving the first stop up: %d %s, want the route unchanged", r.Status, r.Body)
		}

		other := e.do("POST", "/v1/admin/stations", adminToken, map[string]any{"name": "West", "marketplace": "GB"}).JSON(t)
		otherKey := other["apiKey"].(string)
		problem(t, d.do("POST", reorder, otherKey, map[string]any{"direction": "down"}), 404, "")
		if b := d.do("GET", "/v1/station/board", otherKey, nil).JSON(t); b["counts"].(map[string]any)["planned"] != 0.0 {
			t.Errorf("another station's board counts this station's parcels: %v", b)
		}

		d.seal(laptop)
		if l := d.do("POST", "/v1/associate/routes/"+routeID+"/load", d.da1Key, nil); l.Status != 200 {
			t.Fatalf("load: %d %s", l.Status, l.Body)
		}
		c = d.boardCounts()
		if c["planned"] != 0.0 || c["out"] != 3.0 {
			t.Errorf("counts after loading = %v, want 3 out", c)
		}
		problem(t, d.do("POST", reorder, d.stationKey, map[string]any{"direction": "down"}), 409, "")
	})
}
