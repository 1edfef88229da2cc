package label

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/code128"
	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/locale"
	pdfapi "github.com/pdfcpu/pdfcpu/pkg/api"
	pdffont "github.com/pdfcpu/pdfcpu/pkg/font"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
)

// pdfcpu would otherwise create a configuration directory in $HOME on first
// use; labels need none of it.
func init() { model.ConfigPath = "disable" }

// Shipping is what a parcel's 4×6 in. shipping label prints: the tracking ID
// as a Code 128 barcode and in print, both addresses, and the secure-delivery
// marks the parcel carries.
type Shipping struct {
	TrackingID  string
	ShipmentID  string
	Reference   string   // the shipper's package reference, or ""
	Marketplace string   // "GB"
	Package     string   // "1/2": which package of the shipment
	From        []string // the sender, name first
	To          []string // the recipient, name first
	// Marks are the secure-delivery marks, each a short capitalised phrase
	// ("PASSCODE (OTP)", "TAMPER-EVIDENT BAG"), printed inverted.
	Marks []string
	// Words are the label's headings in its language; empty ones are
	// printed in English.
	Words Words
}

// Words are the fixed words a label prints.
type Words struct{ From, ShipTo, Shipment, Package, Ref string }

// or returns the words with English for those missing.
func (w Words) or() Words {
	def := func(s, en string) string {
		if s == "" {
			return en
		}
		return s
	}
	return Words{def(w.From, "FROM"), def(w.ShipTo, "SHIP TO"), def(w.Shipment, "Shipment"), def(w.Package, "package"), def(w.Ref, "ref")}
}

// Label size: 4 × 6 in. as PDF points and as dots of a 203 dpi thermal printer.
const (
	labelW, labelH = 288.0, 432.0
	zplDPI         = 203
	zplW, zplH     = 4 * zplDPI, 6 * zplDPI
)

// modules returns the Code 128 symbol of text as runs of dark modules:
// [start, width] pairs, and the symbol's width in modules.
func modules(text string) ([][2]int, int, error) {
	c, err := code128.Encode(text)
	if err != nil {
		return nil, 0, fmt.Errorf("label: barcode of %q: %w", text, err)
	}
	return runs(c), c.Bounds().Dx(), nil
}

func runs(c barcode.Barcode) [][2]int {
	var out [][2]int
	n := c.Bounds().Dx()
	for x := 0; x < n; {
		if r, _, _, _ := c.At(x, 0).RGBA(); r >= 0x8000 {
			x++
			continue
		}
		start := x
		for x < n {
			if r, _, _, _ := c.At(x, 0).RGBA(); r >= 0x8000 {
				break
			}
			x++
		}
		out = append(out, [2]int{start, x - start})
	}
	return out
}

// The JSON shapes of pdfcpu's create command: boxes and text boxes placed
// on pages, coordinates from the lower left corner in points.
type (
	pdfFont struct {
		Name string `json:"name"`
		Size int    `json:"size"`
		Col  string `json:"col,omitempty"`
	}
	pdfBox struct {
		Pos     [2]float64 `json:"pos"`
		Width   float64    `json:"width"`
		Height  float64    `json:"height"`
		FillCol string     `json:"fillCol"`
	}
	pdfText struct {
		Value string     `json:"value"`
		Pos   [2]float64 `json:"pos"`
		Font  pdfFont    `json:"font"`
	}
	pdfContent struct {
		Box  []pdfBox  `json:"box,omitempty"`
		Text []pdfText `json:"text,omitempty"`
	}
	pdfPage struct {
		Content pdfContent `json:"content"`
	}
	pdfDoc struct {
		Paper  string             `json:"paper"`
		Origin string             `json:"origin"`
		Pages  map[string]pdfPage `json:"pages"`
	}
)

// page is one page being laid out.
type page struct{ c pdfContent }

func (p *page) text(font string, size int, x, y float64, s string) {
	p.c.Text = append(p.c.Text, pdfText{Value: printable(s), Pos: [2]float64{x, y}, Font: pdfFont{Name: font, Size: size}})
}

// centred prints s centred on cx, measured with the font's own metrics.
func (p *page) centred(font string, size int, cx, y float64, s string) {
	s = printable(s)
	w, err := pdffont.TextWidth(s, font, size)
	if err != nil {
		w = 0
	}
	p.c.Text = append(p.c.Text, pdfText{Value: s, Pos: [2]float64{cx - w/2, y}, Font: pdfFont{Name: font, Size: size}})
}

func (p *page) rect(x, y, w, h float64) {
	p.c.Box = append(p.c.Box, pdfBox{Pos: [2]float64{x, y}, Width: w, Height: h, FillCol: "#000000"})
}

// barcode draws text's Code 128 symbol with its lower left corner at x, y,
// w points wide (quiet zones outside) and h high, one filled box per bar.
func (p *page) barcode(text string, x, y, w, h float64) error {
	bars, n, err := modules(text)
	if err != nil {
		return err
	}
	m := w / float64(n)
	for _, b := range bars {
		p.rect(x+float64(b[0])*m, y, float64(b[1])*m, h)
	}
	return nil
}

// render writes the pages as one PDF of the given paper (a pdfcpu paper
// name: "Photo" is 4 × 6 in., "A4").
func render(paper string, pages []page) ([]byte, error) {
	doc := pdfDoc{Paper: paper, Origin: "LowerLeft", Pages: map[string]pdfPage{}}
	for i, p := range pages {
		doc.Pages[fmt.Sprint(i+1)] = pdfPage{Content: p.c}
	}
	spec, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	conf := model.NewDefaultConfiguration()
	conf.Offline = true
	if err := pdfapi.Create(nil, bytes.NewReader(spec), &out, conf); err != nil {
		return nil, fmt.Errorf("label: PDF: %w", err)
	}
	return out.Bytes(), nil
}

// ShippingPDF returns the parcels' labels as a 4 × 6 in. PDF, one page each.
func ShippingPDF(labels ...Shipping) ([]byte, error) {
	var pages []page
	for _, l := range labels {
		p, err := shippingPage(l)
		if err != nil {
			return nil, err
		}
		pages = append(pages, p)
	}
	return render("Photo", pages)
}

func shippingPage(l Shipping) (page, error) {
	var p page
	words := l.Words.or()
	const left, right = 14.0, labelW - 14
	y := labelH - 22.0
	// Marketplace, large, top right; the sender top left in small print.
	p.text("Helvetica-Bold", 26, right-44, y-8, l.Marketplace)
	p.text("Helvetica-Bold", 7, left, y, words.From)
	for _, line := range clipLines(l.From, 5) {
		y -= 9
		p.text("Helvetica", 8, left, y, clipText(line, 48))
	}
	y -= 12
	p.rect(left, y, right-left, 1.5)
	y -= 14
	p.text("Helvetica-Bold", 8, left, y, words.ShipTo)
	for i, line := range clipLines(l.To, 6) {
		size, font := 12, "Helvetica"
		if i == 0 {
			size, font = 14, "Helvetica-Bold"
		}
		y -= float64(size) + 3
		p.text(font, size, left, y, clipText(line, 34))
	}
	y -= 12
	p.rect(left, y, right-left, 1.5)

	// Secure-delivery marks: white on black, two to a row.
	if len(l.Marks) > 0 {
		y -= 6
		w := (right - left - 6) / 2
		for i, m := range l.Marks {
			x := left + float64(i%2)*(w+6)
			if i%2 == 0 {
				y -= 20
			}
			p.rect(x, y-1.5, w, 16)
			m = printable(m)
			tw, _ := pdffont.TextWidth(m, "Helvetica-Bold", 10)
			p.c.Text = append(p.c.Text, pdfText{Value: m, Pos: [2]float64{x + (w-tw)/2, y}, Font: pdfFont{Name: "Helvetica-Bold", Size: 10, Col: "#FFFFFF"}})
		}
	}

	// The barcode: 1 in. high, at least ten modules of quiet zone each side.
	_, n, err := modules(l.TrackingID)
	if err != nil {
		return p, err
	}
	bw := min(right-left-24, float64(n)*1.5)
	if err := p.barcode(l.TrackingID, (labelW-bw)/2, 64, bw, 72); err != nil {
		return p, err
	}
	p.centred("Helvetica-Bold", 18, labelW/2, 42, l.TrackingID)
	foot := l.footer(words, "   ")
	p.centred("Helvetica", 7, labelW/2, 18, clipText(foot, 80))
	return p, nil
}

// SheetPDF returns the bag labels of ids (printed as printed[i]) as an A4
// PDF, laid out as the PNG sheets are: three columns, eight rows a page.
func SheetPDF(ids, printed []string) ([]byte, error) {
	if len(ids) != len(printed) {
		return nil, fmt.Errorf("label: %d ids, %d printed forms", len(ids), len(printed))
	}
	const pw, ph, mg = 595.0, 842.0, 19.0
	cw, ch := (pw-2*mg)/Cols, (ph-2*mg)/Rows
	var pages []page
	for start := 0; start < len(ids) || start == 0; start += PerSheet {
		var p page
		for i := start; i < min(start+PerSheet, len(ids)); i++ {
			col, row := (i-start)%Cols, (i-start)/Cols
			x, top := mg+float64(col)*cw, ph-mg-float64(row)*ch
			if err := p.barcode(ids[i], x+14, top-14-54, cw-28, 54); err != nil {
				return nil, err
			}
			p.centred("Helvetica-Bold", 12, x+cw/2, top-14-54-18, printed[i])
		}
		pages = append(pages, p)
		if len(ids) == 0 {
			break
		}
	}
	return render("A4", pages)
}

// ShippingZPL returns the parcels' labels for a 4 × 6 in. thermal printer at
// 203 dpi, in ZPL II, one ^XA…^XZ format each: the same content as the PDF,
// the barcode drawn by the printer (^BC, Code 128) so it is as sharp as its
// head allows.
func ShippingZPL(labels ...Shipping) string {
	var b strings.Builder
	for _, l := range labels {
		zplLabel(&b, l)
	}
	return b.String()
}

// footer is the label's last line: the shipment, the package and the
// reference.
func (l Shipping) footer(words Words, sep string) string {
	foot := words.Shipment + " " + l.ShipmentID
	if l.Package != "" {
		foot += sep + words.Package + " " + l.Package
	}
	if l.Reference != "" {
		foot += sep + words.Ref + " " + l.Reference
	}
	return foot
}

func zplLabel(b *strings.Builder, l Shipping) {
	words := l.Words.or()
	f := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	f("^XA\n^CI28\n^PW%d\n^LL%d\n^LH0,0\n", zplW, zplH)
	y := 30
	f("^FO%d,%d^A0N,70,70^FD%s^FS\n", zplW-130, y, zplField(l.Marketplace))
	f("^FO30,%d^A0N,22,22^FD%s^FS\n", y, zplField(words.From))
	for _, line := range clipLines(l.From, 5) {
		y += 26
		f("^FO30,%d^A0N,24,24^FD%s^FS\n", y, zplField(clipText(line, 48)))
	}
	y += 40
	f("^FO30,%d^GB%d,4,4^FS\n", y, zplW-60)
	y += 20
	f("^FO30,%d^A0N,24,24^FD%s^FS\n", y, zplField(words.ShipTo))
	for i, line := range clipLines(l.To, 6) {
		h := 36
		if i == 0 {
			h = 44
		}
		y += h + 6
		f("^FO30,%d^A0N,%d,%d^FD%s^FS\n", y, h, h, zplField(clipText(line, 34)))
	}
	y += 60
	f("^FO30,%d^GB%d,4,4^FS\n", y, zplW-60)
	y += 20
	w := (zplW - 60 - 20) / 2
	for i, m := range l.Marks {
		x := 30 + (i%2)*(w+20)
		if i > 0 && i%2 == 0 {
			y += 60
		}
		// A filled box with the text reversed out of it (^FR).
		f("^FO%d,%d^GB%d,50,50^FS\n", x, y, w)
		f("^FO%d,%d^FR^FB%d,1,0,C^A0N,32,32^FD%s^FS\n", x, y+10, w, zplField(m))
	}
	// ^BY3: three dots a module; ^BC with the interpretation line off, the
	// tracking ID printed larger under it.
	f("^FO60,%d^BY3^BCN,200,N,N,N^FD%s^FS\n", zplH-340, zplField(l.TrackingID))
	f("^FO0,%d^FB%d,1,0,C^A0N,50,50^FD%s^FS\n", zplH-125, zplW, zplField(l.TrackingID))
	foot := l.footer(words, "  ")
	f("^FO0,%d^FB%d,1,0,C^A0N,22,22^FD%s^FS\n", zplH-55, zplW, zplField(clipText(foot, 80)))
	f("^XZ\n")
}

// zplField keeps field data from ending the field or starting a command:
// ^ and ~ are ZPL's command prefixes, so they become spaces; control
// characters go too.
func zplField(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '^' || r == '~' || r < 32 || r == 127 {
			return ' '
		}
		return r
	}, s)
}

// printable replaces what the standard PDF fonts cannot show (they cover
// Latin-1) with "?", and control characters with spaces.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r < 32 || r == 127:
			return ' '
		case r > 0xFF:
			return '?'
		}
		return r
	}, s)
}

func clipLines(lines []string, n int) []string {
	var out []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// clipText shortens s to n characters with an ellipsis.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Marks returns the secure-delivery marks of a package of sh, each put
// through t (the label's language): passcode, bag, signature, age check, and
// whether a photo may be taken when it is left at the door.
func Marks(sh *handoff.Shipment, p handoff.Package, t func(string, ...any) string) []string {
	var out []string
	if p.Decision.OTPRequired {
		out = append(out, t("PASSCODE (OTP)"))
	}
	if p.Decision.BagRequired {
		out = append(out, t("TAMPER-EVIDENT BAG"))
	}
	switch sh.Preferences.Signature {
	case handoff.SignatureAdult:
		out = append(out, t("ADULT SIGNATURE"))
	case handoff.SignatureAny:
		out = append(out, t("SIGNATURE"))
	}
	if a := sh.Preferences.MinimumAge; a > 0 {
		out = append(out, t("AGE CHECK %d+", a))
	}
	switch {
	case sh.Preferences.ConfidentialAddress || sh.Preferences.GiftRegistry:
		out = append(out, t("NO PHOTO"))
	case !p.Decision.OTPRequired && sh.Preferences.Signature == "" && sh.Preferences.MinimumAge == 0:
		out = append(out, t("PHOTO IF LEFT"))
	}
	return out
}

// ForShipment returns the labels of every package of sh, worded in the
// language of its marketplace, where the label is read.
func ForShipment(sh *handoff.Shipment) []Shipping {
	lang := locale.ForMarket(string(sh.Marketplace.Code))
	t := func(k string, a ...any) string { return locale.T(lang, k, a...) }
	addr := func(a handoff.Address) []string {
		city := strings.TrimSpace(a.PostalCode + " " + a.City)
		if a.StateOrRegion != "" {
			city += ", " + a.StateOrRegion
		}
		return []string{a.Name, a.AddressLine1, a.AddressLine2, city, a.CountryCode, a.PhoneNumber}
	}
	var out []Shipping
	for i, p := range sh.Packages {
		out = append(out, Shipping{
			TrackingID: p.TrackingID, ShipmentID: sh.ID, Reference: p.ClientRef, Marketplace: string(sh.Marketplace.Code),
			Package: fmt.Sprintf("%d/%d", i+1, len(sh.Packages)),
			From:    addr(sh.ShipFrom)[:5], To: addr(sh.ShipTo), Marks: Marks(sh, p, t),
			Words: Words{From: t("FROM"), ShipTo: t("SHIP TO"), Shipment: t("Shipment"), Package: t("package"), Ref: t("ref")},
		})
	}
	return out
}

// Formats of a shipment's labels, as their file extensions.
const (
	PDF = "pdf"
	ZPL = "zpl"
)

// ShipmentLabels returns the labels of sh in a format (PDF or ZPL) with the
// body's media type.
func ShipmentLabels(sh *handoff.Shipment, format string) (body []byte, contentType string, err error) {
	labels := ForShipment(sh)
	if format == PDF {
		body, err = ShippingPDF(labels...)
		return body, "application/pdf", err
	}
	return []byte(ShippingZPL(labels...)), "application/zpl; charset=utf-8", nil
}
