package web_test

import (
	"context"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// eachEngine runs fn as a subtest on every engine the tests have.
func eachEngine(t *testing.T, fn func(t *testing.T, engine string)) {
	t.Helper()
	for _, engine := range sqlstoretest.Engines() {
		t.Run(engine, func(t *testing.T) { fn(t, engine) })
	}
}

// account is a principal a test signs in as, with its credentials.
type account struct {
	Principal   *handoff.Principal
	Credentials handoff.Credentials
}

// fixture is what the web tests start from, made through the store's public
// methods and owned by these tests (the demo seed may change for newcomers
// without breaking them): a shipper with OTP on, a GB station with two
// associates, a customer-service agent, and one parcel of each kind of
// decision the pages show.
type fixture struct {
	Shipper    account
	Station    account
	Associates []account // Alex Driver, then Sam Courier
	Agent      account
	Shipments  []*handoff.Shipment // in the order of fixtureParcels
}

// warehouse is where the fixture's parcels, and those the tests add, ship from.
var warehouse = handoff.Address{Name: "Demo Gadgets Warehouse", AddressLine1: "1 Dock Road", City: "London", PostalCode: "E16 1AA", CountryCode: "GB"}

// fixtureParcels are the fixture's labels. Each test names the one it
// needs by its client reference.
var fixtureParcels = []struct {
	ref, name, line1, postcode, phone, email string
	value, category                          string
	cod                                      bool
	buyer                                    *handoff.Party // a gift's buyer
}{
	// Above the GB threshold to a mobile, in a category that needs a bag.
	{"order-1001-phone", "Priya Shah", "12 Mare Street", "E8 1HR", "07700 900123", "priya@example.com", "899", "smartphone", false, nil},
	// Below the threshold: left at the door with a photo.
	{"order-1002-book", "Tom Baker", "40 Bow Road", "E3 4DH", "+44 7700 900456", "tom@example.com", "24.99", "books", false, nil},
	{"order-1003-laptop", "Ana Lopez", "7 Roman Road", "E2 0HU", "07700 900789", "ana@example.com", "1299", "laptop", false,
		&handoff.Party{Name: "Luis Lopez", Email: "luis@example.com", PhoneNumber: "07700 900321"}},
	// Cash on delivery is never OTP-eligible.
	{"order-1004-cod", "Ben Okafor", "3 Cable Street", "E1 8JG", "07700 900654", "", "350", "audio", true, nil},
	// No phone: not OTP-eligible.
	{"order-1005-watch", "Chloe Martin", "9 Victoria Park Road", "E9 7HD", "", "chloe@example.com", "450", "jewellery", false, nil},
}

// newFixture creates the fixture in db.
func newFixture(t *testing.T, db *sqlstore.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	mk := func(np handoff.NewPrincipal) account {
		t.Helper()
		p, c, err := db.CreatePrincipal(ctx, np)
		if err != nil {
			t.Fatalf("fixture %s %q: %v", np.Kind, np.Name, err)
		}
		return account{p, c}
	}
	f := &fixture{Shipper: mk(handoff.NewPrincipal{Kind: auth.KindShipper, Name: "Demo Gadgets Ltd"})}
	f.Station = mk(handoff.NewPrincipal{Kind: auth.KindStation, Name: "London East Station", Market: "GB"})
	for _, name := range []string{"Alex Driver", "Sam Courier"} {
		f.Associates = append(f.Associates, mk(handoff.NewPrincipal{Kind: auth.KindAssociate, Name: name, StationID: f.Station.Principal.ID}))
	}
	f.Agent = mk(handoff.NewPrincipal{Kind: auth.KindAgent, Name: "Casey Support"})
	on := true
	if _, err := db.UpdateSettings(ctx, f.Shipper.Principal.ID, &handoff.SettingsPatch{SecureDelivery: &handoff.SecureDeliveryPatch{OTPEnabled: &on}}); err != nil {
		t.Fatalf("fixture settings: %v", err)
	}
	for _, p := range fixtureParcels {
		in := &handoff.ShipmentInput{
			ShipTo: &handoff.Address{Name: p.name, AddressLine1: p.line1, City: "London", PostalCode: p.postcode, CountryCode: "GB", PhoneNumber: p.phone, Email: p.email},
			Packages: []handoff.PackageInput{{PackageClientReferenceID: p.ref, InsuredValue: &handoff.Money{Value: handoff.Decimal(p.value), Unit: "GBP"},
				Items: []handoff.Item{{Description: p.ref, Quantity: 1, Category: p.category}}}},
		}
		in.ShipFrom = &warehouse
		if p.cod {
			in.PaymentType = handoff.CashOnDelivery
		}
		if p.buyer != nil {
			in.Gift = &handoff.Gift{Buyer: p.buyer}
		}
		sh, _, err := db.CreateShipment(ctx, f.Shipper.Principal.ID, in, "")
		if err != nil {
			t.Fatalf("fixture parcel %s: %v", p.ref, err)
		}
		f.Shipments = append(f.Shipments, sh)
	}
	return f
}

// parcel returns the tracking ID of the fixture's parcel with a client
// reference.
func (f *fixture) parcel(t *testing.T, ref string) string {
	t.Helper()
	for _, sh := range f.Shipments {
		for _, p := range sh.Packages {
			if p.ClientRef == ref {
				return p.TrackingID
			}
		}
	}
	t.Fatalf("no fixture parcel %s", ref)
	return ""
}
