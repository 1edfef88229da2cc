package web_test

import (
	"bytes"
	"context"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/bag"
	"github.com/handoff-dev/handoff/label"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// receive records parcels arriving at the fixture's station, through the store.
func (e *env) receive(t *testing.T, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := e.stations.ReceiveParcel(context.Background(), e.seed.Station.Principal, id); err != nil && handoff.ErrorCode(err) != handoff.ECONFLICT {
			t.Fatalf("receive %s: %v", id, err)
		}
	}
}

// batch issues n bags to the fixture's station, through the store.
func (e *env) batch(t *testing.T, n int) *handoff.BagBatch {
	t.Helper()
	b, err := e.stations.IssueBatch(context.Background(), e.seed.Station.Principal, "", n)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// seal seals a received parcel into a bag, through the store.
func (e *env) seal(t *testing.T, trackingID, bagID string) {
	t.Helper()
	if _, err := e.stations.SealParcel(context.Background(), e.seed.Station.Principal, trackingID, bagID); err != nil {
		t.Fatalf("seal %s in %s: %v", trackingID, bagID, err)
	}
}

// misread returns a printed bag ID with its check character changed: what a
// scanner or a typist gets wrong, and the check catches.
func misread(printed string) string {
	last := printed[len(printed)-1]
	swap := byte('0')
	if last == '0' {
		swap = '1'
	}
	return printed[:len(printed)-1] + string(swap)
}

var batchLinkRE = regexp.MustCompile(`^/station/bags/batches/(bb_[0-9a-z]+)\?done=issued$`)

// TestStationBags issues a batch and prints its labels, then seals parcels
// into bags through the form, with each way a seal is refused said next to
// its field, voids a bag, and shows on the route page which parcels still
// need sealing before the van can be loaded.
func TestStationBags(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine)
		phone, book, laptop := e.parcel(t, "order-1001-phone"), e.parcel(t, "order-1002-book"), e.parcel(t, "order-1003-laptop")
		e.receive(t, phone, book, laptop)
		b := e.signedIn(t, e.seed.Station)

		resp, page := b.get("/station/bags")
		wantStatus(t, resp, page, http.StatusOK)
		wantText(t, "bag page", page, "Tamper-evident bags", "Seal parcel", "Issue batch", "Void bag", "No bags issued to this station yet.")
		token := csrf(t, page)
		_, home := b.get("/station")
		wantText(t, "station home", home, `href="/station/bags"`)

		var batch *handoff.BagBatch
		t.Run("issue a batch", func(t *testing.T) {
			for _, count := range []string{"", "many", "0", "1001"} {
				resp, body := b.formPost("/station/bags/batches", token, "count", count)
				wantStatus(t, resp, body, http.StatusBadRequest)
				wantText(t, "count "+count, element(t, body, "count-error", "p"), "Enter how many bags to issue: a whole number from 1 to 1000.")
			}
			resp, body := b.formPost("/station/bags/batches", token, "count", " 30 ")
			m := batchLinkRE.FindStringSubmatch(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || m == nil {
				t.Fatalf("issue: status %d, location %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
			var err error
			if batch, err = e.stations.FindBatch(context.Background(), e.seed.Station.Principal, m[1]); err != nil || len(batch.Bags) != 30 {
				t.Fatalf("batch %s: %v, %v", m[1], batch, err)
			}
			resp, body = b.follow(resp, body)
			wantStatus(t, resp, body, http.StatusOK)
			wantText(t, "batch page", body, "30 bags issued to the station. Print the label sheets below", "Sheet 1", "labels 1–24", "Sheet 2", "labels 25–30",
				`src="/station/bags/batches/`+batch.ID+`/labels.png?page=2"`)
			if strings.Contains(body, "page=3") {
				t.Error("the batch page offers a third sheet")
			}
			_, body = b.get("/station/bags?state=issued")
			wantText(t, "batch row", element(t, body, "batch-"+batch.ID, "tr"), ">30<")
			wantText(t, "issued bags", element(t, body, "bag-list", "table"), batch.Bags[0].Printed, batch.Bags[29].Printed)
		})

		t.Run("label sheets", func(t *testing.T) {
			for _, n := range []string{"", "1", "2"} {
				path := "/station/bags/batches/" + batch.ID + "/labels.png"
				if n != "" {
					path += "?page=" + n
				}
				resp, body := b.get(path)
				wantStatus(t, resp, "", http.StatusOK)
				if ct := resp.Header.Get("Content-Type"); ct != "image/png" {
					t.Fatalf("sheet %s: content type %q", n, ct)
				}
				img, err := png.Decode(bytes.NewReader([]byte(body)))
				if err != nil {
					t.Fatalf("sheet %s does not decode: %v", n, err)
				}
				if got := img.Bounds().Size(); got.X != label.PageW || got.Y != label.PageH {
					t.Errorf("sheet %s is %v, want A4 at 150 dpi (%dx%d)", n, got, label.PageW, label.PageH)
				}
			}
			for _, n := range []string{"0", "3", "two"} {
				resp, body := b.get("/station/bags/batches/" + batch.ID + "/labels.png?page=" + n)
				wantStatus(t, resp, body, http.StatusNotFound)
				wantText(t, "no sheet "+n, body, "This batch has 2 sheets of labels.")
			}
			// Another station sees neither the batch nor its labels.
			other, creds, err := e.db.CreatePrincipal(context.Background(), handoff.NewPrincipal{Kind: "station", Name: "Leeds Station", Market: "GB"})
			if err != nil {
				t.Fatal(err)
			}
			ob := e.browser(t)
			ob.signIn(other.ID, creds.Password, "")
			for _, path := range []string{"/station/bags/batches/" + batch.ID, "/station/bags/batches/" + batch.ID + "/labels.png"} {
				resp, body := ob.get(path)
				wantStatus(t, resp, body, http.StatusNotFound)
				if strings.Contains(body, batch.Bags[0].Printed) {
					t.Errorf("another station sees a bag ID at %s", path)
				}
			}
		})

		seal := func(trackingID, bagID string) (*http.Response, string) {
			t.Helper()
			return b.formPost("/station/bags/seal", token, "trackingId", trackingID, "bagId", bagID)
		}

		t.Run("seal", func(t *testing.T) {
			resp, body := seal(phone, strings.ToLower(strings.ReplaceAll(batch.Bags[0].Printed, "-", " ")))
			wantRedirect(t, resp, body, "/station/bags?sealed="+url.QueryEscape(batch.Bags[0].ID))
			_, body = b.follow(resp, body)
			wantText(t, "after sealing", element(t, body, "bags-flash", "p"), "Parcel "+phone+" is sealed in bag "+batch.Bags[0].Printed+".")
			wantText(t, "sealed bags", element(t, body, "bag-"+batch.Bags[0].ID, "tr"), phone, "23 Nov 2026, 10:00")
			// A crafted link claims nothing: this bag is not sealed.
			_, body = b.get("/station/bags?sealed=" + url.QueryEscape(batch.Bags[5].ID))
			if strings.Contains(body, "is sealed in bag") {
				t.Error("?sealed= names an unsealed bag as sealed")
			}
		})

		t.Run("void", func(t *testing.T) {
			resp, body := b.formPost("/station/bags/void", token, "bagId", batch.Bags[2].Printed, "reason", " ")
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantText(t, "no reason", element(t, body, "void-reason-error", "p"), "Say why the bag is voided")
			resp, body = b.formPost("/station/bags/void", token, "bagId", batch.Bags[2].Printed, "reason", "torn")
			wantRedirect(t, resp, body, "/station/bags?voided="+url.QueryEscape(batch.Bags[2].ID)+"&state=voided")
			_, body = b.follow(resp, body)
			wantText(t, "after voiding", element(t, body, "bags-flash", "p"), "Bag "+batch.Bags[2].Printed+" is voided and can no longer be used.")
			wantText(t, "voided bags", element(t, body, "bag-"+batch.Bags[2].ID, "tr"), "torn")
			resp, body = b.formPost("/station/bags/void", token, "bagId", batch.Bags[2].Printed, "reason", "again")
			wantStatus(t, resp, body, http.StatusConflict)
			wantText(t, "voided twice", element(t, body, "void-bagId-error", "p"), "Only an issued or sealed bag of this station can be voided.")
		})

		t.Run("refused seals", func(t *testing.T) {
			tests := []struct {
				name, trackingID, bagID string
				status                  int
				field, want             string
			}{
				{"no parcel", " ", batch.Bags[3].Printed, 400, "seal-trackingId-error", "Scan or type the tracking ID of the parcel."},
				{"no bag", laptop, "", 400, "seal-bagId-error", "Scan or type the ID printed on the bag."},
				{"wrong check character", laptop, misread(batch.Bags[3].Printed), 400, "seal-bagId-error",
					"The bag ID has a wrong character (its check character does not match): check the ID on the bag and scan or type it again."},
				{"not a bag ID", laptop, "HELLO-123", 400, "seal-bagId-error", "That is not a bag ID: a bag ID looks like TEB-XXXXX-XXXXX-C."},
				{"never issued", laptop, bag.Format(bag.New()), 400, "seal-bagId-error", "was never issued to this station: use a bag from one of its batches."},
				{"already used", laptop, batch.Bags[0].Printed, 400, "seal-bagId-error",
					"Bag " + batch.Bags[0].Printed + " was already used for parcel " + phone + ": a bag is sealed only once, so take a new one."},
				{"voided", laptop, batch.Bags[2].Printed, 400, "seal-bagId-error", "Bag " + batch.Bags[2].Printed + " was voided (torn): take another bag."},
				{"needs no bag", book, batch.Bags[3].Printed, 409, "seal-trackingId-error", "This parcel does not need a bag"},
				{"already bagged", phone, batch.Bags[3].Printed, 409, "seal-trackingId-error",
					"Parcel " + phone + " is already sealed in bag " + batch.Bags[0].Printed + ". To re-bag it, void that bag first."},
				{"unknown parcel", "HONOSUCHPARCEL", batch.Bags[3].Printed, 404, "seal-trackingId-error", "No parcel with this tracking ID is at this station."},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, body := seal(tt.trackingID, tt.bagID)
					wantStatus(t, resp, body, tt.status)
					wantText(t, tt.name, element(t, body, tt.field, "p"), tt.want)
					if tt.bagID != "" && !strings.Contains(body, `value="`+tt.bagID+`"`) {
						t.Error("the bag ID typed is not kept in its field")
					}
				})
			}
			bags, err := e.stations.ListBags(context.Background(), e.seed.Station.Principal, handoff.BagSealed)
			if err != nil || len(bags) != 1 || bags[0].TrackingID != phone {
				t.Fatalf("refused seals changed the sealed bags: %+v %v", bags, err)
			}
		})

		t.Run("route waits for sealing", func(t *testing.T) {
			rt := e.plan(t, mondayDate, handoff.RouteParcel{TrackingID: phone}, handoff.RouteParcel{TrackingID: laptop})
			resp, body := b.get("/station/routes/" + rt.ID)
			wantStatus(t, resp, body, http.StatusOK)
			unsealed := element(t, body, "unsealed", "section")
			wantText(t, "unsealed parcels", unsealed, "Seal before loading", "This parcel needs a tamper-evident bag and is not sealed yet. The van cannot be loaded until it is.",
				laptop, `href="/station/bags?trackingId=`+laptop+`#seal"`)
			if strings.Contains(unsealed, phone) {
				t.Error("the sealed phone is listed as still to seal")
			}
			wantText(t, "the laptop's stop", element(t, body, "stop-"+stopOf(t, rt, laptop).ID, "li"), "Not sealed yet")
			_, home := b.get("/station")
			wantText(t, "route row", element(t, home, "route-"+rt.ID, "tr"), "1 parcel to seal")

			// The route page's link fills the form; sealing there clears the list.
			_, body = b.get("/station/bags?trackingId=" + laptop)
			wantText(t, "seal form", element(t, body, "seal", "section"), `value="`+laptop+`"`)
			resp, body = seal(laptop, batch.Bags[3].Printed)
			wantRedirect(t, resp, body, "/station/bags?sealed="+url.QueryEscape(batch.Bags[3].ID))
			_, body = b.get("/station/routes/" + rt.ID)
			if strings.Contains(body, "Seal before loading") || strings.Contains(body, "Not sealed yet") {
				t.Error("the route still asks for sealing")
			}
			if _, err := sqlstoretest.Door(e.db).LoadRoute(context.Background(), e.seed.Associates[0].Principal, rt.ID); err != nil {
				t.Errorf("the sealed route does not load: %v", err)
			}
		})
		e.assertNoInline(t)
	})
}
