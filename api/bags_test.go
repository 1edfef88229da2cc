package api_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/bag"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

func TestBagsEndToEnd(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		cs := e.do("POST", "/v1/admin/agents", adminToken, map[string]any{"name": "Casey"}).JSON(t)["apiKey"].(string)

		// A laptop needs a bag; a book does not.
		laptop := d.label("Ola", "9 Grove Rd", "07700900909", "1200", "laptop")
		book := d.label("Ola", "9 Grove Rd", "07700900909", "10", "books")
		d.receive(laptop, book)
		batch := d.do("POST", "/v1/station/bags/batches", d.stationKey, map[string]any{"count": 3}).JSON(t)
		var bags []string
		for _, b := range batch["bags"].([]any) {
			bags = append(bags, b.(map[string]any)["bagId"].(string))
		}
		png := d.do("GET", "/v1/station/bags/batches/"+batch["batchId"].(string)+"/labels.png", d.stationKey, nil)
		if png.Status != 200 || png.Header.Get("Content-Type") != "image/png" || len(png.Body) < 1000 {
			t.Fatalf("labels: %d %s", png.Status, png.Header.Get("Content-Type"))
		}
		pdf := d.do("GET", "/v1/station/bags/batches/"+batch["batchId"].(string)+"/labels.pdf", d.stationKey, nil)
		if pdf.Status != 200 || pdf.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf.Body, []byte("%PDF-")) || pdf.Header.Get("X-Pages") != "1" {
			t.Fatalf("labels.pdf: %d %s %s", pdf.Status, pdf.Header.Get("Content-Type"), pdf.Header.Get("X-Pages"))
		}

		// Sealing is refused for a parcel that needs no bag, a misread ID,
		// and a bag that is not this station's.
		problem(t, d.do("POST", "/v1/station/parcels/"+book+"/seal", d.stationKey, map[string]any{"bagId": bags[0]}), 409, "")
		problem(t, d.do("POST", "/v1/station/parcels/"+laptop+"/seal", d.stationKey, map[string]any{"bagId": misread(bags[0])}), 400, "bagId")
		problem(t, d.do("POST", "/v1/station/parcels/"+laptop+"/seal", d.stationKey, map[string]any{"bagId": bag.New()}), 400, "bagId")
		// It cannot go out unsealed.
		r := d.do("POST", "/v1/station/routes", d.stationKey, map[string]any{"associateId": d.da1, "serviceDate": "2026-11-23", "trackingIds": []string{laptop, book}})
		routeID := r.JSON(t)["routeId"].(string)
		problem(t, d.do("POST", "/v1/associate/routes/"+routeID+"/load", d.da1Key, nil), 409, "")
		// A damaged bag is voided and the parcel re-bagged; both stay in its history.
		if s := d.do("POST", "/v1/station/parcels/"+laptop+"/seal", d.stationKey, map[string]any{"bagId": bag.Format(bags[0])}); s.Status != 200 {
			t.Fatalf("seal: %d %s", s.Status, s.Body)
		}
		if v := d.do("POST", "/v1/station/bags/"+bags[0]+"/void", d.stationKey, map[string]any{"reason": "torn strip"}); v.Status != 200 {
			t.Fatalf("void: %d %s", v.Status, v.Body)
		}
		problem(t, d.do("POST", "/v1/station/parcels/"+laptop+"/seal", d.stationKey, map[string]any{"bagId": bags[0]}), 400, "bagId")
		if s := d.do("POST", "/v1/station/parcels/"+laptop+"/seal", d.stationKey, map[string]any{"bagId": strings.ToLower(bags[1])}); s.Status != 200 {
			t.Fatalf("re-seal: %d %s", s.Status, s.Body)
		}
		rt := d.do("POST", "/v1/associate/routes/"+routeID+"/load", d.da1Key, nil).JSON(t)
		stopID := stopOf(t, rt, laptop)["stopId"].(string)

		// The out-for-delivery message names the bag.
		msgs := sqlstoretest.Notifications(t, e.db, laptop)
		var named bool
		for _, m := range msgs {
			if m.Kind == "out_for_delivery" && strings.Contains(strings.Join(anyStrings(m.Data["bagIds"]), ","), bag.Format(bags[1])) {
				named = true
			}
		}
		if !named {
			t.Error("the out-for-delivery message does not name the bag")
		}

		// A wrong bag is refused and reported; the right one and the code deliver.
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/scan-bag", d.da1Key, map[string]any{"bagId": bags[2]}), 409, "")
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/deliver", d.da1Key, map[string]any{"place": "DeliveredToPorch", "trackingIds": []string{laptop}}), 403, "")
		code := d.code("+447700900909", "2026-11-23")
		problem(t, d.do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da1Key, map[string]any{"code": code}), 409, "")
		d.scan(stopID, bag.Format(bags[1]))
		if v := d.do("POST", "/v1/associate/stops/"+stopID+"/verify", d.da1Key, map[string]any{"code": code}); v.Status != 200 {
			t.Fatalf("verify: %d %s", v.Status, v.Body)
		}
		cases := d.do("GET", "/v1/cases?status=open", cs, nil).JSON(t)["cases"].([]any)
		if len(cases) != 1 || cases[0].(map[string]any)["kind"] != "scan_mismatch" {
			t.Fatalf("cases = %v", cases)
		}

		// Second run: the recipient refuses a tampered bag.
		ring := d.label("Ola", "9 Grove Rd", "07700900909", "3000", "smartphone")
		d.receive(ring)
		e.db.Now = func() time.Time { return monday.AddDate(0, 0, 1) }
		ringBag := d.seal(ring)
		rt = d.route("2026-11-24", []any{map[string]any{"trackingId": ring}})
		stopID = stopOf(t, rt, ring)["stopId"].(string)
		if r := d.do("POST", "/v1/associate/stops/"+stopID+"/refuse", d.da1Key, nil); r.Status != 200 {
			t.Fatalf("refuse: %d %s", r.Status, r.Body)
		}
		if ev := d.events(ring); ev[len(ev)-1] != "Rejected/RejectedByRecipientWithVerification" {
			t.Errorf("events = %v", ev)
		}
		back := d.receive(ring)[0]
		if back["stage"] != "held" {
			t.Errorf("back at the station: %v", back)
		}
		var tamper map[string]any
		for _, c := range d.do("GET", "/v1/cases?status=open", cs, nil).JSON(t)["cases"].([]any) {
			if c.(map[string]any)["trackingId"] == ring {
				tamper = c.(map[string]any)
			}
		}
		if tamper == nil || tamper["kind"] != "tamper" {
			t.Fatalf("no tamper case")
		}
		full := d.do("GET", "/v1/cases/"+tamper["caseId"].(string), cs, nil).JSON(t)
		if len(full["carriers"].([]any)) != 1 || full["bags"].([]any)[0].(map[string]any)["sealedBy"] == "" || len(full["eventHistory"].([]any)) < 6 {
			t.Errorf("case history = %v", full)
		}
		// Only agents read cases.
		problem(t, d.do("GET", "/v1/cases/"+tamper["caseId"].(string), d.stationKey, nil), 403, "")
		closed := d.do("POST", "/v1/cases/"+tamper["caseId"].(string)+"/close", cs, map[string]any{"outcome": "return_to_shipper", "note": "seal cut"})
		if closed.Status != 200 || closed.JSON(t)["status"] != "closed" {
			t.Fatalf("close: %d %s", closed.Status, closed.Body)
		}
		if ev := d.events(ring); ev[len(ev)-1] != "ReturnInitiated" {
			t.Errorf("after closing: %v", ev)
		}
		_ = ringBag
	})
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func TestBagSingleUseUnderRace(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		var parcels []string
		for range 10 {
			parcels = append(parcels, d.label("Pat", "1 Race St", "07700900100", "900", "tablet"))
		}
		d.receive(parcels...)
		b := d.do("POST", "/v1/station/bags/batches", d.stationKey, map[string]any{"count": 2}).JSON(t)["bags"].([]any)
		one, two := b[0].(map[string]any)["bagId"].(string), b[1].(map[string]any)["bagId"].(string)
		d.do("POST", "/v1/station/bags/"+two+"/void", d.stationKey, map[string]any{"reason": "damaged"})

		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := map[string]int{}
		for _, p := range parcels {
			for _, bg := range []string{one, two, bag.New()} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := d.do("POST", "/v1/station/parcels/"+p+"/seal", d.stationKey, map[string]any{"bagId": bg})
					if r.Status == 200 {
						mu.Lock()
						ok[bg]++
						mu.Unlock()
					} else if r.Status >= 500 {
						t.Errorf("seal: %d %s", r.Status, r.Body)
					}
				}()
			}
		}
		wg.Wait()
		if ok[one] != 1 || len(ok) != 1 {
			t.Fatalf("successful seals per bag = %v; want the one issued bag sealed exactly once", ok)
		}
	})
}

// misread changes one character of a bag ID, as a bad scan would.
func misread(id string) string {
	c := byte('7')
	if id[5] == c {
		c = '8'
	}
	return id[:5] + string(c) + id[6:]
}

// TestStationRefusalReasons checks that a station client can tell why a
// seal, a void or a receipt was refused from the problem's reason, without
// reading the message or listing bags.
func TestStationRefusalReasons(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		laptop := d.label("Ola", "9 Grove Rd", "07700900909", "1200", "laptop")
		tablet := d.label("Ola", "9 Grove Rd", "07700900909", "1500", "tablet")
		book := d.label("Ola", "9 Grove Rd", "07700900909", "10", "books")
		d.receive(laptop, tablet, book)
		used := d.seal(laptop)
		batch := d.do("POST", "/v1/station/bags/batches", d.stationKey, map[string]any{"count": 2}).JSON(t)["bags"].([]any)
		fresh, voided := batch[0].(map[string]any)["bagId"].(string), batch[1].(map[string]any)["bagId"].(string)
		d.do("POST", "/v1/station/bags/"+voided+"/void", d.stationKey, map[string]any{"reason": "torn"})

		seal := func(trackingID, bagID string) resp {
			return d.do("POST", "/v1/station/parcels/"+trackingID+"/seal", d.stationKey, map[string]any{"bagId": bagID})
		}
		tests := []struct {
			name   string
			r      resp
			status int
			reason string
		}{
			{"bag voided", seal(tablet, voided), 400, "bag_voided"},
			{"bag used", seal(tablet, used), 400, "bag_used"},
			{"bag never issued", seal(tablet, bag.New()), 400, "bag_not_issued"},
			{"parcel needs no bag", seal(book, fresh), 409, "bag_not_needed"},
			{"parcel bagged", seal(laptop, fresh), 409, "parcel_bagged"},
			{"void twice", d.do("POST", "/v1/station/bags/"+voided+"/void", d.stationKey, map[string]any{"reason": "again"}), 409, "bag_voided"},
			{"received twice", d.do("POST", "/v1/station/parcels/"+book+"/receive", d.stationKey, nil), 409, "wrong_stage"},
		}
		for _, tt := range tests {
			if m := problem(t, tt.r, tt.status, ""); m["reason"] != tt.reason {
				t.Errorf("%s: reason = %v, want %s: %s", tt.name, m["reason"], tt.reason, tt.r.Body)
			}
		}
		// A refusal without a finer cause carries no reason.
		if m := problem(t, seal(tablet, misread(fresh)), 400, "bagId"); m["reason"] != nil {
			t.Errorf("misread bag ID: reason = %v", m["reason"])
		}
	})
}
