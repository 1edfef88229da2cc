package api_test

import (
	"net/url"
	"strings"
	"testing"
)

// TestCustomerServiceSearchAndCases drives customer service's JSON API:
// search by each reading of a typed value across shippers with the contacts
// masked, the contacts shown for a reason and that look listed, an enquiry
// opened, noted and closed; other accounts are refused every endpoint.
func TestCustomerServiceSearchAndCases(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		cs := e.do("POST", "/v1/admin/agents", adminToken, map[string]any{"name": "Casey"}).JSON(t)["apiKey"].(string)
		b := shipment("GB", "GBP", "20", "07700 900123")
		b["shipTo"].(map[string]any)["email"] = "Priya@Example.com"
		b["packages"].([]any)[0].(map[string]any)["packageClientReferenceId"] = "order-1001"
		r := d.do("POST", "/v1/shipments", d.shipperKey, b)
		if r.Status != 201 {
			t.Fatalf("label: %d %s", r.Status, r.Body)
		}
		mine := r.JSON(t)["packages"].([]any)[0].(map[string]any)["trackingId"].(string)
		_, otherKey := e.shipper()
		r = d.do("POST", "/v1/shipments", otherKey, shipment("GB", "GBP", "20", "+447700900123"))
		theirs := r.JSON(t)["packages"].([]any)[0].(map[string]any)["trackingId"].(string)

		search := func(q string) []map[string]any {
			t.Helper()
			r := d.do("GET", "/v1/parcels?q="+url.QueryEscape(q), cs, nil)
			if r.Status != 200 {
				t.Fatalf("search %q: %d %s", q, r.Status, r.Body)
			}
			var out []map[string]any
			for _, p := range r.JSON(t)["parcels"].([]any) {
				out = append(out, p.(map[string]any))
			}
			return out
		}
		byPhone := search("07700 900 123")
		if len(byPhone) != 2 || byPhone[0]["trackingId"] == byPhone[1]["trackingId"] ||
			(byPhone[0]["trackingId"] != theirs && byPhone[0]["trackingId"] != mine) || (byPhone[1]["trackingId"] != theirs && byPhone[1]["trackingId"] != mine) {
			t.Fatalf("search by phone found %v, want both shippers' parcels", byPhone)
		}
		for _, p := range byPhone {
			c := p["contacts"].(map[string]any)
			if p["matchedBy"] != "phone" || c["phone"] != "+44 7••• •••123" || p["shipperName"] != "Acme" || strings.Contains(c["email"].(string), "riya") {
				t.Errorf("phone match reads %v", p)
			}
		}
		if got := search(" PRIYA@example.com"); len(got) != 1 || got[0]["trackingId"] != mine || got[0]["matchedBy"] != "email" ||
			got[0]["contacts"].(map[string]any)["email"] != "p•••@example.com" {
			t.Errorf("search by email found %v", got)
		}
		if got := search("order-1001"); len(got) != 1 || got[0]["trackingId"] != mine || got[0]["matchedBy"] != "reference" {
			t.Errorf("search by reference found %v", got)
		}
		if got := search(strings.ToLower(mine)); len(got) != 1 || got[0]["matchedBy"] != "trackingId" {
			t.Errorf("search by tracking ID found %v", got)
		}
		if got := search("nobody@example.com"); len(got) != 0 {
			t.Errorf("search for nobody found %v", got)
		}
		problem(t, d.do("GET", "/v1/parcels?q=+", cs, nil), 400, "q")
		problem(t, d.do("GET", "/v1/parcels?q="+strings.Repeat("7", 201), cs, nil), 400, "q")

		// The contacts in full, for a reason, and the look in the log.
		problem(t, d.do("POST", "/v1/parcels/"+mine+"/contacts", cs, map[string]any{"reason": "  "}), 400, "reason")
		problem(t, d.do("POST", "/v1/parcels/HONOSUCHPARCEL/contacts", cs, map[string]any{"reason": "caller"}), 404, "")
		r = d.do("POST", "/v1/parcels/"+mine+"/contacts", cs, map[string]any{"reason": "recipient on the phone"})
		if c := r.JSON(t); r.Status != 200 || c["phone"] != "+447700900123" || c["email"] != "priya@example.com" {
			t.Fatalf("reveal: %d %s", r.Status, r.Body)
		}
		view := d.do("GET", "/v1/parcels/"+mine, cs, nil).JSON(t)
		looks := view["contactViews"].([]any)
		if len(looks) != 1 || looks[0].(map[string]any)["reason"] != "recipient on the phone" || looks[0].(map[string]any)["viewerName"] != "Casey" {
			t.Errorf("contact views = %v", looks)
		}
		if c := view["contacts"].(map[string]any); c["phone"] != "+44 7••• •••123" {
			t.Errorf("the parcel's contacts read %v, want masked", c)
		}

		// An enquiry: opened once, noted, closed, then closed to notes.
		problem(t, d.do("POST", "/v1/parcels/"+mine+"/cases", cs, map[string]any{"summary": ""}), 400, "summary")
		problem(t, d.do("POST", "/v1/parcels/HONOSUCHPARCEL/cases", cs, map[string]any{"summary": "lost"}), 404, "")
		r = d.do("POST", "/v1/parcels/"+mine+"/cases", cs, map[string]any{"summary": "recipient says it did not arrive"})
		if r.Status != 201 {
			t.Fatalf("open case: %d %s", r.Status, r.Body)
		}
		c := r.JSON(t)
		caseID := c["caseId"].(string)
		if c["kind"] != "enquiry" || c["status"] != "open" {
			t.Errorf("opened %v", c)
		}
		problem(t, d.do("POST", "/v1/parcels/"+mine+"/cases", cs, map[string]any{"summary": "again"}), 409, "")
		problem(t, d.do("POST", "/v1/cases/"+caseID+"/notes", cs, map[string]any{"note": " "}), 400, "note")
		problem(t, d.do("POST", "/v1/cases/case_nope/notes", cs, map[string]any{"note": "hello"}), 404, "")
		r = d.do("POST", "/v1/cases/"+caseID+"/notes", cs, map[string]any{"note": "neighbour has it"})
		if notes, _ := r.JSON(t)["notes"].([]any); r.Status != 200 || len(notes) != 1 || notes[0].(map[string]any)["body"] != "neighbour has it" {
			t.Fatalf("note: %d %s", r.Status, r.Body)
		}
		if r := d.do("POST", "/v1/cases/"+caseID+"/close", cs, map[string]any{"outcome": "no_action", "note": "found"}); r.Status != 200 {
			t.Fatalf("close: %d %s", r.Status, r.Body)
		}
		problem(t, d.do("POST", "/v1/cases/"+caseID+"/notes", cs, map[string]any{"note": "late"}), 409, "")
		if r := d.do("POST", "/v1/parcels/"+mine+"/cases", cs, map[string]any{"summary": "back again"}); r.Status != 201 {
			t.Errorf("a new enquiry after the first closed: %d %s", r.Status, r.Body)
		}

		// Nobody else may search, look or open.
		for _, key := range []string{d.shipperKey, d.stationKey, d.da1Key} {
			problem(t, d.do("GET", "/v1/parcels?q=order-1001", key, nil), 403, "")
			problem(t, d.do("POST", "/v1/parcels/"+mine+"/contacts", key, map[string]any{"reason": "curious"}), 403, "")
			problem(t, d.do("POST", "/v1/parcels/"+mine+"/cases", key, map[string]any{"summary": "x"}), 403, "")
			problem(t, d.do("POST", "/v1/cases/"+caseID+"/notes", key, map[string]any{"note": "x"}), 403, "")
		}
		if n := len(d.do("GET", "/v1/parcels/"+mine, cs, nil).JSON(t)["contactViews"].([]any)); n != 1 {
			t.Errorf("%d looks logged after the refusals, want 1", n)
		}
	})
}
