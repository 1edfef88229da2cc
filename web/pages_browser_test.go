package web_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// TestBrowserDocs opens the API reference from shipper central's navigation
// and checks that it draws the operations of /v1/openapi.json with nothing
// fetched from anywhere but the server: the viewer is vendored, and its
// validator badge (which would call validator.swagger.io) is off.
func TestBrowserDocs(t *testing.T) {
	needChromium(t)
	db := sqlstoretest.Open(t, sqlstoretest.Engines()[0])
	seed := newFixture(t, db)
	srv := browserServer(t, db)
	c := newChrome(t, srv.URL)

	var mu sync.Mutex
	var requested []string
	lctx, stop := context.WithCancel(c.ctx)
	defer stop()
	if err := chromedp.Listen(lctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requested = append(requested, e.Request.URL)
			mu.Unlock()
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
	if got := c.text(`#api-reference`); !strings.Contains(got, "Create a shipper") || !strings.Contains(got, "/v1/admin/shippers") {
		t.Errorf("the reference does not show the createShipper operation; it reads %.300q", got)
	}
	c.shot("docs")

	mu.Lock()
	defer mu.Unlock()
	if len(requested) == 0 {
		t.Fatal("saw no requests at all; the listener is not working")
	}
	sawSpec := false
	for _, u := range requested {
		pu, err := url.Parse(u)
		if err != nil || pu.Hostname() != "127.0.0.1" {
			if strings.HasPrefix(u, "data:") {
				continue // an inline image of the stylesheet, not a request on the network
			}
			t.Errorf("the page requested %s, outside 127.0.0.1", u)
		}
		if err == nil && pu.Path == "/v1/openapi.json" {
			sawSpec = true
		}
	}
	if !sawSpec {
		t.Errorf("the reference never fetched /v1/openapi.json; requests: %v", requested)
	}
}

// TestBrowserAgentSearch finds a parcel as customer service would, by the
// recipient's phone as they read it out and by their email in capitals; the
// parcel page masks the contacts until the agent presses "show", and that
// look is then listed with the agent's name.
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

		c.do("search by phone",
			chromedp.SendKeys(chromedp.ID("trackingId"), "+44 7700-900 123"),
			chromedp.Submit(chromedp.ID("trackingId")),
			chromedp.WaitVisible(chromedp.ID("contacts")),
		)
		if got := c.location(); got != "/agent/parcels/"+phoneParcel {
			t.Fatalf("search by phone went to %q, want the parcel %s", got, phoneParcel)
		}
		if got := c.text("#contact-phone"); strings.Contains(got, "900123") || !strings.HasSuffix(got, "123") {
			t.Errorf("before show the phone reads %q, want it masked to its last digits", got)
		}
		if got := c.text("#contact-email"); got != "p•••@example.com" {
			t.Errorf("before show the email reads %q", got)
		}
		c.shot("agent-parcel-masked")
		c.do("show contacts", chromedp.Click(chromedp.ID("show-contacts")), chromedp.WaitVisible(chromedp.CSS("table#contact-views")))
		if got := c.text("#contact-phone"); got != "+447700900123" {
			t.Errorf("after show the phone reads %q", got)
		}
		if got := c.text("#contact-email"); got != "priya@example.com" {
			t.Errorf("after show the email reads %q", got)
		}
		if got := c.text("table#contact-views tbody"); !strings.Contains(got, "Casey Support") {
			t.Errorf("the contact views read %q, want the agent's name", got)
		}
		c.shot("agent-parcel-shown")

		// Coming back masks them again, with the look still listed.
		c.do("reload", chromedp.Navigate(srv.URL+"/agent/parcels/"+phoneParcel), chromedp.WaitVisible(chromedp.ID("show-contacts")))
		if got := c.text("#contact-email"); got != "p•••@example.com" {
			t.Errorf("on coming back the email reads %q", got)
		}

		c.do("search by email",
			chromedp.Navigate(srv.URL+"/agent"),
			chromedp.SendKeys(chromedp.ID("trackingId"), " PRIYA@Example.com "),
			chromedp.Submit(chromedp.ID("trackingId")),
			chromedp.WaitVisible(chromedp.ID("contacts")),
		)
		if got := c.location(); got != "/agent/parcels/"+phoneParcel {
			t.Errorf("search by email went to %q", got)
		}
		c.do("search by nothing known",
			chromedp.Navigate(srv.URL+"/agent"),
			chromedp.SendKeys(chromedp.ID("trackingId"), "nobody@example.com"),
			chromedp.Submit(chromedp.ID("trackingId")),
			chromedp.WaitVisible(chromedp.ID("trackingId-error")),
		)
	})
}
