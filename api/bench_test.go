package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"

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
