package api_test

import "testing"

// TestStationReadsRoutesAndBags follows a station through the reads the
// other tests skip: the operator issues it bags, it looks at the batch, its
// sealed bags, the day's routes and one route, and moves a stop's time.
func TestStationReadsRoutesAndBags(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		laptop := d.label("Ola", "9 Grove Rd", "07700900909", "1200", "laptop")
		d.receive(laptop)

		batch := e.do("POST", "/v1/admin/bags/batches", adminToken, map[string]any{"count": 2, "stationId": d.stationID}).JSON(t)
		batchID := batch["batchId"].(string)
		if png := e.do("GET", "/v1/admin/bags/batches/"+batchID+"/labels.png", adminToken, nil); png.Status != 200 || len(png.Body) < 1000 {
			t.Fatalf("admin labels: %d, %d bytes", png.Status, len(png.Body))
		}
		seen := d.do("GET", "/v1/station/bags/batches/"+batchID, d.stationKey, nil).JSON(t)
		bags := asSlice(seen["bags"])
		if len(bags) != 2 {
			t.Fatalf("the station sees %d bags of the batch, want 2: %v", len(bags), seen)
		}
		bagID := bags[0].(map[string]any)["bagId"].(string)
		if s := d.do("POST", "/v1/station/parcels/"+laptop+"/seal", d.stationKey, map[string]any{"bagId": bagID}); s.Status != 200 {
			t.Fatalf("seal: %d %s", s.Status, s.Body)
		}
		sealed := asSlice(d.do("GET", "/v1/station/bags?state=sealed", d.stationKey, nil).JSON(t)["bags"])
		if len(sealed) != 1 || sealed[0].(map[string]any)["trackingId"] != laptop {
			t.Errorf("sealed bags = %v, want the laptop's", sealed)
		}

		r := d.do("POST", "/v1/station/routes", d.stationKey, map[string]any{"associateId": d.da1, "serviceDate": "2026-11-23", "trackingIds": []string{laptop}}).JSON(t)
		routeID := r["routeId"].(string)
		routes := asSlice(d.do("GET", "/v1/station/routes?date=2026-11-23", d.stationKey, nil).JSON(t)["routes"])
		if len(routes) != 1 || routes[0].(map[string]any)["routeId"] != routeID {
			t.Errorf("the day's routes = %v, want %s", routes, routeID)
		}
		rt := d.do("GET", "/v1/station/routes/"+routeID, d.stationKey, nil).JSON(t)
		stopID := stopOf(t, rt, laptop)["stopId"].(string)
		moved := d.do("PATCH", "/v1/station/routes/"+routeID+"/stops/"+stopID, d.stationKey, map[string]any{"plannedTime": "11:30"})
		if moved.Status != 200 {
			t.Fatalf("move the stop: %d %s", moved.Status, moved.Body)
		}
		if got := stopOf(t, d.do("GET", "/v1/station/routes/"+routeID, d.stationKey, nil).JSON(t), laptop)["plannedTime"]; got != "11:30" {
			t.Errorf("the stop is planned at %v after the move, want 11:30", got)
		}
	})
}
