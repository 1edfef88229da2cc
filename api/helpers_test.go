package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/handoff-dev/handoff/api"
	"github.com/handoff-dev/handoff/api/apitest"
	"github.com/handoff-dev/handoff/door"
	"github.com/handoff-dev/handoff/keydelivery"
	"github.com/handoff-dev/handoff/observe"
	"github.com/handoff-dev/handoff/shipperhooks"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/station"
)

const adminToken = "test-admin-token-0123456789"

// env is a running API on a real store. Everything the server logs and
// every response body is kept, so tests can search them for secrets.
type env struct {
	t       *testing.T
	db      *sqlstore.DB
	hooks   *shipperhooks.Service // which webhook URLs may be registered
	door    *door.Service
	garages *keydelivery.Service
	srv     *httptest.Server
	logs    *syncBuffer
	// client checks every answer against the OpenAPI document.
	client *http.Client

	mu     sync.Mutex
	bodies [][]byte
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newEnv(t *testing.T, db *sqlstore.DB) *env {
	t.Helper()
	return newEnvWith(t, db, nil)
}

// newEnvWith is newEnv with a chance to configure the API and the HTTP
// server before it starts.
func newEnvWith(t *testing.T, db *sqlstore.DB, setup func(*api.Server, *http.Server)) *env {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db.Log = log
	garages := sqlstoretest.Garages(db)
	garages.Log = log
	mux := http.NewServeMux()
	doors := sqlstoretest.Door(db)
	stations := stationsOf(db)
	hooks := shipperhooks.New(db, false, true)
	s := &api.Server{Principals: db, Settings: db, Shipments: db, Stations: stations, Doors: doors, Outbox: db, Bags: stations, Cases: db, Contacts: db, Photos: sqlstoretest.Photos(db), Garages: garages, Webhooks: hooks, APIKeys: db, Proofs: db, Today: db.Today, AdminToken: adminToken, Log: log}
	metrics := observe.NewMetrics()
	srv := httptest.NewUnstartedServer(metrics.Middleware(log, mux))
	if setup != nil {
		setup(s, srv.Config)
	}
	s.Register(mux)
	srv.Start()
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, hooks: hooks, door: doors, garages: garages, srv: srv, logs: logs, client: apitest.Client(t)}
}

// stationsOf returns the station's service over db, with db's policy.
func stationsOf(db *sqlstore.DB) *station.Service { return station.NewService(db, db.Policy) }

// eachEnv runs fn against an API on every engine.
func eachEnv(t *testing.T, fn func(t *testing.T, e *env)) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) { fn(t, newEnv(t, db)) })
}

type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map.
func (r resp) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

func (e *env) do(method, path, token string, body any, hdr ...string) resp {
	e.t.Helper()
	return e.send(e.request(method, path, token, body, hdr...))
}

// undocumented sends a request to a route the OpenAPI document does not
// list, on purpose: the answer must be the catch-all's problem.
func (e *env) undocumented(method, path, token string) resp {
	e.t.Helper()
	return e.send(apitest.Undocumented(e.request(method, path, token, nil)))
}

func (e *env) request(method, path, token string, body any, hdr ...string) *http.Request {
	e.t.Helper()
	req, err := apitest.NewRequest(t0ctx, method, e.srv.URL+path, token, body, hdr...)
	if err != nil {
		e.t.Fatal(err)
	}
	return req
}

func (e *env) send(req *http.Request) resp {
	e.t.Helper()
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	e.mu.Lock()
	e.bodies = append(e.bodies, b)
	e.mu.Unlock()
	return resp{Status: res.StatusCode, Header: res.Header, Body: b}
}

// shipper onboards a shipper through the admin API and returns its API key.
func (e *env) shipper() (id, key string) {
	e.t.Helper()
	r := e.do("POST", "/v1/admin/shippers", adminToken, map[string]any{"name": "Acme"})
	if r.Status != 201 {
		e.t.Fatalf("create shipper: %d %s", r.Status, r.Body)
	}
	m := r.JSON(e.t)
	return m["shipperId"].(string), m["apiKey"].(string)
}

// otpOn switches OTP on for the shipper.
func (e *env) otpOn(key string) {
	e.t.Helper()
	if r := e.do("PATCH", "/v1/account/settings", key, `{"secureDelivery":{"otpEnabled":true}}`); r.Status != 200 {
		e.t.Fatalf("otp on: %d %s", r.Status, r.Body)
	}
}

// shipment returns a valid shipment body for market with the given value and
// phone, as generic JSON so tests can break it.
func shipment(country, currency, value, phone string) map[string]any {
	return map[string]any{
		"shipTo": map[string]any{"name": "Rec", "addressLine1": "1 Main St", "city": "City", "postalCode": "12345",
			"countryCode": country, "phoneNumber": phone, "email": "rec@example.com"},
		"shipFrom": map[string]any{"name": "Shop", "addressLine1": "2 Dock Rd", "city": "Town", "postalCode": "999", "countryCode": "GB"},
		"packages": []any{map[string]any{
			"packageClientReferenceId": "ref-1",
			"insuredValue":             map[string]any{"value": json.Number(value), "unit": currency},
			"weight":                   map[string]any{"value": 1.5, "unit": "KILOGRAM"},
			"dimensions":               map[string]any{"length": 10, "width": 20, "height": 5, "unit": "CENTIMETER"},
			"items":                    []any{map[string]any{"description": "Thing", "quantity": 1, "category": "books"}},
		}},
	}
}

// problem asserts r is problem+json with the status and, if field is not
// empty, an error naming that field. It returns the problem.
func problem(t *testing.T, r resp, status int, field string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d: %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	m := r.JSON(t)
	if int(m["status"].(float64)) != status || m["code"] == "" || m["type"] == "" || m["title"] == "" {
		t.Fatalf("problem lacks status/code/type/title: %s", r.Body)
	}
	if field != "" {
		errs, _ := m["errors"].([]any)
		var fields []string
		for _, e := range errs {
			f := e.(map[string]any)["field"].(string)
			if f == field {
				return m
			}
			fields = append(fields, f)
		}
		t.Fatalf("no error for field %q; got %v: %s", field, fields, r.Body)
	}
	return m
}
