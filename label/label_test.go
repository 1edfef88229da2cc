package label

import (
	"bytes"
	"image"
	"image/png"
	"strconv"
	"testing"

	"github.com/boombuler/barcode/code128"

	"github.com/handoff-dev/handoff/bag"
)

// code128Values maps each 11-module pattern of Code 128 to its symbol value:
// values 0–94 learnt from the encoder (a one-character set B code is start,
// char, check, stop), and the set switches from the standard.
func code128Values(t *testing.T) map[string]int {
	t.Helper()
	m := map[string]int{"10111011110": 99, "10111101110": 100, "11010010000": 104, "11010011100": 105}
	for c := byte(32); c < 127; c++ {
		bc, err := code128.Encode(string(c))
		if err != nil {
			t.Fatal(err)
		}
		m[bits(bc, 0, 1)[11:22]] = int(c) - 32
	}
	// Values 95–99 occur in set C as the digit pairs "95"–"99".
	for v := 95; v <= 99; v++ {
		pair := strconv.Itoa(v)
		bc, err := code128.Encode(pair + pair)
		if err != nil {
			t.Fatal(err)
		}
		row := bits(bc, 0, 1)
		if row[:11] != "11010011100" { // start C
			t.Fatalf("%s did not start in set C", pair+pair)
		}
		m[row[11:22]] = v
	}
	return m
}

// bits reads one row of an image as modules of width k, dark = 1.
func bits(img image.Image, y, k int) string {
	b := img.Bounds()
	var out []byte
	for x := b.Min.X; x < b.Max.X; x += k {
		r, _, _, _ := img.At(x, b.Min.Y+y).RGBA()
		if r < 0x8000 {
			out = append(out, '1')
		} else {
			out = append(out, '0')
		}
	}
	return string(out)
}

// read decodes the Code 128 barcode in region of img.
func read(t *testing.T, img image.Image, region image.Rectangle, table map[string]int) string {
	t.Helper()
	sub := img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(region)
	row := bits(sub, region.Dy()/2, 1)
	// Find the module width: the start code begins with a 2-module bar.
	start := 0
	for start < len(row) && row[start] == '0' {
		start++
	}
	k := 0
	for start+k < len(row) && row[start+k] == '1' {
		k++
	}
	k /= 2
	if k == 0 {
		t.Fatal("no barcode found")
	}
	var mods []byte
	for x := start; x < len(row); x += k {
		mods = append(mods, row[x])
	}
	const stop = "1100011101011"
	set := table[string(mods[:11])] // 104 start B, 105 start C
	var symbols []string
	// Read symbols after the start code up to the stop code.
	for i := 11; i+13 <= len(mods); i += 11 {
		if string(mods[i:i+13]) == stop {
			break
		}
		symbols = append(symbols, string(mods[i:i+11]))
	}
	if len(symbols) == 0 {
		t.Fatal("no symbols")
	}
	var text []byte
	for _, sym := range symbols[:len(symbols)-1] { // the last is the check symbol
		v, ok := table[sym]
		switch {
		case !ok:
			t.Fatalf("unknown symbol %s", sym)
		case set == 104 && v == 99: // Code C, from set B
			set = 105
		case set == 105 && v == 100: // Code B, from set C
			set = 104
		case set == 105:
			text = append(text, byte('0'+v/10), byte('0'+v%10))
		default:
			text = append(text, byte(v+32))
		}
	}
	return string(text)
}

func TestSheetsCarryTheIDs(t *testing.T) {
	table := code128Values(t)
	var ids, printed []string
	for range PerSheet + 5 {
		id := bag.New()
		ids, printed = append(ids, id), append(printed, bag.Format(id))
	}
	pages, err := Sheets(ids, printed)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) != 2 {
		t.Fatalf("%d pages for %d labels", len(pages), len(ids))
	}
	for p, data := range pages {
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("page %d does not decode: %v", p, err)
		}
		if img.Bounds().Dx() != PageW || img.Bounds().Dy() != PageH {
			t.Errorf("page size %v", img.Bounds())
		}
		for i := 0; i < PerSheet && p*PerSheet+i < len(ids); i++ {
			want := ids[p*PerSheet+i]
			if got := read(t, img, Cell(i), table); got != want {
				t.Errorf("label %d reads %q, want %q", p*PerSheet+i, got, want)
			}
		}
	}
}
