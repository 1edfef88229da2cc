package web_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/notify"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// TestBrowserRecipientDay is the recipient's done-means in Chromium at a
// phone's size: Dana opens the link of her out-for-delivery SMS and sees the
// timeline and the expected window; she signs in by email and sees today's
// code; she opts out of photos signed in by email, signs in again by phone in
// another browser, and finds the same setting.
func TestBrowserRecipientDay(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		db, seed := portalDay(t, engine)
		dana := &handoff.Address{Name: "Dana Reyes", AddressLine1: "5 Bow Common Lane", City: "London", PostalCode: "E3 4AU", CountryCode: "GB",
			PhoneNumber: "07700 900888", Email: "dana@example.com"}
		sh, _, err := db.CreateShipment(ctx, seed.Shipper.Principal.ID, &handoff.ShipmentInput{ShipTo: dana, ShipFrom: &warehouse,
			Packages: []handoff.PackageInput{{InsuredValue: &handoff.Money{Value: "250", Unit: "GBP"},
				Items: []handoff.Item{{Description: "Headphones", Quantity: 1, Category: "audio"}}}}}, "")
		if err != nil {
			t.Fatal(err)
		}
		otp := sh.Packages[0].TrackingID
		if _, err := stationsOf(db).ReceiveParcel(ctx, seed.Station.Principal, otp); err != nil {
			t.Fatal(err)
		}
		da := seed.Associates[0].Principal
		rt, err := stationsOf(db).CreateRoute(ctx, seed.Station.Principal, handoff.NewRoute{AssociateID: da.ID, ServiceDate: db.Today("GB"),
			Parcels: []handoff.RouteParcel{{TrackingID: otp}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sqlstoretest.Door(db).LoadRoute(ctx, da, rt.ID); err != nil {
			t.Fatal(err)
		}
		code := sqlstoretest.ContactCode(t, db, "+447700900888")
		srv, worker := portalServer(t, db)
		worker.PublicURL = srv.URL
		if err := worker.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		var sms string
		for _, m := range worker.Senders[notify.SMS].(*notify.DevOutbox).List() {
			if m.Kind == "out_for_delivery" && m.Channel == notify.SMS && m.To == "+447700900888" {
				sms = m.Text
			}
		}
		link := regexp.MustCompile(regexp.QuoteMeta(srv.URL) + `/track\?id=\S+`).FindString(sms)
		if link == "" {
			t.Fatalf("the out-for-delivery SMS has no tracking link: %q", sms)
		}

		c := newChrome(t, srv.URL)
		c.phone()
		c.do("open the SMS's link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("track-timeline")))
		if got := c.text("#track-expected"); !strings.Contains(got, "between") {
			t.Errorf("the expected delivery says %q", got)
		}
		if got := c.text("#track-timeline"); !strings.HasPrefix(strings.TrimSpace(got), strings.TrimSpace(c.text("#track-timeline li time"))) ||
			!strings.Contains(got, "Out for delivery") {
			t.Errorf("the timeline says %q", got)
		}
		if strings.Contains(c.eval(`document.documentElement.outerHTML`), code) {
			t.Error("the public tracking page shows the code")
		}
		c.fitsPhone("the tracking page")
		c.shot("recipient-track")

		c.portalSignIn(worker, "dana@example.com")
		if got := c.text("#code-" + otp); got != code {
			t.Errorf("signed in by email, the code box shows %q", got)
		}
		c.shot("recipient-parcels")
		c.do("opt out of photos", chromedp.Navigate(srv.URL+"/portal/settings"), chromedp.WaitVisible(chromedp.ID("optout")),
			chromedp.Click(chromedp.ID("optout")), chromedp.Click(chromedp.CSS(`#photo-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("portal-flash")))
		if got := c.eval(`String(document.getElementById("optout").checked)`); got != "true" {
			t.Errorf("after opting out by email the box is %s", got)
		}
		c.fitsPhone("the settings")
		c.shot("recipient-settings")

		byPhone := newChrome(t, srv.URL)
		byPhone.phone()
		byPhone.portalSignIn(worker, "07700 900888")
		byPhone.do("open the settings", chromedp.Navigate(srv.URL+"/portal/settings"), chromedp.WaitVisible(chromedp.ID("optout")))
		if got := byPhone.eval(`String(document.getElementById("optout").checked)`); got != "true" {
			t.Error("signed in by phone, the photo opt-out chosen by email is not there")
		}
	})
}

// TestBrowserFrench: a browser asking for French gets French pages with
// lang="fr", and a French shipper saves the threshold "12,50".
func TestBrowserFrench(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		db, seed := portalDay(t, engine)
		srv, _ := portalServer(t, db)
		c := newChrome(t, srv.URL)
		c.phone()
		sctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
		_, err := chromedp.Call(sctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": "fr-FR,fr;q=0.9"}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		c.do("open the landing page", chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("landing-choices")))
		if got := c.eval(`document.documentElement.lang`); got != "fr" {
			t.Errorf("the landing page's lang is %q", got)
		}
		if got := c.text("#landing-choices"); !strings.Contains(got, "Suivre un colis") {
			t.Errorf("the landing page offers %q", got)
		}
		c.shot("fr-landing")
		c.do("open tracking", chromedp.Navigate(srv.URL+"/track"), chromedp.WaitVisible(chromedp.ID("track-form")))
		if got := c.text("h1"); got != "Suivre un colis" {
			t.Errorf("the tracking page's heading is %q", got)
		}
		c.do("open the portal", chromedp.Navigate(srv.URL+"/portal"), chromedp.WaitVisible(chromedp.ID("request-form")))
		if got := c.text(`#request-form button`); got != "Envoyez-moi un lien de connexion" {
			t.Errorf("the portal's button says %q", got)
		}

		c.do("open the sign-in", chromedp.Navigate(srv.URL+"/signin"))
		c.signIn(seed.Shipper, "table.parcels")
		c.do("open the settings", chromedp.Navigate(srv.URL+"/settings"), chromedp.WaitVisible(chromedp.ID("threshold_FR")))
		if got := c.eval(`document.getElementById("threshold_FR").value`); got != "100,00" {
			t.Errorf("the French page shows the FR threshold as %q", got)
		}
		c.do("save 12,50", chromedp.SetValue(chromedp.ID("threshold_FR"), "12,50"),
			chromedp.Click(chromedp.CSS(`form.settings button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
		set, err := db.Settings(context.Background(), seed.Shipper.Principal.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range set.SecureDelivery.Thresholds {
			if th.Marketplace == "FR" && th.Value != "12.5" {
				t.Errorf("the FR threshold saved as %s", th.Value)
			}
		}
		if got := c.eval(`document.getElementById("threshold_FR").value`); got != "12,50" {
			t.Errorf("after saving the page shows %q", got)
		}
		c.shot("fr-settings")
	})
}
