// Package label draws printable sheets of bag labels: for each bag a Code 128
// barcode of its ID and the ID in print under it, three columns to an A4
// page at 150 dpi, as PNG.
package label

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/code128"
	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Sheet geometry at 150 dpi: A4 is 1240 × 1754 pixels.
const (
	PageW    = 1240
	PageH    = 1754
	Cols     = 3
	Rows     = 8
	PerSheet = Cols * Rows
	margin   = 40
	cellW    = (PageW - 2*margin) / Cols
	cellH    = (PageH - 2*margin) / Rows
	barH     = 110
	barW     = cellW - 60
	textGap  = 10
)

// Cell returns the rectangle of the barcode of the i-th label on a sheet.
func Cell(i int) image.Rectangle {
	col, row := i%Cols, (i/Cols)%Rows
	x := margin + col*cellW + (cellW-barW)/2
	y := margin + row*cellH + 30
	return image.Rect(x, y, x+barW, y+barH)
}

// Barcode returns the Code 128 barcode of text, each module a whole number
// of pixels wide (as wide as fits the label), so scanners read clean edges.
func Barcode(text string) (barcode.Barcode, error) {
	c, err := code128.Encode(text)
	if err != nil {
		return nil, err
	}
	k := barW / c.Bounds().Dx()
	if k < 1 {
		return nil, fmt.Errorf("label: %q is too long for a label", text)
	}
	return barcode.Scale(c, k*c.Bounds().Dx(), barH)
}

// Pages returns how many sheets n labels take.
func Pages(n int) int { return max(1, (n+PerSheet-1)/PerSheet) }

// Sheets draws the labels of ids (canonical IDs, printed as printed[i]) on as
// many pages as needed and returns one PNG per page.
func Sheets(ids, printed []string) ([][]byte, error) {
	var pages [][]byte
	for p := 1; p <= Pages(len(ids)); p++ {
		b, err := Page(ids, printed, p)
		if err != nil {
			return nil, err
		}
		pages = append(pages, b)
	}
	return pages, nil
}

// Page draws one sheet (numbered from 1) of the labels as PNG.
func Page(ids, printed []string, page int) ([]byte, error) {
	if len(ids) != len(printed) {
		return nil, fmt.Errorf("label: %d ids, %d printed forms", len(ids), len(printed))
	}
	if page < 1 || page > Pages(len(ids)) {
		return nil, fmt.Errorf("label: no page %d", page)
	}
	start := (page - 1) * PerSheet
	end := min(start+PerSheet, len(ids))
	img := image.NewGray(image.Rect(0, 0, PageW, PageH))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for i := start; i < end; i++ {
		bc, err := Barcode(ids[i])
		if err != nil {
			return nil, fmt.Errorf("label: %s: %w", ids[i], err)
		}
		r := Cell(i - start)
		at := image.Rect(r.Min.X, r.Min.Y, r.Min.X+bc.Bounds().Dx(), r.Max.Y)
		draw.Draw(img, at, bc, image.Point{}, draw.Src)
		writeCentered(img, printed[i], r.Min.X+bc.Bounds().Dx()/2, r.Max.Y+textGap)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeCentered prints s under a barcode, twice the size of the built-in
// bitmap font so it can be read off a bag at arm's length.
func writeCentered(img draw.Image, s string, cx, top int) {
	face := basicfont.Face7x13
	d := &font.Drawer{Src: image.NewUniform(color.Black), Face: face}
	w := d.MeasureString(s).Round()
	small := image.NewGray(image.Rect(0, 0, w, 13))
	xdraw.Draw(small, small.Bounds(), image.White, image.Point{}, xdraw.Src)
	d.Dst = small
	d.Dot = fixed.P(0, 10)
	d.DrawString(s)
	dst := image.Rect(cx-w, top, cx+w, top+26)
	xdraw.NearestNeighbor.Scale(img, dst, small, small.Bounds(), xdraw.Src, nil)
}
