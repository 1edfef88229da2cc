package web_test

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/tracking"
)

// monday is a working day, 10:00 in London.
var monday = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// The service dates of monday and the day after.
const (
	mondayDate  = "2026-11-23"
	tuesdayDate = "2026-11-24"
)

// Mobiles of the recipients of the parcels the tests label, as the store
// holds them.
const (
	priyaMobile = "+447700900123"
	anaMobile   = "+447700900789"
)

// newDay is a server on a Monday morning with the fixture: a shipper with
// OTP on, the London East station and its two associates. prepare may change
// the delivery policy before the server starts.
func newDay(t *testing.T, engine string, prepare ...func(*sqlstore.DB)) *env {
	t.Helper()
	e := newEnvWith(t, engine, func(db *sqlstore.DB) {
		for _, p := range prepare {
			p(db)
		}
	})
	e.setNow(monday)
	return e
}

// parcel returns the tracking ID of the fixture's parcel with a client
// reference.
func (e *env) parcel(t *testing.T, ref string) string {
	t.Helper()
	return e.seed.parcel(t, ref)
}

// label creates a parcel of the fixture's shipper for a London recipient and
// returns its tracking ID. Above 100 GBP to a mobile it needs a passcode;
// its category is one no bag rule names, so that these tests of the
// passcode flow need no tamper-evident bag.
func (e *env) label(t *testing.T, name, line1, postcode, phone, value string, wantOTP bool) string {
	t.Helper()
	p := headphones(t, e.db, e.seed, name, line1, postcode, phone, "recipient@example.com", value)
	d := p.Decision
	if d.OTPRequired != wantOTP || d.BagRequired {
		t.Fatalf("parcel of %s GBP for %s: passcode %v, bag %v", value, name, d.OTPRequired, d.BagRequired)
	}
	return p.TrackingID
}

// headphones creates a parcel of the fixture's shipper for a London
// recipient: headphones, which need a passcode above 100 GBP to a mobile and
// never a bag.
func headphones(t *testing.T, db *sqlstore.DB, seed *fixture, name, line1, postcode, phone, email, value string) handoff.Package {
	t.Helper()
	sh, _, err := db.CreateShipment(context.Background(), seed.Shipper.Principal.ID, &handoff.ShipmentInput{
		ShipTo: &handoff.Address{Name: name, AddressLine1: line1, City: "London", PostalCode: postcode, CountryCode: "GB",
			PhoneNumber: phone, Email: email},
		ShipFrom: &warehouse,
		Packages: []handoff.PackageInput{{InsuredValue: &handoff.Money{Value: handoff.Decimal(value), Unit: "GBP"},
			Items: []handoff.Item{{Description: "Headphones", Quantity: 1, Category: "audio"}}}},
	}, "")
	if err != nil {
		t.Fatal(err)
	}
	return sh.Packages[0]
}

// priyaOTP labels a parcel for Priya that needs the passcode.
func (e *env) priyaOTP(t *testing.T) string {
	t.Helper()
	return e.label(t, "Priya Shah", "12 Mare Street", "E8 1HR", "07700 900123", "250", true)
}

// plan receives parcels at the station and plans them on a route for the
// first associate, through the store, as a test's starting point.
func (e *env) plan(t *testing.T, date string, parcels ...handoff.RouteParcel) *handoff.Route {
	t.Helper()
	ctx := context.Background()
	st := e.seed.Station.Principal
	for _, p := range parcels {
		if _, err := e.stations.ReceiveParcel(ctx, st, p.TrackingID); err != nil && handoff.ErrorCode(err) != handoff.ECONFLICT {
			t.Fatalf("receive %s: %v", p.TrackingID, err)
		}
	}
	rt, err := e.stations.CreateRoute(ctx, st, handoff.NewRoute{AssociateID: e.seed.Associates[0].Principal.ID, ServiceDate: date, Parcels: parcels})
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return rt
}

// stopOf returns the stop of a route holding a parcel.
func stopOf(t *testing.T, rt *handoff.Route, trackingID string) handoff.Stop {
	t.Helper()
	for _, s := range rt.Stops {
		for _, p := range s.Parcels {
			if p.TrackingID == trackingID {
				return s
			}
		}
	}
	t.Fatalf("no stop of %s holds %s", rt.ID, trackingID)
	return handoff.Stop{}
}

// code returns a recipient's passcode of a service date.
func (e *env) code(t *testing.T, mobile, date string) string {
	t.Helper()
	if today := e.db.Today("GB"); today != date {
		t.Fatalf("asked for the code of %s on %s", date, today)
	}
	return sqlstoretest.ContactCode(t, e.db, mobile)
}

// wrongCode returns a well-formed passcode that is not right.
func wrongCode(right string) string {
	for n := 0; ; n++ {
		if c := fmt.Sprintf("%06d", (n*7919+123457)%1000000); c != right {
			return c
		}
	}
}

// assertNoCode fails when any page a browser of e read, or any log line,
// holds one of the codes.
func (e *env) assertNoCode(t *testing.T, codes ...string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.bodies) == 0 {
		t.Fatal("no page was read")
	}
	for _, c := range codes {
		for _, b := range e.bodies {
			if strings.Contains(b, c) {
				t.Errorf("a page contains the code %s:\n%s", c, b)
			}
		}
		if strings.Contains(e.log.String(), c) {
			t.Errorf("the log contains the code %s", c)
		}
	}
}

// scriptTagRE matches the opening tag of a script element, handlerRE an
// event-handler attribute.
var (
	scriptTagRE = regexp.MustCompile(`(?i)<script\b[^>]*>`)
	handlerRE   = regexp.MustCompile(`(?i)\son[a-z]+=`)
)

// assertNoInline fails when a page a browser of e read has inline script or
// style, or an event-handler attribute, which the Content-Security-Policy
// would block. A script loaded from this site's own static files is fine.
func (e *env) assertNoInline(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, b := range e.bodies {
		for _, tag := range scriptTagRE.FindAllString(b, -1) {
			if !strings.Contains(tag, ` src="/static/`) {
				t.Errorf("a page has an inline script %s:\n%s", tag, b)
			}
		}
		if strings.Contains(b, " style=") || handlerRE.MatchString(b) {
			t.Errorf("a page has inline style or an event handler:\n%s", b)
		}
	}
}

// formPost submits a form with the page's CSRF token.
func (b *browser) formPost(path, token string, fields ...string) (*http.Response, string) {
	b.t.Helper()
	form := url.Values{"csrf": {token}}
	for i := 0; i+1 < len(fields); i += 2 {
		form.Add(fields[i], fields[i+1])
	}
	return b.post(path, form)
}

// formUpload submits a multipart form, as a browser sends one with a file:
// the fields, and the photo from photo/testdata when file is not "".
func (b *browser) formUpload(path, token, file string, fields ...string) (*http.Response, string) {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if token != "" {
		mw.WriteField("csrf", token)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	if file != "" {
		data, err := os.ReadFile(filepath.Join("..", "photo", "testdata", file))
		if err != nil {
			b.t.Fatal(err)
		}
		fw, _ := mw.CreateFormFile("photo", file)
		fw.Write(data)
	} else {
		// A file field left empty is sent as a part without a file name.
		mw.WriteField("photo", "")
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

// follow reads the page a redirect points to.
func (b *browser) follow(resp *http.Response, body string) (*http.Response, string) {
	b.t.Helper()
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("%s %s: status %d, want a redirect\n%s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body)
	}
	return b.get(resp.Header.Get("Location"))
}

// element returns the HTML of the element with an id, up to its matching
// closing tag, so that a test can tell what is shown where.
func element(t *testing.T, body, id, tag string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no element #%s in page:\n%s", id, body)
	}
	start := strings.LastIndex(body[:i], "<"+tag)
	if start < 0 {
		t.Fatalf("element #%s is not a %s", id, tag)
	}
	open := regexp.MustCompile(`<` + tag + `[\s>]|</` + tag + `>`)
	depth := 0
	for _, m := range open.FindAllStringIndex(body[start:], -1) {
		if body[start+m[0]+1] == '/' {
			depth--
		} else {
			depth++
		}
		if depth == 0 {
			return body[start : start+m[1]]
		}
	}
	t.Fatalf("element #%s is not closed", id)
	return ""
}

// wantText fails unless the HTML body shows each of want; entities are
// read as the browser would ("recipient&#39;s" is "recipient's").
func wantText(t *testing.T, where, body string, want ...string) {
	t.Helper()
	body = html.UnescapeString(body)
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q:\n%s", where, w, body)
		}
	}
}

// stage returns where a parcel is, as the station sees it.
func (e *env) stage(t *testing.T, trackingID string) string {
	t.Helper()
	tr, err := e.db.Tracking(context.Background(), e.seed.Shipper.Principal.ID, trackingID)
	if err != nil {
		t.Fatal(err)
	}
	last := tr.Events[len(tr.Events)-1]
	return last.Code + "/" + last.Detail
}

var routeLinkRE = regexp.MustCompile(`^/station/routes/(rt_[0-9a-z]+)\?done=planned$`)

func TestStationReceiveAndPlan(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine)
		b := e.signedIn(t, e.seed.Station)
		phone, book := e.parcel(t, "order-1001-phone"), e.parcel(t, "order-1002-book")
		alex := e.seed.Associates[0].Principal

		resp, page := b.get("/station")
		wantStatus(t, resp, page, http.StatusOK)
		wantText(t, "station home", page, "London East Station", "Receive parcel", "Plan a route", "Routes of Monday 23 November 2026",
			"No routes planned for this day.", "Alex Driver", "Sam Courier", `value="`+mondayDate+`"`)
		token := csrf(t, page)

		t.Run("receive", func(t *testing.T) {
			tests := []struct {
				name, id string
				status   int
				want     string
			}{
				{"new parcel", phone, 200, "Parcel " + phone + " arrived at the station and can go on a route."},
				{"second parcel", book, 200, "Parcel " + book + " arrived at the station"},
				{"already in", phone, 409, "The parcel is already at the station."},
				{"unknown", "HONOSUCHPARCEL", 404, "Parcel not found."},
				{"empty", "  ", 400, "Enter the tracking ID of the parcel."},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, body := b.formPost("/station/receive", token, "trackingId", tt.id, "date", mondayDate)
					wantStatus(t, resp, body, tt.status)
					wantText(t, "receive answer", body, tt.want, `action="/station/receive"`)
					if tt.status != 200 && strings.TrimSpace(tt.id) != "" && !strings.Contains(body, `value="`+tt.id+`"`) {
						t.Error("the refused tracking ID is not kept in the field")
					}
				})
			}
		})

		t.Run("refused plans store nothing", func(t *testing.T) {
			tests := []struct {
				name   string
				fields []string
				want   map[string]string // id of the field → message next to it
			}{
				{"no associate, bad date", []string{"associate", "", "serviceDate", "23/11/2026", "parcels", phone}, map[string]string{
					"associate-error":   "The associate is required.",
					"serviceDate-error": "The service date must be a date as YYYY-MM-DD.",
				}},
				{"in the past", []string{"associate", alex.ID, "serviceDate", "2026-11-20", "parcels", phone}, map[string]string{
					"serviceDate-error": "The service date is in the past",
				}},
				{"unknown associate", []string{"associate", "da_nosuchassociate0", "serviceDate", mondayDate, "parcels", phone}, map[string]string{
					"associate-error": "The associate: no such delivery associate at this station.",
				}},
				{"no parcels", []string{"associate", alex.ID, "serviceDate", mondayDate, "parcels", "\n \n"}, map[string]string{
					"parcels-error": "The parcel list: at least one parcel is required.",
				}},
				{"bad lines", []string{"associate", alex.ID, "serviceDate", mondayDate, "parcels", phone + " 07:30\n\nHONOSUCHPARCEL\n" + book + " 25:00\n" + book}, map[string]string{
					"parcels-error": "Line 3, HONOSUCHPARCEL: no such parcel at this station.",
				}},
				{"bad time", []string{"associate", alex.ID, "serviceDate", mondayDate, "parcels", phone + "\n" + book + " 7h30"}, map[string]string{
					"parcels-error": "Line 2, " + book + ": the time must be a time of day as HH:MM.",
				}},
				{"listed twice", []string{"associate", alex.ID, "serviceDate", mondayDate, "parcels", phone + "\n\n" + phone}, map[string]string{
					"parcels-error": "Line 3, " + phone + " is listed twice.",
				}},
				{"three words", []string{"associate", alex.ID, "serviceDate", mondayDate, "parcels", phone + " 10:00 please"}, map[string]string{
					"parcels-error": "Line 1: write one tracking ID, then, if you want, the planned time as HH:MM.",
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					resp, body := b.formPost("/station/routes", token, append(tt.fields, "date", mondayDate)...)
					wantStatus(t, resp, body, http.StatusBadRequest)
					wantText(t, "refused plan", body, "Nothing was planned")
					for id, msg := range tt.want {
						tag := "p"
						if id == "parcels-error" {
							tag = "div"
						}
						wantText(t, "#"+id, element(t, body, id, tag), msg)
					}
					// What was typed comes back, to be corrected rather than retyped.
					for i := 0; i+1 < len(tt.fields); i += 2 {
						if tt.fields[i] == "parcels" && strings.TrimSpace(tt.fields[i+1]) != "" && !strings.Contains(body, tt.fields[i+1]) {
							t.Errorf("the parcels typed are not shown back")
						}
					}
					routes, err := e.stations.ListRoutes(context.Background(), e.seed.Station.Principal, mondayDate)
					if err != nil || len(routes) != 0 {
						t.Fatalf("a refused plan stored routes %v (%v)", routes, err)
					}
				})
			}
			// The bad-lines case names each line that is wrong.
			_, body := b.formPost("/station/routes", token, "associate", alex.ID, "serviceDate", mondayDate, "date", mondayDate,
				"parcels", phone+" 07:30\n\nHONOSUCHPARCEL\n"+book+" 25:00\n"+book)
			wantText(t, "bad lines", element(t, body, "parcels-error", "div"),
				"Line 3, HONOSUCHPARCEL: no such parcel at this station.",
				"Line 4, "+book+": the time must be a time of day as HH:MM.",
				"Line 5, "+book+" is listed twice.")
		})

		var routeID string
		t.Run("plan", func(t *testing.T) {
			// A passcode stop before contact hours is a warning at the
			// field first: nothing is planned until the station confirms.
			resp, body := b.formPost("/station/routes", token, "associate", alex.ID, "serviceDate", mondayDate, "date", mondayDate,
				"parcels", phone+" 07:30\r\n"+book+"\r\n")
			wantStatus(t, resp, body, http.StatusOK)
			wantText(t, "warning at the parcels", element(t, body, "parcels-warning", "p"),
				"1 passcode stop would be planned outside contact hours 08:00-20:00")
			wantText(t, "the typed parcels kept", body, phone+" 07:30", `id="plan-text-anyway"`)
			if routes, _ := e.stations.ListRoutes(context.Background(), e.seed.Station.Principal, mondayDate); len(routes) != 0 {
				t.Fatalf("a warned plan stored routes %v", routes)
			}
			resp, body = b.formPost("/station/routes", token, "associate", alex.ID, "serviceDate", mondayDate, "date", mondayDate,
				"parcels", phone+" 07:30\r\n"+book+"\r\n", "confirm", "1")
			wantStatus(t, resp, body, http.StatusSeeOther)
			m := routeLinkRE.FindStringSubmatch(resp.Header.Get("Location"))
			if m == nil {
				t.Fatalf("plan redirected to %q", resp.Header.Get("Location"))
			}
			routeID = m[1]
			resp, body = b.follow(resp, body)
			wantStatus(t, resp, body, http.StatusOK)
			wantText(t, "route page", body, "Route planned with 2 stops.", "Alex Driver", "Planned, van not loaded", "08:00-20:00",
				"1 passcode stop planned outside contact hours 08:00-20:00.")
			rt, err := e.stations.FindRoute(context.Background(), e.seed.Station.Principal, routeID)
			if err != nil {
				t.Fatal(err)
			}
			ps, bs := stopOf(t, rt, phone), stopOf(t, rt, book)
			priya := element(t, body, "stop-"+ps.ID, "li")
			wantText(t, "Priya's stop", priya, "07:30", "Priya Shah", "12 Mare Street", "E8 1HR", "Passcode", "Bag scan", "Waiting for the passcode",
				"Planned at 07:30 — outside contact hours 08:00-20:00: move it", phone, "On a route, van not loaded yet")
			tom := element(t, body, "stop-"+bs.ID, "li")
			wantText(t, "Tom's stop", tom, "Tom Baker", "40 Bow Road", "Photo", book)
			if strings.Contains(tom, "outside contact hours") || strings.Contains(tom, "badge otp") {
				t.Errorf("Tom's stop needs no passcode and is not flagged:\n%s", tom)
			}

			_, home := b.get("/station")
			row := element(t, home, "route-"+routeID, "tr")
			wantText(t, "route row", row, "Alex Driver", "Planned, van not loaded", ">2<", "1 passcode stop outside 08:00-20:00")

			// Moving the stop into contact hours clears the flag.
			move := "/station/routes/" + routeID + "/stops/" + ps.ID + "/move"
			resp, body = b.formPost(move, token, "plannedTime", "7h")
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantText(t, "refused move", element(t, body, "stop-"+ps.ID, "li"), "The planned time must be a time of day as HH:MM.")
			resp, body = b.formPost(move, token, "plannedTime", "10:30")
			wantRedirect(t, resp, body, "/station/routes/"+routeID+"?moved="+ps.ID+"#stop-"+ps.ID)
			_, body = b.follow(resp, body)
			wantText(t, "route after the move", body, "Stop "+fmt.Sprint(ps.Position)+" is now planned at 10:30.")
			if strings.Contains(body, "move it") {
				t.Error("the moved stop is still flagged")
			}
			_, home = b.get("/station")
			wantText(t, "route row after the move", element(t, home, "route-"+routeID, "tr"), "No passcode stop outside 08:00-20:00")
		})
		e.assertNoInline(t)

		t.Run("other days", func(t *testing.T) {
			resp, body := b.get("/station?date=" + tuesdayDate)
			wantStatus(t, resp, body, http.StatusOK)
			wantText(t, "Tuesday", body, "Routes of Tuesday 24 November 2026", "No routes planned for this day.", "Back to today")
			resp, body = b.get("/station?date=yesterday")
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantText(t, "bad date", element(t, body, "date-error", "p"), "The date must be a date as YYYY-MM-DD.")
		})

		t.Run("another station's route", func(t *testing.T) {
			other, creds, err := e.db.CreatePrincipal(context.Background(), handoff.NewPrincipal{Kind: "station", Name: "Leeds Station", Market: "GB"})
			if err != nil {
				t.Fatal(err)
			}
			ob := e.browser(t)
			resp, body := ob.signIn(other.ID, creds.Password, "")
			wantStatus(t, resp, body, http.StatusSeeOther)
			resp, body = ob.get("/station/routes/" + routeID)
			wantStatus(t, resp, body, http.StatusNotFound)
			if strings.Contains(body, "Priya") {
				t.Error("another station sees the route")
			}
			_, home := ob.get("/station")
			if strings.Contains(home, routeID) || strings.Contains(home, "Alex Driver") {
				t.Error("another station lists this station's route or associates")
			}
		})
	})
}

// TestContactHoursFlag plans a passcode stop at 07:30, before contact hours:
// the station's route page and the associate's itinerary and stop say so,
// on that stop only.
func TestContactHoursFlag(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine)
		phone, book := e.priyaOTP(t), e.parcel(t, "order-1002-book")
		rt := e.plan(t, mondayDate, handoff.RouteParcel{TrackingID: phone, PlannedTime: "07:30"}, handoff.RouteParcel{TrackingID: book, PlannedTime: "07:00"})
		early, plain := stopOf(t, rt, phone), stopOf(t, rt, book)

		station := e.signedIn(t, e.seed.Station)
		resp, body := station.get("/station/routes/" + rt.ID)
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "flagged stop", element(t, body, "stop-"+early.ID, "li"), "Planned at 07:30 — outside contact hours 08:00-20:00: move it")
		if s := element(t, body, "stop-"+plain.ID, "li"); strings.Contains(s, "outside contact hours") {
			t.Errorf("a stop without a passcode is flagged:\n%s", s)
		}
		_, home := station.get("/station")
		wantText(t, "route row", element(t, home, "route-"+rt.ID, "tr"), `class="badge warn"`, "1 passcode stop outside 08:00-20:00")

		da := e.signedIn(t, e.seed.Associates[0])
		resp, body = da.get("/associate")
		wantStatus(t, resp, body, http.StatusOK)
		card := element(t, body, "stop-"+early.ID, "a")
		wantText(t, "itinerary card", card, "07:30", "Priya Shah", "12 Mare Street", "Passcode",
			"Planned at 07:30 — outside contact hours 08:00-20:00")
		if strings.Contains(card, "move it") {
			t.Error("the associate is told to move the stop, which only the station can")
		}
		if c := element(t, body, "stop-"+plain.ID, "a"); strings.Contains(c, "outside contact hours") || !strings.Contains(c, "Photo") {
			t.Errorf("Tom's card:\n%s", c)
		}
		wantText(t, "itinerary", body, "1 passcode stop outside contact hours 08:00-20:00")
		_, stop := da.get("/associate/stops/" + early.ID)
		wantText(t, "stop page", stop, "Planned at 07:30 — outside contact hours 08:00-20:00")

		// Once the passcode is checked there is nothing left to move.
		ctx, alex := context.Background(), e.seed.Associates[0].Principal
		if _, err := sqlstoretest.Door(e.db).LoadRoute(ctx, alex, rt.ID); err != nil {
			t.Fatal(err)
		}
		if res, err := sqlstoretest.Door(e.db).VerifyCode(ctx, alex, early.ID, e.code(t, priyaMobile, mondayDate)); err != nil || !res.Correct {
			t.Fatalf("verify: %v %v", res, err)
		}
		_, body = station.get("/station/routes/" + rt.ID)
		if strings.Contains(body, "outside contact hours") || strings.Contains(element(t, body, "stop-"+early.ID, "li"), `name="plannedTime"`) {
			t.Error("the delivered stop is still flagged or offered for moving")
		}
		_, home = station.get("/station")
		wantText(t, "route row", element(t, home, "route-"+rt.ID, "tr"), "No passcode stop outside 08:00-20:00")
	})
}

// TestAssociateStop walks a stop with a passcode parcel and a plain one
// through the app's forms, and checks that the code is never on a page.
func TestAssociateStop(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine)
		phone := e.priyaOTP(t)
		casing := e.label(t, "Priya Shah", "12 Mare Street", "E8 1HR", "07700 900123", "20", false)
		headphones := e.label(t, "Ana Lopez", "7 Roman Road", "E2 0HU", "07700 900789", "300", true)
		rt := e.plan(t, mondayDate, handoff.RouteParcel{TrackingID: phone}, handoff.RouteParcel{TrackingID: casing}, handoff.RouteParcel{TrackingID: headphones})
		priya, ana := stopOf(t, rt, phone), stopOf(t, rt, headphones)
		if priya.ID == ana.ID || len(priya.Parcels) != 2 {
			t.Fatalf("Priya's parcels should share a stop of their own: %+v", rt.Stops)
		}
		code, anaCode := e.code(t, priyaMobile, mondayDate), e.code(t, anaMobile, mondayDate)
		da := e.signedIn(t, e.seed.Associates[0])
		stopPath := "/associate/stops/" + priya.ID

		resp, body := da.get("/associate")
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "itinerary", body, "Today's deliveries", "Route of Monday 23 November 2026", "Planned, van not loaded",
			`action="/associate/routes/`+rt.ID+`/load"`, "Load van", `href="/associate/stops/`+priya.ID+`"`, "To do")
		token := csrf(t, body)

		t.Run("before loading", func(t *testing.T) {
			resp, body := da.get(stopPath)
			wantStatus(t, resp, body, http.StatusOK)
			wantText(t, "stop before loading", body, "Load the van first", "Priya Shah", "On a route, van not loaded yet")
			if strings.Contains(body, `name="code"`) || strings.Contains(body, `action="`+stopPath+`/deliver"`) {
				t.Error("the stop offers actions before the van is loaded")
			}
			// A form sent anyway is answered on the stop page.
			resp, body = da.formPost(stopPath+"/verify", token, "code", code)
			wantStatus(t, resp, body, http.StatusConflict)
			wantText(t, "verify before loading", element(t, body, "stop-alert", "p"), "Load the route first")
			if ev, _ := sqlstoretest.CodeChecks(t, e.db, priya.ID); ev != 0 {
				t.Errorf("%d codes were evaluated before loading", ev)
			}
		})

		t.Run("load", func(t *testing.T) {
			resp, body := da.formPost("/associate/routes/"+rt.ID+"/load", token)
			wantRedirect(t, resp, body, "/associate?done=loaded")
			_, body = da.follow(resp, body)
			wantText(t, "itinerary after loading", body, "Van loaded", "Loaded, out for delivery")
			if strings.Contains(body, "/load\"") {
				t.Error("a loaded route still offers Load van")
			}
			resp, body = da.formPost("/associate/routes/"+rt.ID+"/load", token)
			wantStatus(t, resp, body, http.StatusConflict)
			wantText(t, "second load", body, "The route is already loaded.", "Today's deliveries")
		})

		t.Run("stop page", func(t *testing.T) {
			resp, body := da.get(stopPath)
			wantStatus(t, resp, body, http.StatusOK)
			wantText(t, "stop page", body, `inputmode="numeric"`, `autocomplete="one-time-code"`, `pattern="[0-9]{6}"`,
				"3 attempts left", "Re-send code to the recipient", "3 re-sends left today", "Could not deliver",
				">Customer not available<", "Out for delivery")
			// One step at a time: the code first, the place and the photo
			// on their own steps, which the page links to.
			wantText(t, "the code step", element(t, body, "steps", "ol"), `data-step="code" aria-current="step"`, `data-step="place"`, `data-step="photo"`)
			if strings.Contains(body, `name="place"`) {
				t.Error("the code step also shows the place step's form")
			}
			_, body = da.get(stopPath + "?step=place")
			wantText(t, "place step", element(t, body, "deliver-h", "section"), "Delivered to…", ">the porch<", `name="step" value="photo"`)
			if strings.Contains(body, `name="code"`) {
				t.Error("the place step also shows the code form")
			}
			_, body = da.get(stopPath + "?step=photo&place=" + tracking.DeliveredToPorch)
			wantText(t, "photo step", element(t, body, "deliver-h", "section"), "the porch", "Passcode parcels are not included",
				`name="place" value="`+tracking.DeliveredToPorch+`"`)
			_, body = da.get(stopPath + "?step=photo&place=Moon")
			wantText(t, "a place that is none", element(t, body, "place-error", "p"), "Choose where you left the parcels.")
			if strings.Contains(body, "Weaker fallback") || strings.Contains(body, `name="digits"`) {
				t.Error("the phone-digits fallback is offered although the shipper has not allowed it")
			}
			if strings.Contains(body, `name="phone`) || strings.Contains(body, `type="tel"`) {
				t.Error("the stop page has a phone field")
			}
			// A crafted link cannot claim a delivery.
			_, body = da.get(stopPath + "?done=verified")
			if strings.Contains(body, "Code correct") {
				t.Error("?done=verified claims a delivery that did not happen")
			}
		})

		t.Run("refusals in place", func(t *testing.T) {
			resp, body := da.formPost(stopPath+"/verify", token, "code", "12ab")
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantText(t, "malformed code", element(t, body, "code-error", "p"), "Enter the 6-digit passcode the recipient gives you.")
			resp, body = da.formUpload(stopPath+"/deliver", token, "", "place", "")
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantText(t, "no place", element(t, body, "place-error", "p"), "Choose where you left the parcels.")
			resp, body = da.formPost(stopPath+"/attempt", token, "reason", "Bored")
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantText(t, "bad reason", element(t, body, "reason-error", "p"), "Choose why the parcels could not be delivered.")
			resp, body = da.formPost(stopPath+"/digits", token, "digits", "23")
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("digits where not allowed: status %d", resp.StatusCode)
			}
			wantText(t, "fallback not allowed", element(t, body, "stop-alert", "p"), "has not allowed the phone-digits fallback")
		})

		t.Run("wrong code", func(t *testing.T) {
			resp, body := da.formPost(stopPath+"/verify", token, "code", wrongCode(code))
			wantRedirect(t, resp, body, stopPath+"?done=wrong")
			_, body = da.follow(resp, body)
			wantText(t, "after a wrong code", element(t, body, "code-error", "p"), "Wrong code — 2 attempts left.")
			wantText(t, "after a wrong code", body, "2 attempts left. The recipient")
		})

		t.Run("resend", func(t *testing.T) {
			resp, body := da.formPost(stopPath+"/resend", token)
			wantRedirect(t, resp, body, stopPath+"?done=resent")
			_, body = da.follow(resp, body)
			wantText(t, "after a re-send", body, "Code re-sent to the recipient's own phone and email.", "2 re-sends left today")
		})

		t.Run("right code", func(t *testing.T) {
			resp, body := da.formPost(stopPath+"/verify", token, "code", " "+code+" ")
			wantRedirect(t, resp, body, stopPath+"?done=verified")
			_, body = da.follow(resp, body)
			wantText(t, "after the right code", body, "Code correct: the passcode parcels are delivered.")
			wantText(t, "the phone", element(t, body, "parcel-"+phone, "li"), "Delivered with OTP")
			wantText(t, "the case", element(t, body, "parcel-"+casing, "li"), "Out for delivery")
			if strings.Contains(body, `name="code"`) {
				t.Error("the code form is still offered")
			}
			resp, body = da.formPost(stopPath+"/verify", token, "code", code)
			wantStatus(t, resp, body, http.StatusConflict)
			wantText(t, "code again", element(t, body, "stop-alert", "p"), "This stop is already delivered.")
		})

		t.Run("deliver the rest", func(t *testing.T) {
			_, body := da.get(stopPath)
			wantText(t, "after the code, the place", element(t, body, "steps", "ol"), `data-step="place" aria-current="step"`)
			_, body = da.get(stopPath + "?step=photo&place=" + tracking.DeliveredToPorch)
			wantText(t, "deliver form", element(t, body, "deliver-h", "section"), `enctype="multipart/form-data"`, `type="file"`,
				`name="photo"`, `accept="image/*"`, `capture="environment"`)
			// Left at the porch, the parcel needs its photo; a file that is no
			// image is refused next to the field.
			resp, body := da.formUpload(stopPath+"/deliver", token, "", "place", tracking.DeliveredToPorch)
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantText(t, "no photo", element(t, body, "photo-error", "p"), "needs a photo")
			resp, body = da.formUpload(stopPath+"/deliver", token, "not-an-image.jpg", "place", tracking.DeliveredToPorch)
			wantStatus(t, resp, body, http.StatusBadRequest)
			wantText(t, "not an image", element(t, body, "photo-error", "p"), "is not a JPEG, PNG or WebP image")
			// The refused form comes back on the photo step with the place
			// chosen, asking only for the photo again.
			wantText(t, "the place kept", element(t, body, "deliver-h", "section"), `name="place" value="`+tracking.DeliveredToPorch+`"`,
				"Take or choose the photo again")
			if got := e.stage(t, casing); got != "OutForDelivery/" {
				t.Fatalf("a refused delivery moved the case: %s", got)
			}
			resp, body = da.formUpload(stopPath+"/deliver", token, "plain.png", "place", tracking.DeliveredToPorch)
			wantRedirect(t, resp, body, stopPath+"?done=delivered")
			_, body = da.follow(resp, body)
			wantText(t, "after delivering", body, "Delivered: the parcels without a passcode are done.")
			wantText(t, "the case", element(t, body, "parcel-"+casing, "li"), "Delivered to porch")
			wantText(t, "the phone", element(t, body, "parcel-"+phone, "li"), "Delivered with OTP")
			if strings.Contains(body, "Could not deliver") {
				t.Error("a finished stop still offers a failed attempt")
			}
			_, it := da.get("/associate")
			wantText(t, "itinerary", element(t, it, "stop-"+priya.ID, "a"), "Delivered")
			if info, err := e.db.PhotoInfo(context.Background(), casing); err != nil || info == nil || info.ID == "" {
				t.Errorf("no photo kept for the case: %+v %v", info, err)
			}
		})

		t.Run("could not deliver", func(t *testing.T) {
			path := "/associate/stops/" + ana.ID
			// The first POST asks; nothing is recorded until it is confirmed.
			resp, body := da.formPost(path+"/attempt", token, "reason", tracking.CustomerUnavailable)
			wantStatus(t, resp, body, http.StatusOK)
			wantText(t, "the question", element(t, body, "confirm", "section"), "Record a failed attempt?", "Customer not available",
				`name="confirm" value="yes"`, `name="reason" value="`+tracking.CustomerUnavailable+`"`)
			if got := e.stage(t, headphones); got != "OutForDelivery/" {
				t.Fatalf("asking recorded the attempt: %s", got)
			}
			resp, body = da.formPost(path+"/attempt", token, "reason", tracking.CustomerUnavailable, "confirm", "yes")
			wantRedirect(t, resp, body, path+"?done=attempted")
			_, body = da.follow(resp, body)
			wantText(t, "after the attempt", body, "Failed attempt recorded: bring the parcels back to the station.",
				"The passcode attempt has ended.", "go back to the station")
			wantText(t, "the headphones", element(t, body, "parcel-"+headphones, "li"), "Delivery attempted: customer unavailable")
			if got := e.stage(t, headphones); got != "DeliveryAttempted/CustomerUnavailable" {
				t.Errorf("the headphones' last event is %s", got)
			}
		})

		e.assertNoCode(t, code, anaCode)
		e.assertNoInline(t)
	})
}

// TestAttemptEndsAndParcelsReturn enters three wrong codes: the attempt ends
// and the page says so plainly. The station receives the parcel back
// through its form, and after a second failed day it goes back to the
// shipper.
func TestAttemptEndsAndParcelsReturn(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine, func(db *sqlstore.DB) { db.Policy.MaxFailedDays = 2 })
		phone := e.priyaOTP(t)
		rt := e.plan(t, mondayDate, handoff.RouteParcel{TrackingID: phone})
		stop := stopOf(t, rt, phone)
		code := e.code(t, priyaMobile, mondayDate)
		da := e.signedIn(t, e.seed.Associates[0])
		_, body := da.get("/associate")
		token := csrf(t, body)
		resp, body := da.formPost("/associate/routes/"+rt.ID+"/load", token)
		wantStatus(t, resp, body, http.StatusSeeOther)

		stopPath := "/associate/stops/" + stop.ID
		for i, want := range []string{"?done=wrong", "?done=wrong", "?done=ended"} {
			resp, body := da.formPost(stopPath+"/verify", token, "code", wrongCode(code))
			wantRedirect(t, resp, body, stopPath+want)
			_, body = da.follow(resp, body)
			switch i {
			case 0:
				wantText(t, "first wrong code", body, "Wrong code — 2 attempts left.")
			case 1:
				wantText(t, "second wrong code", body, "Wrong code — 1 attempt left.")
			case 2:
				wantText(t, "third wrong code", element(t, body, "stop-alert", "p"), "that was the last attempt", "bring the passcode parcels back to the station")
				wantText(t, "third wrong code", element(t, body, "attempt-ended", "p"), "The passcode attempt has ended.", "go back to the station")
				wantText(t, "third wrong code", element(t, body, "parcel-"+phone, "li"), "Delivery attempted: passcode not available")
				if strings.Contains(body, `name="code"`) || strings.Contains(body, "/resend") {
					t.Error("the code form or re-send is still offered after the attempt ended")
				}
			}
		}
		resp, body = da.formPost(stopPath+"/verify", token, "code", code)
		wantStatus(t, resp, body, http.StatusConflict)
		wantText(t, "the right code too late", element(t, body, "stop-alert", "p"), "The delivery attempt at this stop has ended")

		station := e.signedIn(t, e.seed.Station)
		_, page := station.get("/station")
		stoken := csrf(t, page)
		resp, body = station.formPost("/station/receive", stoken, "trackingId", phone)
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "received back", element(t, body, "receive-result", "p"),
			"Parcel "+phone+" is back from a failed attempt. It can go out again on Tuesday 24 November 2026.")

		// Tuesday: out again, not delivered again, back again: that is the
		// second failed day, and the parcel goes back to the shipper. Monday's
		// sign-in has expired overnight.
		e.setNow(monday.AddDate(0, 0, 1))
		station = e.signedIn(t, e.seed.Station)
		_, page = station.get("/station")
		stoken = csrf(t, page)
		rt2, err := e.stations.CreateRoute(context.Background(), e.seed.Station.Principal, handoff.NewRoute{
			AssociateID: e.seed.Associates[0].Principal.ID, ServiceDate: tuesdayDate, Parcels: []handoff.RouteParcel{{TrackingID: phone}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sqlstoretest.Door(e.db).LoadRoute(context.Background(), e.seed.Associates[0].Principal, rt2.ID); err != nil {
			t.Fatal(err)
		}
		tuesdayCode := e.code(t, priyaMobile, tuesdayDate)
		if _, err := sqlstoretest.Door(e.db).RecordAttempt(context.Background(), e.seed.Associates[0].Principal, rt2.Stops[0].ID, tracking.CustomerUnavailable); err != nil {
			t.Fatal(err)
		}
		resp, body = station.formPost("/station/receive", stoken, "trackingId", phone)
		wantStatus(t, resp, body, http.StatusOK)
		res := element(t, body, "receive-result", "p")
		wantText(t, "returned to shipper", res, "Parcel "+phone+" is back after 2 failed delivery days and goes back to the shipper")
		if !strings.Contains(res, `class="warning"`) {
			t.Error("going back to the shipper is not shown as a warning")
		}
		e.assertNoCode(t, code, tuesdayCode)
	})
}

// TestAssociateLockedAndUnlocked locks an associate's checks after too many
// wrong codes: the stop page says to ask the station, the station sees the
// lock and lifts it, and the right code then works.
func TestAssociateLockedAndUnlocked(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine, func(db *sqlstore.DB) { db.Policy.WrongCodeLimit = 2 })
		phone := e.priyaOTP(t)
		rt := e.plan(t, mondayDate, handoff.RouteParcel{TrackingID: phone})
		stopPath := "/associate/stops/" + stopOf(t, rt, phone).ID
		code := e.code(t, priyaMobile, mondayDate)
		alex := e.seed.Associates[0].Principal
		da := e.signedIn(t, e.seed.Associates[0])
		_, body := da.get("/associate")
		token := csrf(t, body)
		da.formPost("/associate/routes/"+rt.ID+"/load", token)
		for range 2 {
			resp, body := da.formPost(stopPath+"/verify", token, "code", wrongCode(code))
			wantStatus(t, resp, body, http.StatusSeeOther)
		}
		resp, body := da.formPost(stopPath+"/verify", token, "code", code)
		wantStatus(t, resp, body, http.StatusLocked)
		wantText(t, "locked", element(t, body, "stop-alert", "p"), "locked", "ask your station")
		wantText(t, "locked", body, "Priya Shah", "1 attempt left")

		station := e.signedIn(t, e.seed.Station)
		_, page := station.get("/station")
		row := element(t, page, "associate-"+alex.ID, "li")
		wantText(t, "locked associate", row, "Locked after too many wrong codes", `action="/station/associates/`+alex.ID+`/unlock"`, "Unlock")
		if s := element(t, page, "associate-"+e.seed.Associates[1].Principal.ID, "li"); strings.Contains(s, "Locked") {
			t.Error("the other associate is shown locked")
		}
		resp, body = station.formPost("/station/associates/"+alex.ID+"/unlock", csrf(t, page), "date", mondayDate)
		wantRedirect(t, resp, body, "/station?date="+mondayDate+"&unlocked="+alex.ID)
		_, page = station.follow(resp, body)
		wantText(t, "after unlocking", page, "Alex Driver can check passcodes again.")
		if strings.Contains(element(t, page, "associate-"+alex.ID, "li"), "Locked") {
			t.Error("the associate is still shown locked")
		}

		resp, body = da.formPost(stopPath+"/verify", token, "code", code)
		wantRedirect(t, resp, body, stopPath+"?done=verified")
		e.assertNoCode(t, code)
	})
}

// TestResendLimit re-sends the code until the limit: the button goes, and a
// form sent anyway is told why on the stop page.
func TestResendLimit(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine)
		phone := e.priyaOTP(t)
		rt := e.plan(t, mondayDate, handoff.RouteParcel{TrackingID: phone})
		stopPath := "/associate/stops/" + stopOf(t, rt, phone).ID
		da := e.signedIn(t, e.seed.Associates[0])
		_, body := da.get("/associate")
		token := csrf(t, body)
		da.formPost("/associate/routes/"+rt.ID+"/load", token)
		for i := range handoff.MaxResends {
			resp, body := da.formPost(stopPath+"/resend", token)
			wantRedirect(t, resp, body, stopPath+"?done=resent")
			_, body = da.follow(resp, body)
			if left := handoff.MaxResends - i - 1; left > 0 {
				wantText(t, "after a re-send", body, fmt.Sprintf("%d re-send", left))
			} else {
				wantText(t, "after the last re-send", body, "No re-sends left today.")
				if strings.Contains(body, stopPath+"/resend") {
					t.Error("the re-send button is still offered")
				}
			}
		}
		resp, body := da.formPost(stopPath+"/resend", token)
		wantStatus(t, resp, body, http.StatusTooManyRequests)
		wantText(t, "one re-send too many", element(t, body, "stop-alert", "p"), "already re-sent 3 times today")
	})
}

// TestPhoneDigitsFallback offers the weaker fallback only where the shipper
// allowed it, labelled as weaker, and records a delivery by it as such.
func TestPhoneDigitsFallback(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine)
		// The shipper opts in on its settings page.
		shipper := e.signedIn(t, e.seed.Shipper)
		_, page := shipper.get("/settings")
		resp, body := shipper.post("/settings", settingsForm(csrf(t, page), map[string]string{"fallback": "on"}))
		wantRedirect(t, resp, body, "/settings?saved=1")
		if !e.settings(t).SecureDelivery.PhoneDigitsFallback {
			t.Fatal("the fallback is not on")
		}
		phone := e.priyaOTP(t)
		rt := e.plan(t, mondayDate, handoff.RouteParcel{TrackingID: phone})
		stopPath := "/associate/stops/" + stopOf(t, rt, phone).ID
		da := e.signedIn(t, e.seed.Associates[0])
		_, body = da.get("/associate")
		token := csrf(t, body)
		da.formPost("/associate/routes/"+rt.ID+"/load", token)
		code := e.code(t, priyaMobile, mondayDate)

		_, body = da.get(stopPath)
		wantText(t, "stop page", body, "Weaker fallback: last two digits of the phone", "Much weaker than the passcode", `name="digits"`)
		resp, body = da.formPost(stopPath+"/digits", token, "digits", "11")
		wantRedirect(t, resp, body, stopPath+"?done=wrongdigits")
		_, body = da.follow(resp, body)
		wantText(t, "wrong digits", element(t, body, "digits-error", "p"), "Wrong digits — 2 attempts left.")
		resp, body = da.formPost(stopPath+"/digits", token, "digits", "23")
		wantRedirect(t, resp, body, stopPath+"?done=digits")
		_, body = da.follow(resp, body)
		wantText(t, "right digits", body, "Phone digits accepted", "recorded as the weaker fallback")
		wantText(t, "the phone", element(t, body, "parcel-"+phone, "li"), "Delivered with phone digits (weaker than OTP)")
		e.assertNoCode(t, code)
	})
}

// TestStopOfAnotherAssociate keeps a stop to the associate whose route it
// is: anyone else gets the 404 page, for the page and for every form.
func TestStopOfAnotherAssociate(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine)
		phone := e.priyaOTP(t)
		rt := e.plan(t, mondayDate, handoff.RouteParcel{TrackingID: phone})
		stopPath := "/associate/stops/" + stopOf(t, rt, phone).ID
		code := e.code(t, priyaMobile, mondayDate)

		sam := e.signedIn(t, e.seed.Associates[1])
		resp, body := sam.get("/associate")
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "Sam's itinerary", body, "No route for you today.")
		token := csrf(t, body)

		resp, body = sam.get(stopPath)
		wantStatus(t, resp, body, http.StatusNotFound)
		wantText(t, "another's stop", body, "Stop not found.", `class="brand"`)
		if strings.Contains(body, "Priya") {
			t.Error("the 404 page shows the recipient")
		}
		for _, post := range [][]string{
			{"/verify", "code", code}, {"/digits", "digits", "23"}, {"/resend"}, {"/deliver", "place", tracking.DeliveredToPorch},
			{"/attempt", "reason", tracking.CustomerUnavailable}, {"/attempt", "reason", tracking.CustomerUnavailable, "confirm", "yes"},
		} {
			resp, body := sam.formPost(stopPath+post[0], token, post[1:]...)
			wantStatus(t, resp, body, http.StatusNotFound)
		}
		resp, body = sam.formPost("/associate/routes/"+rt.ID+"/load", token)
		wantStatus(t, resp, body, http.StatusNotFound)
		if ev, _ := sqlstoretest.CodeChecks(t, e.db, stopOf(t, rt, phone).ID); ev != 0 {
			t.Errorf("%d codes were evaluated for another associate", ev)
		}
		for _, path := range []string{"/associate/stops/stp_nosuchstop0000", "/associate/stops/" + strings.Repeat("x", 100)} {
			resp, body = sam.get(path)
			wantStatus(t, resp, body, http.StatusNotFound)
		}

		// Station staff and shippers are not associates.
		station := e.signedIn(t, e.seed.Station)
		resp, body = station.get(stopPath)
		wantStatus(t, resp, body, http.StatusForbidden)
		shipper := e.signedIn(t, e.seed.Shipper)
		resp, body = shipper.get("/station/routes/" + rt.ID)
		wantStatus(t, resp, body, http.StatusForbidden)
		e.assertNoCode(t, code)
	})
}

// TestDeliveryFormsNeedCSRF sends each station and associate form without
// its token, and with another session's: every one is refused with 403 and
// changes nothing.
func TestDeliveryFormsNeedCSRF(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine)
		phone, book := e.priyaOTP(t), e.parcel(t, "order-1002-book")
		rt := e.plan(t, mondayDate, handoff.RouteParcel{TrackingID: phone})
		stopID := stopOf(t, rt, phone).ID
		code := e.code(t, priyaMobile, mondayDate)
		station := e.signedIn(t, e.seed.Station)
		da := e.signedIn(t, e.seed.Associates[0])
		_, other := e.signedIn(t, e.seed.Associates[1]).get("/associate")
		foreign := csrf(t, other)
		alex := e.seed.Associates[0].Principal.ID

		tests := []struct {
			b      *browser
			path   string
			fields []string
		}{
			{station, "/station/receive", []string{"trackingId", book}},
			{station, "/station/routes", []string{"associate", alex, "serviceDate", mondayDate, "parcels", book}},
			{station, "/station/routes/" + rt.ID + "/stops/" + stopID + "/move", []string{"plannedTime", "12:00"}},
			{station, "/station/associates/" + alex + "/unlock", nil},
			{da, "/associate/routes/" + rt.ID + "/load", nil},
			{da, "/associate/stops/" + stopID + "/verify", []string{"code", code}},
			{da, "/associate/stops/" + stopID + "/resend", nil},
			{da, "/associate/stops/" + stopID + "/attempt", []string{"reason", tracking.CustomerUnavailable, "confirm", "yes"}},
		}
		t.Run("photo form without a token", func(t *testing.T) {
			resp, body := da.formUpload("/associate/stops/"+stopID+"/deliver", "", "plain.png", "place", tracking.DeliveredToPorch)
			wantStatus(t, resp, body, http.StatusForbidden)
		})
		t.Run("multipart where no file is expected", func(t *testing.T) {
			// Only the delivery form reads a multipart body: elsewhere even the
			// right token is not found in one.
			_, page := da.get("/associate")
			resp, body := da.formUpload("/associate/stops/"+stopID+"/verify", csrf(t, page), "", "code", code)
			wantStatus(t, resp, body, http.StatusForbidden)
		})
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

		ctx := context.Background()
		if got := e.stage(t, book); got != "ReadyForReceive/" {
			t.Errorf("the book was received: last event %s", got)
		}
		rt2, err := e.stations.FindRoute(ctx, e.seed.Station.Principal, rt.ID)
		if err != nil {
			t.Fatal(err)
		}
		s := stopOf(t, rt2, phone)
		if rt2.Status != handoff.RoutePlanned || s.PlannedTime != stopOf(t, rt, phone).PlannedTime || s.OTPState != handoff.OTPPending || s.ResendsLeft != handoff.MaxResends {
			t.Errorf("a refused form changed the route: status %s, stop %+v", rt2.Status, s)
		}
		if routes, _ := e.stations.ListRoutes(ctx, e.seed.Station.Principal, mondayDate); len(routes) != 1 {
			t.Errorf("%d routes, want the one planned before", len(routes))
		}
		if ev, _ := sqlstoretest.CodeChecks(t, e.db, stopID); ev != 0 {
			t.Errorf("%d codes were evaluated", ev)
		}
		e.assertNoCode(t, code)
	})
}

// TestStopWithTwoCodes: Priya's own parcel and a gift to her from a buyer
// with another email share a stop but not a code. The gift's code delivers
// the gift alone; the page then says which parcel still needs its own code,
// and never shows either code.
func TestStopWithTwoCodes(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine)
		own := e.priyaOTP(t)
		sh, _, err := e.db.CreateShipment(context.Background(), e.seed.Shipper.Principal.ID, &handoff.ShipmentInput{
			ShipTo: &handoff.Address{Name: "Priya Shah", AddressLine1: "12 Mare Street", City: "London", PostalCode: "E8 1HR", CountryCode: "GB",
				PhoneNumber: "07700 900123", Email: "recipient@example.com"},
			ShipFrom: &handoff.Address{Name: "Demo Gadgets Warehouse", AddressLine1: "1 Dock Road", City: "London", PostalCode: "E16 1AA", CountryCode: "GB"},
			Packages: []handoff.PackageInput{{InsuredValue: &handoff.Money{Value: "250", Unit: "GBP"},
				Items: []handoff.Item{{Description: "Watch", Quantity: 1, Category: "jewellery"}}}},
			Gift: &handoff.Gift{Buyer: &handoff.Party{Name: "Sam", Email: "sam@example.net"}},
		}, "")
		if err != nil {
			t.Fatal(err)
		}
		gift := sh.Packages[0].TrackingID
		rt := e.plan(t, mondayDate, handoff.RouteParcel{TrackingID: own}, handoff.RouteParcel{TrackingID: gift})
		stop := stopOf(t, rt, own)
		if stopOf(t, rt, gift).ID != stop.ID {
			t.Fatal("the gift is not at Priya's stop")
		}
		da := e.signedIn(t, e.seed.Associates[0])
		_, body := da.get("/associate")
		token := csrf(t, body)
		resp, body := da.formPost("/associate/routes/"+rt.ID+"/load", token)
		wantStatus(t, resp, body, http.StatusSeeOther)
		giftCode := sqlstoretest.Code(t, e.db, "sam@example.net", gift)
		ownCode := sqlstoretest.Code(t, e.db, priyaMobile, own)
		if giftCode == ownCode {
			t.Fatal("the gift buyer's code is Priya's")
		}

		stopPath := "/associate/stops/" + stop.ID
		_, body = da.get(stopPath)
		if strings.Contains(body, `id="awaiting-code"`) {
			t.Error("the page says a parcel awaits another code before any code was entered")
		}
		resp, body = da.formPost(stopPath+"/verify", token, "code", giftCode)
		wantRedirect(t, resp, body, stopPath+"?done=verified")
		_, body = da.follow(resp, body)
		wantText(t, "after the gift's code", body, "Code correct: its parcels are delivered. The other passcode parcels here need their own code.")
		wantText(t, "the parcel still waiting", element(t, body, "awaiting-code", "p"), "Still waiting for a code: "+own)
		wantText(t, "the gift", element(t, body, "parcel-"+gift, "li"), "Delivered with OTP")
		if !strings.Contains(body, `name="code"`) {
			t.Fatal("the code form is gone although a parcel still needs its code")
		}
		resp, body = da.formPost(stopPath+"/verify", token, "code", ownCode)
		wantRedirect(t, resp, body, stopPath+"?done=verified")
		_, body = da.follow(resp, body)
		wantText(t, "after Priya's code", body, "Code correct: the passcode parcels are delivered.")
		if strings.Contains(body, `id="awaiting-code"`) {
			t.Error("a parcel still awaits a code after both were entered")
		}
		e.assertNoCode(t, giftCode, ownCode)
	})
}
