package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
)

var keyRE = regexp.MustCompile(`name="key" value="(web-[0-9a-f]+)"`)

// TestLabelForm: the label form refuses what the API refuses, with the
// service's message at each input, the language's words and the input kept;
// sent twice, it makes one label; another shipper's labels are not found.
func TestLabelForm(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		b := e.signedIn(t, e.seed.Shipper)
		resp, body := b.get("/shipments/new")
		wantStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(body, `value="Demo Gadgets Warehouse"`) {
			t.Error("the sender is not filled in from the latest label")
		}
		key := keyRE.FindStringSubmatch(body)[1]
		form := url.Values{"csrf": {csrf(t, body)}, "key": {key},
			"shipTo.name": {"Léa Roux"}, "shipTo.addressLine1": {"3 rue Oberkampf"}, "shipTo.postalCode": {"75011"}, "shipTo.city": {"Paris"},
			"shipTo.countryCode": {"FR"}, "shipTo.phoneNumber": {"06 12 34 56 78"}, "shipTo.email": {"lea@"},
			"packages[0].insuredValue.value": {"149,90"}, "packages[0].packageClientReferenceId": {"CMD-42"},
			"shipFrom.name": {"Shop"}, "shipFrom.addressLine1": {"1 Dock Road"}, "shipFrom.postalCode": {"E16 1AA"}, "shipFrom.city": {"London"},
			"shipFrom.countryCode": {"GB"}, "deliveryPreferences.minimumAge": {"eighteen"}}
		resp, body = b.post("/shipments/new", form, "Accept-Language", "fr")
		wantStatus(t, resp, body, http.StatusBadRequest)
		for _, want := range []string{
			`id="shipTo.email-error">doit être une simple adresse e-mail comme nom@example.com</p>`,
			`id="deliveryPreferences.minimumAge-error">`,
			`value="Léa Roux"`, `value="149,90"`, `<option value="FR" selected>`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("the refused form lacks %s", want)
			}
		}
		// The API says the same of the same label.
		if _, _, err := e.db.CreateShipment(context.Background(), e.seed.Shipper.Principal.ID, &handoff.ShipmentInput{
			ShipTo: &handoff.Address{Name: "x", AddressLine1: "x", City: "x", PostalCode: "x", CountryCode: "FR", Email: "lea@"},
		}, ""); !strings.Contains(handoff.ErrorMessage(err)+fieldsOf(err), "shipTo.email") {
			t.Errorf("the service does not refuse the email the form refused: %v", err)
		}

		form.Set("shipTo.email", "lea@example.com")
		form.Set("deliveryPreferences.minimumAge", "18")
		resp, body = b.post("/shipments/new", form, "Accept-Language", "fr")
		wantStatus(t, resp, body, http.StatusSeeOther)
		first := resp.Header.Get("Location")
		resp, body = b.post("/shipments/new", form, "Accept-Language", "fr") // a double click
		wantStatus(t, resp, body, http.StatusSeeOther)
		if again := resp.Header.Get("Location"); again != first || !strings.HasSuffix(first, "?created=1") {
			t.Errorf("the same form sent twice went to %s and %s", first, again)
		}
		id := strings.TrimSuffix(strings.TrimPrefix(first, "/shipments/"), "?created=1")
		sh, err := e.db.FindShipment(context.Background(), e.seed.Shipper.Principal.ID, id)
		if err != nil || sh.Packages[0].InsuredValue.String() != "149.9" || sh.Preferences.MinimumAge != 18 {
			t.Fatalf("the label made: %+v %v", sh, err)
		}
		n := 0
		pkgs, _ := e.db.ListPackages(context.Background(), handoff.ShipmentFilter{ShipperID: e.seed.Shipper.Principal.ID, Reference: "CMD-42", Limit: 10})
		n = len(pkgs)
		if n != 1 {
			t.Errorf("two sends made %d labels", n)
		}
		resp, body = b.get(first)
		wantStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(body, `id="label-created"`) || !strings.Contains(body, `href="/shipments/`+id+`/label.pdf"`) || !strings.Contains(body, `/label.zpl"`) {
			t.Error("the new shipment's page does not link its labels")
		}
		resp, zpl := b.get("/shipments/" + id + "/label.zpl")
		wantStatus(t, resp, zpl, http.StatusOK)
		if !strings.Contains(zpl, "^FDCONTRÔLE ÂGE 18+^FS") || !strings.Contains(zpl, "^FDCODE (OTP)^FS") {
			t.Errorf("the label lacks its marks:\n%s", zpl)
		}

		// Another shipper sees none of it.
		p, c, err := e.db.CreatePrincipal(context.Background(), handoff.NewPrincipal{Kind: auth.KindShipper, Name: "Other"})
		if err != nil {
			t.Fatal(err)
		}
		o := e.signedIn(t, account{p, c})
		for _, path := range []string{first, "/shipments/" + id + "/label.pdf", "/shipments/" + id + "/label.zpl"} {
			resp, body := o.get(path)
			wantStatus(t, resp, body, http.StatusNotFound)
		}
		resp, body = o.get("/shipments/export.csv")
		wantStatus(t, resp, body, http.StatusOK)
		if strings.Contains(body, "CMD-42") || strings.Count(body, "\n") != 1 {
			t.Errorf("another shipper's export:\n%s", body)
		}
	})
}

func fieldsOf(err error) string {
	var out []string
	for _, f := range handoff.ErrorFields(err) {
		out = append(out, f.Field)
	}
	return strings.Join(out, " ")
}

// TestShipmentListFilters: a filter the list cannot read comes back at its
// field with what was typed; the export refuses it as a page.
func TestShipmentListFilters(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		b := e.signedIn(t, e.seed.Shipper)
		resp, body := b.get("/shipments?from=30%2F11%2F2026&recipient=Priya")
		wantStatus(t, resp, body, http.StatusBadRequest)
		if !strings.Contains(body, `id="f-from-error">must be a date like 2026-11-30</p>`) || !strings.Contains(body, `name="recipient" value="Priya"`) {
			t.Errorf("the refused filter:\n%s", body)
		}
		resp, body = b.get("/shipments?recipient=priya&secure=otp")
		wantStatus(t, resp, body, http.StatusOK)
		if !strings.Contains(body, "order-1001-phone") || strings.Contains(body, "order-1002-book") || !strings.Contains(body, `href="/shipments/export.csv?recipient=priya&amp;secure=otp"`) {
			t.Errorf("filtered by recipient and passcode:\n%s", body)
		}
		resp, body = b.get("/shipments/export.csv?status=Lost")
		wantStatus(t, resp, body, http.StatusBadRequest)
	})
}

// TestLabelFormKeepsLongFields: the form takes what the API takes. An
// address or description longer than the page's 64-character echo limit
// makes a label with it whole, and one longer than the API allows is
// refused at its field, never cut short into a label.
func TestLabelFormKeepsLongFields(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newEnv(t, engine)
		b := e.signedIn(t, e.seed.Shipper)
		_, body := b.get("/shipments/new")
		long := "Flat 12, The Old Grain Warehouse, 145 Upper Riverside Quay Street North" // 71 characters
		contents := strings.Repeat("Noise-cancelling headphones, black; ", 3)             // 108 characters
		form := url.Values{"csrf": {csrf(t, body)}, "key": {keyRE.FindStringSubmatch(body)[1]},
			"shipTo.name": {"Ola Nordmann"}, "shipTo.addressLine1": {long}, "shipTo.postalCode": {"E8 1HR"}, "shipTo.city": {"London"},
			"shipTo.countryCode": {"GB"}, "shipTo.phoneNumber": {"07700 900123"}, "shipTo.email": {"ola@example.com"},
			"packages[0].insuredValue.value": {"20"}, "packages[0].packageClientReferenceId": {"LONG-1"},
			"packages[0].items[0].description": {contents},
			"shipFrom.name":                    {"Shop"}, "shipFrom.addressLine1": {"1 Dock Road"}, "shipFrom.postalCode": {"E16 1AA"}, "shipFrom.city": {"London"},
			"shipFrom.countryCode": {"GB"}}
		resp, body := b.post("/shipments/new", form)
		wantStatus(t, resp, body, http.StatusSeeOther)
		id := strings.TrimSuffix(strings.TrimPrefix(resp.Header.Get("Location"), "/shipments/"), "?created=1")
		sh, err := e.db.FindShipment(context.Background(), e.seed.Shipper.Principal.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := sh.ShipTo.AddressLine1; got != long {
			t.Errorf("address line stored as %q, typed %q", got, long)
		}
		if got := sh.Packages[0].Items[0].Description; got != strings.TrimSpace(contents) {
			t.Errorf("contents stored as %q, typed %q", got, contents)
		}

		_, body = b.get("/shipments/new")
		form.Set("csrf", csrf(t, body))
		form.Set("key", keyRE.FindStringSubmatch(body)[1])
		form.Set("packages[0].packageClientReferenceId", "LONG-2")
		form.Set("shipTo.addressLine1", strings.Repeat("x", handoff.MaxTextLen+40))
		resp, body = b.post("/shipments/new", form)
		wantStatus(t, resp, body, http.StatusBadRequest)
		if !strings.Contains(body, `id="shipTo.addressLine1-error"`) {
			t.Errorf("an address longer than the API takes is not refused at its field:\n%s", body)
		}
		if pkgs, _ := e.db.ListPackages(context.Background(), handoff.ShipmentFilter{ShipperID: e.seed.Shipper.Principal.ID, Reference: "LONG-2", Limit: 10}); len(pkgs) != 0 {
			t.Errorf("a refused label was made: %d packages", len(pkgs))
		}
	})
}
