package web_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/tracking"
)

// fingerDrag draws with one finger through the points, in CSS pixels of the
// viewport: real touch input, which the page sees as pointer events.
func fingerDrag(points [][2]float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for i, p := range points {
			typ := input.DispatchTouchEventTypeTouchMove
			if i == 0 {
				typ = input.DispatchTouchEventTypeTouchStart
			}
			if _, err := cdp.Call(ctx, t, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: typ,
				TouchPoints: []*input.TouchPoint{{X: p[0], Y: p[1]}}}); err != nil {
				return err
			}
		}
		_, err := cdp.Call(ctx, t, input.DispatchTouchEvent, input.DispatchTouchEventParams{Type: input.DispatchTouchEventTypeTouchEnd, TouchPoints: []*input.TouchPoint{}})
		return err
	})
}

// TestBrowserAdultSignature: at a phone's size, the associate opens a stop
// whose parcel needs an adult signature, has the recipient sign with a
// finger on the pad, confirms the ID document and date of birth, and
// delivers; the proof carries the drawn signature.
func TestBrowserAdultSignature(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		db, seed, _ := browserDay(t, engine)
		ctx := context.Background()
		sh, _, err := db.CreateShipment(ctx, seed.Shipper.Principal.ID, &handoff.ShipmentInput{
			ShipTo: &handoff.Address{Name: "Rosa Vine", AddressLine1: "8 Cellar Row", City: "London", PostalCode: "E2 8AA", CountryCode: "GB",
				PhoneNumber: "07700900888", Email: "rosa@example.com"},
			ShipFrom: &warehouse,
			Packages: []handoff.PackageInput{{PackageClientReferenceID: "order-wine", InsuredValue: &handoff.Money{Value: "30", Unit: "GBP"},
				Items: []handoff.Item{{Description: "wine", Quantity: 1, Category: "wine"}}}},
			DeliveryPreferences: &handoff.DeliveryPreferences{Signature: handoff.SignatureAdult},
		}, "")
		if err != nil {
			t.Fatal(err)
		}
		wine := sh.Packages[0].TrackingID
		if _, err := stationsOf(db).ReceiveParcel(ctx, seed.Station.Principal, wine); err != nil {
			t.Fatal(err)
		}
		rt := planToday(t, db, seed, wine)
		stopID := rt.Stops[0].ID
		srv := browserServer(t, db)
		c := newChrome(t, srv.URL)

		c.phone()
		c.loadVan(srv.URL, seed.Associates[0], rt)
		// The hand-over is one step with the place, the pad and the age
		// check: a parcel handed over against a signature takes no photo.
		c.do("open the stop", chromedp.Click(chromedp.ID("stop-"+stopID)), chromedp.WaitVisible(chromedp.ID("signature-pad")))
		if cur := c.eval(`document.querySelector("#steps [aria-current=step]").dataset.step`); cur != "place" {
			t.Errorf("the stop opens on step %q", cur)
		}
		if v := c.eval(`String(document.getElementById("signature-typed").hidden)`); v != "true" {
			t.Errorf("with the pad, the typed-name note shows (hidden=%s)", v)
		}
		c.fitsPhone("the stop with a signature pad")
		c.do("show the pad", chromedp.ScrollIntoView(chromedp.ID("signature-pad")))
		box := strings.Split(c.eval(`(r => [r.left, r.top, r.width, r.height].join(","))(document.getElementById("signature-pad").getBoundingClientRect())`), ",")
		var b [4]float64
		for i := range b {
			if b[i], err = strconv.ParseFloat(box[i], 64); err != nil {
				t.Fatalf("pad box %v: %v", box, err)
			}
		}
		var stroke [][2]float64
		for i := range 12 {
			x := b[0] + b[2]*(0.1+0.065*float64(i))
			y := b[1] + b[3]*(0.3+0.4*float64(i%3)/2)
			stroke = append(stroke, [2]float64{x, y})
		}
		c.do("sign with a finger", fingerDrag(stroke), until(`document.querySelector("input[name=signatureImage]").value.startsWith("data:image/png;base64,")`))
		c.do("fill in the hand-over",
			chromedp.SetValue(chromedp.ID("place"), tracking.DeliveredToCustomer),
			chromedp.SendKeys(chromedp.ID("signerName"), "ROSA VINE"),
			chromedp.SetValue(chromedp.ID("relationship"), "RECIPIENT"),
			chromedp.SetValue(chromedp.ID("idDocument"), "DRIVING_LICENCE"),
			chromedp.SetValue(chromedp.ID("dateOfBirth"), "1985-06-30"),
			markStale(),
			chromedp.Click(chromedp.CSS(`form[action$="/deliver"] button[type=submit]`)),
			freshCSS("#stop-flash"),
		)
		if p := c.text("#parcel-" + wine); !strings.Contains(p, "Delivered") {
			t.Fatalf("the wine shows %q", p)
		}
		c.shot("associate-signature-delivered")

		proofs, err := db.ShipmentProofs(ctx, seed.Shipper.Principal.ID, sh.ID)
		if err != nil || len(proofs) != 1 {
			t.Fatalf("proofs: %v %v", proofs, err)
		}
		info, err := sqlstoretest.Door(db).Store.(interface {
			StopView(context.Context, string, string) (*handoff.Stop, error)
		}).StopView(ctx, rt.ID, stopID)
		if err != nil || info.Parcels[0].DetailCode != tracking.DeliveredWithSignature {
			t.Fatalf("stop after: %+v %v", info, err)
		}
		check, err := db.DoorCheck(ctx, wine)
		if err != nil || check == nil || check.SignatureKind != handoff.SignatureDrawn || check.SignerName != "ROSA VINE" ||
			len(check.SignatureSHA256) != 64 || check.DocumentType != "DRIVING_LICENCE" || check.MinimumAge != 18 || !check.AgeVerified {
			t.Fatalf("door check %+v %v", check, err)
		}
		if at := sqlstoretest.FindText(t, db, "1985-06-30"); len(at) > 0 {
			t.Fatalf("the date of birth is stored in %v", at)
		}

		// Customer service sees the signature, and who signed, on the
		// parcel's page; the view is logged.
		c.signOut()
		c.do("open customer service", chromedp.Navigate(srv.URL+"/agent"))
		c.signIn(seed.Agent, "#trackingId")
		c.do("open the parcel", chromedp.Navigate(srv.URL+"/agent/parcels/"+wine), chromedp.WaitVisible(chromedp.ID("door-check")))
		if got := c.text("#signature-by"); !strings.Contains(got, "ROSA VINE") {
			t.Errorf("customer service reads %q", got)
		}
		if got := c.text("#age-check"); !strings.Contains(got, "at least 18") {
			t.Errorf("customer service reads the age check as %q", got)
		}
		if w := c.imageShown("#signature-image"); w == 0 {
			t.Error("customer service's signature image is broken")
		}
		c.shot("agent-signature")

		// The recipient sees it in the portal.
		psrv, worker := portalServer(t, db)
		rc := newChrome(t, psrv.URL)
		rc.phone()
		rc.portalSignIn(worker, "rosa@example.com")
		if got := rc.text("#signature-" + wine); !strings.Contains(got, "Signed by ROSA VINE") || !strings.Contains(got, "ID checked") {
			t.Errorf("the portal shows %q", got)
		}
		if w := rc.imageShown("#signature-" + wine + " img"); w == 0 {
			t.Error("the portal's signature image is broken")
		}
		rc.shot("portal-signature")
	})
}
