package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/tracking"
)

// TestDashboard: a shipper's week counts its own parcels of that week only,
// by status, and tells its passcode parcels delivered at once, after a
// re-attempt and returned apart, with their mean attempts.
func TestDashboard(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		ctx := context.Background()
		monday := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
		now := monday
		db.Now = func() time.Time { return now }
		mk := func(name string) string {
			p, _, err := db.CreatePrincipal(ctx, handoff.NewPrincipal{Kind: auth.KindShipper, Name: name})
			if err != nil {
				t.Fatal(err)
			}
			on := true
			if _, err := db.UpdateSettings(ctx, p.ID, &handoff.SettingsPatch{SecureDelivery: &handoff.SecureDeliveryPatch{OTPEnabled: &on}}); err != nil {
				t.Fatal(err)
			}
			return p.ID
		}
		shipper, other := mk("Acme"), mk("Other")
		label := func(shipperID, value string) string {
			sh, _, err := db.CreateShipment(ctx, shipperID, &handoff.ShipmentInput{
				ShipTo:   &handoff.Address{Name: "Rec", AddressLine1: "1 Main St", City: "London", PostalCode: "E1 1AA", CountryCode: "GB", PhoneNumber: "07700 900123"},
				ShipFrom: &handoff.Address{Name: "Shop", AddressLine1: "2 Dock Rd", City: "London", PostalCode: "E16 1AA", CountryCode: "GB"},
				Packages: []handoff.PackageInput{{InsuredValue: &handoff.Money{Value: handoff.Decimal(value), Unit: "GBP"}}},
			}, "")
			if err != nil {
				t.Fatal(err)
			}
			return sh.Packages[0].TrackingID
		}
		first, again, returned, waiting := label(shipper, "500"), label(shipper, "500"), label(shipper, "500"), label(shipper, "500")
		plain := label(shipper, "20")
		label(other, "500") // another shipper's: never counted
		now = monday.AddDate(0, 0, 7)
		label(shipper, "500") // next week's
		at := monday.Add(time.Hour)
		sqlstoretest.Happened(t, db, first, at, tracking.OutForDelivery, tracking.Delivered)
		sqlstoretest.Happened(t, db, again, at, tracking.OutForDelivery, tracking.DeliveryAttempted, tracking.OutForDelivery, tracking.DeliveryAttempted,
			tracking.OutForDelivery, tracking.Delivered)
		sqlstoretest.Happened(t, db, returned, at, tracking.OutForDelivery, tracking.DeliveryAttempted, tracking.ReturnInitiated)
		sqlstoretest.Happened(t, db, plain, at, tracking.OutForDelivery, tracking.Delivered)
		_ = waiting

		from, to := handoff.WeekOf(monday.Add(50 * time.Hour))
		if !from.Equal(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)) || !to.Equal(from.AddDate(0, 0, 7)) {
			t.Fatalf("WeekOf = %v, %v", from, to)
		}
		d, err := db.Dashboard(ctx, shipper, from, to)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int{tracking.StatusDelivered: 3, tracking.StatusInTransit: 1, tracking.StatusPreTransit: 1}
		if len(d.ByStatus) != len(want) || d.Total() != 5 {
			t.Errorf("by status %v, want %v", d.ByStatus, want)
		}
		for st, n := range want {
			if d.ByStatus[st] != n {
				t.Errorf("%s: %d parcels, want %d", st, d.ByStatus[st], n)
			}
		}
		// Attempts: first 1, again 2 failed + 1, returned 1 failed: 5 over 3.
		if o := d.OTP; o.Parcels != 4 || o.FirstTime != 1 || o.AfterReattempt != 1 || o.Returned != 1 || o.Attempted != 3 || o.Attempts != 5 {
			t.Errorf("passcode outcomes %+v", o)
		}
		if m := d.OTP.MeanAttempts(); m < 1.66 || m > 1.67 {
			t.Errorf("mean attempts %v, want 5/3", m)
		}
		if d, _ := db.Dashboard(ctx, other, from, to); d.Total() != 1 || d.OTP.Parcels != 1 {
			t.Errorf("the other shipper's week: %+v", d)
		}
	})
}
