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
