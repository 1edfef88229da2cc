package api_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"testing"
)

// TestControlCharacters checks that free text with control characters is
// refused with 400 naming the field, on every kind of request that carries
// some, and that the same request without them goes through. A case note
// is typed in a text area, so it may hold line breaks and tabs.
func TestControlCharacters(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		d := newDay(t, e, monday)
		_, shipperKey := e.shipper()
		agentKey := e.do("POST", "/v1/admin/agents", adminToken, map[string]any{"name": "Casey"}).JSON(t)["apiKey"].(string)
		batch := d.do("POST", "/v1/station/bags/batches", d.stationKey, map[string]any{"count": 1}).JSON(t)
		bagID := batch["bags"].([]any)[0].(map[string]any)["bagId"].(string)

		item := func(desc string) map[string]any {
			s := shipment("GB", "GBP", "50", "07700900123")
			s["packages"].([]any)[0].(map[string]any)["items"].([]any)[0].(map[string]any)["description"] = desc
			return s
		}
		named := func(name string) map[string]any {
			s := shipment("GB", "GBP", "50", "07700900123")
			s["shipTo"].(map[string]any)["name"] = name
			return s
		}
		tests := []struct {
			name         string
			method, path string
			key          string
			bad, good    map[string]any
			field        string
			goodStatus   int
		}{
			{"principal name", "POST", "/v1/admin/shippers", adminToken,
				map[string]any{"name": "Acme\x1b[2J"}, map[string]any{"name": "Acme"}, "name", 201},
			{"name in an address", "POST", "/v1/shipments", shipperKey,
				named("Priya\u2028Shah"), named("Priya Shah"), "shipTo.name", 201},
			{"contents", "POST", "/v1/shipments", shipperKey,
				item("Phone\x07"), item("Phone"), "packages[0].items[0].description", 201},
			{"bag void reason", "POST", "/v1/station/bags/" + bagID + "/void", d.stationKey,
				map[string]any{"reason": "torn\nstrip"}, map[string]any{"reason": "torn strip"}, "reason", 200},
			// No such case: the note is checked first, and a good one gets
			// as far as finding that out.
			{"case note", "POST", "/v1/cases/case_nope/close", agentKey,
				map[string]any{"outcome": "reship", "note": "seal\x00cut"}, map[string]any{"outcome": "reship", "note": "seal cut\r\n\tstrip torn"}, "note", http.StatusNotFound},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				problem(t, e.do(tt.method, tt.path, tt.key, tt.bad), 400, tt.field)
				if r := e.do(tt.method, tt.path, tt.key, tt.good); r.Status != tt.goodStatus {
					t.Errorf("without control characters: %d, want %d: %s", r.Status, tt.goodStatus, r.Body)
				}
			})
		}
	})
}

// TestContentEncoding checks that a body in a content coding is refused with
// 415 rather than misread, and that identity, or no header, still works.
func TestContentEncoding(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		body, _ := json.Marshal(shipment("GB", "GBP", "50", "07700900123"))
		var gz bytes.Buffer
		w := gzip.NewWriter(&gz)
		w.Write(body)
		w.Close()
		for _, coding := range []string{"gzip", "deflate", "br", "identity, gzip", "x-unknown"} {
			r := e.do("POST", "/v1/shipments", key, gz.Bytes(), "Content-Encoding", coding)
			p := problem(t, r, http.StatusUnsupportedMediaType, "")
			if p["code"] != "unsupported" || r.Header.Get("Accept-Encoding") != "identity" {
				t.Errorf("%s: code %v, Accept-Encoding %q", coding, p["code"], r.Header.Get("Accept-Encoding"))
			}
		}
		for _, coding := range []string{"", "identity", "Identity"} {
			if r := e.do("POST", "/v1/shipments", key, body, "Content-Encoding", coding); r.Status != 201 {
				t.Errorf("Content-Encoding %q: %d %s", coding, r.Status, r.Body)
			}
		}
		// A request without a body is not concerned.
		if r := e.do("GET", "/v1/shipments", key, nil, "Content-Encoding", "gzip"); r.Status != 200 {
			t.Errorf("GET with a coding but no body: %d %s", r.Status, r.Body)
		}
	})
}
