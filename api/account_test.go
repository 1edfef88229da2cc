package api_test

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func parseTime(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) }

func TestAdminOnboarding(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		problem(t, e.do("POST", "/v1/admin/shippers", "", map[string]any{"name": "X"}), 401, "")
		problem(t, e.do("POST", "/v1/admin/shippers", "wrong-token-wrong-token", map[string]any{"name": "X"}), 401, "")
		problem(t, e.do("POST", "/v1/admin/shippers", adminToken, map[string]any{}), 400, "name")
		problem(t, e.do("POST", "/v1/admin/shippers", adminToken, map[string]any{"name": "X", "extra": 1}), 400, "extra")

		st := e.do("POST", "/v1/admin/stations", adminToken, map[string]any{"name": "North", "marketplace": "GB", "city": "Leeds"})
		if st.Status != 201 || st.JSON(t)["city"] != "Leeds" {
			t.Fatalf("station: %d %s", st.Status, st.Body)
		}
		problem(t, e.do("POST", "/v1/admin/shippers", adminToken, map[string]any{"name": "X", "city": "Leeds"}), 400, "city")
		stationID := st.JSON(t)["stationId"].(string)
		for _, c := range []struct{ path, idKey string }{
			{"/v1/admin/associates", "associateId"},
			{"/v1/admin/delivery-associates", "associateId"},
			{"/v1/admin/agents", "agentId"},
			{"/v1/admin/customer-service-agents", "agentId"},
		} {
			r := e.do("POST", c.path, adminToken, map[string]any{"name": "Person", "stationId": stationID})
			if r.Status != 201 {
				t.Fatalf("%s: %d %s", c.path, r.Status, r.Body)
			}
			m := r.JSON(t)
			if m[c.idKey] == nil || !strings.HasPrefix(m["apiKey"].(string), "hk_") || m["password"] == "" {
				t.Errorf("%s response = %s", c.path, r.Body)
			}
		}
		problem(t, e.do("POST", "/v1/admin/associates", adminToken, map[string]any{"name": "P", "stationId": "stn_none"}), 400, "stationId")

		// The API key works and is bound to its kind.
		_, key := e.shipper()
		if r := e.do("GET", "/v1/account/settings", key, nil); r.Status != 200 {
			t.Fatalf("settings with new key: %d", r.Status)
		}
		stKey := st.JSON(t)["apiKey"].(string)
		problem(t, e.do("GET", "/v1/account/settings", stKey, nil), 403, "")
		problem(t, e.do("POST", "/v1/shipments", stKey, shipment("GB", "GBP", "1", "")), 403, "")
		problem(t, e.do("GET", "/v1/account/settings", "hk_doesnotexist", nil), 401, "")
		problem(t, e.do("GET", "/v1/account/settings", "", nil), 401, "")
		// An admin token is not an API key.
		problem(t, e.do("GET", "/v1/account/settings", adminToken, nil), 401, "")
	})
}

func TestSettingsAPI(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		m := e.do("GET", "/v1/account/settings", key, nil).JSON(t)
		sd := m["secureDelivery"].(map[string]any)
		n := m["notifications"].(map[string]any)
		if sd["otpEnabled"] != false || n["email"] != true || n["sms"] != true || sd["phoneDigitsFallback"] != false {
			t.Fatalf("defaults = %v", m)
		}
		want := map[string]string{"GB": "100 GBP", "FR": "100 EUR", "IT": "100 EUR", "ES": "100 EUR", "IN": "500 INR"}
		for _, th := range sd["thresholds"].([]any) {
			th := th.(map[string]any)
			got := jsonNum(th["value"]) + " " + th["unit"].(string)
			if want[th["marketplace"].(string)] != got {
				t.Errorf("threshold %v = %s", th["marketplace"], got)
			}
			delete(want, th["marketplace"].(string))
		}
		if len(want) != 0 {
			t.Errorf("missing thresholds: %v", want)
		}
		bag := m["tamperEvidentBag"].(map[string]any)["categories"].([]any)
		if len(bag) != 3 {
			t.Errorf("bag categories = %v", bag)
		}

		r := e.do("PATCH", "/v1/account/settings", key, `{"notifications":{"email":false},"secureDelivery":{"thresholds":[{"marketplace":"IN","value":750.5,"unit":"INR"}]}}`)
		if r.Status != 200 {
			t.Fatalf("patch: %d %s", r.Status, r.Body)
		}
		m = e.do("GET", "/v1/account/settings", key, nil).JSON(t)
		if m["notifications"].(map[string]any)["email"] != false || m["notifications"].(map[string]any)["sms"] != true {
			t.Errorf("partial patch changed other fields: %v", m["notifications"])
		}

		for _, tt := range []struct {
			body, field string
		}{
			{`{"secureDelivery":{"thresholds":[{"marketplace":"GB","value":100,"unit":"EUR"}]}}`, "secureDelivery.thresholds[0].unit"},
			{`{"secureDelivery":{"thresholds":[{"marketplace":"US","value":100,"unit":"USD"}]}}`, "secureDelivery.thresholds[0].marketplace"},
			{`{"secureDelivery":{"thresholds":[{"marketplace":"GB","value":-5,"unit":"GBP"}]}}`, "secureDelivery.thresholds[0].value"},
			{`{"secureDelivery":{"thresholds":[{"marketplace":"GB","value":1.234,"unit":"GBP"}]}}`, "secureDelivery.thresholds[0].value"},
			{`{"secureDelivery":{"otpEnabled":"yes"}}`, "secureDelivery.otpEnabled"},
			{`{"notifications":{"sms":1}}`, "notifications.sms"},
			{`{"notifications":{"fax":true}}`, "notifications.fax"},
			{`{"tamperEvidentBag":{"categories":[""]}}`, "tamperEvidentBag.categories[0]"},
		} {
			problem(t, e.do("PATCH", "/v1/account/settings", key, tt.body), 400, tt.field)
		}
		// A request with one good and one bad part changes nothing.
		problem(t, e.do("PATCH", "/v1/account/settings", key, `{"notifications":{"sms":false},"secureDelivery":{"thresholds":[{"marketplace":"GB","value":1,"unit":"EUR"}]}}`), 400, "")
		if e.do("GET", "/v1/account/settings", key, nil).JSON(t)["notifications"].(map[string]any)["sms"] != true {
			t.Error("a rejected patch was partly applied")
		}
	})
}

func jsonNum(v any) string {
	f, _ := v.(float64)
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func TestAdminSeesDeadLetters(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		id := d.label("Dee", "1 Dead Letter Rd", "07700900123", "20", "books")
		d.receive(id) // queues the "shipped" SMS and email
		qs, err := e.db.ClaimNotifications(t0ctx, "sms", 10, time.Minute)
		if err != nil || len(qs) != 1 {
			t.Fatalf("claimed %d: %v", len(qs), err)
		}
		// The provider refused it for good.
		if err := e.db.MarkFailed(t0ctx, qs[0].ID, qs[0].Token, "twilio: HTTP 400", monday, true); err != nil {
			t.Fatal(err)
		}
		problem(t, e.do("GET", "/v1/admin/notifications?status=dead", d.shipperKey, nil), 401, "")
		problem(t, e.do("GET", "/v1/admin/notifications?status=lost", adminToken, nil), 400, "status")
		dead := e.do("GET", "/v1/admin/notifications?status=dead", adminToken, nil).JSON(t)["notifications"].([]any)
		if len(dead) != 1 || dead[0].(map[string]any)["lastError"] != "twilio: HTTP 400" || dead[0].(map[string]any)["channel"] != "sms" {
			t.Fatalf("dead letters = %v", dead)
		}
		if _, ok := dead[0].(map[string]any)["text"]; ok {
			t.Error("the operator sees the message text")
		}
		if r := e.do("POST", "/v1/admin/notifications/"+qs[0].ID+"/retry", adminToken, nil); r.Status != 202 {
			t.Fatalf("retry: %d %s", r.Status, r.Body)
		}
		problem(t, e.do("POST", "/v1/admin/notifications/"+qs[0].ID+"/retry", adminToken, nil), 404, "")
		if n := len(e.do("GET", "/v1/admin/notifications?status=dead", adminToken, nil).JSON(t)["notifications"].([]any)); n != 0 {
			t.Errorf("%d dead after retry", n)
		}
	})
}
