package api_test

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	pdfapi "github.com/pdfcpu/pdfcpu/pkg/api"
)

// TestShipmentFilters: GET /v1/shipments narrows by each filter the shipper
// central list has, and a filter it cannot read is a problem naming it.
func TestShipmentFilters(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		e.otpOn(key)
		mk := func(ref, value, phone, name, email string) string {
			b := shipment("GB", "GBP", value, phone)
			b["shipTo"].(map[string]any)["name"] = name
			b["shipTo"].(map[string]any)["email"] = email
			b["packages"].([]any)[0].(map[string]any)["packageClientReferenceId"] = ref
			r := e.do("POST", "/v1/shipments", key, b)
			if r.Status != 201 {
				t.Fatalf("create %s: %d %s", ref, r.Status, r.Body)
			}
			return r.JSON(t)["packages"].([]any)[0].(map[string]any)["trackingId"].(string)
		}
		otp := mk("ORD-7-a", "500", "07700 900123", "Priya  SHAH", "Priya@Example.com")
		plain := mk("ORD-8-b", "20", "", "Tom Baker", "tom@example.com")
		list := func(q string) []string {
			t.Helper()
			r := e.do("GET", "/v1/shipments?"+q, key, nil)
			if r.Status != 200 {
				t.Fatalf("%s: %d %s", q, r.Status, r.Body)
			}
			var out []string
			for _, p := range r.JSON(t)["packages"].([]any) {
				out = append(out, p.(map[string]any)["trackingId"].(string))
			}
			return out
		}
		for _, c := range []struct {
			q    string
			want []string
		}{
			{"", []string{plain, otp}},
			{"secure=otp", []string{otp}},
			{"secure=none", []string{plain}},
			{"status=PreTransit", []string{plain, otp}},
			{"status=Delivered", nil},
			{"reference=ORD-7", []string{otp}},
			{"reference=ord-7", nil},
			{"recipient=" + url.QueryEscape("+44 7700 900123"), []string{otp}},
			{"recipient=priya%40example.COM", []string{otp}},
			{"recipient=" + url.QueryEscape(" priya shah "), []string{otp}},
			{"recipient=bak", []string{plain}},
			{"recipient=" + url.QueryEscape("100%"), nil},
			{"from=2000-01-01&to=9000-01-01", []string{plain, otp}},
			{"to=2001-01-01", nil},
		} {
			if got := list(c.q); strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("?%s = %v, want %v", c.q, got, c.want)
			}
		}
		for q, field := range map[string]string{"status=Lost": "status", "secure=gold": "secure", "from=30/11/2026": "from",
			"from=2026-12-02&to=2026-12-01": "to", "limit=0": "limit", "recipient=" + strings.Repeat("x", 201): "recipient"} {
			problem(t, e.do("GET", "/v1/shipments?"+q, key, nil), 400, field)
		}
	})
}

// TestShipmentLabels: a shipment's labels come as a 4×6 in. PDF and as ZPL
// with the printer's Code 128 of every tracking ID; another shipper's are
// not found.
func TestShipmentLabels(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		_, key := e.shipper()
		e.otpOn(key)
		r := e.do("POST", "/v1/shipments", key, shipment("FR", "EUR", "800", "06 12 34 56 78"))
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		m := r.JSON(t)
		id := m["shipmentId"].(string)
		tid := m["packages"].([]any)[0].(map[string]any)["trackingId"].(string)

		pdf := e.do("GET", "/v1/shipments/"+id+"/label.pdf", key, nil)
		if pdf.Status != 200 || pdf.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf.Body, []byte("%PDF-")) {
			t.Fatalf("label.pdf: %d %s %q", pdf.Status, pdf.Header.Get("Content-Type"), pdf.Body[:min(len(pdf.Body), 40)])
		}
		dims, err := pdfapi.PageDims(bytes.NewReader(pdf.Body), nil)
		if err != nil || len(dims) != 1 || dims[0].Width != 288 || dims[0].Height != 432 {
			t.Errorf("label.pdf pages: %v %v, want one of 288 × 432 pt (4 × 6 in.)", dims, err)
		}
		zpl := e.do("GET", "/v1/shipments/"+id+"/label.zpl", key, nil)
		z := string(zpl.Body)
		if zpl.Status != 200 || !strings.Contains(z, "^BCN,200,N,N,N^FD"+tid+"^FS") {
			t.Errorf("label.zpl: %d\n%s", zpl.Status, z)
		}
		if !strings.Contains(z, "^FDCODE (OTP)^FS") || !strings.Contains(z, "^FDDESTINATAIRE^FS") {
			t.Errorf("a French passcode parcel's label is not in French or lacks its mark:\n%s", z)
		}

		_, other := e.shipper()
		for _, f := range []string{"pdf", "zpl"} {
			problem(t, e.do("GET", "/v1/shipments/"+id+"/label."+f, other, nil), 404, "")
		}
	})
}
