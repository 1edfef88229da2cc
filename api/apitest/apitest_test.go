package apitest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestValidate shows that the check catches each kind of drift between an
// answer and the document, and passes the answers the document describes.
func TestValidate(t *testing.T) {
	d := Load(t)
	const tracking = `{"trackingId":"HO1","shipmentId":"sh_1","eventHistory":[{"eventCode":"ReadyForReceive","eventTime":"2026-03-02T10:15:00Z","location":{"city":"Leeds"}}],` +
		`"summary":{"status":"PreTransit","statusText":"Label created","trackingDetailCodes":{"forward":[],"returns":[]}}}`
	const notFound = `{"type":"https://handoff.dev/problems/not_found","title":"Not found","status":404,"code":"not_found"}`
	json := http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}}
	problem := http.Header{"Content-Type": {"application/problem+json"}, "Cache-Control": {"no-store"}}
	tests := []struct {
		name         string
		method, path string
		undocumented bool
		status       int
		header       http.Header
		body         string
		want         string // part of the complaint; "" when the answer matches
	}{
		{"tracking", "GET", "/v1/tracking/HO1", false, 200, json, tracking, ""},
		{"a renamed field", "GET", "/v1/tracking/HO1", false, 200, json, strings.Replace(tracking, `"trackingId"`, `"trackingID"`, 1), "trackingId"},
		{"a field of the wrong type", "GET", "/v1/tracking/HO1", false, 200, json, strings.Replace(tracking, `"HO1"`, `1`, 1), "trackingId"},
		{"an unknown event code", "GET", "/v1/tracking/HO1", false, 200, json, strings.Replace(tracking, `ReadyForReceive`, `Teleported`, 1), "eventCode"},
		{"the wrong content type", "GET", "/v1/tracking/HO1", false, 200, problem, tracking, "Content-Type"},
		{"an undocumented status", "GET", "/v1/tracking/HO1", false, 418, problem, notFound, "status is not supported"},
		{"a problem", "GET", "/v1/tracking/HO1", false, 404, problem, notFound, ""},
		{"a problem without its code", "GET", "/v1/tracking/HO1", false, 404, problem, strings.Replace(notFound, `,"code":"not_found"`, ``, 1), "code"},
		{"a problem with an extra field", "GET", "/v1/tracking/HO1", false, 404, problem, strings.Replace(notFound, `}`, `,"hint":"x"}`, 1), "hint"},
		{"a body where none is described", "DELETE", "/v1/account/webhooks/wh_1", false, 204, json, `{}`, "no body"},
		{"an undocumented path", "GET", "/v1/nothing", false, 404, problem, notFound, "no operation"},
		{"an undocumented method", "DELETE", "/v1/shipments", false, 405, problem, notFound, "no operation"},
		{"an undocumented path on purpose", "GET", "/v1/nothing", true, 404, problem, notFound, ""},
		{"an undocumented path on purpose, answered 200", "GET", "/v1/nothing", true, 200, json, `{}`, "404 or 405"},
		{"a documented path marked undocumented", "GET", "/v1/tracking/HO1", true, 404, problem, notFound, "lists GET /v1/tracking/{trackingId}"},
		{"a page", "GET", "/shipments", false, 200, http.Header{"Content-Type": {"text/html"}}, "<html>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://127.0.0.1:4321"+tt.path, nil)
			if tt.undocumented {
				req = Undocumented(req)
			}
			got := d.validate(req, tt.status, tt.header, []byte(tt.body))
			switch {
			case tt.want == "" && got != "":
				t.Errorf("rejected: %s", got)
			case tt.want != "" && got == "":
				t.Errorf("accepted; want a complaint about %q", tt.want)
			case !strings.Contains(got, tt.want):
				t.Errorf("complaint %q does not mention %q", got, tt.want)
			}
		})
	}
}
