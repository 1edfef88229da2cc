package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestBoardPlanFromWaitingList is the station's morning on the board: the
// waiting list in postcode order and filtered, a selection planned into a
// route after the warnings at the start-time field (stops already past,
// a passcode stop outside contact hours), the stops reordered, and a stop
// moved into the past warned at its field before it is confirmed.
func TestBoardPlanFromWaitingList(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		e := newDay(t, engine) // Monday 10:00 in London
		priya := e.priyaOTP(t) // E8 1HR, passcode
		tom := e.label(t, "Tom Baker", "40 Bow Road", "E3 2AA", "07700 900456", "20", false)
		ana := e.label(t, "Ana Lopez", "3 Lea Bridge Road", "E10 5QL", "07700 900789", "20", false)
		e.receive(t, priya, tom, ana)
		b := e.signedIn(t, e.seed.Station)
		alex := e.seed.Associates[0].Principal

		resp, page := b.get("/station")
		wantStatus(t, resp, page, http.StatusOK)
		wantText(t, "waiting count", element(t, page, "count-waiting", "li"), ">3<", "Waiting for a route")
		wantText(t, "planned count", element(t, page, "count-planned", "li"), ">0<")
		list := element(t, page, "plan-select", "form")
		if i, j, k := strings.Index(list, "waiting-"+tom), strings.Index(list, "waiting-"+priya), strings.Index(list, "waiting-"+ana); i < 0 || !(i < j && j < k) {
			t.Errorf("the waiting list is not in postcode order E3, E8, E10:\n%s", list)
		}
		wantText(t, "Priya's row", element(t, page, "waiting-"+priya, "tr"), "E8 1HR", "Priya Shah", "Passcode", `name="parcel"`)
		token := csrf(t, page)

		_, page = b.get("/station?postcode=e8")
		if list := element(t, page, "plan-select", "form"); !strings.Contains(list, "waiting-"+priya) || strings.Contains(list, "waiting-"+tom) {
			t.Errorf("the E8 filter:\n%s", list)
		}
		wantText(t, "filter kept", inputTag(t, page, "postcode"), `value="e8"`)
		_, page = b.get("/station?needs=passcode")
		if list := element(t, page, "plan-select", "form"); !strings.Contains(list, "waiting-"+priya) || strings.Contains(list, "waiting-"+ana) {
			t.Errorf("the passcode filter:\n%s", list)
		}
		_, page = b.get("/station?needs=ladder")
		wantText(t, "bad filter", element(t, page, "needs-error", "p"), "What the parcel needs must be one of passcode, bag, garage.")

		plan := func(fields ...string) (*http.Response, string) {
			return b.formPost("/station/plan", token, append([]string{"date", mondayDate, "associate", alex.ID, "serviceDate", mondayDate}, fields...)...)
		}
		noRoutes := func(when string) {
			t.Helper()
			if routes, err := e.stations.ListRoutes(context.Background(), e.seed.Station.Principal, mondayDate); err != nil || len(routes) != 0 {
				t.Fatalf("%s stored routes %v (%v)", when, routes, err)
			}
		}

		// Nothing ticked.
		resp, body := plan("startTime", "11:00")
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantText(t, "nothing ticked", element(t, body, "parcel-error", "p"), "Tick at least one parcel for the route.")

		// At 10:00, stops from 09:00 would be in the past: a warning at
		// the start time, the selection kept, nothing planned.
		resp, body = plan("parcel", tom, "parcel", priya, "startTime", "09:00")
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "past warning", element(t, body, "sel-startTime-note", "p"), "2 stops would be planned at a time already past (it is 10:00 now).")
		wantText(t, "selection kept", inputTag(t, body, "pick-"+tom), "checked")
		wantText(t, "selection kept", inputTag(t, body, "pick-"+priya), "checked")
		if strings.Contains(inputTag(t, body, "pick-"+ana), "checked") {
			t.Error("a parcel not ticked comes back ticked")
		}
		wantText(t, "confirm offered", body, `id="plan-anyway"`)
		noRoutes("a warned plan")

		// Priya's passcode stop, second in postcode order, would fall at
		// 20:05: outside contact hours.
		resp, body = plan("parcel", tom, "parcel", priya, "startTime", "19:50")
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "contact-hours warning", element(t, body, "sel-startTime-note", "p"),
			"1 passcode stop would be planned outside contact hours 08:00-20:00, when the recipient may not be there to give the code.")
		noRoutes("a warned plan")

		// A refused field is an error at the field, the selection kept.
		resp, body = b.formPost("/station/plan", token, "date", mondayDate, "associate", "da_nosuchassociate0", "serviceDate", mondayDate,
			"parcel", tom, "startTime", "11:00")
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantText(t, "bad associate", element(t, body, "sel-associate-error", "p"), "The associate: no such delivery associate at this station.")
		wantText(t, "selection kept", inputTag(t, body, "pick-"+tom), "checked")
		resp, body = plan("parcel", tom, "startTime", "9h")
		wantStatus(t, resp, body, http.StatusBadRequest)
		wantText(t, "bad time", element(t, body, "sel-startTime-note", "p"), "The first stop's time must be a time of day as HH:MM.")
		noRoutes("a refused plan")

		// Confirmed: planned as warned, in postcode order.
		resp, body = plan("parcel", tom, "parcel", priya, "startTime", "09:00", "confirm", "1")
		m := routeLinkRE.FindStringSubmatch(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || m == nil {
			t.Fatalf("confirmed plan: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
		routeID := m[1]
		_, body = b.follow(resp, body)
		wantText(t, "route page", body, "Route planned with 2 stops.")
		rt, err := e.stations.FindRoute(context.Background(), e.seed.Station.Principal, routeID)
		if err != nil {
			t.Fatal(err)
		}
		ts, ps := stopOf(t, rt, tom), stopOf(t, rt, priya)
		if ts.Position != 1 || ts.PlannedTime != "09:00" || ps.Position != 2 || ps.PlannedTime != "09:15" {
			t.Errorf("stops: Tom %d at %s, Priya %d at %s; want Tom (E3) first at 09:00, Priya (E8) at 09:15", ts.Position, ts.PlannedTime, ps.Position, ps.PlannedTime)
		}
		_, page = b.get("/station")
		wantText(t, "waiting count after", element(t, page, "count-waiting", "li"), ">1<")
		wantText(t, "planned count after", element(t, page, "count-planned", "li"), ">2<")
		wantText(t, "Alex's bar", element(t, page, "associate-"+alex.ID, "li"), "<svg", "Delivered 0 · failed 0 · to do 2")

		// Priya's stop moves up, without JavaScript: a form per button.
		wantText(t, "order buttons", element(t, body, "stop-"+ps.ID, "li"), `id="up-`+ps.ID+`"`)
		resp, body = b.formPost("/station/routes/"+routeID+"/stops/"+ps.ID+"/order", token, "direction", "up")
		wantRedirect(t, resp, body, "/station/routes/"+routeID+"?reordered="+ps.ID+"#stop-"+ps.ID)
		_, body = b.follow(resp, body)
		wantText(t, "after moving up", body, "The stop is now stop 1, at 09:00.")
		if i, j := strings.Index(body, `id="stop-`+ps.ID+`"`), strings.Index(body, `id="stop-`+ts.ID+`"`); i > j {
			t.Error("Priya's stop is not listed first after moving up")
		}

		// Moving Tom's stop to 09:30 (already past) is a warning at its
		// field; confirmed, it moves.
		move := "/station/routes/" + routeID + "/stops/" + ts.ID + "/move"
		resp, body = b.formPost(move, token, "plannedTime", "09:30")
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "move warning", element(t, body, "time-"+ts.ID+"-warning", "p"), "This time is already past (it is 10:00 now).")
		wantText(t, "typed time kept", inputTag(t, body, "time-"+ts.ID), `value="09:30"`)
		if rt, _ := e.stations.FindRoute(context.Background(), e.seed.Station.Principal, routeID); stopOf(t, rt, tom).PlannedTime == "09:30" {
			t.Error("a warned move moved the stop")
		}
		resp, body = b.formPost(move, token, "plannedTime", "09:30", "confirm", "1")
		wantRedirect(t, resp, body, "/station/routes/"+routeID+"?moved="+ts.ID+"#stop-"+ts.ID)
		// Priya's passcode stop before 08:00 is warned too.
		resp, body = b.formPost("/station/routes/"+routeID+"/stops/"+ps.ID+"/move", token, "plannedTime", "21:00")
		wantStatus(t, resp, body, http.StatusOK)
		wantText(t, "contact-hours move warning", element(t, body, "time-"+ps.ID+"-warning", "p"), "This is outside contact hours 08:00-20:00")

		// One stop is "1 stop"; in French, the board speaks French.
		resp, body = plan("parcel", ana, "startTime", "11:00")
		_, body = b.follow(resp, body)
		wantText(t, "one stop", body, "Route planned with 1 stop.")
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/station", nil)
		req.Header.Set("Accept-Language", "fr")
		_, page = b.do(req)
		wantText(t, "French board", page, "La journée en un coup d'œil", "En attente d'une tournée", "Livrés 0 · échoués 0 · à faire 3")
		if regexp.MustCompile(`>\s*Waiting for a route\s*<`).MatchString(page) {
			t.Error("the French board says Waiting for a route in English")
		}
	})
}

// inputTag returns the tag of the input with an id.
func inputTag(t *testing.T, body, id string) string {
	t.Helper()
	i := strings.Index(body, `id="`+id+`"`)
	if i < 0 {
		t.Fatalf("no input #%s", id)
	}
	start := strings.LastIndex(body[:i], "<")
	return body[start : i+strings.IndexByte(body[i:], '>')+1]
}
