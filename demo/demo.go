// Package demo seeds a fresh server with a shipper, a station, two delivery
// associates, a customer-service agent and a handful of parcels, so that a new
// user has something to look at and sign in with.
package demo

import (
	"context"
	"fmt"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
)

// Store is what seeding needs.
type Store interface {
	handoff.PrincipalService
	handoff.SettingsService
	handoff.ShipmentService
}

// Account is one seeded principal with its credentials.
type Account struct {
	Principal   *handoff.Principal
	Credentials handoff.Credentials
}

// Seeded is what Seed created.
type Seeded struct {
	Shipper    Account
	Station    Account
	Associates []Account
	Agent      Account
	Shipments  []*handoff.Shipment
}

func yes() *bool { t := true; return &t }

// ShipperName is the demo shipper's name, by which a seeded database is known.
const ShipperName = "Demo Gadgets Ltd"

// Ensure seeds a fresh database, or, when the demo accounts exist already,
// gives them new credentials (the old ones were never stored in plain text,
// so they cannot be shown again) and returns them.
func Ensure(ctx context.Context, st Store) (*Seeded, error) {
	shippers, err := st.ListPrincipals(ctx, auth.KindShipper)
	if err != nil {
		return nil, err
	}
	var shipper *handoff.Principal
	for _, p := range shippers {
		if p.Name == ShipperName {
			shipper = p
			break
		}
	}
	if shipper == nil {
		return Seed(ctx, st)
	}
	// Shipments stays empty: the parcels were staged when first seeded.
	out := &Seeded{}
	reset := func(p *handoff.Principal) (Account, error) {
		c, err := st.ResetCredentials(ctx, p.ID)
		return Account{p, c}, err
	}
	if out.Shipper, err = reset(shipper); err != nil {
		return nil, err
	}
	for _, kind := range []auth.Kind{auth.KindStation, auth.KindAssociate, auth.KindAgent} {
		ps, err := st.ListPrincipals(ctx, kind)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if !demoNames[p.Name] {
				continue
			}
			a, err := reset(p)
			if err != nil {
				return nil, err
			}
			switch kind {
			case auth.KindStation:
				out.Station = a
			case auth.KindAssociate:
				out.Associates = append(out.Associates, a)
			case auth.KindAgent:
				out.Agent = a
			}
		}
	}
	return out, nil
}

var demoNames = map[string]bool{"London East Station": true, "Alex Driver": true, "Sam Courier": true, "Casey Support": true}

// Seed creates the demo accounts and parcels. The shipper has OTP switched on,
// so the parcels show every kind of decision: OTP for a high-value phone,
// a bag for a laptop, plain delivery below the threshold, cash on delivery.
func Seed(ctx context.Context, st Store) (*Seeded, error) {
	var out Seeded
	mk := func(np handoff.NewPrincipal) (Account, error) {
		p, c, err := st.CreatePrincipal(ctx, np)
		return Account{p, c}, err
	}
	var err error
	if out.Shipper, err = mk(handoff.NewPrincipal{Kind: auth.KindShipper, Name: ShipperName}); err != nil {
		return nil, fmt.Errorf("demo shipper: %w", err)
	}
	if out.Station, err = mk(handoff.NewPrincipal{Kind: auth.KindStation, Name: "London East Station", Market: "GB", City: "London"}); err != nil {
		return nil, fmt.Errorf("demo station: %w", err)
	}
	for _, name := range []string{"Alex Driver", "Sam Courier"} {
		a, err := mk(handoff.NewPrincipal{Kind: auth.KindAssociate, Name: name, StationID: out.Station.Principal.ID})
		if err != nil {
			return nil, fmt.Errorf("demo associate: %w", err)
		}
		out.Associates = append(out.Associates, a)
	}
	if out.Agent, err = mk(handoff.NewPrincipal{Kind: auth.KindAgent, Name: "Casey Support"}); err != nil {
		return nil, fmt.Errorf("demo agent: %w", err)
	}

	patch := &handoff.SettingsPatch{}
	patch.SecureDelivery = &handoff.SecureDeliveryPatch{OTPEnabled: yes()}
	if _, err := st.UpdateSettings(ctx, out.Shipper.Principal.ID, patch); err != nil {
		return nil, fmt.Errorf("demo settings: %w", err)
	}

	from := &handoff.Address{Name: "Demo Gadgets Warehouse", AddressLine1: "1 Dock Road", City: "London", PostalCode: "E16 1AA", CountryCode: "GB"}
	parcels := []handoff.ShipmentInput{
		{ShipTo: &handoff.Address{Name: "Priya Shah", AddressLine1: "12 Mare Street", City: "London", PostalCode: "E8 1HR", CountryCode: "GB",
			PhoneNumber: "07700 900123", Email: "priya@example.com"},
			Packages: []handoff.PackageInput{{PackageClientReferenceID: "order-1001-phone", InsuredValue: &handoff.Money{Value: "899", Unit: "GBP"},
				Items: []handoff.Item{{Description: "Smartphone 256GB", Quantity: 1, Category: "smartphone", ItemValue: &handoff.Money{Value: "899", Unit: "GBP"}}}}}},
		{ShipTo: &handoff.Address{Name: "Tom Baker", AddressLine1: "40 Bow Road", City: "London", PostalCode: "E3 4DH", CountryCode: "GB",
			PhoneNumber: "+44 7700 900456", Email: "tom@example.com"},
			Packages: []handoff.PackageInput{{PackageClientReferenceID: "order-1002-book", InsuredValue: &handoff.Money{Value: "24.99", Unit: "GBP"},
				Items: []handoff.Item{{Description: "Paperback", Quantity: 1, Category: "books"}}}}},
		{ShipTo: &handoff.Address{Name: "Ana Lopez", AddressLine1: "7 Roman Road", City: "London", PostalCode: "E2 0HU", CountryCode: "GB",
			PhoneNumber: "07700 900789", Email: "ana@example.com"},
			Gift: &handoff.Gift{Buyer: &handoff.Party{Name: "Luis Lopez", Email: "luis@example.com", PhoneNumber: "07700 900321"}},
			Packages: []handoff.PackageInput{{PackageClientReferenceID: "order-1003-laptop", InsuredValue: &handoff.Money{Value: "1299", Unit: "GBP"},
				Items: []handoff.Item{{Description: "Laptop 14\"", Quantity: 1, Category: "laptop"}}}}},
		{ShipTo: &handoff.Address{Name: "Ben Okafor", AddressLine1: "3 Cable Street", City: "London", PostalCode: "E1 8JG", CountryCode: "GB",
			PhoneNumber: "07700 900654"},
			PaymentType: handoff.CashOnDelivery,
			Packages: []handoff.PackageInput{{PackageClientReferenceID: "order-1004-cod", InsuredValue: &handoff.Money{Value: "350", Unit: "GBP"},
				Items: []handoff.Item{{Description: "Headphones", Quantity: 1, Category: "audio"}}}}},
		{ShipTo: &handoff.Address{Name: "Chloe Martin", AddressLine1: "9 Victoria Park Road", City: "London", PostalCode: "E9 7HD", CountryCode: "GB",
			Email: "chloe@example.com"},
			Packages: []handoff.PackageInput{{PackageClientReferenceID: "order-1005-watch", InsuredValue: &handoff.Money{Value: "450", Unit: "GBP"},
				Items: []handoff.Item{{Description: "Watch", Quantity: 1, Category: "jewellery"}}}}},
	}
	for i := range parcels {
		parcels[i].ShipFrom = from
		s, _, err := st.CreateShipment(ctx, out.Shipper.Principal.ID, &parcels[i], "")
		if err != nil {
			return nil, fmt.Errorf("demo parcel %d: %w", i+1, err)
		}
		out.Shipments = append(out.Shipments, s)
	}
	return &out, nil
}
