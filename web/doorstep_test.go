package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/garage"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// bagDay is a Monday whose route for the first associate carries the fixture's
// phone, which needs a passcode and a tamper-evident bag, sealed in the
// first bag of a batch and loaded in the van.
type bagDay struct {
	*env
	phone    string
	bag      handoff.Bag // the phone's bag
	other    handoff.Bag // an issued bag of the same batch, sealed on nothing
	route    *handoff.Route
	stopPath string
}

func newBagDay(t *testing.T, engine string) *bagDay {
	t.Helper()
	e := newDay(t, engine)
	d := &bagDay{env: e, phone: e.parcel(t, "order-1001-phone")}
	e.receive(t, d.phone)
	b := e.batch(t, 3)
	d.bag, d.other = b.Bags[0], b.Bags[1]
	e.seal(t, d.phone, d.bag.ID)
	d.route = e.plan(t, mondayDate, handoff.RouteParcel{TrackingID: d.phone})
	if _, err := sqlstoretest.Door(e.db).LoadRoute(context.Background(), e.seed.Associates[0].Principal, d.route.ID); err != nil {
		t.Fatal(err)
	}
	d.stopPath = "/associate/stops/" + stopOf(t, d.route, d.phone).ID
	return d
}

// noBagID fails when a page shows the phone's bag ID in any form the
// associate could copy from.
func (d *bagDay) noBagID(t *testing.T, where, body string) {
	t.Helper()
	for _, id := range []string{d.bag.ID, d.bag.Printed, strings.ReplaceAll(d.bag.Printed, "-", "")} {
		if strings.Contains(strings.ToUpper(body), id) {
			t.Errorf("%s shows the expected bag ID %s", where, id)
		}
	}
}

// TestBagScanAtDoor types bag IDs into the stop's scan form: a misread one
// is caught and is no finding, another bag is a mismatch that the page says
// plainly and customer service sees as a case, the right one lets the
// passcode deliver. The page never shows the bag ID it expects.
func TestBagScanAtDoor(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		d := newBagDay(t, engine)
		code := d.code(t, priyaMobile, mondayDate)
		da := d.signedIn(t, d.seed.Associates[0])

		resp, body := da.get(d.stopPath)
		wantStatus(t, resp, body, http.StatusOK)
		d.noBagID(t, "the stop page", body)
		scan := element(t, body, "scan", "section")
		wantText(t, "scan form", scan, "Scan bag", `action="`+d.stopPath+`/scan"`, `name="bagId"`, `autocomplete="off"`,
			`data-scan-start hidden`, "Scan with camera", `<script src="/static/scan.js?v=`)
		wantText(t, "the phone", element(t, body, "parcel-"+d.phone, "li"), "Scan the bag")
		// The bag comes first: the code is not offered before it matches.
		wantText(t, "the bag step", element(t, body, "steps", "ol"), `data-step="bag" aria-current="step"`, `data-step="code"`)
		if strings.Contains(body, `name="code"`) {
			t.Error("the code form is offered before the bag is scanned")
		}
		if _, b := da.get(d.stopPath + "?step=code"); strings.Contains(b, `name="code"`) {
			t.Error("?step=code offers the code form before the bag is scanned")
		}
		wantText(t, "refuse form", element(t, body, "refuse", "section"), "Recipient refuses: seal broken", `value="`+d.phone+`"`)
		token := csrf(t, body)

		t.Run("passcode before the bag", func(t *testing.T) {
			resp, body := da.formPost(d.stopPath+"/verify", token, "code", code)
			wantStatus(t, resp, body, http.StatusConflict)
			wantText(t, "code before scan", element(t, body, "stop-alert", "p"), "Scan the tamper-evident bag of "+d.phone+" first")
			d.noBagID(t, "the refusal", body)
		})

		t.Run("typing errors", func(t *testing.T) {
			tests := []struct{ name, typed, want string }{
				{"empty", "  ", "Scan the bag's barcode or type the ID printed under it."},
				{"misread", misread(d.bag.Printed), "That ID has a wrong character: it was misread or mistyped. Scan or type it again."},
				{"not a bag ID", "HO1234", "That is not a bag ID: a bag ID looks like TEB-XXXXX-XXXXX-C."},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, body := da.formPost(d.stopPath+"/scan", token, "bagId", tt.typed)
					wantStatus(t, resp, body, http.StatusBadRequest)
					wantText(t, tt.name, element(t, body, "bagId-error", "p"), tt.want)
				})
			}
			if cs, _ := d.db.ListCases(context.Background(), d.seed.Agent.Principal, ""); len(cs) != 0 {
				t.Errorf("a misread opened cases: %+v", cs)
			}
		})

		t.Run("another bag", func(t *testing.T) {
			resp, body := da.formPost(d.stopPath+"/scan", token, "bagId", d.other.Printed)
			wantStatus(t, resp, body, http.StatusConflict)
			wantText(t, "mismatch", element(t, body, "bagId-error", "p"), "This bag does not belong to this parcel. Do not deliver; it has been reported.")
			wantText(t, "still to scan", element(t, body, "parcel-"+d.phone, "li"), "Scan the bag")
			d.noBagID(t, "the mismatch", body)
			if strings.Contains(element(t, body, "scan", "section"), `value="`+d.other.Printed+`"`) {
				t.Error("the mismatched ID is left in the field for the next scan")
			}

			agent := d.signedIn(t, d.seed.Agent)
			_, queue := agent.get("/agent")
			open := element(t, queue, "open-cases", "section")
			wantText(t, "the queue", open, "Open cases <span class=\"count\">1</span>", "Bag scan mismatch", d.phone,
				"Bag "+d.other.Printed+" was scanned at the door", "under a minute")
		})

		t.Run("the right bag", func(t *testing.T) {
			resp, body := da.formPost(d.stopPath+"/scan", token, "bagId", " "+strings.ToLower(d.bag.Printed)+" ")
			wantRedirect(t, resp, body, d.stopPath+"?done=scanned")
			_, body = da.follow(resp, body)
			wantText(t, "after the scan", element(t, body, "stop-flash", "p"), "Bag scanned: it matches.")
			wantText(t, "the phone", element(t, body, "parcel-"+d.phone, "li"), "Bag scanned ✓")
			if strings.Contains(body, `action="`+d.stopPath+`/scan"`) {
				t.Error("the scan form is still offered with every bag scanned")
			}
			d.noBagID(t, "the page after the scan", body)

			resp, body = da.formPost(d.stopPath+"/verify", token, "code", code)
			wantRedirect(t, resp, body, d.stopPath+"?done=verified")
			_, body = da.follow(resp, body)
			wantText(t, "the phone", element(t, body, "parcel-"+d.phone, "li"), "Delivered with OTP")
			if strings.Contains(body, "Recipient refuses") {
				t.Error("a delivered parcel can still be refused")
			}
		})

		t.Run("a crafted link", func(t *testing.T) {
			e := newBagDay(t, engine)
			da := e.signedIn(t, e.seed.Associates[0])
			_, body := da.get(e.stopPath + "?done=scanned")
			if strings.Contains(body, "Bag scanned") {
				t.Error("?done=scanned claims a scan that did not happen")
			}
		})
		d.assertNoCode(t, code)
		d.assertNoInline(t)
	})
}

// TestRefusalHeldAndClosed records the recipient refusing a bag whose seal
// is broken: the parcel goes back and is held at the station, customer
// service reads the whole history of the case and closes it.
func TestRefusalHeldAndClosed(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		d := newBagDay(t, engine)
		alex := d.seed.Associates[0].Principal
		da := d.signedIn(t, d.seed.Associates[0])
		_, body := da.get(d.stopPath)
		token := csrf(t, body)

		resp, body := da.formPost(d.stopPath+"/scan", token, "bagId", d.bag.Printed)
		wantRedirect(t, resp, body, d.stopPath+"?done=scanned")
		resp, body = da.formPost(d.stopPath+"/refuse", token)
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantText(t, "nothing chosen", element(t, body, "refuse-error", "p"), "Choose the parcels the recipient refuses")
		resp, body = da.formPost(d.stopPath+"/refuse", token, "trackingId", "HONOSUCHPARCEL")
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantText(t, "another parcel", element(t, body, "refuse-error", "p"), "Choose the parcels the recipient refuses")

		// The refusal is asked first and recorded only when confirmed.
		resp, body = da.formPost(d.stopPath+"/refuse", token, "trackingId", d.phone)
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "the question", element(t, body, "confirm", "section"), "Record the refusal?", d.phone, `name="confirm" value="yes"`)
		if cs, _ := d.db.ListCases(context.Background(), d.seed.Agent.Principal, ""); len(cs) != 0 {
			t.Fatalf("asking opened cases: %+v", cs)
		}
		if _, b := da.get(d.stopPath); strings.Contains(element(t, b, "parcel-"+d.phone, "li"), "Refused") {
			t.Fatal("asking refused the parcel")
		}
		resp, body = da.formPost(d.stopPath+"/refuse", token, "trackingId", d.phone, "confirm", "yes")
		wantRedirect(t, resp, body, d.stopPath+"?done=refused")
		_, body = da.follow(resp, body)
		wantText(t, "after the refusal", element(t, body, "stop-flash", "p"), "Refusal recorded: bring the refused parcels back to the station in their bags.")
		wantText(t, "the phone", element(t, body, "parcel-"+d.phone, "li"), "Refused by recipient: tampered bag")
		if strings.Contains(body, "The passcode attempt has ended") || strings.Contains(body, `name="code"`) {
			t.Error("the refused stop speaks of a passcode attempt")
		}
		_, it := da.get("/associate")
		wantText(t, "itinerary", element(t, it, "stop-"+stopOf(t, d.route, d.phone).ID, "a"), "Not delivered")

		station := d.signedIn(t, d.seed.Station)
		_, page := station.get("/station")
		resp, body = station.formPost("/station/receive", csrf(t, page), "trackingId", d.phone)
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "received back", element(t, body, "receive-result", "p"), "is back and held for customer service")

		agent := d.signedIn(t, d.seed.Agent)
		_, queue := agent.get("/agent")
		cases, err := d.db.ListCases(context.Background(), d.seed.Agent.Principal, handoff.CaseOpen)
		if err != nil || len(cases) != 1 {
			t.Fatalf("open cases: %+v %v", cases, err)
		}
		c := cases[0]
		wantText(t, "queue row", element(t, queue, "case-"+c.ID, "tr"), "Tampered bag refused", d.phone, "Recipient refused bag "+d.bag.Printed+": seal broken")
		casePath := "/agent/cases/" + c.ID
		resp, body = agent.get(casePath)
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "facts", element(t, body, "case-facts", "dl"), "Open for", "Alex Driver (delivery associate)")
		wantText(t, "bags", element(t, body, "case-bags", "section"), d.bag.Printed, "Refused at the door", "London East Station (station)", "23 Nov 2026, 10:00")
		wantText(t, "carriers", element(t, body, "case-carriers", "section"), "Monday 23 November 2026", "Alex Driver", "Refused by the recipient", d.route.ID)
		wantText(t, "scans", element(t, body, "case-scans", "section"), d.bag.Printed, "Matched", "Alex Driver (delivery associate)")
		wantText(t, "history", body, "Sealed in a tamper-evident bag", "by London East Station (station)", "Out for delivery", "Rejected",
			"Refused by recipient: tampered bag", "by "+alex.Name+" (delivery associate)", "Label created", "by Demo Gadgets Ltd (shipper)")
		token = csrf(t, body)

		resp, body = agent.formPost(casePath+"/close", token, "outcome", "", "note", "checked")
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantText(t, "no outcome", element(t, body, "outcome-error", "p"), "Choose what happens to the parcel.")
		wantText(t, "note kept", body, ">checked</textarea>")
		resp, body = agent.formPost(casePath+"/close", token, "outcome", "reship", "note", "Recipient confirmed the strip was red; new bag.")
		wantRedirect(t, resp, body, casePath+"?done=closed")
		_, body = agent.follow(resp, body)
		wantText(t, "closed", element(t, body, "case-flash", "p"), "Case closed: Reship: the parcel waits at the station for a new bag.")
		wantText(t, "closed facts", element(t, body, "case-facts", "dl"), "Closed", "Casey Support (customer service)")
		wantText(t, "the note", body, "Recipient confirmed the strip was red; new bag.")
		if strings.Contains(body, `action="`+casePath+`/close"`) {
			t.Error("a closed case still offers its close form")
		}
		resp, body = agent.formPost(casePath+"/close", token, "outcome", "no_action")
		wantStatus(t, resp, body, http.StatusConflict)
		wantText(t, "closed twice", element(t, body, "case-alert", "p"), "The case is already closed.")
		_, queue = agent.get("/agent")
		wantText(t, "queue", element(t, queue, "closed-cases", "section"), "Tampered bag refused", "Reship")
		wantText(t, "queue", element(t, queue, "open-cases", "section"), "No open case.")
		// Reshipped, the parcel is back at the station, waiting for a new bag.
		if _, err := d.stations.CreateRoute(context.Background(), d.seed.Station.Principal, handoff.NewRoute{AssociateID: alex.ID, ServiceDate: tuesdayDate,
			Parcels: []handoff.RouteParcel{{TrackingID: d.phone}}}); err != nil {
			t.Errorf("the reshipped parcel cannot go on a route: %v", err)
		}
		d.assertNoInline(t)
	})
}

// garageDay is a Monday with Tom's book (no passcode, no bag) on a loaded
// route, Tom having enrolled a simulated garage at his address, with its
// position, and key delivery on.
type garageDay struct {
	*env
	book     string
	door     *garage.Simulator
	stopPath string
}

// tomMobile is the fixture's recipient Tom Baker's mobile.
const tomMobile = "+447700900456"

func newGarageDay(t *testing.T, engine string) *garageDay {
	t.Helper()
	e := newDay(t, engine, func(db *sqlstore.DB) {
		sqlstoretest.Garages(db).CloseWithin, sqlstoretest.Garages(db).OpenWithin, sqlstoretest.Garages(db).PollInterval = 200*time.Millisecond, 200*time.Millisecond, 20*time.Millisecond
	})
	ctx := context.Background()
	g := &garageDay{env: e, book: e.parcel(t, "order-1002-book"), door: sqlstoretest.Garages(e.db).Simulators.Get("web-test-tom")}
	lat, lon := 51.5265, -0.0254
	gar, err := sqlstoretest.Garages(e.db).EnrollGarage(ctx, tomMobile, handoff.GarageEnrollment{Kind: garage.KindSimulator, Label: "Tom's garage",
		AddressLine1: "40 Bow Road", PostalCode: "E3 4DH", SimulatorID: "web-test-tom", Lat: &lat, Lon: &lon})
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlstoretest.Garages(e.db).SetKeyDelivery(ctx, tomMobile, gar.ID, true); err != nil {
		t.Fatal(err)
	}
	rt := e.plan(t, mondayDate, handoff.RouteParcel{TrackingID: g.book})
	if _, err := sqlstoretest.Door(e.db).LoadRoute(ctx, e.seed.Associates[0].Principal, rt.ID); err != nil {
		t.Fatal(err)
	}
	g.stopPath = "/associate/stops/" + stopOf(t, rt, g.book).ID
	return g
}

var grantLinkRE = regexp.MustCompile(`^(/associate/stops/stp_[0-9a-z]+)\?done=garage&grant=(gg_[0-9a-z]+)#garage$`)

// TestGarageAtDoor opens and closes a garage from the stop page: each
// refusal is said in words on the page, the close form keeps the grant
// through a reload, and the door closing delivers the parcel.
func TestGarageAtDoor(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		g := newGarageDay(t, engine)
		da := g.signedIn(t, g.seed.Associates[0])
		resp, body := da.get(g.stopPath)
		wantStatus(t, resp, body, http.StatusOK)
		panel := element(t, body, "garage", "section")
		wantText(t, "garage panel", panel, "Open garage", `action="`+g.stopPath+`/garage/open"`, `data-geo`, `name="lat"`, `name="lon"`,
			`<script src="/static/geo.js?v=`)
		if strings.Contains(panel, "Close garage") {
			t.Error("the close form is offered before the garage was opened")
		}
		wantText(t, "badges", body, `<span class="badge garage">Garage</span>`)
		token := csrf(t, body)
		open := func(fields ...string) (*http.Response, string) {
			t.Helper()
			return da.formPost(g.stopPath+"/garage/open", token, fields...)
		}

		t.Run("refusals", func(t *testing.T) {
			resp, body := open("lat", "48.8566", "lon", "2.3522")
			wantStatus(t, resp, body, http.StatusForbidden)
			wantText(t, "far away", element(t, body, "stop-alert", "p"), "You are not at the delivery address.")

			g.setNow(monday.Add(11 * time.Hour)) // 21:00 in London
			resp, body = open()
			wantStatus(t, resp, body, http.StatusConflict)
			wantText(t, "late", element(t, body, "stop-alert", "p"), "Garages are opened only in the delivery window")
			g.setNow(monday)

			g.door.SetOffline(true)
			resp, body = open()
			wantStatus(t, resp, body, http.StatusServiceUnavailable)
			wantText(t, "offline", element(t, body, "stop-alert", "p"), "The garage did not open; deliver another way.")
			g.door.SetOffline(false)
			if door, _ := g.door.State(context.Background()); door != garage.Closed {
				t.Fatalf("the door is %v after the refusals", door)
			}
		})

		var closePath string
		t.Run("open", func(t *testing.T) {
			resp, body := open("lat", "51.5266", "lon", "-0.0255")
			m := grantLinkRE.FindStringSubmatch(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || m == nil || m[1] != g.stopPath {
				t.Fatalf("open: status %d, location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			if door, _ := g.door.State(context.Background()); door != garage.Open {
				t.Fatalf("the door is %v", door)
			}
			closePath = resp.Header.Get("Location")
			for range 2 { // a reload still offers the drop, then the close
				_, body = da.get(closePath)
				panel := element(t, body, "garage", "section")
				wantText(t, "open garage", panel, "The garage is open.", "The parcels are inside", "step=garage-close")
				if strings.Contains(panel, "/garage/open") {
					t.Error("the open form is offered while the garage is open")
				}
				_, body = da.get(strings.TrimSuffix(closePath, "#garage") + "&step=garage-close")
				panel = element(t, body, "garage", "section")
				wantText(t, "close step", panel, "Close garage", `name="grant" value="`+m[2]+`"`)
			}
			// Back at the stop from the itinerary, without the link: the open
			// door is still offered to close.
			_, body = da.get(g.stopPath)
			wantText(t, "back from the itinerary", element(t, body, "garage", "section"), "The parcels are inside")
			_, body = da.get(g.stopPath + "?step=garage-close")
			wantText(t, "back from the itinerary", element(t, body, "garage", "section"), "Close garage", `name="grant" value="`+m[2]+`"`)
			resp, body = open()
			wantStatus(t, resp, body, http.StatusConflict)
			wantText(t, "opened twice", element(t, body, "stop-alert", "p"), "already open")
		})

		t.Run("close", func(t *testing.T) {
			resp, body := da.formPost(g.stopPath+"/garage/close", token, "grant", "gg_nosuchgrant00000")
			wantStatus(t, resp, body, http.StatusNotFound)
			wantText(t, "unknown grant", element(t, body, "stop-alert", "p"), "This garage access is not open at this stop any more.")
			grant := grantLinkRE.FindStringSubmatch(closePath)[2]
			resp, body = da.formPost(g.stopPath+"/garage/close", token, "grant", grant)
			wantRedirect(t, resp, body, g.stopPath+"?done=garage-closed")
			_, body = da.follow(resp, body)
			wantText(t, "after closing", element(t, body, "stop-flash", "p"), "Garage closed and confirmed closed: the parcels are delivered to the garage.")
			wantText(t, "the book", element(t, body, "parcel-"+g.book, "li"), "Delivered to garage")
			if door, _ := g.door.State(context.Background()); door != garage.Closed {
				t.Errorf("the door is %v", door)
			}
			if strings.Contains(body, `id="garage"`) {
				t.Error("the garage is still offered with nothing left to deliver")
			}
			// The grant is used once.
			resp, body = da.formPost(g.stopPath+"/garage/close", token, "grant", grant)
			wantStatus(t, resp, body, http.StatusConflict)
		})
		g.assertNoInline(t)
	})
}

// TestGarageDoorStaysOpen closes a garage whose door sticks open: the
// associate is told to stay, as the recipient and customer service have
// been alerted, and customer service has a case.
func TestGarageDoorStaysOpen(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		g := newGarageDay(t, engine)
		da := g.signedIn(t, g.seed.Associates[0])
		_, body := da.get(g.stopPath)
		token := csrf(t, body)
		resp, body := da.formPost(g.stopPath+"/garage/open", token)
		m := grantLinkRE.FindStringSubmatch(resp.Header.Get("Location"))
		if m == nil {
			t.Fatalf("open: %d %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		g.door.SetStuckOpen(true)
		resp, body = da.formPost(g.stopPath+"/garage/close", token, "grant", m[2])
		wantStatus(t, resp, body, http.StatusServiceUnavailable)
		wantText(t, "stuck", element(t, body, "stop-alert", "p"), "The garage door did not close. The recipient and customer service have been alerted; stay until it is resolved.")
		if strings.Contains(element(t, body, "parcel-"+g.book, "li"), "Delivered") {
			t.Error("the parcel counts as delivered behind an open door")
		}
		agent := g.signedIn(t, g.seed.Agent)
		_, queue := agent.get("/agent")
		wantText(t, "queue", element(t, queue, "open-cases", "section"), "Garage door did not close", g.book)
	})
}

// TestSwitchedOffGarage opens a garage the recipient switched key delivery
// off for after the associate's page was loaded: the page says so.
func TestSwitchedOffGarage(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		g := newGarageDay(t, engine)
		da := g.signedIn(t, g.seed.Associates[0])
		_, body := da.get(g.stopPath)
		token := csrf(t, body)
		garages, err := sqlstoretest.Garages(g.db).RecipientGarages(context.Background(), tomMobile)
		if err != nil || len(garages) != 1 {
			t.Fatal(garages, err)
		}
		if err := sqlstoretest.Garages(g.db).SetKeyDelivery(context.Background(), tomMobile, garages[0].ID, false); err != nil {
			t.Fatal(err)
		}
		resp, body := da.formPost(g.stopPath+"/garage/open", token)
		wantStatus(t, resp, body, http.StatusConflict)
		wantText(t, "switched off", element(t, body, "stop-alert", "p"), "Key delivery is not on for any open parcel at this stop.")
		if door, _ := g.door.State(context.Background()); door != garage.Closed {
			t.Errorf("the door is %v", door)
		}
		if strings.Contains(body, `id="garage"`) {
			t.Error("the garage is still offered after key delivery was switched off")
		}
	})
}
