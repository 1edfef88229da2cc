package web_test

import (
	"bytes"
	"context"
	"image/jpeg"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/tracking"
)

// photoDelivered leaves Tom's book at his porch with a photo, through the
// store, and returns its tracking ID.
func (e *env) photoDelivered(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	book := e.parcel(t, "order-1002-book")
	rt := e.plan(t, mondayDate, handoff.RouteParcel{TrackingID: book})
	alex := e.seed.Associates[0].Principal
	if _, err := sqlstoretest.Door(e.db).LoadRoute(ctx, alex, rt.ID); err != nil {
		t.Fatal(err)
	}
	shot, err := os.ReadFile(filepath.Join("..", "photo", "testdata", "gps-orientation6.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqlstoretest.Door(e.db).DeliverParcels(ctx, alex, stopOf(t, rt, book).ID, handoff.Handover{Place: tracking.DeliveredToPorch, Photo: shot}); err != nil {
		t.Fatal(err)
	}
	return book
}

// TestAgentParcelPhoto finds a parcel delivered with a photo: its page shows
// the history and the photo, each view of the photo (thumbnail or full) is
// logged and then listed on the page, and nobody else can see it there.
func TestAgentParcelPhoto(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine)
		book := e.photoDelivered(t)
		agent := e.signedIn(t, e.seed.Agent)

		t.Run("lookup", func(t *testing.T) {
			resp, body := agent.get("/agent/parcels?trackingId=" + url.QueryEscape(" "+strings.ToLower(book[:6])+" "+strings.ToLower(book[6:])))
			wantRedirect(t, resp, body, "/agent/parcels/"+book)
			resp, body = agent.get("/agent/parcels?trackingId=HONOSUCHPARCEL")
			wantStatus(t, resp, body, http.StatusNotFound)
			wantText(t, "unknown parcel", element(t, body, "trackingId-error", "p"), "No parcel has this tracking ID, reference, phone number or email.")
			wantText(t, "unknown parcel", body, `value="HONOSUCHPARCEL"`)
			resp, body = agent.get("/agent/parcels?trackingId=")
			wantStatus(t, resp, body, http.StatusBadRequest)
			resp, body = agent.get("/agent/parcels/HONOSUCHPARCEL")
			wantStatus(t, resp, body, http.StatusNotFound)
		})

		path := "/agent/parcels/" + book
		resp, body := agent.get(path)
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "parcel page", body, "Tom Baker", "Delivered to porch", "Out for delivery", "by Alex Driver (delivery associate)",
			"Delivered to porch, with a photo", "No case about this parcel.")
		photo := element(t, body, "photo", "section")
		wantText(t, "photo", photo, `src="/agent/parcels/`+book+`/photo?size=thumb"`, `href="/agent/parcels/`+book+`/photo?size=full"`,
			"Taken Monday 23 November 2026, 10:00 GMT by Alex Driver (delivery associate).", "are logged with your name as they load",
			"Nobody had viewed an image of this parcel before this page.")

		for _, size := range []string{"thumb", "full"} {
			resp, body := agent.get(path + "/photo?size=" + size)
			wantStatus(t, resp, "", http.StatusOK)
			if ct, cc := resp.Header.Get("Content-Type"), resp.Header.Get("Cache-Control"); ct != "image/jpeg" || cc != "no-store" {
				t.Errorf("%s: content type %q, cache %q", size, ct, cc)
			}
			img, err := jpeg.Decode(bytes.NewReader([]byte(body)))
			if err != nil {
				t.Fatalf("%s: %v", size, err)
			}
			if size == "thumb" && img.Bounds().Dx() > 640 {
				t.Errorf("the thumbnail is %d wide", img.Bounds().Dx())
			}
		}
		resp, body = agent.get(path + "/photo?size=huge")
		wantStatus(t, resp, body, http.StatusBadRequest)

		// Others get the 403 page and log no view.
		for _, a := range []struct {
			name string
			b    *browser
		}{{"station", e.signedIn(t, e.seed.Station)}, {"associate", e.signedIn(t, e.seed.Associates[0])}, {"shipper", e.signedIn(t, e.seed.Shipper)}} {
			for _, p := range []string{path, path + "/photo?size=full", "/agent"} {
				resp, body := a.b.get(p)
				wantStatus(t, resp, body, http.StatusForbidden)
				wantText(t, a.name+" at "+p, body, "This page is for customer service accounts")
			}
		}

		_, body = agent.get(path)
		views := element(t, body, "photo-views", "table")
		wantText(t, "view log", views, "Casey Support", "customer service", "Delivery photo", "Monday 23 November 2026, 10:00 GMT")
		if n := strings.Count(views, "<tr>"); n != 3 { // the header and two views
			t.Errorf("the view log has %d rows, want the two views:\n%s", n-1, views)
		}
		a, err := e.db.AgentParcel(context.Background(), e.seed.Agent.Principal, book)
		if err != nil || len(a.PhotoViews) != 2 {
			t.Errorf("the store logged %+v (%v), want two views", a.PhotoViews, err)
		}
		e.assertNoInline(t)
	})
}

// TestBagAndCaseFormsNeedCSRF sends every bag, door and case form without
// its token and with another session's: each is refused with 403 and
// changes nothing.
func TestBagAndCaseFormsNeedCSRF(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		d := newBagDay(t, engine)
		ctx := context.Background()
		station := d.signedIn(t, d.seed.Station)
		da := d.signedIn(t, d.seed.Associates[0])
		agent := d.signedIn(t, d.seed.Agent)
		_, other := d.signedIn(t, d.seed.Associates[1]).get("/associate")
		foreign := csrf(t, other)
		laptop := d.parcel(t, "order-1003-laptop")
		d.receive(t, laptop)
		// A case to close: the other bag scanned at the phone's door.
		if _, err := sqlstoretest.Door(d.db).ScanBag(ctx, d.seed.Associates[0].Principal, stopOf(t, d.route, d.phone).ID, d.other.ID); handoff.ErrorCode(err) != handoff.ECONFLICT {
			t.Fatalf("mismatch: %v", err)
		}
		cases, _ := d.db.ListCases(ctx, d.seed.Agent.Principal, handoff.CaseOpen)
		if len(cases) != 1 {
			t.Fatalf("cases: %+v", cases)
		}
		tests := []struct {
			b      *browser
			path   string
			fields []string
		}{
			{station, "/station/bags/batches", []string{"count", "5"}},
			{station, "/station/bags/seal", []string{"trackingId", laptop, "bagId", d.bag.Printed}},
			{station, "/station/bags/void", []string{"bagId", d.other.Printed, "reason", "torn"}},
			{da, d.stopPath + "/scan", []string{"bagId", d.bag.Printed}},
			{da, d.stopPath + "/refuse", []string{"trackingId", d.phone, "confirm", "yes"}},
			{da, d.stopPath + "/garage/open", nil},
			{da, d.stopPath + "/garage/close", []string{"grant", "gg_nosuchgrant00000"}},
			{agent, "/agent/cases/" + cases[0].ID + "/close", []string{"outcome", "no_action"}},
			{agent, "/agent/cases/" + cases[0].ID + "/notes", []string{"note", "called"}},
			{agent, "/agent/parcels/" + d.phone + "/cases", []string{"summary", "did not arrive"}},
			{agent, "/agent/parcels/" + d.phone + "/contacts", []string{"reason", "caller"}},
		}
		for _, tt := range tests {
			for _, token := range []string{"", foreign} {
				name := tt.path + " without a token"
				if token != "" {
					name = tt.path + " with another session's token"
				}
				t.Run(name, func(t *testing.T) {
					form := url.Values{}
					for i := 0; i+1 < len(tt.fields); i += 2 {
						form.Set(tt.fields[i], tt.fields[i+1])
					}
					if token != "" {
						form.Set("csrf", token)
					}
					resp, body := tt.b.post(tt.path, form)
					wantStatus(t, resp, body, http.StatusForbidden)
					wantText(t, "refusal", body, "nothing was changed")
				})
			}
		}
		bags, err := d.stations.ListBags(ctx, d.seed.Station.Principal, "")
		if err != nil || len(bags) != 3 {
			t.Fatalf("bags: %d, %v", len(bags), err)
		}
		for _, b := range bags {
			if want := map[string]string{d.bag.ID: handoff.BagSealed}[b.ID]; (want == "" && b.State != handoff.BagIssued) || (want != "" && b.State != want) {
				t.Errorf("bag %s is %s", b.Printed, b.State)
			}
		}
		st, err := sqlstoretest.Door(d.db).FindStop(ctx, d.seed.Associates[0].Principal, stopOf(t, d.route, d.phone).ID)
		if err != nil || st.Parcels[0].BagScanned || st.Parcels[0].Outcome != "" {
			t.Errorf("a refused form changed the stop: %+v %v", st, err)
		}
		if c, err := d.db.FindCase(ctx, d.seed.Agent.Principal, cases[0].ID); err != nil || c.Status != handoff.CaseOpen || len(c.Notes) != 0 {
			t.Errorf("a refused form closed or noted the case: %+v %v", c, err)
		}
		if a, err := d.db.AgentParcel(ctx, d.seed.Agent.Principal, d.phone); err != nil || len(a.ContactViews) != 0 || len(a.Cases) != 1 {
			t.Errorf("a refused form showed the contacts or opened a case: %+v %v", a, err)
		}
	})
}

// TestBagAndCasePagesByKind keeps each new page to its kind of account.
func TestBagAndCasePagesByKind(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		d := newBagDay(t, engine)
		anon := d.browser(t)
		station := d.signedIn(t, d.seed.Station)
		da := d.signedIn(t, d.seed.Associates[0])
		agent := d.signedIn(t, d.seed.Agent)
		shipper := d.signedIn(t, d.seed.Shipper)
		batch := d.bag.BatchID
		tests := []struct {
			b      *browser
			path   string
			status int
			want   string
		}{
			{anon, "/station/bags", 303, ""},
			{anon, "/agent/parcels/" + d.phone + "/photo?size=full", 303, ""},
			{da, "/station/bags", 403, "This page is for station accounts"},
			{agent, "/station/bags/batches/" + batch, 403, "This page is for station accounts"},
			{shipper, "/station/bags/batches/" + batch + "/labels.png", 403, "This page is for station accounts"},
			{station, "/agent", 403, "This page is for customer service accounts"},
			{da, "/agent/parcels/" + d.phone, 403, "This page is for customer service accounts"},
			{shipper, "/agent/cases/case_nosuchcase000", 403, "This page is for customer service accounts"},
			{agent, "/agent/cases/case_nosuchcase000", 404, "Case not found."},
			{station, "/station/bags", 200, "Tamper-evident bags"},
			{agent, "/agent", 200, "Open cases"},
		}
		for _, tt := range tests {
			resp, body := tt.b.get(tt.path)
			wantStatus(t, resp, body, tt.status)
			if tt.want != "" {
				wantText(t, tt.path, body, tt.want)
			}
		}
		// Posting to an associate's forms as another kind is refused too, before
		// the token is even read.
		_, page := station.get("/station")
		resp, body := station.formPost(d.stopPath+"/scan", csrf(t, page), "bagId", d.bag.Printed)
		wantStatus(t, resp, body, http.StatusForbidden)
		// Customer service's forms and search refuse every other kind, with
		// their own session's token, and show or change nothing.
		for _, h := range []struct {
			b    *browser
			home string
		}{{shipper, "/shipments"}, {da, "/associate"}, {station, "/station"}} {
			b := h.b
			_, page := b.get(h.home)
			token := csrf(t, page)
			for _, f := range [][]string{
				{"/agent/parcels/" + d.phone + "/contacts", "reason", "curious"},
				{"/agent/parcels/" + d.phone + "/cases", "summary", "curious"},
			} {
				resp, body := b.formPost(f[0], token, f[1], f[2])
				wantStatus(t, resp, body, http.StatusForbidden)
				if strings.Contains(body, "+447700900123") {
					t.Errorf("%s showed the contacts to another kind", f[0])
				}
			}
			resp, body := b.get("/agent/parcels?trackingId=07700900123")
			wantStatus(t, resp, body, http.StatusForbidden)
		}
		if a, err := d.db.AgentParcel(context.Background(), d.seed.Agent.Principal, d.phone); err != nil || len(a.ContactViews) != 0 || len(a.Cases) != 0 {
			t.Errorf("another kind's form showed the contacts or opened a case: %+v %v", a, err)
		}
		// The station's own bag page lists the phone's bag; the station is the
		// one that sealed it.
		_, body = station.get("/station/bags")
		wantText(t, "bag page", body, d.bag.Printed, d.phone)
	})
}

// TestAgentCaseForms opens an enquiry and notes it from the pages: a blank
// summary, a second enquiry while one is open, a blank note and a reveal
// without a reason are each said at their field with the input kept, and
// change nothing.
func TestAgentCaseForms(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine)
		ctx := context.Background()
		agent := e.signedIn(t, e.seed.Agent)
		parcel := e.seed.parcel(t, "order-1001-phone")
		path := "/agent/parcels/" + parcel
		_, page := agent.get(path)
		token := csrf(t, page)

		resp, body := agent.formPost(path+"/cases", token, "summary", "   ")
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantText(t, "blank summary", element(t, body, "summary-error", "p"), "Say what the case is about")
		resp, body = agent.formPost(path+"/contacts", token, "reason", "")
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantText(t, "no reason", element(t, body, "reason-error", "p"), "Say why you need the contacts")
		if strings.Contains(body, "+447700900123") {
			t.Error("the contacts were shown without a reason")
		}

		resp, body = agent.formPost(path+"/cases", token, "summary", "did not arrive")
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("open: %d\n%s", resp.StatusCode, body)
		}
		casePath := resp.Header.Get("Location")
		casePath = casePath[:strings.Index(casePath, "?")]
		resp, body = agent.formPost(path+"/cases", token, "summary", "again <b>")
		wantStatus(t, resp, body, http.StatusConflict)
		wantText(t, "second enquiry", element(t, body, "summary-error", "p"), "already open")
		wantText(t, "second enquiry", body, "again <b></textarea>") // kept, and escaped: wantText reads entities as the browser does
		if !strings.Contains(body, "again &lt;b&gt;") {
			t.Error("the kept summary is not escaped")
		}

		resp, body = agent.formPost(casePath+"/notes", token, "note", " ")
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantText(t, "blank note", element(t, body, "add-note-error", "p"), "Write the note")
		resp, body = agent.formPost(casePath+"/notes", token, "note", "called back", "back", "parcel")
		wantRedirect(t, resp, body, path+"?done=noted#case-"+strings.TrimPrefix(casePath, "/agent/cases/"))

		a, err := e.db.AgentParcel(ctx, e.seed.Agent.Principal, parcel)
		if err != nil || len(a.Cases) != 1 || len(a.ContactViews) != 0 {
			t.Fatalf("after the forms: %+v %v", a, err)
		}
		c, err := e.db.FindCase(ctx, e.seed.Agent.Principal, a.Cases[0].ID)
		if err != nil || len(c.Notes) != 1 || c.Notes[0].Body != "called back" || c.Kind != handoff.CaseEnquiry {
			t.Errorf("the case reads %+v %v", c, err)
		}
	})
}
