package proof

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"strings"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"
	"github.com/handoff-dev/handoff/tracking"
)

// Fact is one labelled line of a record, as the PDF prints it.
type Fact struct{ Label, Value string }

// Facts returns the record's facts in reading order, each with a label in
// English; absent parts (no bag, no photo…) are left out.
func Facts(r *Record) []Fact {
	out := []Fact{
		{"Tracking ID", r.TrackingID},
		{"Shipment", r.Recipient.ShipmentID},
	}
	if r.Recipient.Reference != "" {
		out = append(out, Fact{"Shipper's reference", r.Recipient.Reference})
	}
	out = append(out,
		Fact{"Shipper", r.ShipperID},
		Fact{"Delivered at", r.DeliveredAt},
		Fact{"Method", r.Method + " (" + tracking.Describe(tracking.StatusDelivered, r.Method) + ")"},
		Fact{"Place", strings.Join(nonEmpty(r.Location.City, r.Location.PostalCode, r.Location.CountryCode), ", ")},
	)
	if r.Bag != nil {
		v := "bag " + r.Bag.BagID + ", not scanned at the door"
		if r.Bag.ScannedAndMatched {
			v = "bag " + r.Bag.BagID + ", scanned at the door and matched"
			if r.Bag.ScannedAt != "" {
				v += " at " + r.Bag.ScannedAt
			}
		}
		out = append(out, Fact{"Tamper-evident bag", v})
	}
	if r.Garage != nil {
		out = append(out, Fact{"Garage opened", r.Garage.OpenedAt}, Fact{"Garage closed", r.Garage.ClosedAt},
			Fact{"Garage grant", r.Garage.GrantID})
	}
	if r.Photo != nil {
		out = append(out, Fact{"Photo taken", r.Photo.TakenAt}, Fact{"Photo SHA-256", r.Photo.SHA256})
	}
	if sg := r.Signature; sg != nil {
		out = append(out, Fact{"Signed by", sg.SignerName + " (" + sg.Relationship + ")"}, Fact{"Signed at", sg.SignedAt})
		if sg.Kind == "TYPED" {
			out = append(out, Fact{"Signature", "name typed (weaker than a drawn signature)"})
		} else {
			out = append(out, Fact{"Signature SHA-256", sg.SHA256})
		}
	}
	if a := r.AgeCheck; a != nil {
		out = append(out, Fact{"Age check", fmt.Sprintf("%d+ shown on %s", a.MinimumAge, a.DocumentType)})
	}
	return append(out,
		Fact{"Associate", r.AssociateID},
		Fact{"Route", r.RouteID},
		Fact{"Proof ID", r.ID},
		Fact{"Issued at", time.Unix(r.IssuedAt, 0).UTC().Format(time.RFC3339)},
	)
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// A4 in points.
const pageW, pageH = 595, 842

// PDF returns a one-page A4 PDF of the record's facts with a QR code of the
// signed record (token), saying which key signed it and where the public
// keys are (jwksURL). It fails only when the token is too long for a QR code.
func PDF(rec *Record, kid, token, jwksURL string) ([]byte, error) {
	code, err := qr.Encode(token, qr.L, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("proof: QR code: %w", err)
	}
	var c bytes.Buffer // the page's content stream
	text := func(font string, size, x, y float64, s string) {
		fmt.Fprintf(&c, "BT /%s %.1f Tf %.2f %.2f Td (%s) Tj ET\n", font, size, x, y, pdfString(s))
	}
	y := float64(pageH - 72)
	text("F2", 20, 56, y, "Proof of delivery")
	y -= 22
	text("F1", 10, 56, y, "Signed by handoff with Ed25519 (JWS, alg EdDSA), key "+kid+".")
	y -= 30
	for _, f := range Facts(rec) {
		text("F2", 10, 56, y, f.Label)
		// Long values (a SHA-256) wrap at a fixed width.
		for i, line := range wrap(f.Value, 64) {
			text("F1", 10, 190, y-float64(i)*13, line)
		}
		y -= 13 * float64(len(wrap(f.Value, 64)))
		y -= 5
	}

	// The QR code, drawn as filled squares: one rectangle per run of dark
	// modules in a row, with the four-module quiet zone left white.
	n := code.Bounds().Dx()
	const side = 240.0
	m := side / float64(n+8)
	x0, y0 := float64(pageW)-56-side, 56.0
	c.WriteString("0 g\n")
	for row := range n {
		for col := 0; col < n; {
			if !dark(code, col, row) {
				col++
				continue
			}
			start := col
			for col < n && dark(code, col, row) {
				col++
			}
			fmt.Fprintf(&c, "%.3f %.3f %.3f %.3f re\n", x0+float64(start+4)*m, y0+float64(n-1-row+4)*m, float64(col-start)*m, m)
		}
	}
	c.WriteString("f\n")
	yt := 56 + side - 12
	for _, line := range []string{
		"The QR code holds the signed record.",
		"Verify it offline with the public keys at",
		jwksURL,
		"(handoff proof verify, or any JOSE library).",
		"A changed byte fails verification.",
	} {
		for _, l := range wrap(line, 48) {
			text("F1", 9, 56, yt, l)
			yt -= 12
		}
	}
	return assemble(c.Bytes(), "Proof of delivery "+rec.TrackingID)
}

func dark(code barcode.Barcode, x, y int) bool {
	r, _, _, _ := code.At(x, y).RGBA()
	return r < 0x8000
}

// wrap cuts s into lines of at most n characters, at spaces when it can.
func wrap(s string, n int) []string {
	var out []string
	for len(s) > n {
		i := strings.LastIndexByte(s[:n], ' ')
		if i <= 0 {
			i = n
		}
		out = append(out, s[:i])
		s = strings.TrimLeft(s[i:], " ")
	}
	return append(out, s)
}

// pdfString escapes s for a literal string in WinAnsiEncoding: Latin-1
// characters as octal escapes, anything else as "?".
func pdfString(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '(' || r == ')' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 32 && r < 127:
			b.WriteRune(r)
		case r >= 0xA0 && r <= 0xFF:
			fmt.Fprintf(&b, "\\%03o", r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// assemble writes a PDF 1.4 file of one A4 page with the content stream
// (compressed) and the two standard Helvetica fonts, with its cross-reference
// table, so any reader opens it without repairing.
func assemble(content []byte, title string) ([]byte, error) {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write(content); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>", pageW, pageH),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
		fmt.Sprintf("<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream", z.Len(), z.Bytes()),
		"<< /Title (" + pdfString(title) + ") /Producer (handoff) >>",
	}
	var out bytes.Buffer
	out.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = out.Len()
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := out.Len()
	fmt.Fprintf(&out, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&out, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&out, "trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, len(objects), xref)
	return out.Bytes(), nil
}
