package api_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func otpOf(t *testing.T, m map[string]any) (bool, []string) {
	t.Helper()
	p := m["packages"].([]any)[0].(map[string]any)
	otp := p["secureDelivery"].(map[string]any)["otp"].(map[string]any)
	var reasons []string
	for _, r := range otp["reasons"].([]any) {
		reasons = append(reasons, r.(string))
	}
	return otp["required"].(bool), reasons
}

func TestEligibilityByMarket(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		e.otpOn(key)
		tests := []struct {
			country, cur, value, phone string
			required                   bool
			reason                     string
		}{
			{"GB", "GBP", "100.01", "+44 7700 900123", true, "ABOVE_THRESHOLD"},
			{"GB", "GBP", "100", "+44 7700 900123", false, "AT_OR_BELOW_THRESHOLD"},
			{"GB", "GBP", "100.00", "07700900123", false, "AT_OR_BELOW_THRESHOLD"},
			{"GB", "GBP", "101", "(0044)7700900123", true, "ABOVE_THRESHOLD"},
			{"GB", "GBP", "101", "+4407700900123", false, "INVALID_MOBILE"},
			{"GB", "GBP", "101", "", false, "MISSING_MOBILE"},
			{"GB", "GBP", "101", "020 7946 0000", false, "INVALID_MOBILE"},
			{"FR", "EUR", "100.01", "06 12 34 56 78", true, "ABOVE_THRESHOLD"},
			{"FR", "EUR", "100", "+33612345678", false, "AT_OR_BELOW_THRESHOLD"},
			{"FR", "EUR", "150", "+330612345678", false, "INVALID_MOBILE"},
			{"IT", "EUR", "100.5", "+39 312 345 6789", true, "ABOVE_THRESHOLD"},
			{"IT", "EUR", "100", "3123456789", false, "AT_OR_BELOW_THRESHOLD"},
			{"ES", "EUR", "250", "(+34)612345678", true, "ABOVE_THRESHOLD"},
			{"ES", "EUR", "250", "0612345678", false, "INVALID_MOBILE"},
			{"IN", "INR", "500.01", "+91 98765 43210", true, "ABOVE_THRESHOLD"},
			{"IN", "INR", "500", "9876543210", false, "AT_OR_BELOW_THRESHOLD"},
			{"IN", "INR", "499.99", "9876543210", false, "AT_OR_BELOW_THRESHOLD"},
			{"IN", "INR", "600", "6876543210", false, "INVALID_MOBILE"},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s %s %q", tt.country, tt.value, tt.phone), func(t *testing.T) {
				body := shipment(tt.country, tt.cur, tt.value, tt.phone)
				for _, path := range []string{"/v1/shipments/eligibility", "/v1/shipments"} {
					r := e.do("POST", path, key, body)
					if r.Status != 200 && r.Status != 201 {
						t.Fatalf("%s: %d %s", path, r.Status, r.Body)
					}
					req, reasons := otpOf(t, r.JSON(t))
					if req != tt.required || !slices.Contains(reasons, tt.reason) {
						t.Fatalf("%s: required=%v reasons=%v; want %v with %s", path, req, reasons, tt.required, tt.reason)
					}
				}
			})
		}
	})
}

func TestEligibilitySettings(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		body := shipment("GB", "GBP", "500", "07700900123")

		// OTP is off until switched on.
		if req, reasons := otpOf(t, e.do("POST", "/v1/shipments/eligibility", key, body).JSON(t)); req || !slices.Equal(reasons, []string{"OTP_DISABLED"}) {
			t.Fatalf("default: %v %v", req, reasons)
		}
		e.otpOn(key)
		if req, _ := otpOf(t, e.do("POST", "/v1/shipments/eligibility", key, body).JSON(t)); !req {
			t.Fatal("OTP on: not required")
		}
		// SMS off makes it ineligible.
		e.do("PATCH", "/v1/account/settings", key, `{"notifications":{"sms":false}}`)
		if req, reasons := otpOf(t, e.do("POST", "/v1/shipments/eligibility", key, body).JSON(t)); req || !slices.Contains(reasons, "SMS_NOTIFICATIONS_OFF") {
			t.Fatalf("SMS off: %v %v", req, reasons)
		}
		e.do("PATCH", "/v1/account/settings", key, `{"notifications":{"sms":true}}`)
		// Cash on delivery is never eligible.
		cod := shipment("GB", "GBP", "500", "07700900123")
		cod["paymentType"] = "CASH_ON_DELIVERY"
		if req, reasons := otpOf(t, e.do("POST", "/v1/shipments/eligibility", key, cod).JSON(t)); req || !slices.Contains(reasons, "NOT_PREPAID") {
			t.Fatalf("COD: %v %v", req, reasons)
		}
		// The shipper's own threshold applies, strictly above.
		if r := e.do("PATCH", "/v1/account/settings", key, `{"secureDelivery":{"thresholds":[{"marketplace":"GB","value":500,"unit":"GBP"}]}}`); r.Status != 200 {
			t.Fatalf("threshold: %d %s", r.Status, r.Body)
		}
		if req, reasons := otpOf(t, e.do("POST", "/v1/shipments/eligibility", key, body).JSON(t)); req || !slices.Contains(reasons, "AT_OR_BELOW_THRESHOLD") {
			t.Fatalf("own threshold at value: %v %v", req, reasons)
		}
		if req, _ := otpOf(t, e.do("POST", "/v1/shipments/eligibility", key, shipment("GB", "GBP", "500.01", "07700900123")).JSON(t)); !req {
			t.Fatal("own threshold just above: not required")
		}
		// Eligibility stores nothing.
		if list := e.do("GET", "/v1/shipments", key, nil).JSON(t)["packages"].([]any); len(list) != 0 {
			t.Errorf("eligibility created %d packages", len(list))
		}
	})
}

func TestShipmentValidation(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		set := func(path string, v any) map[string]any {
			b := shipment("GB", "GBP", "120", "07700900123")
			cur := any(b)
			parts := strings.Split(path, ".")
			for _, p := range parts[:len(parts)-1] {
				switch c := cur.(type) {
				case map[string]any:
					cur = c[p]
				case []any:
					var i int
					fmt.Sscan(p, &i)
					cur = c[i]
				}
			}
			last := parts[len(parts)-1]
			if v == nil {
				delete(cur.(map[string]any), last)
			} else {
				cur.(map[string]any)[last] = v
			}
			return b
		}
		long := strings.Repeat("x", 256)
		manyPkgs := shipment("GB", "GBP", "1", "")
		pk := manyPkgs["packages"].([]any)[0].(map[string]any)
		var pkgs []any
		for i := range 31 {
			c := map[string]any{}
			for k, v := range pk {
				c[k] = v
			}
			c["packageClientReferenceId"] = fmt.Sprint("r", i)
			pkgs = append(pkgs, c)
		}
		manyPkgs["packages"] = pkgs
		var items []any
		for range 101 {
			items = append(items, map[string]any{"quantity": 1})
		}
		tests := []struct {
			name   string
			body   any
			status int
			field  string
		}{
			{"malformed", `{"shipTo":`, 400, "body"},
			{"malformed at top", `{"shipTo" 1}`, 400, "body"},
			{"not an object", `[1,2]`, 400, "body"},
			{"trailing data", `{} {}`, 400, "body"},
			{"empty", ``, 400, "body"},
			{"unknown field", set("surprise", 1), 400, "surprise"},
			{"unknown nested field", set("packages.0.insuredValue.currency", "GBP"), 400, "packages[0].insuredValue.currency"},
			{"duplicate field", `{"shipTo":{},"shipTo":{}}`, 400, "shipTo"},
			{"wrong type", set("packages.0.items.0.quantity", "one"), 400, "packages[0].items[0].quantity"},
			{"fractional quantity", set("packages.0.items.0.quantity", 1.5), 400, "packages[0].items[0].quantity"},
			{"value as string", set("packages.0.insuredValue.value", "120"), 400, "packages[0].insuredValue.value"},
			{"missing insuredValue", set("packages.0.insuredValue", nil), 400, "packages[0].insuredValue"},
			{"missing value", set("packages.0.insuredValue.value", nil), 400, "packages[0].insuredValue.value"},
			{"negative value", set("packages.0.insuredValue.value", json.Number("-1")), 400, "packages[0].insuredValue.value"},
			{"too many decimals", set("packages.0.insuredValue.value", json.Number("120.001")), 400, "packages[0].insuredValue.value"},
			{"huge value", set("packages.0.insuredValue.value", json.Number("1e400")), 400, "packages[0].insuredValue.value"},
			{"wrong currency", set("packages.0.insuredValue.unit", "EUR"), 400, "packages[0].insuredValue.unit"},
			{"item value wrong currency", set("packages.0.items.0.itemValue", map[string]any{"value": 1, "unit": "USD"}), 400, "packages[0].items[0].itemValue.unit"},
			{"unknown country", set("shipTo.countryCode", "US"), 400, "shipTo.countryCode"},
			{"missing shipTo", set("shipTo", nil), 400, "shipTo"},
			{"missing name", set("shipTo.name", nil), 400, "shipTo.name"},
			{"over-long name", set("shipTo.name", long), 400, "shipTo.name"},
			{"control characters", set("shipTo.addressLine1", "a\x00b"), 400, "shipTo.addressLine1"},
			{"bad email", set("shipTo.email", "not-an-email"), 400, "shipTo.email"},
			{"bad payment type", set("paymentType", "CREDIT"), 400, "paymentType"},
			{"no packages", set("packages", []any{}), 400, "packages"},
			{"too many packages", manyPkgs, 400, "packages"},
			{"too many items", set("packages.0.items", items), 400, "packages[0].items"},
			{"negative weight", set("packages.0.weight.value", -1), 400, "packages[0].weight.value"},
			{"bad weight unit", set("packages.0.weight.unit", "STONE"), 400, "packages[0].weight.unit"},
			{"zero quantity", set("packages.0.items.0.quantity", 0), 400, "packages[0].items[0].quantity"},
			{"gift without buyer", set("gift", map[string]any{}), 400, "gift.buyer"},
			{"wrong content type", nil, 415, ""},
			{"oversized", `{"shipTo":{"name":"` + strings.Repeat("a", 2<<20) + `"}}`, 413, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var r resp
				if tt.status == 415 {
					r = e.do("POST", "/v1/shipments", key, "shipTo=x", "Content-Type", "text/plain")
				} else {
					r = e.do("POST", "/v1/shipments", key, tt.body)
				}
				problem(t, r, tt.status, tt.field)
			})
		}
		if list := e.do("GET", "/v1/shipments", key, nil).JSON(t)["packages"].([]any); len(list) != 0 {
			t.Errorf("bad requests created %d packages", len(list))
		}
	})
}

func TestShipmentLifecycle(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		_, other := e.shipper()
		e.otpOn(key)
		body := shipment("GB", "GBP", "899.99", "07700900123")
		body["packages"].([]any)[0].(map[string]any)["items"] = []any{map[string]any{"description": "Phone", "quantity": 1, "category": "smartphone",
			"itemValue": map[string]any{"value": 800, "unit": "GBP"}}}
		r := e.do("POST", "/v1/shipments", key, body, "Idempotency-Key", "order-42")
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		m := r.JSON(t)
		id := m["shipmentId"].(string)
		p := m["packages"].([]any)[0].(map[string]any)
		trackingID := p["trackingId"].(string)
		if p["packageClientReferenceId"] != "ref-1" || p["secureDelivery"].(map[string]any)["tamperEvidentBag"].(map[string]any)["required"] != true {
			t.Errorf("package = %v", p)
		}
		// The item values differ from the declared value: a warning, not an error.
		if w := m["warnings"].([]any); len(w) != 1 || w[0].(map[string]any)["field"] != "packages[0].insuredValue" {
			t.Errorf("warnings = %v", w)
		}

		// A retry with the same key returns the first response.
		again := e.do("POST", "/v1/shipments", key, body, "Idempotency-Key", "order-42")
		if again.Status != 201 || again.JSON(t)["shipmentId"] != id || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry: %d %s", again.Status, again.Body)
		}
		body["paymentType"] = "CASH_ON_DELIVERY"
		problem(t, e.do("POST", "/v1/shipments", key, body, "Idempotency-Key", "order-42"), 422, "")

		g := e.do("GET", "/v1/shipments/"+id, key, nil)
		if g.Status != 200 || g.JSON(t)["shipTo"].(map[string]any)["name"] != "Rec" {
			t.Fatalf("get: %d %s", g.Status, g.Body)
		}
		problem(t, e.do("GET", "/v1/shipments/"+id, other, nil), 404, "")
		problem(t, e.do("GET", "/v1/shipments/sh_nothere", key, nil), 404, "")

		tr := e.do("GET", "/v1/tracking/"+trackingID, key, nil)
		if tr.Status != 200 {
			t.Fatalf("tracking: %d %s", tr.Status, tr.Body)
		}
		tm := tr.JSON(t)
		ev := tm["eventHistory"].([]any)
		if tm["trackingId"] != trackingID || len(ev) != 1 {
			t.Fatalf("tracking = %s", tr.Body)
		}
		e0 := ev[0].(map[string]any)
		if e0["eventCode"] != "ReadyForReceive" || e0["location"].(map[string]any)["city"] != "Town" {
			t.Errorf("first event = %v", e0)
		}
		if _, err := parseTime(e0["eventTime"].(string)); err != nil {
			t.Errorf("eventTime not ISO 8601: %v", err)
		}
		sum := tm["summary"].(map[string]any)
		if sum["status"] != "PreTransit" || sum["trackingDetailCodes"].(map[string]any)["forward"] == nil {
			t.Errorf("summary = %v", sum)
		}
		// Another shipper cannot learn that the tracking ID exists.
		a := e.do("GET", "/v1/tracking/"+trackingID, other, nil)
		b := e.do("GET", "/v1/tracking/HO000000000000", other, nil)
		problem(t, a, 404, "")
		problem(t, b, 404, "")
		if a.JSON(t)["detail"] != b.JSON(t)["detail"] {
			t.Errorf("404s differ: %s vs %s", a.Body, b.Body)
		}
	})
}

func TestConcurrentIdempotentCreate(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		body := shipment("FR", "EUR", "42", "0612345678")
		var wg sync.WaitGroup
		ids := make([]string, 8)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.do("POST", "/v1/shipments", key, body, "Idempotency-Key", "same")
				if r.Status == 201 {
					ids[i] = r.JSON(t)["shipmentId"].(string)
				} else {
					t.Errorf("status %d: %s", r.Status, r.Body)
				}
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("racing retries returned different shipments: %v", ids)
			}
		}
		if n := len(e.do("GET", "/v1/shipments", key, nil).JSON(t)["packages"].([]any)); n != 1 {
			t.Errorf("%d labels created, want 1", n)
		}
	})
}

func TestShipperRules(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		e.otpOn(key)
		problem(t, e.do("PATCH", "/v1/account/settings", key, `{"secureDelivery":{"rules":[{"name":"bad","expression":"price > 10"}]}}`), 400, "secureDelivery.rules[0].expression")
		problem(t, e.do("PATCH", "/v1/account/settings", key, `{"secureDelivery":{"rules":[{"name":"x","expression":"value + 1.0"}]}}`), 400, "secureDelivery.rules[0].expression")
		r := e.do("PATCH", "/v1/account/settings", key, `{"secureDelivery":{"rules":[
			{"name":"gadgets","expression":"categories.exists(c, c in [\"smartphone\", \"laptop\", \"tablet\"])"},
			{"name":"claims","expression":"recipient.cases > 0"}]}}`)
		if r.Status != 200 {
			t.Fatalf("rules: %d %s", r.Status, r.Body)
		}
		// A cheap phone needs OTP by the shipper's rule, below the threshold.
		phone := shipment("GB", "GBP", "20", "07700900123")
		phone["packages"].([]any)[0].(map[string]any)["items"] = []any{map[string]any{"quantity": 1, "category": "Smartphone"}}
		if req, reasons := otpOf(t, e.do("POST", "/v1/shipments/eligibility", key, phone).JSON(t)); !req || !slices.Equal(reasons, []string{"SHIPPER_RULE"}) {
			t.Fatalf("rule: %v %v", req, reasons)
		}
		// A book does not…
		book := shipment("GB", "GBP", "20", "07700900123")
		if req, _ := otpOf(t, e.do("POST", "/v1/shipments/eligibility", key, book).JSON(t)); req {
			t.Fatal("a book matched")
		}
		// …and a rule never overrides cash on delivery.
		phone["paymentType"] = "CASH_ON_DELIVERY"
		if req, _ := otpOf(t, e.do("POST", "/v1/shipments/eligibility", key, phone).JSON(t)); req {
			t.Fatal("a rule overrode cash on delivery")
		}
		s := e.do("GET", "/v1/account/settings", key, nil).JSON(t)
		if rs := s["secureDelivery"].(map[string]any)["rules"].([]any); len(rs) != 2 {
			t.Errorf("rules = %v", rs)
		}
	})
}

// TestListPages walks the parcel list two at a time over shipments of
// several packages (which share a creation time): every parcel once.
func TestListPages(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		want := map[string]bool{}
		for range 2 {
			b := shipment("GB", "GBP", "20", "")
			p := b["packages"].([]any)[0].(map[string]any)
			var pkgs []any
			for i := range 3 {
				c := map[string]any{}
				for k, v := range p {
					c[k] = v
				}
				c["packageClientReferenceId"] = fmt.Sprint("r", i)
				pkgs = append(pkgs, c)
			}
			b["packages"] = pkgs
			for _, pk := range e.do("POST", "/v1/shipments", key, b).JSON(t)["packages"].([]any) {
				want[pk.(map[string]any)["trackingId"].(string)] = true
			}
		}
		seen := map[string]int{}
		cursor := ""
		for pages := 0; pages < 10; pages++ {
			m := e.do("GET", "/v1/shipments?limit=2&cursor="+cursor, key, nil).JSON(t)
			for _, p := range m["packages"].([]any) {
				seen[p.(map[string]any)["trackingId"].(string)]++
			}
			next, _ := m["nextCursor"].(string)
			if next == "" {
				break
			}
			cursor = next
		}
		if len(seen) != len(want) {
			t.Fatalf("saw %d of %d parcels", len(seen), len(want))
		}
		for id, n := range seen {
			if n != 1 || !want[id] {
				t.Errorf("%s seen %d times", id, n)
			}
		}
		problem(t, e.do("GET", "/v1/shipments?cursor=garbage!", key, nil), 400, "cursor")
	})
}
