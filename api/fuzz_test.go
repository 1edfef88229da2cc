package api_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/api"
	"github.com/handoff-dev/handoff/api/apitest"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/shipperhooks"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// handlerOn returns the API handler on db and a shipper's API key.
func handlerOn(tb testing.TB, db *sqlstore.DB) (http.Handler, string) {
	tb.Helper()
	mux := http.NewServeMux()
	stations := stationsOf(db)
	(&api.Server{Principals: db, Settings: db, Shipments: db, Stations: stations, Doors: sqlstoretest.Door(db), Bags: stations, Cases: db, Contacts: db, Photos: sqlstoretest.Photos(db), Garages: sqlstoretest.Garages(db), Webhooks: shipperhooks.New(db, false, true), Proofs: db, Outbox: db, Today: db.Today, AdminToken: adminToken, Log: slog.New(slog.DiscardHandler)}).Register(mux)
	_, cred, err := db.CreatePrincipal(t0ctx, handoff.NewPrincipal{Kind: auth.KindShipper, Name: "Fuzz"})
	if err != nil {
		tb.Fatal(err)
	}
	return mux, cred.APIKey
}

func seedBodies() []string {
	valid, _ := json.Marshal(shipment("GB", "GBP", "120.50", "07700900123"))
	return []string{
		string(valid),
		`{}`, `[]`, `null`, `{"shipTo":null}`, `{"packages":[{}]}`,
		`{"packages":[{"insuredValue":{"value":1e999,"unit":"GBP"}}]}`,
		`{"packages":[{"insuredValue":{"value":-0,"unit":"GBP"}}]}`,
		`{"packages":[{"insuredValue":{"value":"1","unit":"GBP"}}]}`,
		`{"shipTo":{"countryCode":"in","phoneNumber":"(0091)9876543210"}}`,
		`{"gift":{"buyer":{"phoneNumber":"+4407700900123"}}}`,
		`{"packages":[{"items":[{"quantity":99999999999999999999}]}]}`,
		"{\"shipTo\":{\"name\":\"\xff\"}}",
		`{"shipTo":{"name":"a"},"shipTo":{"name":"b"}}`,
	}
}

// FuzzCreateShipment throws arbitrary bodies at POST /v1/shipments and the
// eligibility endpoint: every answer is a 2xx JSON or a 4xx problem, never a
// 500 and never a panic.
func FuzzCreateShipment(f *testing.F) {
	for _, s := range seedBodies() {
		f.Add(s)
	}
	db := sqlstoretest.Open(f, sqlstore.SQLite)
	h, key := handlerOn(f, db)
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{"/v1/shipments/eligibility", "/v1/shipments"} {
			req := httptest.NewRequest("POST", path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			apitest.Check(t, req, rec.Result())
			ct := rec.Header().Get("Content-Type")
			switch {
			case rec.Code >= 500:
				t.Fatalf("%s: status %d for %q: %s", path, rec.Code, body, rec.Body)
			case rec.Code >= 400 && ct != "application/problem+json":
				t.Fatalf("%s: %d with Content-Type %q", path, rec.Code, ct)
			case rec.Code < 300 && !json.Valid(rec.Body.Bytes()):
				t.Fatalf("%s: invalid JSON answer %q", path, rec.Body)
			}
		}
	})
}

// FuzzPatchSettings does the same for PATCH /v1/account/settings.
func FuzzPatchSettings(f *testing.F) {
	for _, s := range []string{`{"notifications":{"sms":false}}`, `{"secureDelivery":{"thresholds":[{"marketplace":"GB","value":1,"unit":"GBP"}]}}`,
		`{"tamperEvidentBag":{"categories":["a"]}}`, `{"secureDelivery":{"thresholds":[{}]}}`, `{"secureDelivery":null}`} {
		f.Add(s)
	}
	db := sqlstoretest.Open(f, sqlstore.SQLite)
	h, key := handlerOn(f, db)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("PATCH", "/v1/account/settings", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		apitest.Check(t, req, rec.Result())
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		// Whatever was sent, the settings still read back.
		get := httptest.NewRequest("GET", "/v1/account/settings", nil)
		get.Header.Set("Authorization", "Bearer "+key)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, get)
		apitest.Check(t, get, rec.Result())
		if rec.Code != 200 {
			t.Fatalf("settings unreadable after %q: %d %s", body, rec.Code, rec.Body)
		}
	})
}
