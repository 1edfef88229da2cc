package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/auth"

	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

var t0ctx = context.Background()

// BenchmarkCreateLabel measures POST /v1/shipments through the handler on
// SQLite: authentication, decoding, validation, the eligibility decision and
// the transaction that stores the label and its first event.
func BenchmarkCreateLabel(b *testing.B) {
	db := sqlstoretest.Open(b, sqlstore.SQLite)
	h, key := handlerOn(b, db)
	body, _ := json.Marshal(shipment("GB", "GBP", "120.50", "07700900123"))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest("POST", "/v1/shipments", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 201 {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkVerifyCode measures POST /v1/associate/stops/{id}/verify with the
// right code through the handler on SQLite: the associate's authentication,
// the scoped stop lookup, the guarded transaction, the code derivation and
// comparison, and the delivery of the stop's parcel with its event and
// messages. Each iteration settles a fresh stop, prepared before the timer.
func BenchmarkVerifyCode(b *testing.B) {
	db := sqlstoretest.Open(b, sqlstore.SQLite)
	monday := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	db.Now = func() time.Time { return monday }
	h, shipperKey := handlerOn(b, db)
	_ = shipperKey
	shipper, err := db.AuthenticateAPIKey(t0ctx, shipperKey)
	if err != nil {
		b.Fatal(err)
	}
	on := true
	p := &handoff.SettingsPatch{}
	p.SecureDelivery = &handoff.SecureDeliveryPatch{OTPEnabled: &on}
	if _, err := db.UpdateSettings(t0ctx, shipper.ID, p); err != nil {
		b.Fatal(err)
	}
	st, _, _ := db.CreatePrincipal(t0ctx, handoff.NewPrincipal{Kind: auth.KindStation, Name: "S", Market: "GB"})
	da, daCred, _ := db.CreatePrincipal(t0ctx, handoff.NewPrincipal{Kind: auth.KindAssociate, Name: "D", StationID: st.ID})

	type target struct{ stop, code string }
	var targets []target
	for len(targets) < b.N {
		var ids []string
		mobiles := map[string]string{}
		for range min(handoff.MaxRouteParcels, b.N-len(targets)) {
			mobile := fmt.Sprintf("+4477%08d", len(targets)+len(ids))
			in := &handoff.ShipmentInput{}
			json.Unmarshal(mustJSON(shipment("GB", "GBP", "500", mobile)), in)
			s, _, err := db.CreateShipment(t0ctx, shipper.ID, in, "")
			if err != nil {
				b.Fatal(err)
			}
			id := s.Packages[0].TrackingID
			if _, err := stationsOf(db).ReceiveParcel(t0ctx, st, id); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, id)
			mobiles[id] = mobile
		}
		r, err := stationsOf(db).CreateRoute(t0ctx, st, handoff.NewRoute{AssociateID: da.ID, ServiceDate: "2026-11-23", TrackingIDs: ids})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sqlstoretest.Door(db).LoadRoute(t0ctx, da, r.ID); err != nil {
			b.Fatal(err)
		}
		for _, s := range r.Stops {
			code := sqlstoretest.ContactCode(b, db, mobiles[s.Parcels[0].TrackingID])
			targets = append(targets, target{s.ID, code})
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("POST", "/v1/associate/stops/"+targets[i].stop+"/verify", strings.NewReader(`{"code":"`+targets[i].code+`"}`))
		req.Header.Set("Authorization", "Bearer "+daCred.APIKey)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
