package api_test

import (
	"strings"
	"testing"
)

// TestNewBodiesDocumentTheirRefusals: the JSON bodies of the board, the
// webhooks, the API keys and the settings' dry run are refused like every
// other body — 415 for another media type, 413 for one too large — and the
// document says so (the test client fails any answer it does not list).
func TestNewBodiesDocumentTheirRefusals(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		e.hooks.AllowHTTP = true
		r := e.do("POST", "/v1/account/webhooks", d.shipperKey, map[string]any{"url": "http://127.0.0.1:9/x"})
		if r.Status != 201 {
			t.Fatalf("webhook: %d %s", r.Status, r.Body)
		}
		hook := r.JSON(t)["webhookId"].(string)
		big := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
		for _, c := range []struct{ path, key string }{
			{"/v1/station/routes/rt_x/stops/st_x/reorder", d.stationKey},
			{"/v1/account/webhooks/" + hook + "/rotate", d.shipperKey},
			{"/v1/account/api-keys", d.shipperKey},
			{"/v1/account/settings/preview", d.shipperKey},
		} {
			problem(t, e.do("POST", c.path, c.key, `{"direction":"up"}`, "Content-Type", "text/plain"), 415, "")
			problem(t, e.do("POST", c.path, c.key, big), 413, "")
		}
	})
}
