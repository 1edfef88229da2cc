package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/notify"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/tracking"
)

// linkRE finds the links of a message.
var linkRE = regexp.MustCompile(regexp.QuoteMeta(portalBase) + `(/\S*[^\s.,])`)

// TestMessagesTellTheSituation is a delivery day read from the dev outbox:
// each message says what is true for its situation, and each of its links
// opens a page of this server. A cash-on-delivery parcel whose attempt failed
// is told no code; a refused tampered bag is held for review, not retried
// with a new code; the gift buyer is greeted by his own name; a delivered
// bagged parcel names its bag; a French parcel is told in French with
// French dates.
func TestMessagesTellTheSituation(t *testing.T) {
	eachEngine(t, func(t *testing.T, engine string) {
		p := newPortal(t, engine, true)
		ctx := context.Background()
		st, da := p.seed.Station.Principal, p.seed.Associates[0].Principal
		door := sqlstoretest.Door(p.db)
		cod, phone, gift := p.parcel(t, "order-1004-cod"), p.parcel(t, "order-1001-phone"), p.parcel(t, "order-1003-laptop")
		batch, err := p.stations.IssueBatch(ctx, st, "", 2)
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range []string{phone, gift} {
			if _, err := p.stations.ReceiveParcel(ctx, st, id); err != nil {
				t.Fatal(err)
			}
			if _, err := p.stations.SealParcel(ctx, st, id, batch.Bags[i].ID); err != nil {
				t.Fatal(err)
			}
		}
		rt := p.plan(t, mondayDate, handoff.RouteParcel{TrackingID: cod}, handoff.RouteParcel{TrackingID: phone}, handoff.RouteParcel{TrackingID: gift})
		if _, err := door.LoadRoute(ctx, da, rt.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := door.RecordAttempt(ctx, da, stopOf(t, rt, cod).ID, tracking.CustomerUnavailable); err != nil {
			t.Fatal(err)
		}
		if _, err := door.RefuseParcels(ctx, da, stopOf(t, rt, phone).ID, []string{phone}); err != nil {
			t.Fatal(err)
		}
		giftStop := stopOf(t, rt, gift).ID
		if _, err := door.ScanBag(ctx, da, giftStop, batch.Bags[1].Printed); err != nil {
			t.Fatal(err)
		}
		if res, err := door.VerifyCode(ctx, da, giftStop, p.code(t, "+447700900789", mondayDate)); err != nil || !res.Correct {
			t.Fatalf("the gift's code: %v %v", res, err)
		}

		// A French parcel, from a station in France.
		frStation, _, err := p.db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindStation, Name: "Paris Nord", Market: "FR", City: "Paris"})
		if err != nil {
			t.Fatal(err)
		}
		frDriver, _, err := p.db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindAssociate, Name: "Luc", StationID: frStation.ID})
		if err != nil {
			t.Fatal(err)
		}
		sh, _, err := p.db.CreateShipment(ctx, p.seed.Shipper.Principal.ID, &handoff.ShipmentInput{ShipFrom: &warehouse,
			ShipTo: &handoff.Address{Name: "Léa Martin", AddressLine1: "3 rue des Lilas", City: "Paris", PostalCode: "75019", CountryCode: "FR",
				PhoneNumber: "06 12 34 56 78", Email: "lea@example.fr"},
			Packages: []handoff.PackageInput{{InsuredValue: &handoff.Money{Value: "20", Unit: "EUR"}, Items: []handoff.Item{{Description: "Livre", Quantity: 1, Category: "books"}}}}}, "")
		if err != nil {
			t.Fatal(err)
		}
		fr := sh.Packages[0].TrackingID
		if _, err := p.stations.ReceiveParcel(ctx, frStation, fr); err != nil {
			t.Fatal(err)
		}
		frRoute, err := p.stations.CreateRoute(ctx, frStation, handoff.NewRoute{AssociateID: frDriver.ID, ServiceDate: mondayDate, Parcels: []handoff.RouteParcel{{TrackingID: fr}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := door.LoadRoute(ctx, frDriver, frRoute.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := door.RecordAttempt(ctx, frDriver, frRoute.Stops[0].ID, tracking.CustomerUnavailable); err != nil {
			t.Fatal(err)
		}

		if err := p.worker.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		find := func(kind, to string) notify.Delivered {
			t.Helper()
			for _, m := range p.outbox.List() {
				if m.Kind == kind && m.To == to {
					return m
				}
			}
			t.Fatalf("no %s message to %s; the outbox holds %d", kind, to, len(p.outbox.List()))
			return notify.Delivered{}
		}
		anon := p.browser(t)
		check := func(what string, m notify.Delivered, says []string, never []string) {
			t.Helper()
			text := m.Subject + "\n" + m.Text
			for _, s := range says {
				if !strings.Contains(text, s) {
					t.Errorf("%s does not say %q:\n%s", what, s, text)
				}
			}
			lower := strings.ToLower(text)
			for _, s := range never {
				if strings.Contains(lower, strings.ToLower(s)) {
					t.Errorf("%s says %q:\n%s", what, s, text)
				}
			}
			links := linkRE.FindAllStringSubmatch(text, -1)
			if len(links) == 0 {
				t.Errorf("%s carries no link:\n%s", what, text)
			}
			for _, l := range links {
				resp, body := anon.get(l[1])
				if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
					t.Errorf("%s: link %s answers %d", what, l[1], resp.StatusCode)
				}
				if strings.HasPrefix(l[1], "/track") && !strings.Contains(body, m.Text[strings.Index(m.Text, "HO"):strings.Index(m.Text, "HO")+14]) {
					t.Errorf("%s: the tracking link does not show the parcel", what)
				}
			}
		}
		ben := "+447700900654"
		check("the COD failed-attempt SMS", find("attempt_failed", ben), []string{"Demo Gadgets Ltd: ", cod, "Tuesday 24 November"},
			[]string{"code", "passcode"})
		check("the refusal SMS", find("refused", "+447700900123"), []string{phone, batch.Bags[0].Printed, "held"}, []string{"new code", "new passcode", "try again"})
		check("the refusal email", find("refused", "priya@example.com"), []string{"Hello Priya Shah,", batch.Bags[0].Printed, "customer service"},
			[]string{"new code", "new passcode", "try again"})
		check("the gift buyer's email", find("out_for_delivery", "luis@example.com"), []string{"Hello Luis Lopez,", "Ana Lopez", "Monday 23 November"}, nil)
		check("the delivered email of a bagged parcel", find("delivered", "ana@example.com"), []string{"Hello Ana Lopez,", gift, batch.Bags[1].Printed}, nil)
		check("the delivered SMS of a bagged parcel", find("delivered", "+447700900789"), []string{gift, batch.Bags[1].Printed}, nil)
		check("the French email", find("attempt_failed", "lea@example.fr"), []string{"Bonjour Léa Martin,", "Nous n'avons pas pu livrer", "mardi 24 novembre"},
			[]string{"2026-11-24", "Tuesday", "code"})
		check("the French SMS", find("out_for_delivery", "+33612345678"), []string{"Demo Gadgets Ltd : ", "arrive aujourd'hui, lundi 23 novembre"}, nil)

		// The station's events are placed at the station's town; a
		// station without one shows the parcel's town, never the
		// recipient's postcode.
		_, page := anon.get("/track?id=" + fr)
		timeline := element(t, page, "track-timeline", "ol")
		if !strings.Contains(timeline, "Paris, FR") || strings.Contains(timeline, "75019") {
			t.Errorf("the French parcel's timeline:\n%s", timeline)
		}
		_, page = anon.get("/track?id=" + cod)
		if timeline := element(t, page, "track-timeline", "ol"); strings.Contains(timeline, "E1 8JG") {
			t.Errorf("the timeline shows the recipient's postcode:\n%s", timeline)
		}
	})
}
