package label_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	pdfapi "github.com/pdfcpu/pdfcpu/pkg/api"

	"github.com/handoff-dev/handoff/label"
)

var sample = label.Shipping{
	TrackingID: "HOABCDEFGH2345", ShipmentID: "sh_x", Reference: "ORD-1", Marketplace: "FR", Package: "1/2",
	From: []string{"Shop", "1 Dock Road", "London"}, To: []string{"Léa Roux", "3 rue Oberkampf", "75011 Paris", "FR"},
	Marks: []string{"CODE (OTP)", "SAC INVIOLABLE", "CONTRÔLE ÂGE 18+"},
}

// TestShippingPDF: one valid 4 × 6 in. page per label.
func TestShippingPDF(t *testing.T) {
	second := sample
	second.TrackingID, second.Package = "HOZZZZZZZZZZZZ", "2/2"
	b, err := label.ShippingPDF(sample, second)
	if err != nil {
		t.Fatal(err)
	}
	if err := pdfapi.Validate(bytes.NewReader(b), nil); err != nil {
		t.Fatalf("not a valid PDF: %v", err)
	}
	dims, err := pdfapi.PageDims(bytes.NewReader(b), nil)
	if err != nil || len(dims) != 2 || dims[0].Width != 288 || dims[0].Height != 432 {
		t.Errorf("pages %v %v, want two of 288 × 432 pt", dims, err)
	}
}

// TestSheetPDF: bag labels fill A4 pages 24 at a time.
func TestSheetPDF(t *testing.T) {
	var ids, printed []string
	for i := range 25 {
		ids, printed = append(ids, fmt.Sprintf("TEB%011d", i)), append(printed, fmt.Sprintf("TEB-%05d-%05d-X", 0, i))
	}
	b, err := label.SheetPDF(ids, printed)
	if err != nil {
		t.Fatal(err)
	}
	dims, err := pdfapi.PageDims(bytes.NewReader(b), nil)
	if err != nil || len(dims) != 2 || dims[0].Width != 595 || dims[0].Height != 842 {
		t.Errorf("pages %v %v, want two A4", dims, err)
	}
	if _, err := label.SheetPDF(ids, printed[:1]); err == nil {
		t.Error("mismatched IDs and printed forms were drawn")
	}
}

// TestShippingZPL: one format per label, 4 × 6 in. at 203 dpi, the barcode
// the printer's Code 128, and text that cannot start a ZPL command.
func TestShippingZPL(t *testing.T) {
	evil := sample
	evil.To = []string{"Mallory ^XZ^XA~JR", "1 Main St"}
	z := label.ShippingZPL(sample, evil)
	if strings.Count(z, "^XA") != 2 || strings.Count(z, "^XZ") != 2 {
		t.Fatalf("want two formats, got:\n%s", z)
	}
	for _, want := range []string{"^PW812", "^LL1218", "^CI28", "^BCN,200,N,N,N^FDHOABCDEFGH2345^FS", "^FDCONTRÔLE ÂGE 18+^FS", "^FDMallory  XZ XA JR^FS"} {
		if !strings.Contains(z, want) {
			t.Errorf("ZPL lacks %s:\n%s", want, z)
		}
	}
}
