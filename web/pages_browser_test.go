package web_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// TestBrowserDocs opens the API reference from shipper central's navigation
// and checks that it draws the operations of /v1/openapi.json with nothing
// fetched from anywhere but the server: the viewer is vendored, and its
// validator badge (which would call validator.swagger.io) is off. Every
// request the page makes is recorded twice, independently: by the browser's
// network events (each request, web socket and its end, so the check waits
// until nothing is in flight) and by the page's own resource timing list.
func TestBrowserDocs(t *testing.T) {
	needChromium(t)
	db := sqlstoretest.Open(t, sqlstoretest.Engines()[0])
	seed := newFixture(t, db)
	srv := browserServer(t, db)
	c := newChrome(t, srv.URL)

	var mu sync.Mutex
	var requested []string
	inFlight := map[network.RequestID]bool{}
	idle := make(chan struct{}, 1) // a token each time nothing is in flight
	settle := func(id network.RequestID) {
		delete(inFlight, id)
		if len(inFlight) == 0 {
			select {
			case idle <- struct{}{}:
			default:
			}
		}
	}
	lctx, stop := context.WithCancel(c.ctx)
	defer stop()
	if err := chromedp.Listen(lctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			requested = append(requested, e.Request.URL)
			inFlight[e.RequestID] = true
		case *network.EventWebSocketCreated:
			requested = append(requested, e.URL)
		case *network.EventLoadingFinished:
			settle(e.RequestID)
		case *network.EventLoadingFailed:
			settle(e.RequestID)
		}
	}); err != nil {
		t.Fatal(err)
	}

	c.do("open sign-in", chromedp.Navigate(srv.URL+"/signin"))
	c.signIn(seed.Shipper, "table.parcels")
	c.do("follow the API reference link",
		chromedp.Click(chromedp.CSS(`nav a[href="/docs"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#api-reference .opblock`)),
	)
	if got := c.text(`#api-reference`); !strings.Contains(got, "Create a shipper") || !strings.Contains(got, "/v1/admin/shippers") ||
		!strings.Contains(got, "Find parcels as customer service") {
		t.Errorf("the reference does not show the createShipper and searchParcels operations; it reads %.300q", got)
	}
	c.shot("docs")
	// Wait until the reference has nothing left in flight, so that a late
	// request (a font, a badge) is recorded before the hosts are checked.
	for busy := true; busy; {
		mu.Lock()
		busy = len(inFlight) > 0
		mu.Unlock()
		if busy {
			select {
			case <-idle:
			case <-time.After(stepTimeout):
				t.Fatal("the reference never stopped loading")
			}
		}
	}
	timed := c.eval(`JSON.stringify(performance.getEntriesByType("resource").map(e => e.name).concat([location.href]))`)
	var fromPage []string
	if err := json.Unmarshal([]byte(timed), &fromPage); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(requested) == 0 || len(fromPage) < 2 {
		t.Fatalf("saw %d requests from the browser and %d from the page; the recording is not working", len(requested), len(fromPage))
	}
	sawSpec, sawViewer := false, false
	for _, u := range append(append([]string{}, requested...), fromPage...) {
		if strings.HasPrefix(u, "data:") {
			continue // an inline image of the stylesheet, not a request on the network
		}
		pu, err := url.Parse(u)
		if err != nil || pu.Hostname() != "127.0.0.1" {
			t.Errorf("the page requested %s, outside 127.0.0.1", u)
			continue
		}
		sawSpec = sawSpec || pu.Path == "/v1/openapi.json"
		sawViewer = sawViewer || strings.Contains(pu.Path, "swagger-ui")
	}
	if !sawSpec || !sawViewer {
		t.Errorf("the reference fetched the description: %v, the vendored viewer: %v; requests: %v", sawSpec, sawViewer, requested)
	}
}

// TestBrowserAgentSearch finds a parcel as customer service would: by the
// recipient's phone read out in its local form with spaces, by their email
// in capitals, by the order reference. The parcel page masks the contacts
// until the agent gives a reason and presses "Show contact"; that look is
// then listed with the agent's name and reason. An enquiry is opened and
// noted from the page. A shipper signed in gets the refusal on every
// customer-service page.
func TestBrowserAgentSearch(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		db := sqlstoretest.Open(t, engine)
		seed := newFixture(t, db)
		phoneParcel := seed.parcel(t, "order-1001-phone")
		srv := browserServer(t, db)
		c := newChrome(t, srv.URL)
		c.do("open sign-in", chromedp.Navigate(srv.URL+"/signin"))
		c.signIn(seed.Agent, "#trackingId")

		c.do("search by phone as said on the phone",
			chromedp.SendKeys(chromedp.ID("trackingId"), "07700 900 123"),
			chromedp.Submit(chromedp.ID("trackingId")),
			chromedp.WaitVisible(chromedp.ID("found-parcels")),
		)
		row := c.text("#found-" + phoneParcel)
		for _, want := range []string{phoneParcel, "Demo Gadgets", "Priya Shah", "+44 7••• •••123", "p•••@example.com", "Phone number"} {
			if !strings.Contains(row, want) {
				t.Errorf("the phone search's row lacks %q: %q", want, row)
			}
		}
		if strings.Contains(row, "900123") || strings.Contains(row, "priya@") {
			t.Errorf("the search result shows the contacts unmasked: %q", row)
		}
		c.shot("cs-search")
		c.do("open the parcel found",
			chromedp.Click(chromedp.CSS(`#found-`+phoneParcel+` a`)),
			chromedp.WaitVisible(chromedp.ID("contacts")),
		)
		if got := c.location(); got != "/agent/parcels/"+phoneParcel {
			t.Fatalf("the result opened %q, want the parcel %s", got, phoneParcel)
		}
		if got := c.text("#contact-phone"); got != "+44 7••• •••123" {
			t.Errorf("before show the phone reads %q, want it masked", got)
		}
		if got := c.text("#contact-email"); got != "p•••@example.com" {
			t.Errorf("before show the email reads %q", got)
		}
		if got := c.text("#contact-views"); !strings.Contains(got, "Nobody has seen them in full") {
			t.Errorf("before show the contact log reads %q", got)
		}
		c.shot("cs-parcel-masked")

		// Without a reason the server refuses at the field and shows nothing.
		c.do("show without a reason",
			chromedp.Evaluate[chromedp.Void](`document.getElementById("reason").removeAttribute("required")`),
			chromedp.Click(chromedp.ID("show-contacts")),
			chromedp.WaitVisible(chromedp.ID("reason-error")),
		)
		if got := c.text("#contact-phone"); got != "+44 7••• •••123" {
			t.Errorf("a refused show reads the phone %q", got)
		}
		c.do("show with a reason",
			chromedp.SendKeys(chromedp.ID("reason"), "recipient on the phone, parcel not received"),
			chromedp.Click(chromedp.ID("show-contacts")),
			chromedp.WaitVisible(chromedp.CSS("table#contact-views")),
		)
		if got := c.text("#contact-phone"); got != "+447700900123" {
			t.Errorf("after show the phone reads %q", got)
		}
		if got := c.text("#contact-email"); got != "priya@example.com" {
			t.Errorf("after show the email reads %q", got)
		}
		if got := c.text("table#contact-views tbody"); !strings.Contains(got, "Casey Support") || !strings.Contains(got, "recipient on the phone, parcel not received") {
			t.Errorf("the contact views read %q, want the agent's name and reason", got)
		}
		c.shot("cs-parcel-shown")

		// Coming back masks them again, with the look still listed.
		c.do("reload", chromedp.Navigate(srv.URL+"/agent/parcels/"+phoneParcel), chromedp.WaitVisible(chromedp.ID("show-contacts")))
		if got := c.text("#contact-email"); got != "p•••@example.com" {
			t.Errorf("on coming back the email reads %q", got)
		}
		if n := c.eval(`String(document.querySelectorAll("#contact-views tbody tr").length)`); n != "1" {
			t.Errorf("the contact log lists %s looks, want 1", n)
		}

		// An enquiry from the parcel's page, then a note on it.
		c.do("open an enquiry",
			chromedp.SendKeys(chromedp.ID("summary"), "recipient says the parcel did not arrive"),
			chromedp.Submit(chromedp.ID("summary")),
			chromedp.WaitVisible(chromedp.ID("case-flash")),
		)
		c.do("add a note",
			chromedp.SendKeys(chromedp.ID("add-note"), "neighbour at number 14 has it"),
			chromedp.Submit(chromedp.ID("add-note")),
			chromedp.WaitVisible(chromedp.ID("case-notes")),
		)
		if got := c.text("#case-notes"); !strings.Contains(got, "neighbour at number 14 has it") || !strings.Contains(got, "Casey Support") {
			t.Errorf("the case's notes read %q", got)
		}
		c.shot("cs-case")
		c.do("back to the parcel", chromedp.Navigate(srv.URL+"/agent/parcels/"+phoneParcel), chromedp.WaitVisible(chromedp.ID("parcel-cases")))
		if got := c.text("#parcel-cases"); !strings.Contains(got, "Enquiry") || !strings.Contains(got, "recipient says the parcel did not arrive") {
			t.Errorf("the parcel's cases read %q", got)
		}

		for _, q := range []struct{ typed, by string }{{" PRIYA@Example.com ", "Email"}, {"order-1001-phone", "Order reference"}} {
			c.do("search by "+q.by,
				chromedp.Navigate(srv.URL+"/agent"),
				chromedp.SendKeys(chromedp.ID("trackingId"), q.typed),
				chromedp.Submit(chromedp.ID("trackingId")),
				chromedp.WaitVisible(chromedp.ID("found-parcels")),
			)
			if n := c.eval(`String(document.querySelectorAll("#found-parcels tbody tr").length)`); n != "1" {
				t.Errorf("search by %s lists %s parcels, want 1", q.by, n)
			}
			if got := c.text("#found-" + phoneParcel); !strings.Contains(got, q.by) {
				t.Errorf("search by %s reads %q", q.by, got)
			}
		}
		c.do("search by tracking ID",
			chromedp.Navigate(srv.URL+"/agent"),
			chromedp.SendKeys(chromedp.ID("trackingId"), strings.ToLower(phoneParcel)),
			chromedp.Submit(chromedp.ID("trackingId")),
			chromedp.WaitVisible(chromedp.ID("contacts")),
		)
		c.do("search by nothing known",
			chromedp.Navigate(srv.URL+"/agent"),
			chromedp.SendKeys(chromedp.ID("trackingId"), "nobody@example.com"),
			chromedp.Submit(chromedp.ID("trackingId")),
			chromedp.WaitVisible(chromedp.ID("trackingId-error")),
		)

		// The parcel page in French: the agent's own words translated.
		c.do("French", chromedp.Navigate(srv.URL+"/lang?lang=fr&next=/agent/parcels/"+phoneParcel), chromedp.WaitVisible(chromedp.ID("show-contacts")))
		if got := c.text("main"); !strings.Contains(got, "Coordonnées du destinataire") || !strings.Contains(got, "Afficher le contact") ||
			strings.Contains(got, "Who saw the contacts") || strings.Contains(got, "Open an enquiry") {
			t.Errorf("the French parcel page reads:\n%s", got)
		}
		c.shot("cs-parcel-fr")

		// A shipper gets the refusal on every customer-service page.
		s := newChrome(t, srv.URL)
		s.do("open sign-in", chromedp.Navigate(srv.URL+"/signin"))
		s.signIn(seed.Shipper, "table.parcels")
		for _, p := range []string{"/agent", "/agent/parcels?trackingId=07700900123", "/agent/parcels/" + phoneParcel} {
			s.do("open "+p, chromedp.Navigate(srv.URL+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
			if got := s.text("main"); !strings.Contains(got, "This page is for customer service accounts") || strings.Contains(got, "Priya") {
				t.Errorf("a shipper at %s reads:\n%s", p, got)
			}
		}
	})
}
