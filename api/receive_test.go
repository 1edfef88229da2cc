package api_test

import (
	"testing"
)

// TestReceiveOnlyWhatTheStationMaySee: a station receives a new label of its
// own marketplace, and a parcel only while it is at that station; anything
// else is not found and left as it was.
func TestReceiveOnlyWhatTheStationMaySee(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		paris := e.do("POST", "/v1/admin/stations", adminToken, map[string]any{"name": "Paris", "marketplace": "FR"}).JSON(t)["apiKey"].(string)
		west := e.do("POST", "/v1/admin/stations", adminToken, map[string]any{"name": "West", "marketplace": "GB"}).JSON(t)["apiKey"].(string)
		id := d.label("Ann", "1 High St", "07700900999", "500", "books")
		receive := func(key string) resp { return d.do("POST", "/v1/station/parcels/"+id+"/receive", key, nil) }

		// A new label of another marketplace is not the Paris station's.
		problem(t, receive(paris), 404, "")
		// Untouched by that, the label is East's to receive.
		if r := receive(d.stationKey); r.Status != 200 || r.JSON(t)["stage"] != "station" {
			t.Fatalf("East receives the label: %d %s", r.Status, r.Body)
		}
		// At East, it is not West's, though West serves the same marketplace.
		problem(t, receive(west), 404, "")
		problem(t, receive(paris), 404, "")
		// East itself is told it has the parcel already.
		problem(t, receive(d.stationKey), 409, "")
	})
}
