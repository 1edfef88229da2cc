package web_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/label"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/tracking"
)

// browserDay is a store with the fixture on a Monday morning, with the given
// parcels (by client reference) received at the station; it returns their
// tracking IDs in order.
func browserDay(t *testing.T, engine string, refs ...string) (db *sqlstore.DB, seed *fixture, ids []string) {
	t.Helper()
	ctx := context.Background()
	db = sqlstoretest.Open(t, engine)
	db.Now = func() time.Time { return monday }
	seed = newFixture(t, db)
	station := seed.Station.Principal
	for _, ref := range refs {
		for _, sh := range seed.Shipments {
			for _, p := range sh.Packages {
				if p.ClientRef == ref {
					ids = append(ids, p.TrackingID)
					if _, err := stationsOf(db).ReceiveParcel(ctx, station, p.TrackingID); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	if len(ids) != len(refs) {
		t.Fatalf("fixture parcels %v: found %v", refs, ids)
	}
	return db, seed, ids
}

// planToday plans today's route of the first associate.
func planToday(t *testing.T, db *sqlstore.DB, seed *fixture, ids ...string) *handoff.Route {
	t.Helper()
	var parcels []handoff.RouteParcel
	for _, id := range ids {
		parcels = append(parcels, handoff.RouteParcel{TrackingID: id})
	}
	rt, err := stationsOf(db).CreateRoute(context.Background(), seed.Station.Principal, handoff.NewRoute{AssociateID: seed.Associates[0].Principal.ID,
		ServiceDate: db.Today("GB"), Parcels: parcels})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// signOut presses the header's sign-out button and waits for the sign-in
// form.
func (c *chrome) signOut() {
	c.t.Helper()
	c.do("sign out", chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)), chromedp.WaitVisible(chromedp.ID("account")))
}

// markStale marks the page the browser is on, so that a step can wait for
// an element of the next page (freshCSS) even when this one has it too.
func markStale() chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`void (document.body.dataset.stale = "1")`)
}

// freshCSS selects sel on a page that markStale has not marked. A wait on it
// survives the navigation in between, as a query is retried until it holds.
func freshCSS(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(`body:not([data-stale]) ` + sel))
}

// until is a step that waits, at most stepTimeout, for a JavaScript
// condition on the current page.
func until(cond string) chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(stepTimeout))
}

// imageShown waits until the first image matching sel has loaded and
// returns its natural width: 0 would be a broken image.
func (c *chrome) imageShown(sel string) int {
	c.t.Helper()
	c.do("load "+sel, until(`(i => i !== null && i.complete)(document.querySelector(`+strconv.Quote(sel)+`))`))
	w, err := strconv.Atoi(c.eval(`String(document.querySelector(` + strconv.Quote(sel) + `).naturalWidth)`))
	if err != nil {
		c.t.Fatal(err)
	}
	return w
}

// TestBrowserBagScan drives the bag scan at a phone's size: the associate
// opens a stop with a bagged passcode parcel, types another bag's ID (the
// page says plainly not to deliver), then the right one, then the passcode,
// and the parcel is delivered. The page never holds the expected bag ID.
// The station then opens the batch's label sheets, which render.
func TestBrowserBagScan(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		db, seed, ids := browserDay(t, engine, "order-1001-phone")
		phone := ids[0]
		batch, err := stationsOf(db).IssueBatch(ctx, seed.Station.Principal, "", 30)
		if err != nil {
			t.Fatal(err)
		}
		right, wrong := batch.Bags[0], batch.Bags[1]
		if _, err := stationsOf(db).SealParcel(ctx, seed.Station.Principal, phone, right.ID); err != nil {
			t.Fatal(err)
		}
		rt := planToday(t, db, seed, phone)
		stopID := rt.Stops[0].ID
		code := sqlstoretest.ContactCode(t, db, priyaMobile)
		srv := browserServer(t, db)
		c := newChrome(t, srv.URL)
		// secretsHidden fails the test when the page shows the expected bag ID
		// or the passcode.
		secretsHidden := func(page string) {
			t.Helper()
			html := strings.ToUpper(c.eval(`document.documentElement.outerHTML`))
			for _, s := range []string{right.ID, right.Printed, code} {
				if strings.Contains(html, s) {
					t.Fatalf("%s shows %s", page, s)
				}
			}
		}

		c.phone()
		c.loadVan(srv.URL, seed.Associates[0], rt)
		c.do("open the stop", chromedp.Click(chromedp.ID("stop-"+stopID)), chromedp.WaitVisible(chromedp.ID("bagId")))
		if p := c.text("#parcel-" + phone); !strings.Contains(p, "Scan the bag") {
			t.Errorf("the parcel says %q, want Scan the bag", p)
		}
		// The camera button is there wherever the browser has a camera API:
		// without BarcodeDetector the page reads with its own decoder.
		if got := c.eval(`String(document.querySelector("[data-scan-start]").hidden === !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia))`); got != "true" {
			t.Error("the camera button does not follow the browser's camera support")
		}
		c.fitsPhone("the stop with a bag to scan")
		secretsHidden("the stop page")
		c.shot("associate-scan")

		c.do("type another bag",
			chromedp.SendKeys(chromedp.ID("bagId"), wrong.Printed),
			markStale(),
			chromedp.Click(chromedp.CSS(`form[action$="/scan"] button[type="submit"]`)),
			freshCSS("#bagId-error"),
		)
		if a := c.text("#bagId-error"); a != "This bag does not belong to this parcel. Do not deliver; it has been reported." {
			t.Errorf("after another bag the page says %q", a)
		}
		if v := c.eval(`document.getElementById("bagId").value`); v != "" {
			t.Errorf("the field kept %q for the next scan", v)
		}
		secretsHidden("the mismatch")
		c.fitsPhone("the mismatch")
		c.shot("associate-scan-mismatch")

		c.do("type the right bag",
			chromedp.SendKeys(chromedp.ID("bagId"), strings.ToLower(right.Printed)),
			markStale(),
			chromedp.Click(chromedp.CSS(`form[action$="/scan"] button[type="submit"]`)),
			freshCSS("#stop-flash"),
		)
		if f := c.text("#stop-flash"); !strings.Contains(f, "Bag scanned") {
			t.Errorf("after the right bag the flash says %q", f)
		}
		if p := c.text("#parcel-" + phone); !strings.Contains(p, "Bag scanned ✓") {
			t.Errorf("the parcel says %q", p)
		}
		c.do("enter the code",
			chromedp.SendKeys(chromedp.ID("code"), code),
			markStale(),
			chromedp.Click(chromedp.CSS(`form[action$="/verify"] button`)),
			freshCSS("#stop-flash"),
		)
		if f := c.text("#stop-flash"); !strings.Contains(f, "Code correct") {
			t.Errorf("after the code the flash says %q", f)
		}
		if p := c.text("#parcel-" + phone); !strings.Contains(p, "Delivered with OTP") {
			t.Errorf("the parcel shows %q, want Delivered with OTP", p)
		}
		secretsHidden("the delivered stop")
		c.shot("associate-scan-delivered")

		// The station prints the batch's labels.
		c.signOut()
		c.do("open the batch", chromedp.Navigate(srv.URL+"/station/bags/batches/"+batch.ID))
		c.signIn(seed.Station, "#sheets")
		if w := c.imageShown("img.sheet"); w != label.PageW {
			t.Errorf("the first label sheet is %d pixels wide, want %d", w, label.PageW)
		}
		if n := c.eval(`String(document.querySelectorAll("img.sheet").length)`); n != "2" {
			t.Errorf("%s sheets shown, want 2", n)
		}
		c.fitsPhone("the batch page")
		c.shot("station-labels")
		c.do("open sheet 2", chromedp.Navigate(srv.URL+"/station/bags/batches/"+batch.ID+"/labels.png?page=2"))
		if w := c.imageShown("img"); w != label.PageW {
			t.Errorf("sheet 2 opened alone is %d pixels wide", w)
		}
	})
}

// TestBrowserPhotoSeenByCustomerService has the associate leave a parcel at
// the porch with a photo chosen in the form, at a phone's size; customer
// service then finds the parcel, opens its photo, and finds the view in the
// photo's view log.
func TestBrowserPhotoSeenByCustomerService(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		db, seed, ids := browserDay(t, engine, "order-1002-book")
		book := ids[0]
		rt := planToday(t, db, seed, book)
		stopID := rt.Stops[0].ID
		shot := photoPath(t)
		srv := browserServer(t, db)
		c := newChrome(t, srv.URL)

		c.phone()
		c.loadVan(srv.URL, seed.Associates[0], rt)
		c.do("open the stop", chromedp.Click(chromedp.ID("stop-"+stopID)), chromedp.WaitVisible(chromedp.ID("place")))
		c.do("choose the porch",
			chromedp.SetValue(chromedp.ID("place"), tracking.DeliveredToPorch),
			markStale(),
			chromedp.Click(chromedp.CSS(`#deliver button[type=submit]`)),
			freshCSS("#photo"),
		)
		c.do("deliver with a photo",
			chromedp.SetUploadFiles(chromedp.ID("photo"), []string{shot}),
			// As the associate does, see the photo before sending it: the
			// preview moves the button down when it appears, and a click
			// aimed before that lands beside it.
			chromedp.WaitVisible(chromedp.ID("photo-preview")),
			markStale(),
			chromedp.Click(chromedp.CSS(`form[action$="/deliver"] button`)),
			freshCSS("#stop-flash"),
		)
		if p := c.text("#parcel-" + book); !strings.Contains(p, "Delivered to porch") {
			t.Fatalf("the book shows %q", p)
		}
		c.shot("associate-photo-delivered")

		c.signOut()
		c.do("open customer service", chromedp.Navigate(srv.URL+"/agent"))
		c.signIn(seed.Agent, "#trackingId")
		c.do("find the parcel",
			chromedp.SendKeys(chromedp.ID("trackingId"), strings.ToLower(book)),
			chromedp.Click(chromedp.CSS(`form[action="/agent/parcels"] button`)),
			chromedp.WaitVisible(chromedp.ID("photo")),
		)
		if got := c.location(); got != "/agent/parcels/"+book {
			t.Errorf("the lookup went to %q", got)
		}
		if w := c.imageShown("#photo img.thumb"); w == 0 {
			t.Fatal("the thumbnail does not render")
		}
		// The thumbnail just shown is this agent's view: the page does not
		// claim nobody has seen the photo, it says its own load is logged.
		if v := c.text("#photo-views"); !strings.Contains(v, "Nobody had viewed an image of this parcel before this page") {
			t.Errorf("before any earlier view the log says %q", v)
		}
		if v := c.text("#views-own"); !strings.Contains(v, "yours are logged with your name as they load") {
			t.Errorf("the page does not say its own images are logged views: %q", v)
		}
		if h := c.text("main"); !strings.Contains(h, "by Alex Driver (delivery associate)") || !strings.Contains(h, "Delivered to porch, with a photo") {
			t.Errorf("the parcel's history lacks the delivery:\n%s", h)
		}
		c.fitsPhone("the parcel page")
		c.shot("cs-parcel-photo")

		c.do("open the photo", markStale(), chromedp.Click(chromedp.ID("photo-full")), freshCSS("img"))
		if w := c.imageShown("img"); w == 0 {
			t.Fatal("the full photo does not render")
		}
		c.do("open the parcel again", chromedp.Navigate(srv.URL+"/agent/parcels/"+book), chromedp.WaitVisible(chromedp.ID("photo")))
		log := c.text("#photo-views")
		if !strings.Contains(log, "Casey Support") || !strings.Contains(log, "customer service") {
			t.Errorf("the view log does not show the agent's views:\n%s", log)
		}
		if n := c.eval(`String(document.querySelectorAll("#photo-views tbody tr").length)`); n != "2" {
			t.Errorf("the view log lists %s views, want the thumbnail and the full photo", n)
		}
		c.shot("cs-photo-log")
	})
}
