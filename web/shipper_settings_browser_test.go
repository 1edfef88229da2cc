package web_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/handoff-dev/handoff/api"
	"github.com/handoff-dev/handoff/api/apitest"
	"github.com/handoff-dev/handoff/egress"
	"github.com/handoff-dev/handoff/notify"
	"github.com/handoff-dev/handoff/shipperhooks"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/web"
)

// hooksServer is browserServer with the webhooks and API keys pages, on a
// store that lets webhooks reach a receiver on 127.0.0.1 over http (as the
// demo does), and the worker that delivers them.
func hooksServer(t *testing.T, db *sqlstore.DB) (*httptest.Server, *notify.Worker) {
	t.Helper()
	hooks := shipperhooks.New(db, true, true)
	log := slog.New(slog.NewTextHandler(&syncBuffer{}, nil))
	mux := http.NewServeMux()
	(&api.Server{Principals: db, Settings: db, Shipments: db, Stations: stationsOf(db), Doors: sqlstoretest.Door(db), Webhooks: hooks, APIKeys: db, Today: db.Today, Log: log}).Register(mux)
	(&web.Server{Principals: db, Sessions: db, Contacts: db, Settings: db, Shipments: db, Stations: stationsOf(db), Doors: sqlstoretest.Door(db), Today: db.Today,
		Recipients: db, Photos: sqlstoretest.Photos(db), Garages: sqlstoretest.Garages(db), Bags: stationsOf(db), Cases: db, Webhooks: hooks, APIKeys: db,
		Now: func() time.Time { return db.Now() }, Keys: sqlstoretest.Keys(t), Log: log}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	w := &notify.Worker{Store: db, Now: db.Now, Log: log,
		Senders: map[string]notify.Sender{notify.ShipperWebhook: &notify.ShipperWebhooks{Resolve: db.ResolveWebhook, Client: egress.Client(15*time.Second, true)}}}
	return srv, w
}

// hooksSession is a shipper signed in to Chromium on hooksServer.
type hooksSession struct {
	db     *sqlstore.DB
	seed   *fixture
	srv    *httptest.Server
	worker *notify.Worker
	c      *chrome
}

// openAsShipper serves a fresh store of engine, opens path in Chromium, signs
// the fixture's shipper in and waits for sel.
func openAsShipper(t *testing.T, engine, path, sel string) hooksSession {
	t.Helper()
	db := sqlstoretest.Open(t, engine)
	seed := newFixture(t, db)
	srv, w := hooksServer(t, db)
	c := newChrome(t, srv.URL)
	c.do("open "+path, chromedp.Navigate(srv.URL+path))
	c.signIn(seed.Shipper, sel)
	return hooksSession{db, seed, srv, w, c}
}

var whsec = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`)

// TestBrowserWebhooks drives shipper central's webhooks page in Chromium:
// the shipper adds an endpoint on a local receiver, copies the secret shown
// once, and sends a test event that the receiver verifies the Standard
// Webhooks way (apitest.VerifyStandardWebhook, written from the
// specification); then rotates the secret, and a delivery during the
// overlap verifies with either secret. A failing delivery shows in the log
// with its error and next retry. HANDOFF_SCREENSHOTS keeps the page.
func TestBrowserWebhooks(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		h := openAsShipper(t, engine, "/settings/webhooks", "#url")
		srv, worker, c := h.srv, h.worker, h.c
		rc := apitest.NewReceiver(t)
		deliver := func() apitest.Delivery {
			t.Helper()
			if err := worker.Drain(t.Context()); err != nil {
				t.Fatal(err)
			}
			return rc.Next(t, 15*time.Second)
		}
		value := func(id string) string { return c.eval(`document.getElementById("` + id + `").value`) }

		c.do("add the receiver",
			chromedp.SendKeys(chromedp.ID("url"), rc.URL),
			chromedp.Click(chromedp.CSS(`form[action="/settings/webhooks"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("webhook-secret")))
		secret := value("webhook-secret")
		if !whsec.MatchString(secret) {
			t.Fatalf("the page shows the secret %q, not whsec_ and standard base64", secret)
		}
		rc.SetSecrets(secret)

		// Shown once: the page on its own no longer has it.
		c.do("reload", chromedp.Navigate(srv.URL+"/settings/webhooks"), chromedp.WaitVisible(chromedp.CSS("section.webhook")))
		if html := c.eval(`document.documentElement.outerHTML`); strings.Contains(html, secret) {
			t.Fatal("the secret is shown again")
		}
		c.do("send a test event",
			chromedp.Click(chromedp.CSS(`section.webhook button.test`)),
			chromedp.WaitVisible(chromedp.CSS(`p.flash`)))
		d := deliver()
		if d.Payload["type"] != "webhook.test" || !slices.Equal(d.Verified, []string{secret}) {
			t.Fatalf("the receiver got %v, verified with %d secrets", d.Payload, len(d.Verified))
		}
		if err := apitest.VerifyStandardWebhook(secret, d.Header, d.Body, time.Now()); err != nil {
			t.Fatal(err)
		}
		c.do("read the log", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`tr.delivery.sent`)))
		if row := c.text(`tr.delivery.sent`); !strings.Contains(row, "webhook.test") || !strings.Contains(row, "Delivered") {
			t.Errorf("the log's row: %q", row)
		}

		// Rotation with the default overlap of a day: two signatures, either
		// secret verifies.
		c.do("rotate the secret",
			chromedp.Click(chromedp.CSS(`form.rotate button`)),
			chromedp.WaitVisible(chromedp.ID("webhook-secret")))
		fresh := value("webhook-secret")
		if !whsec.MatchString(fresh) || fresh == secret {
			t.Fatalf("after rotation the page shows %q", fresh)
		}
		if note := c.text("section.secret-once"); !strings.Contains(note, "previous secret also signs") {
			t.Errorf("the rotation does not say the old secret still signs: %q", note)
		}
		rc.SetSecrets(secret, fresh)
		c.do("send a test event during the overlap",
			chromedp.Click(chromedp.CSS(`section.webhook button.test`)),
			chromedp.WaitVisible(chromedp.CSS(`p.flash`)))
		d = deliver()
		for _, s := range []string{secret, fresh} {
			if err := apitest.VerifyStandardWebhook(s, d.Header, d.Body, time.Now()); err != nil {
				t.Errorf("during the overlap, a delivery does not verify with the %s secret: %v", map[bool]string{true: "old", false: "new"}[s == secret], err)
			}
		}

		// A delivery the receiver refuses shows its error and next retry.
		rc.Fail(1)
		c.do("send a test event that fails",
			chromedp.Navigate(srv.URL+"/settings/webhooks"), // without the last flash
			chromedp.WaitVisible(chromedp.CSS(`section.webhook button.test`)),
			chromedp.Click(chromedp.CSS(`section.webhook button.test`)),
			chromedp.WaitVisible(chromedp.CSS(`p.flash`)))
		deliver()
		c.do("read the log", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`tr.delivery.pending`)))
		if row := c.text(`tr.delivery.pending`); !strings.Contains(row, "webhook: HTTP 500") || !strings.Contains(row, "Retrying") || !strings.Contains(row, "UTC") {
			t.Errorf("the failed delivery's row: %q", row)
		}
		if engine == "sqlite" {
			c.shot("hooks-webhooks")
		}

		// In French the page and its log speak French.
		c.do("switch to French", chromedp.Navigate(srv.URL+"/lang?lang=fr&next=%2Fsettings%2Fwebhooks"), chromedp.WaitVisible(chromedp.CSS(`tr.delivery.pending`)))
		if main := c.text("main"); !strings.Contains(main, "Journal des envois") || !strings.Contains(main, "Nouvel essai prévu") || strings.Contains(main, "Send test event") {
			t.Errorf("the French page: %q", main)
		}
		if engine == "sqlite" {
			c.shot("hooks-webhooks-fr")
		}
		c.phone()
		c.do("reload at phone size", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`tr.delivery.pending`)))
		c.fitsPhone("the webhooks page")
	})
}

// TestBrowserAPIKeys creates a key on the API keys page, uses it against
// the API, and revokes it: the next call with it is refused (401), and the
// page says when it was last used before.
func TestBrowserAPIKeys(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		h := openAsShipper(t, engine, "/settings/api-keys", "#name")
		srv, c := h.srv, h.c
		call := func(key string) int {
			t.Helper()
			req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+"/v1/account/settings", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}

		c.do("submit without a name",
			chromedp.Click(chromedp.CSS(`form[action="/settings/api-keys"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("name-error")))
		c.do("create a key",
			chromedp.SendKeys(chromedp.ID("name"), "Warehouse printer"),
			chromedp.Click(chromedp.CSS(`form[action="/settings/api-keys"] button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.ID("new-key")))
		key := c.eval(`document.getElementById("new-key").value`)
		if call(key) != 200 {
			t.Fatalf("the new key does not work")
		}
		c.do("list", chromedp.Navigate(srv.URL+"/settings/api-keys"), chromedp.WaitVisible(chromedp.CSS("table.keys")))
		table := c.text("table.keys")
		if strings.Contains(c.eval(`document.documentElement.outerHTML`), key) || !strings.Contains(table, "Warehouse printer") || !strings.Contains(table, key[:8]) {
			t.Fatalf("the key list: %q", table)
		}
		if used := c.text(`tr.key:last-child td.used`); !strings.Contains(used, "UTC") {
			t.Errorf("last use of the key just used: %q", used)
		}
		if engine == "sqlite" {
			c.shot("hooks-apikeys")
		}
		c.do("revoke it",
			chromedp.Click(chromedp.CSS(`tr.key:last-child button.revoke`)),
			chromedp.WaitVisible(chromedp.CSS("p.flash")))
		if got := call(key); got != 401 {
			t.Fatalf("a revoked key answered %d, want 401", got)
		}
		if strings.Contains(c.text("main"), "Warehouse printer") {
			t.Error("the revoked key is still listed")
		}
		c.phone()
		c.do("reload at phone size", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("table.keys")))
		c.fitsPhone("the API keys page")
	})
}

// TestBrowserRulesDryRun writes a rule on the passcode rules page and tries
// it on a sample label before saving: the dry run shows the decision and
// why, and nothing is saved until the shipper saves.
func TestBrowserRulesDryRun(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		h := openAsShipper(t, engine, "/settings/rules", "#name_0")
		db, seed, c := h.db, h.seed, h.c
		c.do("write a broken rule and try it",
			chromedp.SendKeys(chromedp.ID("name_0"), "Phones"),
			chromedp.SendKeys(chromedp.ID("expression_0"), "categories >"),
			chromedp.SetValue(chromedp.ID("value"), "20"),
			chromedp.Click(chromedp.ID("dry-run-button")),
			chromedp.WaitVisible(chromedp.ID("expression_0-error")))
		c.do("fix it and try again",
			chromedp.SetValue(chromedp.ID("expression_0"), "'smartphone' in categories"),
			chromedp.Click(chromedp.ID("dry-run-button")),
			chromedp.WaitVisible(chromedp.ID("dry-run")))
		got := c.text("#dry-run .otp-decision")
		if !strings.Contains(got, "Passcode required") || !strings.Contains(got, "One of your own rules asks for a passcode.") {
			t.Fatalf("the dry run says %q", got)
		}
		set, err := db.Settings(t.Context(), seed.Shipper.Principal.ID)
		if err != nil || len(set.SecureDelivery.Rules) != 0 {
			t.Fatalf("the dry run saved the rules: %v %v", set.SecureDelivery.Rules, err)
		}
		if engine == "sqlite" {
			c.shot("hooks-rules")
		}
		c.do("save", chromedp.Click(chromedp.ID("save-rules")), chromedp.WaitVisible(chromedp.CSS("p.flash")))
		c.phone()
		c.do("reload at phone size", chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("name_0")))
		c.fitsPhone("the passcode rules page")
		if set, _ := db.Settings(t.Context(), seed.Shipper.Principal.ID); len(set.SecureDelivery.Rules) != 1 || set.SecureDelivery.Rules[0].Name != "Phones" {
			t.Fatalf("saved rules: %v", set.SecureDelivery.Rules)
		}
	})
}
