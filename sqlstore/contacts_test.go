package sqlstore_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// TestSearchParcels finds parcels of two shippers by each reading of what
// an agent typed, and checks that every reading is an index lookup: on
// SQLite no step scans packages or shipments, on PostgreSQL no sequential
// scan is chosen even when one is priced out.
func TestSearchParcels(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		agent, _, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindAgent, Name: "Casey"})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := mustShipper(t, db)
		b, _ := mustShipper(t, db)
		in := gbShipment("20.00")
		in.ShipTo.Email = "Priya@Example.com"
		in.Packages[0].PackageClientReferenceID = "order-1001"
		first, _, err := db.CreateShipment(ctx, a.ID, in, "")
		if err != nil {
			t.Fatal(err)
		}
		second, _, err := db.CreateShipment(ctx, b.ID, gbShipment("30.00"), "") // same phone, other shipper
		if err != nil {
			t.Fatal(err)
		}
		one, two := first.Packages[0].TrackingID, second.Packages[0].TrackingID

		for _, c := range []struct {
			typed string
			want  []string
			by    string
		}{
			{" " + strings.ToLower(one[:5]) + " " + strings.ToLower(one[5:]), []string{one}, handoff.MatchTrackingID},
			{"order-1001", []string{one}, handoff.MatchReference},
			{"07700 900 123", []string{two, one}, handoff.MatchPhone},
			{"+44 (0)7700-900.123", nil, ""}, // not a number any marketplace reads
			{"0044 7700 900123", []string{two, one}, handoff.MatchPhone},
			{" PRIYA@example.COM ", []string{one}, handoff.MatchEmail},
			{"priya@example", nil, ""},
		} {
			found, err := db.SearchParcels(ctx, agent, handoff.ParseParcelQuery(c.typed), 50)
			if err != nil {
				t.Fatalf("%q: %v", c.typed, err)
			}
			var got []string
			for _, m := range found {
				got = append(got, m.TrackingID)
				if m.MatchedBy != c.by {
					t.Errorf("%q found %s by %q, want %q", c.typed, m.TrackingID, m.MatchedBy, c.by)
				}
				if m.Contacts.Phone != "+44 7••• •••123" || strings.Contains(m.Contacts.Email, "riya") {
					t.Errorf("%q: contacts not masked: %+v", c.typed, m.Contacts)
				}
				if m.ShipperName != "Acme" {
					t.Errorf("%q: shipper %q", c.typed, m.ShipperName)
				}
			}
			slices.Sort(got) // parcels made in the same instant come in tracking ID order
			slices.Sort(c.want)
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("%q found %v, want %v", c.typed, got, c.want)
			}
		}

		q := handoff.ParseParcelQuery("priya@example.com")
		q.Mobiles = handoff.ParseParcelQuery("07700900123").Mobiles
		plan, err := db.SearchPlan(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, step := range plan {
			if strings.Contains(step, "Seq Scan") || strings.HasPrefix(step, "SCAN ") && !strings.HasPrefix(step, "SCAN found") {
				t.Errorf("the search scans a table:\n%s", strings.Join(plan, "\n"))
				break
			}
		}

		for _, k := range []auth.Kind{auth.KindShipper, auth.KindStation, auth.KindAssociate} {
			if _, err := db.SearchParcels(ctx, &handoff.Principal{ID: "x", Kind: k}, q, 50); handoff.ErrorCode(err) != handoff.EFORBIDDEN {
				t.Errorf("a %s searched: %v", k, err)
			}
			if _, err := db.RevealContacts(ctx, &handoff.Principal{ID: "x", Kind: k}, one, "curious"); handoff.ErrorCode(err) != handoff.EFORBIDDEN {
				t.Errorf("a %s saw the contacts: %v", k, err)
			}
		}
	})
}
