package api_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/handoff-dev/handoff/audit"
)

// Every security-relevant action of a day lands in the audit log, in the
// action's own transaction, without a recipient's contact data or a code,
// and the log verifies.
func TestAuditLogOfADay(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday) // switches OTP on: a settings change
		if r := d.do("PATCH", "/v1/account/settings", d.shipperKey, `{"secureDelivery":{"phoneDigitsFallback":true}}`); r.Status != 200 {
			t.Fatal(r.Status)
		}
		bagged := d.label("Ann", "1 A St", "07700900101", "899", "smartphone")
		refused := d.label("Bo", "2 B St", "07700900202", "899", "laptop")
		photo := d.label("Cy", "3 C St", "07700900303", "20", "books")
		digits := d.label("Di", "4 D St", "07700900404", "500", "books")
		d.receive(bagged, refused, photo, digits)
		bagID, otherBag := d.seal(bagged), d.seal(refused)
		spare := d.do("POST", "/v1/station/bags/batches", d.stationKey, map[string]any{"count": 1}).JSON(t)["bags"].([]any)[0].(map[string]any)["bagId"].(string)
		if v := d.do("POST", "/v1/station/bags/"+spare+"/void", d.stationKey, map[string]any{"reason": "torn strip"}); v.Status != 200 {
			t.Fatalf("void: %d %s", v.Status, v.Body)
		}
		_, stop := d.routeAll("2026-11-23", bagged, refused, photo, digits)

		problem(t, d.do("POST", "/v1/associate/stops/"+stop(bagged)+"/scan-bag", d.da1Key, map[string]any{"bagId": otherBag}), 409, "")
		d.scan(stop(bagged), bagID)
		code := d.code("+447700900101", "2026-11-23")
		problem(t, d.do("POST", "/v1/associate/stops/"+stop(bagged)+"/verify", d.da1Key, map[string]any{"code": wrongCode(code, 1)}), 422, "")
		if r := d.do("POST", "/v1/associate/stops/"+stop(bagged)+"/verify", d.da1Key, map[string]any{"code": code}); r.Status != 200 {
			t.Fatalf("verify: %d %s", r.Status, r.Body)
		}
		if r := d.do("POST", "/v1/associate/stops/"+stop(refused)+"/refuse", d.da1Key, nil); r.Status != 200 {
			t.Fatalf("refuse: %d %s", r.Status, r.Body)
		}
		if r := d.do("POST", "/v1/associate/stops/"+stop(digits)+"/resend", d.da1Key, nil); r.Status != 202 {
			t.Fatalf("resend: %d %s", r.Status, r.Body)
		}
		if r := d.do("POST", "/v1/associate/stops/"+stop(digits)+"/phone-digits", d.da1Key, map[string]any{"digits": "04"}); r.Status != 200 {
			t.Fatalf("digits: %d %s", r.Status, r.Body)
		}
		if r := d.deliverWithPhoto(stop(photo), "DeliveredToPorch", "gps-orientation6.jpg"); r.Status != 200 {
			t.Fatalf("photo: %d %s", r.Status, r.Body)
		}
		if r := d.do("GET", "/v1/tracking/"+photo+"/photo", d.shipperKey, nil); r.Status != 200 {
			t.Fatalf("photo view: %d", r.Status)
		}
		if r := d.do("POST", "/v1/station/associates/"+d.da1+"/unlock", d.stationKey, nil); r.Status != 200 {
			t.Fatalf("unlock: %d %s", r.Status, r.Body)
		}
		if _, err := e.db.AuthenticatePassword(t0ctx, d.stationID, "not the password", "192.0.2.7"); err == nil {
			t.Fatal("a wrong password signed in")
		}
		if _, err := e.db.UseSecretKeys(t0ctx, e.db.Keys.IDs()); err != nil {
			t.Fatal(err)
		}
		g := newGarageDay(t, e)
		gr := g.open(g.da1Key)
		if c := g.do("POST", "/v1/associate/stops/"+g.stopID+"/garage/close", g.da1Key, map[string]any{"grantId": gr.JSON(t)["grantId"]}); c.Status != 200 {
			t.Fatalf("garage: %d %s", c.Status, c.Body)
		}

		var entries []audit.Entry
		if err := e.db.ExportAudit(t0ctx, monday.AddDate(0, 0, -1), monday.AddDate(0, 0, 1), func(en audit.Entry) error {
			entries = append(entries, en)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, en := range entries {
			seen[en.Action+"/"+en.Outcome] = true
			seen[en.Action] = true
		}
		for _, want := range []string{
			audit.ActionSettings, audit.ActionBagSeal, audit.ActionBagVoid, audit.ActionBagScan + "/mismatch", audit.ActionBagScan + "/matched",
			audit.ActionCodeCheck + "/wrong", audit.ActionCodeCheck + "/correct", audit.ActionRefusal, audit.ActionCodeResend,
			audit.ActionDelivered + "/DeliveredWithPhoneDigits", audit.ActionDelivered + "/DeliveredToPorch", audit.ActionPhotoView,
			audit.ActionAssociateOpen, audit.ActionSignin + "/failed", audit.ActionKeyAdded,
			audit.ActionGarage + "requested", audit.ActionGarage + "opened", audit.ActionGarage + "closed", audit.ActionDelivered + "/DeliveredToGarage",
		} {
			if !seen[want] {
				t.Errorf("the audit log has no %s", want)
			}
		}
		var text []string // what the entries say, without their hashes
		for _, en := range entries {
			text = append(text, strings.Join([]string{en.Chain, en.Action, en.Actor, en.Subject, en.Outcome, en.Detail}, " "))
		}
		all := strings.Join(text, "\n")
		for _, secret := range []string{"7700900", "example.com", code} {
			if strings.Contains(all, secret) {
				t.Errorf("the audit log holds %q", secret)
			}
		}
		w, err := e.db.VerifyAudit(t0ctx)
		if err != nil || len(w.Breaks) > 0 || w.Entries != len(entries) {
			t.Errorf("verify: %v, breaks %v, %d of %d entries", err, w.Breaks, w.Entries, len(entries))
		}
		// The associate's chain holds their day in order.
		var mine []string
		for _, en := range entries {
			if en.Chain == d.da1 {
				mine = append(mine, en.Action+"/"+en.Outcome)
			}
		}
		if i, j := slices.Index(mine, "code_check/wrong"), slices.Index(mine, "code_check/correct"); i < 0 || j < i {
			t.Errorf("associate chain = %v", mine)
		}
	})
}
