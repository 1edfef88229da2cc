package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/notify"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// The benchmarks of the hot paths of a delivery day, each through the HTTP
// handler on SQLite (and PostgreSQL when HANDOFF_TEST_POSTGRES is set).
// Everything an operation needs (labels, stations, routes, loaded vans) is
// made before the timer starts, through the services; each operation works
// on parcels or stops of its own. Besides time and allocations they report
// the SQL statements an operation runs (queries/op), and per-stop figures
// for the route-wide operations.

var t0ctx = context.Background()

// benchStops is the size of the routes the benchmarks plan and load: the
// largest a station may plan, so that work which grows with the route shows.
const benchStops = handoff.MaxRouteParcels

// benchDay is a delivery day's cast on one store, with the handler.
type benchDay struct {
	b                 *testing.B
	db                *sqlstore.DB
	h                 http.Handler
	shipper, station  *handoff.Principal
	da                *handoff.Principal
	shipperKey, daKey string
	stationKey        string
	recipients        int // mobiles handed out so far
}

// eachEngine runs a benchmark on every engine, on a fresh day each time.
func eachEngine(b *testing.B, fn func(b *testing.B, d *benchDay)) {
	for _, e := range sqlstoretest.Engines() {
		b.Run(e, func(b *testing.B) { fn(b, newBenchDay(b, e)) })
	}
}

func newBenchDay(b *testing.B, engine string) *benchDay {
	b.Helper()
	db := sqlstoretest.Open(b, engine)
	monday := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return monday }
	// The benchmarks enter many wrong codes with one associate.
	db.Policy.WrongCodeLimit = 1 << 30
	d := &benchDay{b: b, db: db}
	var key string
	d.h, key = handlerOn(b, db)
	var err error
	if d.shipper, err = db.AuthenticateAPIKey(t0ctx, key); err != nil {
		b.Fatal(err)
	}
	d.shipperKey = key
	on := true
	if _, err := db.UpdateSettings(t0ctx, d.shipper.ID, &handoff.SettingsPatch{SecureDelivery: &handoff.SecureDeliveryPatch{OTPEnabled: &on}}); err != nil {
		b.Fatal(err)
	}
	st, stCred, err := db.CreatePrincipal(t0ctx, handoff.NewPrincipal{Kind: auth.KindStation, Name: "S", Market: "GB"})
	if err != nil {
		b.Fatal(err)
	}
	da, daCred, err := db.CreatePrincipal(t0ctx, handoff.NewPrincipal{Kind: auth.KindAssociate, Name: "D", StationID: st.ID})
	if err != nil {
		b.Fatal(err)
	}
	d.station, d.stationKey, d.da, d.daKey = st, stCred.APIKey, da, daCred.APIKey
	return d
}

// mobile returns a new recipient's mobile.
func (d *benchDay) mobile() string {
	d.recipients++
	return fmt.Sprintf("+4477%08d", d.recipients)
}

// labels creates n labels, one per new recipient, needing the passcode
// when otp, and returns their tracking IDs and the recipients' mobiles.
func (d *benchDay) labels(n int, otp bool) (ids, mobiles []string) {
	d.b.Helper()
	value := "50"
	if otp {
		value = "500"
	}
	for range n {
		m := d.mobile()
		in := &handoff.ShipmentInput{}
		json.Unmarshal(mustJSON(shipment("GB", "GBP", value, m)), in)
		s, _, err := d.db.CreateShipment(t0ctx, d.shipper.ID, in, "")
		if err != nil {
			d.b.Fatal(err)
		}
		ids = append(ids, s.Packages[0].TrackingID)
		mobiles = append(mobiles, m)
	}
	return ids, mobiles
}

// received is labels, received at the station.
func (d *benchDay) received(n int, otp bool) (ids, mobiles []string) {
	d.b.Helper()
	ids, mobiles = d.labels(n, otp)
	for _, id := range ids {
		if _, err := stationsOf(d.db).ReceiveParcel(t0ctx, d.station, id); err != nil {
			d.b.Fatal(err)
		}
	}
	return ids, mobiles
}

// routes plans routes of at most benchStops parcels for the parcels.
func (d *benchDay) routes(ids []string) []*handoff.Route {
	d.b.Helper()
	var out []*handoff.Route
	for len(ids) > 0 {
		n := min(len(ids), benchStops)
		r, err := stationsOf(d.db).CreateRoute(t0ctx, d.station, handoff.NewRoute{AssociateID: d.da.ID, ServiceDate: "2026-11-23", TrackingIDs: ids[:n]})
		if err != nil {
			d.b.Fatal(err)
		}
		out = append(out, r)
		ids = ids[n:]
	}
	return out
}

// doorStop is a stop out for delivery and its recipient's code.
type doorStop struct{ id, code string }

// loadedStops returns n stops out for delivery, one parcel each, on full
// routes of benchStops stops (so that a cost that grows with the route
// shows); with otp, each waits for its recipient's code.
func (d *benchDay) loadedStops(n int, otp bool) []doorStop {
	d.b.Helper()
	ids, mobiles := d.received((n+benchStops-1)/benchStops*benchStops, otp)
	mobileOf := map[string]string{}
	for i, id := range ids {
		mobileOf[id] = mobiles[i]
	}
	var out []doorStop
	for _, r := range d.routes(ids) {
		if _, err := sqlstoretest.Door(d.db).LoadRoute(t0ctx, d.da, r.ID); err != nil {
			d.b.Fatal(err)
		}
		for _, s := range r.Stops {
			ds := doorStop{id: s.ID}
			if otp && len(out) < n {
				ds.code = sqlstoretest.ContactCode(d.b, d.db, mobileOf[s.Parcels[0].TrackingID])
			}
			out = append(out, ds)
			if len(out) == n {
				return out
			}
		}
	}
	return out
}

// serve sends one request through the handler and fails unless it is
// answered with want.
func (d *benchDay) serve(method, path, key string, body []byte, want int) {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	d.h.ServeHTTP(rec, req)
	if rec.Code != want {
		d.b.Fatalf("%s %s: status %d, want %d: %s", method, path, rec.Code, want, rec.Body)
	}
}

// measure runs op b.N times with the timer on and reports the statements
// each ran and the process's CPU time per operation (cpu-ns/op: the
// server's work, without the waits for the disk that ns/op includes), and
// both per unit (a stop) when units is not zero.
func (d *benchDay) measure(units int, unit string, op func(i int)) {
	b := d.b
	b.ReportAllocs()
	q0 := d.db.Statements()
	stopProfile := profileOps(b)
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		op(i)
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	stopProfile()
	b.ReportMetric(float64(d.db.Statements()-q0)/float64(b.N), "queries/op")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if units > 0 {
		b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N*units), "ns/"+unit)
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*units), "cpu-ns/"+unit)
	}
}

// profileOps writes a CPU profile of the timed operations alone (not of
// making what they need) to $HANDOFF_BENCH_CPUPROFILE, named after the
// benchmark, when that is set; it returns how to stop it.
func profileOps(b *testing.B) func() {
	dir := os.Getenv("HANDOFF_BENCH_CPUPROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, strings.NewReplacer("/", "_").Replace(b.Name())+".prof"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// BenchmarkCreateLabel measures POST /v1/shipments of an OTP-eligible label
// with an idempotency key: authentication, decoding, validation, the
// eligibility decision and the transaction that stores the label and its
// first event.
func BenchmarkCreateLabel(b *testing.B) {
	eachEngine(b, func(b *testing.B, d *benchDay) {
		body := mustJSON(shipment("GB", "GBP", "120.50", "07700900123"))
		d.measure(0, "", func(i int) {
			req := httptest.NewRequest("POST", "/v1/shipments", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+d.shipperKey)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("bench-%d", i))
			rec := httptest.NewRecorder()
			d.h.ServeHTTP(rec, req)
			if rec.Code != 201 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		})
	})
}

// BenchmarkReceive measures POST /v1/station/parcels/{id}/receive of a new
// label: it is picked up and arrives, and the recipient is told.
func BenchmarkReceive(b *testing.B) {
	eachEngine(b, func(b *testing.B, d *benchDay) {
		ids, _ := d.labels(b.N, true)
		d.measure(0, "", func(i int) {
			d.serve("POST", "/v1/station/parcels/"+ids[i]+"/receive", d.stationKey, nil, 200)
		})
	})
}

// BenchmarkPlanRoute measures POST /v1/station/routes of a route of
// benchStops parcels at as many stops, and reports the cost per stop.
func BenchmarkPlanRoute(b *testing.B) {
	eachEngine(b, func(b *testing.B, d *benchDay) {
		ids, _ := d.received(b.N*benchStops, true)
		d.measure(benchStops, "stop", func(i int) {
			body := mustJSON(map[string]any{"associateId": d.da.ID, "serviceDate": "2026-11-23", "trackingIds": ids[i*benchStops : (i+1)*benchStops]})
			d.serve("POST", "/v1/station/routes", d.stationKey, body, 201)
		})
	})
}

// BenchmarkLoadRoute measures POST /v1/associate/routes/{id}/load of a
// planned route of benchStops stops, each parcel needing the passcode (so
// each stop queues its code messages), and reports the cost per stop.
func BenchmarkLoadRoute(b *testing.B) {
	eachEngine(b, func(b *testing.B, d *benchDay) {
		ids, _ := d.received(b.N*benchStops, true)
		routes := d.routes(ids)
		d.measure(benchStops, "stop", func(i int) {
			d.serve("POST", "/v1/associate/routes/"+routes[i].ID+"/load", d.daKey, nil, 200)
		})
	})
}

// BenchmarkWrongCode measures POST /v1/associate/stops/{id}/verify with a
// wrong code at a stop of a loaded route of benchStops stops: the scoped
// stop lookup, the guarded transaction, the comparison, the counting and
// the stop view of the answer. Each stop takes one wrong code.
func BenchmarkWrongCode(b *testing.B) {
	eachEngine(b, func(b *testing.B, d *benchDay) {
		stops := d.loadedStops(b.N, true)
		d.measure(0, "", func(i int) {
			wrong := fmt.Sprintf("%06d", (atoi(stops[i].code)+1)%1000000)
			d.serve("POST", "/v1/associate/stops/"+stops[i].id+"/verify", d.daKey, []byte(`{"code":"`+wrong+`"}`), 422)
		})
	})
}

// BenchmarkVerifyCode measures POST /v1/associate/stops/{id}/verify with the
// right code at a stop of a loaded route of benchStops stops: as the wrong
// code, plus the delivery of the stop's parcel with its event and messages.
func BenchmarkVerifyCode(b *testing.B) {
	eachEngine(b, func(b *testing.B, d *benchDay) {
		stops := d.loadedStops(b.N, true)
		d.measure(0, "", func(i int) {
			d.serve("POST", "/v1/associate/stops/"+stops[i].id+"/verify", d.daKey, []byte(`{"code":"`+stops[i].code+`"}`), 200)
		})
	})
}

// BenchmarkDeliverInHand measures POST /v1/associate/stops/{id}/deliver of
// a parcel without a passcode handed to the customer (no photo).
func BenchmarkDeliverInHand(b *testing.B) {
	eachEngine(b, func(b *testing.B, d *benchDay) {
		stops := d.loadedStops(b.N, false)
		d.measure(0, "", func(i int) {
			d.serve("POST", "/v1/associate/stops/"+stops[i].id+"/deliver", d.daKey, []byte(`{"place":"DeliveredToCustomer"}`), 200)
		})
	})
}

// BenchmarkDeliverWithPhoto measures POST /v1/associate/stops/{id}/deliver
// of a parcel without a passcode left at the porch with a 640 × 480 photo,
// uploaded as the app does (multipart): the upload is checked, cleaned of
// its metadata, thumbnailed and stored, and the delivery recorded.
func BenchmarkDeliverWithPhoto(b *testing.B) {
	eachEngine(b, func(b *testing.B, d *benchDay) {
		stops := d.loadedStops(b.N, false)
		img := image.NewRGBA(image.Rect(0, 0, 640, 480))
		for y := range 480 {
			for x := range 640 {
				img.SetRGBA(x, y, color.RGBA{uint8(x * 255 / 640), uint8(y * 255 / 480), uint8((x + y) % 256), 255})
			}
		}
		var shot bytes.Buffer
		if err := jpeg.Encode(&shot, img, &jpeg.Options{Quality: 80}); err != nil {
			b.Fatal(err)
		}
		d.measure(0, "", func(i int) {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			mw.WriteField("place", "DeliveredToPorch")
			fw, _ := mw.CreateFormFile("photo", "porch.jpg")
			fw.Write(shot.Bytes())
			mw.Close()
			req := httptest.NewRequest("POST", "/v1/associate/stops/"+stops[i].id+"/deliver", &body)
			req.Header.Set("Authorization", "Bearer "+d.daKey)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			rec := httptest.NewRecorder()
			d.h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		})
	})
}

// BenchmarkSendMessage measures the worker sending one queued text message
// to a provider that accepts at once: the claim, the rendering and the
// settling of the message.
func BenchmarkSendMessage(b *testing.B) {
	eachEngine(b, func(b *testing.B, d *benchDay) {
		sqlstoretest.QueueSMS(b, d.db, b.N)
		w := &notify.Worker{Store: d.db, Senders: map[string]notify.Sender{notify.SMS: acceptAll{}}, Log: slog.New(slog.DiscardHandler)}
		sent := 0
		d.measure(0, "", func(int) {
			for sent < b.N {
				n, err := w.RunOnce(t0ctx, notify.SMS)
				if err != nil || n == 0 {
					b.Fatalf("claimed %d: %v", n, err)
				}
				sent += n
			}
		})
	})
}

// acceptAll is a provider that takes every message at once.
type acceptAll struct{}

func (acceptAll) Send(context.Context, notify.Message) error { return nil }
func (acceptAll) Name() string                               { return "accept-all" }

func atoi(s string) int {
	n := 0
	for _, c := range strings.TrimSpace(s) {
		n = n*10 + int(c-'0')
	}
	return n
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
