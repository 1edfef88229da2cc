package web_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/label"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/tracking"
)

// barcodePNG returns a bag's Code 128 barcode as a label carries it
// (package label draws it with boombuler/barcode), on white with a quiet
// zone around it, as a PNG.
func barcodePNG(t *testing.T, text string) []byte {
	t.Helper()
	bc, err := label.Barcode(text)
	if err != nil {
		t.Fatal(err)
	}
	b := bc.Bounds()
	img := image.NewRGBA(image.Rect(0, 0, b.Dx()+160, b.Dy()+120))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.White}, image.Point{}, draw.Src)
	draw.Draw(img, b.Add(image.Pt(80, 60)), bc, b.Min, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// loadVan signs the associate in on the app and loads the route's van.
func (c *chrome) loadVan(base string, a account, rt *handoff.Route) {
	c.t.Helper()
	c.do("open the app", chromedp.Navigate(base+"/associate"))
	c.signIn(a, `form[action="/associate/routes/`+rt.ID+`/load"] button`)
	c.do("load the van", chromedp.Click(chromedp.CSS(`form[action$="/load"] button`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
}

// shipToDana creates a label of one parcel of an item to Dana Reyes, a
// recipient of the fixture's shipper with a mobile and an email, and returns
// the parcel.
func shipToDana(t *testing.T, db *sqlstore.DB, seed *fixture, value, item, category string) handoff.Package {
	t.Helper()
	sh, _, err := db.CreateShipment(context.Background(), seed.Shipper.Principal.ID, &handoff.ShipmentInput{
		ShipTo: &handoff.Address{Name: "Dana Reyes", AddressLine1: "5 Bow Common Lane", City: "London", PostalCode: "E3 4AU", CountryCode: "GB",
			PhoneNumber: "07700 900888", Email: "dana@example.com"},
		ShipFrom: &warehouse,
		Packages: []handoff.PackageInput{{InsuredValue: &handoff.Money{Value: handoff.Decimal(value), Unit: "GBP"},
			Items: []handoff.Item{{Description: item, Quantity: 1, Category: category}}}},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	return sh.Packages[0]
}

// jsText returns the visible text of the first element matching a CSS
// selector, read by a script in the page: unlike a DOM query by node, it
// cannot meet the node IDs of a page that was just replaced.
func (c *chrome) jsText(sel string) string {
	c.t.Helper()
	return c.eval(`(e => e ? e.innerText.trim() : "(no ` + strings.ReplaceAll(sel, "`", "") + `)")(document.querySelector(` + strconv.Quote(sel) + `))`)
}

// photoPath returns the path of a phone's photo (EXIF-rotated, with a
// position) that a file field can be given.
func photoPath(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "photo", "testdata", "gps-orientation6.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeCamera is a script that takes away the browser's BarcodeDetector, so
// the page must read with its vendored ZXing, and replaces the camera with
// a canvas painting the barcode PNG, as a phone's camera would film the bag.
// It notes in sessionStorage, which outlives the page, that ZXing was
// loaded and that the camera was asked for.
func fakeCamera(pngBytes []byte) string {
	return `(() => {
  delete window.BarcodeDetector;
  delete Object.getPrototypeOf(window).BarcodeDetector;
  const bytes = Uint8Array.from(atob("` + base64.StdEncoding.EncodeToString(pngBytes) + `"), c => c.charCodeAt(0));
  new MutationObserver(() => {
    if (document.querySelector('script[src*="zxing/zxing-library.min.js"]')) sessionStorage.setItem("zxing", "loaded");
  }).observe(document.head, {childList: true});
  navigator.mediaDevices.getUserMedia = async () => {
    sessionStorage.setItem("camera", "asked");
    const img = await createImageBitmap(new Blob([bytes], {type: "image/png"}));
    const canvas = document.createElement("canvas");
    canvas.width = img.width; canvas.height = img.height;
    const ctx = canvas.getContext("2d");
    const paint = () => { ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height); ctx.drawImage(img, 0, 0); };
    paint();
    setInterval(paint, 50);
    return canvas.captureStream(20);
  };
  return "BarcodeDetector" in window ? "still there" : "gone";
})()`
}

// TestBrowserAssociateSteps drives a day's stops at a phone's size, one step
// at a time. Stop 1 has a bagged passcode parcel: the bag is read by the
// camera through the fallback decoder (no BarcodeDetector; a camera filming
// a Code 128 barcode generated here), then the code, then "next stop" shows
// the day's progress and leads to stop 2, where the parcel is left at the
// porch with a photo previewed before it is sent. At stop 3 the recipient
// refuses a tampered bag: the refusal is asked first, and nothing is
// recorded until it is confirmed.
func TestBrowserAssociateSteps(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		db, seed, ids := browserDay(t, engine, "order-1001-phone", "order-1002-book")
		phone, book := ids[0], ids[1]
		parcel := shipToDana(t, db, seed, "899", "Phone", "smartphone")
		dana := parcel.TrackingID
		if !parcel.Decision.BagRequired {
			t.Fatalf("Dana's phone should need a bag: %+v", parcel.Decision)
		}
		station := seed.Station.Principal
		if _, err := stationsOf(db).ReceiveParcel(ctx, station, dana); err != nil {
			t.Fatal(err)
		}
		batch, err := stationsOf(db).IssueBatch(ctx, station, "", 30)
		if err != nil {
			t.Fatal(err)
		}
		bag, danaBag := batch.Bags[0], batch.Bags[1]
		for p, b := range map[string]string{phone: bag.ID, dana: danaBag.ID} {
			if _, err := stationsOf(db).SealParcel(ctx, station, p, b); err != nil {
				t.Fatal(err)
			}
		}
		// Routes are planned in postcode order; the station puts these
		// three in the order the test walks them.
		rt := inOrder(t, db, seed, planToday(t, db, seed, phone, book, dana), phone, book, dana)
		stop1, stop2, stop3 := stopOf(t, rt, phone), stopOf(t, rt, book), stopOf(t, rt, dana)
		if stop1.Position != 1 || stop2.Position != 2 || stop3.Position != 3 {
			t.Fatalf("stops in another order: %d %d %d", stop1.Position, stop2.Position, stop3.Position)
		}
		code := sqlstoretest.ContactCode(t, db, priyaMobile)
		shot := photoPath(t)
		srv := browserServer(t, db)
		c := newChrome(t, srv.URL)

		c.phone()
		c.loadVan(srv.URL, seed.Associates[0], rt)
		if p := c.jsText("#route-" + rt.ID + " .muted"); !strings.Contains(p, "0 of 3 stops done today") {
			t.Errorf("the itinerary's progress says %q", p)
		}

		// Stop 1: the bag step only; the code is not offered yet.
		c.do("open stop 1", chromedp.Click(chromedp.ID("stop-"+stop1.ID)), chromedp.WaitVisible(chromedp.CSS("[data-scan-start]")))
		if cur := c.eval(`document.querySelector("#steps [aria-current=step]").dataset.step`); cur != "bag" {
			t.Errorf("stop 1 opens on step %q, want bag", cur)
		}
		if n := c.eval(`String(document.querySelectorAll("#code, #place").length)`); n != "0" {
			t.Error("the bag step shows another step's form")
		}
		c.fitsPhone("the bag step")
		c.shot("assoc-bag")

		if got := c.eval(fakeCamera(barcodePNG(t, bag.ID))); got != "gone" {
			t.Fatalf("BarcodeDetector is %s", got)
		}
		c.do("scan the bag with the camera",
			markStale(),
			chromedp.Click(chromedp.CSS("[data-scan-start]")),
			freshCSS("#stop-flash"),
		)
		if f := c.jsText("#stop-flash"); !strings.Contains(f, "Bag scanned") {
			t.Fatalf("after the camera scan the flash says %q", f)
		}
		if got := c.eval(`[sessionStorage.getItem("camera"), sessionStorage.getItem("zxing")].join(" ")`); got != "asked loaded" {
			t.Errorf("the scan did not go through the camera and ZXing: %q", got)
		}
		if cur := c.eval(`document.querySelector("#steps [aria-current=step]").dataset.step`); cur != "code" {
			t.Errorf("after the bag the current step is %q, want code", cur)
		}
		if done := c.eval(`String(document.querySelector("#steps [data-step=bag]").classList.contains("done"))`); done != "true" {
			t.Error("the bag step is not marked done")
		}
		c.fitsPhone("the code step")
		c.shot("assoc-code")

		c.do("enter the code",
			chromedp.SendKeys(chromedp.ID("code"), code),
			markStale(),
			chromedp.Click(chromedp.CSS(`form[action$="/verify"] button`)),
			freshCSS("#next-stop"),
		)
		if p := c.jsText("#day-progress"); p != "1 of 3 stops done today" {
			t.Errorf("the day's progress says %q", p)
		}
		if n := c.jsText("#next-stop"); !strings.Contains(n, "Next stop") || !strings.Contains(n, "Tom Baker") {
			t.Errorf("the next-stop button says %q", n)
		}
		if p := c.jsText("#parcel-" + phone); !strings.Contains(p, "Delivered with OTP") {
			t.Errorf("the phone shows %q", p)
		}
		if h := c.eval(`String(document.getElementById("next-stop").getBoundingClientRect().height >= 64)`); h != "true" {
			t.Error("the next-stop button is smaller than a thumb")
		}
		c.fitsPhone("the finished stop")
		c.shot("assoc-done")

		// Stop 2: place, then photo, previewed before it is sent.
		c.do("go to the next stop", markStale(), chromedp.Click(chromedp.ID("next-stop")), freshCSS("#place"))
		if got := c.location(); got != "/associate/stops/"+stop2.ID {
			t.Errorf("next stop went to %q", got)
		}
		c.do("choose the porch",
			chromedp.SetValue(chromedp.ID("place"), tracking.DeliveredToPorch),
			markStale(),
			chromedp.Click(chromedp.CSS(`#deliver button[type=submit]`)),
			freshCSS("#photo"),
		)
		if p := c.jsText("#chosen-place"); p != "the porch" {
			t.Errorf("the photo step says the place is %q", p)
		}
		if got := c.eval(`document.getElementById("photo").accept + " " + document.getElementById("photo").getAttribute("capture")`); got != "image/* environment" {
			t.Errorf("the photo field takes %q", got)
		}
		// Sent without a photo, the refusal comes back at the field and
		// the step keeps the place chosen (the page is not reloaded).
		photoStep := c.location()
		c.do("send without a photo",
			chromedp.WaitReady(chromedp.CSS(`form[data-upload][data-ready]`)),
			chromedp.Click(chromedp.CSS(`form[action$="/deliver"] button[type=submit]`)),
			chromedp.WaitVisible(chromedp.ID("photo-error")),
		)
		if e := c.jsText("#photo-error"); !strings.Contains(e, "needs a photo") {
			t.Errorf("without a photo the field says %q", e)
		}
		if got := c.location(); got != photoStep || c.jsText("#chosen-place") != "the porch" {
			t.Errorf("after the refusal the page is %q, place %q", got, c.jsText("#chosen-place"))
		}
		c.do("take the photo",
			chromedp.SetUploadFiles(chromedp.ID("photo"), []string{shot}),
			chromedp.WaitVisible(chromedp.ID("photo-preview")),
		)
		if n := c.eval(`String(document.querySelectorAll("#photo-error, #photo[aria-invalid]").length)`); n != "0" {
			t.Error("the refusal of no photo still shows once a photo is chosen")
		}
		c.fitsPhone("the photo step")
		c.shot("assoc-photo")
		// The upload shows its progress: note when the bar appears.
		c.eval(`(b => { new MutationObserver(() => { if (!b.hidden) sessionStorage.setItem("progress", "shown"); }).observe(b, {attributes: true}); return ""; })(document.querySelector("[data-upload-progress]"))`)
		c.do("send it", markStale(), chromedp.Click(chromedp.CSS(`form[action$="/deliver"] button[type=submit]`)), freshCSS("#next-stop"))
		if p := c.jsText("#parcel-" + book); !strings.Contains(p, "Delivered to porch") {
			t.Errorf("the book shows %q", p)
		}
		if got := c.eval(`String(sessionStorage.getItem("progress"))`); got != "shown" {
			t.Error("the upload showed no progress")
		}
		if p := c.jsText("#day-progress"); p != "2 of 3 stops done today" {
			t.Errorf("the day's progress says %q", p)
		}

		// Stop 3: a refusal is asked before it is recorded.
		c.do("go to stop 3", markStale(), chromedp.Click(chromedp.ID("next-stop")), freshCSS("#problems"))
		c.do("open the problems", chromedp.Click(chromedp.CSS("#problems summary")), chromedp.WaitVisible(chromedp.CSS(`#refuse button`)))
		c.do("refuse", markStale(), chromedp.Click(chromedp.CSS(`#refuse button`)), freshCSS("#confirm-yes"))
		if q := c.jsText("#confirm"); !strings.Contains(q, "Record the refusal?") || !strings.Contains(q, dana) {
			t.Errorf("the question says %q", q)
		}
		recorded := func() bool {
			st, err := sqlstoretest.Door(db).FindStop(ctx, seed.Associates[0].Principal, stop3.ID)
			if err != nil {
				t.Fatal(err)
			}
			cs, _ := db.ListCases(ctx, seed.Agent.Principal, "")
			return st.Parcels[0].Outcome != "" || len(cs) != 0
		}
		if recorded() {
			t.Fatal("the refusal was recorded before it was confirmed")
		}
		c.fitsPhone("the refusal question")
		c.shot("assoc-confirm")
		c.do("go back", markStale(), chromedp.Click(chromedp.ID("confirm-no")), freshCSS("#problems"))
		if recorded() {
			t.Fatal("going back recorded the refusal")
		}
		c.do("open the problems again", chromedp.Click(chromedp.CSS("#problems summary")), chromedp.WaitVisible(chromedp.CSS(`#refuse button`)))
		c.do("refuse and confirm",
			markStale(), chromedp.Click(chromedp.CSS(`#refuse button`)), freshCSS("#confirm-yes"),
			markStale(), chromedp.Click(chromedp.ID("confirm-yes")), freshCSS("#stop-flash"),
		)
		if !recorded() {
			t.Fatal("the confirmed refusal is not recorded")
		}
		if p := c.jsText("#parcel-" + dana); !strings.Contains(p, "Refused by recipient") {
			t.Errorf("Dana's parcel shows %q", p)
		}
		if p := c.jsText("#day-progress"); p != "3 of 3 stops done today" {
			t.Errorf("the day's progress says %q", p)
		}
		if n := c.jsText("#next-stop"); !strings.Contains(n, "Back to today's deliveries") {
			t.Errorf("the last stop offers %q", n)
		}

		// The same steps in French.
		c.do("choose French", chromedp.Navigate(srv.URL+"/lang?lang=fr&next=/associate/stops/"+stop1.ID), chromedp.WaitVisible(chromedp.ID("next-stop")))
		if h := c.jsText("#done-h") + " " + c.jsText("#day-progress"); h != "Arrêt terminé 3 arrêts faits sur 3 aujourd'hui" {
			t.Errorf("in French the finished stop says %q", h)
		}
		c.shot("assoc-done-fr")
	})
}

// inOrder moves the stops of the parcels ids to the route's first
// positions, in that order, as the station does with its Earlier buttons.
func inOrder(t *testing.T, db *sqlstore.DB, seed *fixture, rt *handoff.Route, ids ...string) *handoff.Route {
	t.Helper()
	for i, id := range ids {
		for stopOf(t, rt, id).Position > i+1 {
			var err error
			if rt, err = stationsOf(db).ReorderStop(context.Background(), seed.Station.Principal, rt.ID, stopOf(t, rt, id).ID, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	return rt
}
