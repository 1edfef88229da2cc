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

	"github.com/handoff-dev/handoff/api"
	"github.com/handoff-dev/handoff/demo"
	"github.com/handoff-dev/handoff/keyring"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/web"
)

// chromium is where Debian (and CI) installs the browser.
const chromium = "/usr/bin/chromium"

// stepTimeout bounds each wait on the browser, so a page that never comes
// fails the test instead of hanging it.
const stepTimeout = 60 * time.Second

// TestBrowser drives real Chromium through the shipper's pages on a plain
// http://127.0.0.1 server: sign in through the form, read the parcel list
// (also at phone size), open a shipment, and change a setting. Set
// HANDOFF_SCREENSHOTS to a directory to keep a PNG of each page.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("HANDOFF_REQUIRE_BROWSER") == "1" {
			t.Fatalf("HANDOFF_REQUIRE_BROWSER=1 but %s is missing: %v", chromium, err)
		}
		t.Skipf("%s not installed; set HANDOFF_REQUIRE_BROWSER=1 to make this a failure", chromium)
	}

	ctx := context.Background()
	db, err := sqlstore.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	seed, err := demo.Seed(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.New(keyring.Generate(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(&syncBuffer{}, nil))
	mux := http.NewServeMux()
	(&api.Server{Principals: db, Settings: db, Shipments: db, Log: log}).Register(mux)
	(&web.Server{Principals: db, Sessions: db, Settings: db, Shipments: db, Keys: keys, Log: log}).Register(mux)
	srv := httptest.NewServer(mux) // plain HTTP on 127.0.0.1
	t.Cleanup(srv.Close)

	// The whole browser lives under one deadline, so that even its start is
	// bounded; each step below has its own shorter one.
	root, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
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
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first run starts the browser and ties it to its context: bctx,
	// not a step's, or the browser would end with the first step.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, stepTimeout)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, stepTimeout)
		defer cancel()
		s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	eval := func(expr string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, stepTimeout)
		defer cancel()
		s, err := chromedp.Run(sctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return s
	}
	location := func() string {
		t.Helper()
		sctx, cancel := context.WithTimeout(bctx, stepTimeout)
		defer cancel()
		u, err := chromedp.Run(sctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimPrefix(u, srv.URL)
	}
	shot := func(name string) {
		t.Helper()
		dir := os.Getenv("HANDOFF_SCREENSHOTS")
		if dir == "" {
			return
		}
		sctx, cancel := context.WithTimeout(bctx, stepTimeout)
		defer cancel()
		png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A signed-out visit to the parcels goes through the sign-in form and
	// comes back.
	do("open parcels", chromedp.Navigate(srv.URL+"/shipments"), chromedp.WaitVisible(chromedp.ID("account")))
	if got := location(); got != "/signin?next=%2Fshipments" {
		t.Fatalf("signed out, /shipments went to %q", got)
	}
	shot("signin")
	do("sign in",
		chromedp.SendKeys(chromedp.ID("account"), seed.Shipper.Principal.ID),
		chromedp.SendKeys(chromedp.ID("password"), seed.Shipper.Credentials.Password),
		chromedp.Click(chromedp.CSS(`form[action="/signin"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("table.parcels")),
	)
	if got := location(); got != "/shipments" {
		t.Fatalf("after signing in the browser is at %q", got)
	}

	// Chromium treats loopback as a secure context: it must have kept the
	// Secure, __Host- session cookie that came over plain http.
	sctx, cancelStep := context.WithTimeout(bctx, stepTimeout)
	cookies, err := chromedp.Call(sctx, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.URL + "/"}})
	cancelStep()
	if err != nil {
		t.Fatal(err)
	}
	var session *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil {
		t.Fatalf("Chromium did not keep the session cookie on %s", srv.URL)
	}
	if !session.Secure || !session.HTTPOnly || session.SameSite != network.CookieSameSiteLax {
		t.Errorf("session cookie in Chromium: secure %v, httpOnly %v, sameSite %q", session.Secure, session.HTTPOnly, session.SameSite)
	}

	list := text("table.parcels")
	for _, ref := range []string{"order-1001-phone", "order-1002-book", "order-1003-laptop", "order-1004-cod", "order-1005-watch"} {
		if !strings.Contains(list, ref) {
			t.Errorf("parcel list lacks %s", ref)
		}
	}
	phone := seed.Shipments[0].Packages[0].TrackingID
	if row := text("#parcel-" + phone); !strings.Contains(row, "OTP required") {
		t.Errorf("row of order-1001-phone shows no OTP badge: %q", row)
	}
	// The stylesheet loaded under the CSP: the header has its colour.
	if bg := eval(`getComputedStyle(document.querySelector("header.top")).backgroundColor`); bg != "rgb(31, 78, 121)" {
		t.Errorf("header background %q: the stylesheet did not apply", bg)
	}
	shot("parcels-desktop")

	// On a phone the table turns into cards and nothing scrolls sideways.
	do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(3)), chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS("table.parcels")))
	if d := eval(`getComputedStyle(document.querySelector("table.parcels tr")).display`); d != "block" {
		t.Errorf("on a phone the parcel rows display as %q, want the card layout (block)", d)
	}
	// A mobile browser widens its layout viewport to fit wide content, so
	// the width to hold is the screen's.
	if w := eval(`document.documentElement.scrollWidth + "/" + screen.width`); w != "390/390" {
		t.Errorf("the parcel list is wider than the phone (page/screen width %s)", w)
	}
	shot("parcels-phone")

	// The shipment page shows the decision and the timeline.
	do("open shipment", chromedp.Click(chromedp.CSS(`#parcel-`+phone+` a`)), chromedp.WaitVisible(chromedp.CSS(".timeline")))
	if got := location(); got != "/shipments/"+seed.Shipments[0].ID+"#"+phone {
		t.Errorf("the parcel link went to %q", got)
	}
	detail := text("#" + phone)
	for _, w := range []string{"OTP required", "above your OTP threshold", "Bag required", "Label created", "London E16 1AA, GB"} {
		if !strings.Contains(detail, w) {
			t.Errorf("shipment page lacks %q:\n%s", w, detail)
		}
	}
	shot("shipment-phone")

	// Switching SMS notifications off through the form persists; the phone
	// size stays, as a shipper may well do this on the go.
	do("open settings", chromedp.Click(chromedp.CSS(`nav a[href="/settings"]`)), chromedp.WaitVisible(chromedp.ID("sms")))
	if checked := eval(`String(document.getElementById("sms").checked)`); checked != "true" {
		t.Fatalf("SMS starts %s, want on", checked)
	}
	do("save settings",
		chromedp.Click(chromedp.ID("sms")),
		chromedp.Click(chromedp.CSS(`form.settings button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if got := text(".flash"); got != "Saved." {
		t.Errorf("flash %q", got)
	}
	if checked := eval(`String(document.getElementById("sms").checked)`); checked != "false" {
		t.Errorf("after saving, the form shows SMS %s", checked)
	}
	shot("settings")
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
	do("sign out", chromedp.Click(chromedp.CSS(`form[action="/signout"] button`)), chromedp.WaitVisible(chromedp.ID("account")))
	if got := location(); got != "/signin?signedout=1" {
		t.Errorf("after signing out the browser is at %q", got)
	}
}
