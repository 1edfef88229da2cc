package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"image"
	_ "image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/oned"

	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
	"github.com/handoff-dev/handoff/tracking"
)

// needPdftoppm returns the path of poppler's pdftoppm, which renders a PDF
// page as a reader would; it skips without it, or fails when
// HANDOFF_REQUIRE_BROWSER=1 says the browser tests must run in full.
func needPdftoppm(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("pdftoppm")
	if err != nil {
		if os.Getenv("HANDOFF_REQUIRE_BROWSER") == "1" {
			t.Fatalf("HANDOFF_REQUIRE_BROWSER=1 but pdftoppm (Debian's poppler-utils) is missing: %v", err)
		}
		t.Skip("pdftoppm not installed (apt-get install poppler-utils)")
	}
	return p
}

// renderPDF renders the first page of a PDF at 300 dpi as an image.
func renderPDF(t *testing.T, pdftoppm string, pdf []byte) (image.Image, []byte) {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "label.pdf")
	if err := os.WriteFile(in, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(pdftoppm, "-r", "300", "-png", "-singlefile", "-f", "1", in, filepath.Join(dir, "page")).CombinedOutput()
	if err != nil {
		t.Fatalf("pdftoppm: %v: %s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "page.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("rendered page: %v", err)
	}
	return img, b
}

// decodeCode128 reads the Code 128 barcode of an image, as a scanner would.
func decodeCode128(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := oned.NewCode128Reader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true})
	if err != nil {
		t.Fatalf("no Code 128 barcode read from the rendered label: %v", err)
	}
	return res.GetText()
}

// get fetches a URL of the server with the browser's own cookies, as the
// browser's download would.
func (c *chrome) get(url string) (*http.Response, []byte) {
	c.t.Helper()
	sctx, cancel := context.WithTimeout(c.ctx, stepTimeout)
	defer cancel()
	cookies, err := chromedp.Call(sctx, network.GetCookies, network.GetCookiesParams{URLs: []string{c.base + "/"}})
	if err != nil {
		c.t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, c.base+url, nil)
	for _, ck := range cookies.Cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, b
}

// TestBrowserShipperLabel: the shipper makes a label in the form (after an
// error, which comes back at its field with the input kept), downloads its
// PDF and ZPL, and the barcode read off the rendered PDF page is the
// tracking ID; then filters the parcel list down to it, exports the CSV and
// finds just that parcel there; and opens the dashboard.
func TestBrowserShipperLabel(t *testing.T) {
	needChromium(t)
	pdftoppm := needPdftoppm(t)
	eachEngine(t, func(t *testing.T, engine string) {
		db := sqlstoretest.Open(t, engine)
		seed := newFixture(t, db)
		srv := browserServer(t, db)
		c := newChrome(t, srv.URL)
		c.do("open the label form", chromedp.Navigate(srv.URL+"/shipments/new"), chromedp.WaitVisible(chromedp.ID("account")))
		c.signIn(seed.Shipper, "#label-form")
		field := func(name string) chromedp.CSS { return chromedp.CSS(`[name="` + name + `"]`) }
		c.do("fill the form with a wrong email and value",
			chromedp.SendKeys(field("shipTo.name"), "Zoë Marchetti"),
			chromedp.SendKeys(field("shipTo.addressLine1"), "5 Canal Walk"),
			chromedp.SendKeys(field("shipTo.postalCode"), "N1 5SA"),
			chromedp.SendKeys(field("shipTo.city"), "London"),
			chromedp.SetValue(field("shipTo.countryCode"), "GB"),
			chromedp.SendKeys(field("shipTo.phoneNumber"), "07700 900999"),
			chromedp.SendKeys(field("shipTo.email"), "zoe-at-example"),
			chromedp.SendKeys(field("packages[0].insuredValue.value"), "lots"),
			chromedp.SendKeys(field("packages[0].packageClientReferenceId"), "=HYPERLINK(\"x\")"),
			chromedp.SendKeys(field("packages[0].items[0].category"), "smartphone"),
			chromedp.Click(chromedp.CSS(`#label-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#label-errors")),
		)
		c.shot("label-form-errors")
		if got := c.text(`[id="shipTo.email-error"]`); got == "" {
			t.Error("no error at the email field")
		}
		if got := c.text(`[id="packages[0].insuredValue.value-error"]`); got == "" {
			t.Error("no error at the declared value")
		}
		if got := c.eval(`document.querySelector('[name="shipTo.name"]').value + "|" + document.querySelector('[name="shipTo.countryCode"]').value`); got != "Zoë Marchetti|GB" {
			t.Errorf("after the error the form kept %q", got)
		}
		c.do("correct and send",
			chromedp.SetValue(field("shipTo.email"), "zoe@example.com"),
			chromedp.SetValue(field("packages[0].insuredValue.value"), "749.00"),
			chromedp.Click(chromedp.CSS(`#label-form button[type="submit"]`)),
			chromedp.WaitVisible(chromedp.CSS("#label-created")),
		)
		shipment := strings.TrimSuffix(strings.TrimPrefix(c.location(), "/shipments/"), "?created=1")
		trackingID := c.eval(`document.querySelector("section.package").id`)
		if !strings.HasPrefix(trackingID, "HO") {
			t.Fatalf("the new shipment %s shows package %q", shipment, trackingID)
		}
		if !strings.Contains(c.text("section.package"), "OTP required") {
			t.Errorf("a 749 GBP parcel to a mobile is not marked OTP: %s", c.text("section.package"))
		}

		// The PDF and the ZPL, fetched from the page's own links.
		pdfURL := c.eval(`document.getElementById("label-pdf").getAttribute("href")`)
		resp, pdf := c.get(pdfURL)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
			t.Fatalf("label PDF: %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), pdf[:min(len(pdf), 20)])
		}
		img, png := renderPDF(t, pdftoppm, pdf)
		if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 1800 {
			t.Errorf("the label page renders at %dx%d pixels at 300 dpi, not 4x6 in.", b.Dx(), b.Dy())
		}
		if got := decodeCode128(t, img); got != trackingID {
			t.Errorf("the label's barcode reads %q, want %q", got, trackingID)
		}
		if dir := os.Getenv("HANDOFF_SCREENSHOTS"); dir != "" {
			os.WriteFile(filepath.Join(dir, "label-pdf.png"), png, 0o644)
		}
		resp, zpl := c.get(c.eval(`document.getElementById("label-zpl").getAttribute("href")`))
		if resp.StatusCode != 200 || !strings.Contains(string(zpl), "^BC") || !strings.Contains(string(zpl), "^FD"+trackingID+"^FS") ||
			!strings.HasPrefix(string(zpl), "^XA") || !strings.Contains(string(zpl), "^PW812") {
			t.Errorf("label ZPL (%d):\n%s", resp.StatusCode, zpl)
		}
		// Another shipper's label is not found.
		if resp, _ := c.get("/shipments/" + seed.Shipments[0].ID + "x/label.pdf"); resp.StatusCode != 404 {
			t.Errorf("an unknown shipment's label: %d", resp.StatusCode)
		}

		// Filter by the recipient's phone typed another way and by passcode.
		c.do("filter the list",
			chromedp.Navigate(srv.URL+"/shipments"), chromedp.WaitVisible(chromedp.CSS("#filters")),
			chromedp.SendKeys(chromedp.CSS("#f-recipient"), "+44 7700 900999"),
			chromedp.SetValue(chromedp.CSS("#f-secure"), "otp"),
			chromedp.Click(chromedp.CSS(`#filters button[type="submit"]`)),
			// Only the filtered list offers to clear its filters.
			chromedp.WaitVisible(chromedp.CSS(`.filter-actions a[href="/shipments"]`)),
		)
		if n := c.eval(`String(document.querySelectorAll("table.parcels tbody tr").length)`); n != "1" {
			t.Errorf("the filter left %s rows: %s", n, c.text("table.parcels"))
		}
		c.shot("label-list")
		resp, body := c.get(c.eval(`document.getElementById("export-csv").getAttribute("href")`))
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
			t.Fatalf("export: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("the export is not CSV: %v\n%s", err, body)
		}
		if len(rows) != 2 || rows[1][0] != trackingID || rows[1][4] != "Zoë Marchetti" {
			t.Fatalf("the export of the filtered list:\n%s", body)
		}
		if ref := rows[1][2]; ref != `'=HYPERLINK("x")` {
			t.Errorf("a reference that starts with = is exported as %q, not as text", ref)
		}
		// Unfiltered, every parcel is there.
		_, all := c.get("/shipments/export.csv")
		if rows, _ := csv.NewReader(bytes.NewReader(all)).ReadAll(); len(rows) != len(seed.Shipments)+2 {
			t.Errorf("the unfiltered export has %d rows, want %d", len(rows), len(seed.Shipments)+2)
		}

		// Two of the fixture's passcode parcels go out: one is delivered at
		// once, the other after a failed attempt.
		now := db.Now()
		sqlstoretest.Happened(t, db, seed.parcel(t, "order-1001-phone"), now, tracking.OutForDelivery, tracking.Delivered)
		sqlstoretest.Happened(t, db, seed.parcel(t, "order-1003-laptop"), now, tracking.OutForDelivery, tracking.DeliveryAttempted,
			tracking.OutForDelivery, tracking.Delivered)
		sqlstoretest.Happened(t, db, seed.parcel(t, "order-1002-book"), now, tracking.PickupDone)
		c.do("open the dashboard", chromedp.Navigate(srv.URL+"/dashboard"), chromedp.WaitVisible(chromedp.CSS("#by-status svg")))
		if got := c.text("#by-status h2"); !strings.Contains(got, "(6)") {
			t.Errorf("the dashboard counts %q parcels this week, want 6", got)
		}
		counts := c.eval(`[...document.querySelectorAll("#otp-outcomes .chart-count")].map(e => e.textContent).join(",")`)
		if counts != "1,1,0" || c.text("#mean-attempts") != "1.5" {
			t.Errorf("passcode outcomes %s, mean %s; want 1,1,0 and 1.5", counts, c.text("#mean-attempts"))
		}
		c.shot("label-dashboard")
	})
}
