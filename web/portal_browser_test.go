package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/notify"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/tracking"
	"github.com/handoff-dev/handoff/web"
)

// portalDay is a store whose clock runs from Monday 10:00 in London, with
// the fixture: a working day inside contact hours, whatever the
// time the test runs.
func portalDay(t *testing.T, engine string) (*sqlstore.DB, *fixture) {
	t.Helper()
	db := sqlstoretest.Open(t, engine)
	start := time.Now()
	db.Now = func() time.Time { return monday.Add(time.Since(start)) }
	sqlstoretest.Garages(db).PollInterval = 10 * time.Millisecond
	seed := newFixture(t, db)
	return db, seed
}

// portalServer serves the pages of db as a development server does: on
// plain http://127.0.0.1, with sign-in links pointing back at it and the
// messages shown at /dev/outbox once the returned worker delivers them.
func portalServer(t *testing.T, db *sqlstore.DB) (*httptest.Server, *notify.Worker) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(&syncBuffer{}, nil))
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	dev := notify.NewDevOutbox(100)
	(&web.Server{Principals: db, Sessions: db, Contacts: db, Settings: db, Shipments: db, Stations: stationsOf(db), Doors: sqlstoretest.Door(db), Today: db.Today,
		Recipients: db, Photos: sqlstoretest.Photos(db), Garages: sqlstoretest.Garages(db), Bags: stationsOf(db), Cases: db,
		PublicURL: "http://" + srv.Listener.Addr().String(), DevOutbox: true, Keys: sqlstoretest.Keys(t), Log: log}).Register(mux)
	mux.Handle("GET /dev/outbox", dev)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &notify.Worker{Store: db, Log: log, Senders: map[string]notify.Sender{notify.Email: dev, notify.SMS: dev},
		Unseal: func(p, s string) ([]byte, error) { return db.Keys.Open("message/"+p, s, nil) }}
}

// portalSignIn signs a recipient in as a person does: asks for a link on
// the portal's sign-in page, opens the dev outbox from the page's note (the
// worker delivers the message first), follows the link and presses Sign in.
func (c *chrome) portalSignIn(w *notify.Worker, contact string) {
	c.t.Helper()
	c.do("open the portal", chromedp.Navigate(c.base+"/portal"), chromedp.WaitVisible(chromedp.ID("contact")))
	c.shot("portal-signin")
	c.do("ask for a sign-in link",
		chromedp.SendKeys(chromedp.ID("contact"), contact),
		chromedp.Click(chromedp.CSS(`#request-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("portal-sent")),
	)
	c.shot("portal-sent")
	if err := w.Drain(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	c.do("follow the link from the dev outbox",
		chromedp.Click(chromedp.CSS(`#dev-note a[href="/dev/outbox"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href*="/portal/in/"]`)),
		chromedp.Click(chromedp.CSS(`a[href*="/portal/in/"]`)),
		chromedp.WaitVisible(chromedp.ID("spend-link")),
		chromedp.Click(chromedp.ID("spend-link")),
		chromedp.WaitVisible(chromedp.ID("parcels")),
	)
	if got := c.location(); got != "/portal/parcels" {
		c.t.Fatalf("after signing in the browser is at %q", got)
	}
}

// TestBrowserPortal is the passcode's done-means in Chromium at a phone's
// size: a recipient with a parcel out for delivery today asks for a
// sign-in link, follows it from the dev outbox, and sees today's code and
// the timeline; a parcel left at the porch then shows its photo. A second
// browser that has only the tracking ID sees the status and nothing
// private, on the public tracking page and in the portal.
func TestBrowserPortal(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		db, seed := portalDay(t, engine)
		dana := &handoff.Address{Name: "Dana Reyes", AddressLine1: "5 Bow Common Lane", City: "London", PostalCode: "E3 4AU", CountryCode: "GB",
			PhoneNumber: "07700 900888", Email: "dana@example.com"}
		from := &warehouse
		var ids []string
		for _, value := range []string{"250", "40"} { // the headphones need the passcode, the cable does not
			sh, _, err := db.CreateShipment(ctx, seed.Shipper.Principal.ID, &handoff.ShipmentInput{ShipTo: dana, ShipFrom: from,
				Packages: []handoff.PackageInput{{InsuredValue: &handoff.Money{Value: handoff.Decimal(value), Unit: "GBP"},
					Items: []handoff.Item{{Description: "Audio", Quantity: 1, Category: "audio"}}}}}, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stationsOf(db).ReceiveParcel(ctx, seed.Station.Principal, sh.Packages[0].TrackingID); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, sh.Packages[0].TrackingID)
		}
		otp, cable := ids[0], ids[1]
		today := db.Today("GB")
		da := seed.Associates[0].Principal
		rt, err := stationsOf(db).CreateRoute(ctx, seed.Station.Principal, handoff.NewRoute{AssociateID: da.ID, ServiceDate: today,
			Parcels: []handoff.RouteParcel{{TrackingID: otp}, {TrackingID: cable}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sqlstoretest.Door(db).LoadRoute(ctx, da, rt.ID); err != nil {
			t.Fatal(err)
		}
		code := sqlstoretest.ContactCode(t, db, "+447700900888")
		srv, worker := portalServer(t, db)

		c := newChrome(t, srv.URL)
		c.phone()
		c.portalSignIn(worker, "07700 900888")
		c.shot("portal-parcels")
		if got := c.text("#code-" + otp); got != code {
			t.Errorf("the passcode box shows %q, want today's code", got)
		}
		if size := c.eval(`getComputedStyle(document.getElementById("code-` + otp + `")).fontSize`); size != "40px" {
			t.Errorf("the code is %s high; it should stand out", size)
		}
		if txt := c.text("#timeline-" + otp); !strings.Contains(txt, "Label created") || !strings.Contains(txt, "Out for delivery") {
			t.Errorf("the timeline shows:\n%s", txt)
		}
		if txt := c.text("#parcel-" + cable); strings.Contains(txt, code) {
			t.Error("the parcel without a passcode shows the code")
		}
		c.fitsPhone("the portal's parcels")

		sctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
		cookies, err := chromedp.Call(sctx, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.URL + "/"}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		var session *network.Cookie
		for _, ck := range cookies.Cookies {
			if ck.Name == portalCookie {
				session = ck
			}
		}
		if session == nil || !session.Secure || !session.HTTPOnly || session.SameSite != network.CookieSameSiteLax {
			t.Errorf("the portal session cookie in Chromium: %+v", session)
		}

		// The cable is left at the porch with a photo: the page shows it.
		stop := stopOf(t, rt, cable)
		if _, err := sqlstoretest.Door(db).DeliverParcels(ctx, da, stop.ID, handoff.Handover{Place: tracking.DeliveredToPorch, Photo: photoFile(t, "gps-orientation6.jpg")}); err != nil {
			t.Fatal(err)
		}
		img := `#parcel-` + cable + ` img.pod-thumb`
		c.do("see the photo", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(img)),
			chromedp.Poll[chromedp.Void](`(i => i.complete && i.naturalWidth > 0)(document.querySelector("`+img+`"))`))
		if w := c.eval(`String(document.querySelector("` + img + `").getBoundingClientRect().width <= screen.width)`); w != "true" {
			t.Error("the photo is wider than the phone")
		}
		if txt := c.text("#parcel-" + cable); !strings.Contains(txt, "Delivered to porch") {
			t.Errorf("the delivered parcel shows:\n%s", txt)
		}
		c.fitsPhone("the parcels with a photo")
		c.shot("portal-photo")

		// Someone else, with the tracking ID only.
		other := newChrome(t, srv.URL)
		other.phone()
		other.do("track the parcel",
			chromedp.Navigate(srv.URL+"/track"),
			chromedp.WaitVisible(chromedp.ID("track-id")),
			chromedp.SendKeys(chromedp.ID("track-id"), otp),
			chromedp.Click(chromedp.CSS(`#track-form button`)),
			chromedp.WaitVisible(chromedp.ID("track-status")),
		)
		if got := other.text("#track-status"); !strings.Contains(got, "Out for delivery") {
			t.Errorf("the public status says %q", got)
		}
		other.shot("portal-track")
		private := []string{code, "Dana", "Reyes", "Bow Common", "E3 4AU", "900888", "dana@example.com"}
		noPrivate := func(page string) {
			t.Helper()
			html := other.eval(`document.documentElement.outerHTML`)
			for _, s := range private {
				if strings.Contains(html, s) {
					t.Errorf("%s shows %q", page, s)
				}
			}
		}
		noPrivate("the public tracking page")
		other.do("open the portal's parcels", chromedp.Navigate(srv.URL+"/portal/parcels"), chromedp.WaitVisible(chromedp.ID("contact")))
		if got := other.location(); got != "/portal" {
			t.Errorf("without signing in, the parcels page went to %q", got)
		}
		noPrivate("the portal without signing in")
	})
}

// TestBrowserPortalGarage is in-garage delivery's done-means in Chromium at
// a phone's size: the recipient enrols a simulated opener and switches key
// delivery on in the portal; the associate opens and closes the garage;
// the recipient's portal shows every step in the log and the parcel
// delivered to the garage.
func TestBrowserPortalGarage(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		db, seed := portalDay(t, engine)
		var book string // Tom Baker's parcel, to 40 Bow Road, E3 4DH
		for _, sh := range seed.Shipments {
			if sh.Packages[0].ClientRef == "order-1002-book" {
				book = sh.Packages[0].TrackingID
			}
		}
		da := seed.Associates[0].Principal
		if _, err := stationsOf(db).ReceiveParcel(ctx, seed.Station.Principal, book); err != nil {
			t.Fatal(err)
		}
		rt, err := stationsOf(db).CreateRoute(ctx, seed.Station.Principal, handoff.NewRoute{AssociateID: da.ID, ServiceDate: db.Today("GB"),
			Parcels: []handoff.RouteParcel{{TrackingID: book}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sqlstoretest.Door(db).LoadRoute(ctx, da, rt.ID); err != nil {
			t.Fatal(err)
		}
		srv, worker := portalServer(t, db)

		c := newChrome(t, srv.URL)
		c.phone()
		c.portalSignIn(worker, "tom@example.com")
		c.do("open the settings", chromedp.Click(chromedp.CSS(`.portal-nav a[href="/portal/settings"]`)), chromedp.WaitVisible(chromedp.ID("enrol-form")))
		c.do("choose the simulator", chromedp.SetValue(chromedp.ID("kind"), "simulator"))
		// Only the chosen kind's fields show: a simulator needs no address or key.
		if d := c.eval(`getComputedStyle(document.getElementById("deviceKey").parentElement).display`); d != "none" {
			t.Errorf("with the simulator chosen, the device key field displays as %q", d)
		}
		c.fitsPhone("the settings")
		c.shot("portal-enrol")
		c.do("enrol",
			chromedp.SendKeys(chromedp.ID("label"), "Home"),
			chromedp.SendKeys(chromedp.ID("addressLine1"), "40 Bow Road"),
			chromedp.SendKeys(chromedp.ID("postalCode"), "E3 4DH"),
			chromedp.Click(chromedp.ID("enrol-submit")),
			chromedp.WaitVisible(chromedp.ID("portal-flash")),
		)
		if f := c.text("#portal-flash"); !strings.Contains(f, "Garage “Home” enrolled") {
			t.Fatalf("after enrolling the page says %q", f)
		}
		c.do("switch key delivery on", chromedp.Click(chromedp.CSS(`button.key-on`)), chromedp.WaitVisible(chromedp.CSS(`button.key-off`)))
		if f := c.text("#portal-flash"); f != "Key delivery is on for “Home”." {
			t.Errorf("after switching on the page says %q", f)
		}
		c.shot("portal-garage")

		stopID := stopOf(t, rt, book).ID
		grant, err := sqlstoretest.Garages(db).OpenGarage(ctx, da, stopID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sqlstoretest.Garages(db).CloseGarage(ctx, da, stopID, grant.ID); err != nil {
			t.Fatal(err)
		}

		c.do("read the log", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("ol#garage-log")))
		log := c.text("#garage-log")
		for _, step := range []string{"The driver asked for access", "Door opened for the delivery", "Door closed, and confirmed closed", "Key delivery switched on", "Enrolled and tested"} {
			if !strings.Contains(log, step) {
				t.Errorf("the garage log lacks %q:\n%s", step, log)
			}
		}
		if strings.Index(log, "Door closed") > strings.Index(log, "Door opened") || strings.Index(log, "Door opened") > strings.Index(log, "asked for access") {
			t.Errorf("the garage log is not newest first:\n%s", log)
		}
		c.fitsPhone("the settings with the log")
		c.shot("portal-garage-log")
		c.do("open the parcels", chromedp.Click(chromedp.CSS(`.portal-nav a[href="/portal/parcels"]`)), chromedp.WaitVisible(chromedp.ID("parcel-"+book)))
		if txt := c.text("#parcel-" + book); !strings.Contains(txt, "Delivered to garage") {
			t.Errorf("the parcel shows:\n%s", txt)
		}
		c.shot("portal-delivered-to-garage")
	})
}
