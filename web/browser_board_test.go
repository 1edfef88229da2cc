package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/tracking"
)

// boardLabel creates headphones for a London recipient and returns its
// tracking ID.
func boardLabel(t *testing.T, db *sqlstore.DB, seed *fixture, name, line1, postcode, phone, value string) string {
	t.Helper()
	return headphones(t, db, seed, name, line1, postcode, phone, strings.ToLower(strings.Fields(name)[0])+"@example.com", value).TrackingID
}

// TestBrowserStationBoard drives Chromium through the station's morning on
// its board, at desktop size: Sam's route of the day is under way (one
// parcel delivered, one failed, two to do, Sam locked after wrong codes, a
// passcode stop planned before contact hours); four parcels wait. The
// station filters the waiting list by postcode, ticks the two in E8, plans
// them for Alex, and sees the waiting count go down and the planned count
// up. Set HANDOFF_SCREENSHOTS to keep the board before and after, and the
// route.
func TestBrowserStationBoard(t *testing.T) {
	needChromium(t)
	eachEngine(t, func(t *testing.T, engine string) {
		ctx := context.Background()
		db := sqlstoretest.Open(t, engine)
		db.Now = func() time.Time { return monday }
		db.Policy.WrongCodeLimit = 2
		seed := newFixture(t, db)
		station, alex, sam := seed.Station.Principal, seed.Associates[0], seed.Associates[1].Principal
		stations, door := stationsOf(db), sqlstoretest.Door(db)
		receive := func(ids ...string) {
			t.Helper()
			for _, id := range ids {
				if _, err := stations.ReceiveParcel(ctx, station, id); err != nil {
					t.Fatal(err)
				}
			}
		}

		// Sam's route, loaded and under way.
		dana := boardLabel(t, db, seed, "Dana Reyes", "5 Bow Common Lane", "E3 4AU", "07700 900888", "250")
		eve := boardLabel(t, db, seed, "Eve Clarke", "18 Mare Street", "E8 4RP", "07700 900811", "30")
		finn := boardLabel(t, db, seed, "Finn Walsh", "7 Well Street", "E9 7PX", "07700 900822", "40")
		gus := boardLabel(t, db, seed, "Gus Okafor", "2 Cambridge Heath Road", "E2 9DA", "07700 900833", "300")
		receive(dana, eve, finn, gus)
		today := db.Today("GB")
		rt, err := stations.CreateRoute(ctx, station, handoff.NewRoute{AssociateID: sam.ID, ServiceDate: today, Parcels: []handoff.RouteParcel{
			{TrackingID: dana}, {TrackingID: eve}, {TrackingID: finn}, {TrackingID: gus, PlannedTime: "07:30"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := door.LoadRoute(ctx, sam, rt.ID); err != nil {
			t.Fatal(err)
		}
		if res, err := door.VerifyCode(ctx, sam, stopOf(t, rt, dana).ID, sqlstoretest.ContactCode(t, db, "+447700900888")); err != nil || !res.Correct {
			t.Fatalf("Dana's code: %v %v", res, err)
		}
		if _, err := door.RecordAttempt(ctx, sam, stopOf(t, rt, eve).ID, tracking.CustomerUnavailable); err != nil {
			t.Fatal(err)
		}
		gusCode := sqlstoretest.ContactCode(t, db, "+447700900833")
		for range 2 {
			door.VerifyCode(ctx, sam, stopOf(t, rt, gus).ID, wrongCode(gusCode))
		}

		// Four parcels wait; two in E8.
		hana := boardLabel(t, db, seed, "Hana Ito", "31 Mare Street", "E8 1HR", "07700 900844", "220")
		ivan := boardLabel(t, db, seed, "Ivan Petrov", "4 Richmond Road", "E8 3QW", "07700 900855", "25")
		jo := boardLabel(t, db, seed, "Jo Baptiste", "12 Essex Road", "N1 2SN", "07700 900866", "35")
		kim := boardLabel(t, db, seed, "Kim Tran", "9 Roman Road", "E2 0HU", "07700 900877", "180")
		receive(hana, ivan, jo, kim)

		srv := browserServer(t, db)
		c := newChrome(t, srv.URL)
		c.do("open the board", chromedp.Navigate(srv.URL+"/station"))
		c.signIn(seed.Station, "#count-waiting")
		count := func(id string) string {
			t.Helper()
			return strings.TrimSpace(c.text("#count-" + id + " .tile-n"))
		}
		for id, want := range map[string]string{"waiting": "4", "planned": "0", "out": "2", "delivered": "1", "failed": "1"} {
			if got := count(id); got != want {
				t.Errorf("before planning, %s = %s, want %s", id, got, want)
			}
		}
		if bar := c.text("#associate-" + sam.ID); !strings.Contains(bar, "Delivered 1 · failed 1 · to do 2") || !strings.Contains(bar, "Locked") {
			t.Errorf("Sam's row: %q", bar)
		}
		attention := c.text("#attention")
		for _, w := range []string{"Unlock Sam Courier", "07:30", "Gus Okafor", "Move the stop"} {
			if !strings.Contains(attention, w) {
				t.Errorf("the attention list lacks %q: %q", w, attention)
			}
		}
		c.shot("board-before")

		// Filter by postcode: only the E8 parcels stay.
		c.do("filter E8",
			chromedp.SendKeys(chromedp.ID("postcode"), "e8"),
			chromedp.Click(chromedp.ID("filter-button")),
			// Only the filtered page offers to show all again.
			chromedp.WaitVisible(chromedp.ID("filter-clear")),
		)
		if loc := c.location(); !strings.Contains(loc, "postcode=e8") {
			t.Errorf("filtered at %q", loc)
		}
		list := c.text("#plan-select table")
		if !strings.Contains(list, "Hana Ito") || !strings.Contains(list, "Ivan Petrov") || strings.Contains(list, "Jo Baptiste") || strings.Contains(list, "Kim Tran") {
			t.Errorf("the E8 list: %q", list)
		}

		// Tick both and plan them for Alex from 09:00: at 10:00 that is
		// past, which the start-time field says; the selection stays.
		c.do("plan the selection",
			chromedp.Click(chromedp.ID("pick-"+hana)),
			chromedp.Click(chromedp.ID("pick-"+ivan)),
			chromedp.SetValue(chromedp.ID("sel-associate"), alex.Principal.ID),
			chromedp.SetValue(chromedp.ID("sel-startTime"), "09:00"),
			chromedp.Click(chromedp.ID("plan-button")),
			chromedp.WaitVisible(chromedp.ID("sel-startTime-note")),
		)
		if w := c.text("#sel-startTime-note"); w != "2 stops would be planned at a time already past (it is 10:00 now)." {
			t.Errorf("the start time's warning says %q", w)
		}
		if got := c.eval(`[...document.querySelectorAll('input[name=parcel]:checked')].map(e => e.value).sort().join(" ")`); got != strings.Join(sortedPair(hana, ivan), " ") {
			t.Errorf("ticked after the warning: %q", got)
		}
		c.do("scroll to the warning", chromedp.ScrollIntoView(chromedp.ID("plan-select")))
		c.shot("board-warning")
		// At 11:00 instead.
		c.do("plan at 11:00",
			chromedp.SetValue(chromedp.ID("sel-startTime"), "11:00"),
			chromedp.Click(chromedp.ID("plan-button")),
			chromedp.WaitVisible(chromedp.CSS("p.flash")),
		)
		if flash := c.text("p.flash"); flash != "Route planned with 2 stops." {
			t.Errorf("after planning the page says %q", flash)
		}
		c.shot("board-route")

		c.do("back to the board", chromedp.Navigate(srv.URL+"/station"), chromedp.WaitVisible(chromedp.ID("count-waiting")))
		for id, want := range map[string]string{"waiting": "2", "planned": "2", "out": "2"} {
			if got := count(id); got != want {
				t.Errorf("after planning, %s = %s, want %s", id, got, want)
			}
		}
		if bar := c.text("#associate-" + alex.Principal.ID); !strings.Contains(bar, "to do 2") {
			t.Errorf("Alex's row after planning: %q", bar)
		}
		c.shot("board-after")

		// In French, the board is French.
		c.do("choose French", chromedp.Navigate(srv.URL+"/lang?lang=fr&next=%2Fstation"), chromedp.WaitVisible(chromedp.ID("count-waiting")))
		if got := c.text("#board-h"); !strings.Contains(got, "La journée en un coup d'œil") {
			t.Errorf("the French board's heading is %q", got)
		}
		c.shot("board-fr")
	})
}

// sortedPair returns a and b in order.
func sortedPair(a, b string) []string {
	if b < a {
		return []string{b, a}
	}
	return []string{a, b}
}
