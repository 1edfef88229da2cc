package web_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/api"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/web"
)

// chromium is where Debian (and CI) installs the browser.
const chromium = "/usr/bin/chromium"

// stepTimeout bounds each wait on the browser, so a page that never comes
// fails the test instead of hanging it.
const stepTimeout = 60 * time.Second

// needChromium skips a browser test when Chromium is not installed, or fails
// it when HANDOFF_REQUIRE_BROWSER=1 (as CI sets) says it must run.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("HANDOFF_REQUIRE_BROWSER") == "1" {
			t.Fatalf("HANDOFF_REQUIRE_BROWSER=1 but %s is missing: %v", chromium, err)
		}
		t.Skipf("%s not installed; set HANDOFF_REQUIRE_BROWSER=1 to make this a failure", chromium)
	}
}

// browserServer serves the pages and the API of db on a plain
// http://127.0.0.1 server, closed when the test ends.
func browserServer(t *testing.T, db *sqlstore.DB) *httptest.Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(&syncBuffer{}, nil))
	mux := http.NewServeMux()
	(&api.Server{Principals: db, Settings: db, Shipments: db, Stations: stationsOf(db), Doors: sqlstoretest.Door(db), Today: db.Today, Log: log}).Register(mux)
	(&web.Server{Principals: db, Sessions: db, Contacts: db, Settings: db, Shipments: db, Stations: stationsOf(db), Doors: sqlstoretest.Door(db), Today: db.Today,
		Recipients: db, Photos: sqlstoretest.Photos(db), Garages: sqlstoretest.Garages(db), Bags: stationsOf(db), Cases: db, Now: func() time.Time { return db.Now() }, Keys: sqlstoretest.Keys(t), Log: log}).Register(mux)
	srv := httptest.NewServer(mux) // plain HTTP on 127.0.0.1
	t.Cleanup(srv.Close)
	return srv
}

// chrome is a headless Chromium driven by one test. Each method bounds its
// wait by stepTimeout and fails the test on error.
type chrome struct {
	t    *testing.T
	ctx  context.Context // the browser's own context: it lives until the test ends
	base string          // the server's URL, stripped from locations
}

// newChrome starts Chromium for the test, stopped when the test ends.
func newChrome(t *testing.T, base string) *chrome {
	t.Helper()
	// The whole browser lives under one deadline, so that even its start is
	// bounded; each step has its own shorter one.
	root, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.NoFirstRun,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("no-pings", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(root, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	// The first run starts the browser and ties it to its context: bctx,
	// not a step's, or the browser would end with the first step.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return &chrome{t: t, ctx: bctx, base: base}
}

// do runs steps, failing the test with what was being done.
func (c *chrome) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	sctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

// text returns the visible text of the first element matching a CSS
// selector.
func (c *chrome) text(sel string) string {
	c.t.Helper()
	sctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		c.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// eval returns the value of a JavaScript expression that yields a string.
func (c *chrome) eval(expr string) string {
	c.t.Helper()
	sctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Evaluate[string](expr))
	if err != nil {
		c.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// location returns the current page's path and query.
func (c *chrome) location() string {
	c.t.Helper()
	sctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	u, err := chromedp.Run(sctx, chromedp.Location())
	if err != nil {
		c.t.Fatal(err)
	}
	return strings.TrimPrefix(u, c.base)
}

// shot keeps a PNG of the page in $HANDOFF_SCREENSHOTS, when that is set.
func (c *chrome) shot(name string) {
	c.t.Helper()
	dir := os.Getenv("HANDOFF_SCREENSHOTS")
	if dir == "" {
		return
	}
	sctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// phone makes the page a phone's: 390×844 CSS pixels at 3× density.
func (c *chrome) phone() {
	c.t.Helper()
	c.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(3)))
}

// fitsPhone fails the test when the page is wider than the phone's screen.
// A mobile browser widens its layout viewport to fit wide content, so the
// width to hold is the screen's.
func (c *chrome) fitsPhone(page string) {
	c.t.Helper()
	if w := c.eval(`document.documentElement.scrollWidth + "/" + screen.width`); w != "390/390" {
		c.t.Errorf("%s is wider than the phone (page/screen width %s)", page, w)
	}
}

// signIn fills in the sign-in form the browser is on and waits for sel on
// the page it leads to.
func (c *chrome) signIn(a account, sel string) {
	c.t.Helper()
	c.do("sign in as "+a.Principal.ID,
		chromedp.WaitVisible(chromedp.ID("account")),
		chromedp.SendKeys(chromedp.ID("account"), a.Principal.ID),
		chromedp.SendKeys(chromedp.ID("password"), a.Credentials.Password),
		chromedp.Click(chromedp.CSS(`form[action="/signin"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(sel)),
	)
}

// TestBrowser drives real Chromium through the shipper's pages on a plain
// http://127.0.0.1 server: sign in through the form, read the parcel list
// (also at phone size), open a shipment, and change a setting. Set
// HANDOFF_SCREENSHOTS to a directory to keep a PNG of each page.
func TestBrowser(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		db := sqlstoretest.Open(t, engine)
		seed := newFixture(t, db)
		srv := browserServer(t, db)
		c := newChrome(t, srv.URL)

		// A signed-out visit to the parcels goes through the sign-in form and
		// comes back.
		c.do("open parcels", chromedp.Navigate(srv.URL+"/shipments"), chromedp.WaitVisible(chromedp.ID("account")))
		if got := c.location(); got != "/signin?next=%2Fshipments" {
			t.Fatalf("signed out, /shipments went to %q", got)
		}
		c.shot("signin")
		c.signIn(seed.Shipper, "table.parcels")
		if got := c.location(); got != "/shipments" {
			t.Fatalf("after signing in the browser is at %q", got)
		}

		// Chromium treats loopback as a secure context: it must have kept the
		// Secure, __Host- session cookie that came over plain http.
		sctx, cancelStep := context.WithTimeout(c.ctx, stepTimeout)
		cookies, err := chromedp.Call(sctx, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.URL + "/"}})
		cancelStep()
		if err != nil {
			t.Fatal(err)
		}
		var session *network.Cookie
		for _, ck := range cookies.Cookies {
			if ck.Name == sessionCookie {
				session = ck
			}
		}
		if session == nil {
			t.Fatalf("Chromium did not keep the session cookie on %s", srv.URL)
		}
		if !session.Secure || !session.HTTPOnly || session.SameSite != network.CookieSameSiteLax {
			t.Errorf("session cookie in Chromium: secure %v, httpOnly %v, sameSite %q", session.Secure, session.HTTPOnly, session.SameSite)
		}

		list := c.text("table.parcels")
		for _, ref := range []string{"order-1001-phone", "order-1002-book", "order-1003-laptop", "order-1004-cod", "order-1005-watch"} {
			if !strings.Contains(list, ref) {
				t.Errorf("parcel list lacks %s", ref)
			}
		}
		phone := seed.Shipments[0].Packages[0].TrackingID
		if row := c.text("#parcel-" + phone); !strings.Contains(row, "OTP required") {
			t.Errorf("row of order-1001-phone shows no OTP badge: %q", row)
		}
		// The stylesheet loaded under the CSP: the header has its colour.
		if bg := c.eval(`getComputedStyle(document.querySelector("header.top")).backgroundColor`); bg != "rgb(31, 78, 121)" {
			t.Errorf("header background %q: the stylesheet did not apply", bg)
		}
		c.shot("parcels-desktop")

		// On a phone the table turns into cards and nothing scrolls sideways.
		c.phone()
		c.do("reload at phone size", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table.parcels")))
		if d := c.eval(`getComputedStyle(document.querySelector("table.parcels tr")).display`); d != "block" {
			t.Errorf("on a phone the parcel rows display as %q, want the card layout (block)", d)
		}
		c.fitsPhone("the parcel list")
		c.shot("parcels-phone")

		// The shipment page shows the decision and the timeline.
		c.do("open shipment", chromedp.Click(chromedp.CSS(`#parcel-`+phone+` a`)), chromedp.WaitVisible(chromedp.CSS(".timeline")))
		if got := c.location(); got != "/shipments/"+seed.Shipments[0].ID+"#"+phone {
			t.Errorf("the parcel link went to %q", got)
		}
		detail := c.text("#" + phone)
		for _, w := range []string{"OTP required", "above your OTP threshold", "Bag required", "Label created", "London E16 1AA, GB"} {
			if !strings.Contains(detail, w) {
				t.Errorf("shipment page lacks %q:\n%s", w, detail)
			}
		}
		c.shot("shipment-phone")

		// Switching SMS notifications off through the form persists; the phone
		// size stays, as a shipper may well do this on the go.
		c.do("open settings", chromedp.Click(chromedp.CSS(`nav a[href="/settings"]`)), chromedp.WaitVisible(chromedp.ID("sms")))
		if checked := c.eval(`String(document.getElementById("sms").checked)`); checked != "true" {
			t.Fatalf("SMS starts %s, want on", checked)
		}
		c.do("save settings",
			chromedp.Click(chromedp.ID("sms")),
			chromedp.Click(chromedp.CSS(`form.settings button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS(".flash")),
		)
		if got := c.text(".flash"); got != "Saved." {
			t.Errorf("flash %q", got)
		}
		if checked := c.eval(`String(document.getElementById("sms").checked)`); checked != "false" {
			t.Errorf("after saving, the form shows SMS %s", checked)
		}
		c.shot("settings")
		set, err := db.Settings(ctx, seed.Shipper.Principal.ID)
		if err != nil {
			t.Fatal(err)
		}
		if set.Notifications.SMS {
			t.Error("SMS notifications are still on in the store")
		}
		if !set.Notifications.Email || !set.SecureDelivery.OTPEnabled {
			t.Errorf("saving changed other settings: %+v", set)
		}

		// Signing out through the header's form ends the session.
		c.do("sign out", chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)), chromedp.WaitVisible(chromedp.ID("account")))
		if got := c.location(); got != "/signin?signedout=1" {
			t.Errorf("after signing out the browser is at %q", got)
		}
	})
}

// TestBrowserAssociate drives the associate's app in Chromium at a phone's
// size: sign in, open the itinerary, load the van, open the stop, enter a
// wrong passcode and then the right one. The code never shows in a page or
// an address. Before, the station's route page flags the stop planned
// before contact hours; after, with the stop delivered, it no longer does.
func TestBrowserAssociate(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		db := sqlstoretest.Open(t, engine)
		db.Now = func() time.Time { return monday }
		seed := newFixture(t, db) // a shipper with OTP on, a station, two associates
		// Headphones need no tamper-evident bag, so the passcode alone
		// delivers them.
		parcel := shipToDana(t, db, seed, "250", "Headphones", "audio")
		if !parcel.Decision.OTPRequired || parcel.Decision.BagRequired {
			t.Fatalf("the parcel should need a passcode and no bag: %+v", parcel.Decision)
		}
		station, da := seed.Station.Principal, seed.Associates[0]
		if _, err := stationsOf(db).ReceiveParcel(ctx, station, parcel.TrackingID); err != nil {
			t.Fatal(err)
		}
		today := db.Today("GB")
		rt, err := stationsOf(db).CreateRoute(ctx, station, handoff.NewRoute{AssociateID: da.Principal.ID, ServiceDate: today,
			Parcels: []handoff.RouteParcel{{TrackingID: parcel.TrackingID, PlannedTime: "07:30"}}})
		if err != nil {
			t.Fatal(err)
		}
		stopID := rt.Stops[0].ID
		code := sqlstoretest.ContactCode(t, db, "+447700900888")
		srv := browserServer(t, db)
		c := newChrome(t, srv.URL)
		// noCode fails the test when the page or its address shows the code.
		noCode := func(page string) {
			t.Helper()
			if strings.Contains(c.eval(`document.documentElement.outerHTML`), code) || strings.Contains(c.location(), code) {
				t.Fatalf("%s shows the passcode", page)
			}
		}

		c.phone()
		// First the station, on the same phone: the route page asks to move the
		// stop planned before contact hours.
		c.do("open the route", chromedp.Navigate(srv.URL+"/station/routes/"+rt.ID))
		c.signIn(seed.Station, "#stop-"+stopID)
		if flag := c.text("#stop-" + stopID + " .flag"); flag != "Planned at 07:30 — outside contact hours 08:00-20:00: move it" {
			t.Errorf("the station's stop flag says %q", flag)
		}
		c.fitsPhone("the station's route page")
		c.shot("station-route-phone")
		c.do("sign out", chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)), chromedp.WaitVisible(chromedp.ID("account")))

		c.do("open the app", chromedp.Navigate(srv.URL+"/associate"))
		c.signIn(da, `form[action="/associate/routes/`+rt.ID+`/load"] button`)
		itinerary := c.text("#route-" + rt.ID)
		for _, w := range []string{"Dana Reyes", "5 Bow Common Lane", "Passcode", "Planned at 07:30 — outside contact hours 08:00-20:00"} {
			if !strings.Contains(itinerary, w) {
				t.Errorf("itinerary lacks %q:\n%s", w, itinerary)
			}
		}
		c.fitsPhone("the itinerary")
		// The buttons are made for a thumb.
		if h := c.eval(`String(document.querySelector("button.big").getBoundingClientRect().height >= 48)`); h != "true" {
			t.Error("the Load van button is smaller than a thumb")
		}
		c.shot("associate-itinerary")

		c.do("load the van", chromedp.Click(chromedp.CSS(`form[action$="/load"] button`)), chromedp.WaitVisible(chromedp.CSS(".flash")))
		if f := c.text(".flash"); !strings.Contains(f, "Van loaded") {
			t.Errorf("after loading, the flash says %q", f)
		}
		noCode("the itinerary")

		c.do("open the stop", chromedp.Click(chromedp.ID("stop-"+stopID)), chromedp.WaitVisible(chromedp.ID("code")))
		if got := c.location(); got != "/associate/stops/"+stopID {
			t.Errorf("the stop link went to %q", got)
		}
		if attrs := c.eval(`(e => [e.inputMode, e.autocomplete, e.pattern].join(" "))(document.getElementById("code"))`); attrs != "numeric one-time-code [0-9]{6}" {
			t.Errorf("code field: inputmode, autocomplete and pattern are %q", attrs)
		}
		if txt := c.text("main"); !strings.Contains(txt, "3 attempts left") || !strings.Contains(txt, "Re-send code to the recipient") {
			t.Errorf("stop page lacks the attempts or the re-send button:\n%s", txt)
		}
		c.fitsPhone("the stop page")
		noCode("the stop page")
		c.shot("associate-stop")

		wrong := wrongCode(code)
		c.do("enter a wrong code",
			chromedp.SendKeys(chromedp.ID("code"), wrong),
			chromedp.Click(chromedp.CSS(`form[action$="/verify"] button`)),
			chromedp.WaitVisible(chromedp.ID("code-error")),
		)
		if a := c.text("#code-error"); !strings.Contains(a, "Wrong code — 2 attempts left") {
			t.Errorf("after a wrong code the page says %q", a)
		}
		if v := c.eval(`document.getElementById("code").value`); v != "" {
			t.Errorf("the code field kept %q", v)
		}
		noCode("the page after a wrong code")
		c.shot("associate-wrong-code")

		c.do("enter the right code",
			chromedp.SendKeys(chromedp.ID("code"), code),
			chromedp.Click(chromedp.CSS(`form[action$="/verify"] button`)),
			chromedp.WaitVisible(chromedp.ID("stop-flash")),
		)
		if f := c.text("#stop-flash"); !strings.Contains(f, "Code correct") {
			t.Errorf("after the right code the flash says %q", f)
		}
		if p := c.text("#parcel-" + parcel.TrackingID); !strings.Contains(p, "Delivered with OTP") {
			t.Errorf("the parcel shows %q, want Delivered with OTP", p)
		}
		if n := c.eval(`String(document.querySelectorAll("#code").length)`); n != "0" {
			t.Error("the code form is still offered after delivery")
		}
		c.fitsPhone("the delivered stop")
		noCode("the delivered stop")
		c.shot("associate-delivered")

		// The stop is done: the station has nothing left to move.
		c.do("sign out", chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)), chromedp.WaitVisible(chromedp.ID("account")))
		c.do("open the route again", chromedp.Navigate(srv.URL+"/station/routes/"+rt.ID))
		c.signIn(seed.Station, "#stop-"+stopID)
		if n := c.eval(`String(document.querySelectorAll(".flag").length)`); n != "0" {
			t.Error("the delivered stop is still flagged for moving")
		}
		noCode("the station's route page")
	})
}
