package photo

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"testing"
)

// TestShrinkAverages checks the thumbnail's pixels against the average of
// the block of the photo each covers, worked out pixel by pixel.
func TestShrinkAverages(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	src := image.NewRGBA(image.Rect(3, 5, 3+97, 5+61)) // not at the origin, not a multiple of the thumbnail
	for i := range src.Pix {
		src.Pix[i] = uint8(rng.IntN(256))
	}
	const tw, th = 20, 13
	got := shrink(src, tw, th)
	b := src.Bounds()
	for ty := range th {
		for tx := range tw {
			var r, g, bl, n int
			for y := range b.Dy() {
				for x := range b.Dx() {
					if x*tw/b.Dx() != tx || y*th/b.Dy() != ty {
						continue
					}
					c := src.RGBAAt(b.Min.X+x, b.Min.Y+y)
					r, g, bl, n = r+int(c.R), g+int(c.G), bl+int(c.B), n+1
				}
			}
			want := color.RGBA{uint8(r / n), uint8(g / n), uint8(bl / n), 0xff}
			if c := rgbaAt(got, tx, ty); c != want {
				t.Fatalf("pixel (%d, %d) = %v, want the block's average %v", tx, ty, c, want)
			}
		}
	}
}

// TestShrinkJPEGColours shrinks a decoded JPEG (YCbCr 4:2:0) of two colour
// halves: each half of the thumbnail keeps its colour.
func TestShrinkJPEGColours(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			c := color.RGBA{200, 30, 40, 255}
			if x >= 320 {
				c = color.RGBA{20, 60, 210, 255}
			}
			src.SetRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := img.(*image.YCbCr); !ok {
		t.Fatalf("decoded %T, want YCbCr", img)
	}
	th := shrink(img, 320, 240)
	if _, ok := th.(*image.YCbCr); !ok {
		t.Errorf("a JPEG's thumbnail is %T, want YCbCr for the encoder to take as it is", th)
	}
	near := func(a, b uint8) bool { return int(a)-int(b) < 12 && int(b)-int(a) < 12 }
	for _, p := range []struct {
		x    int
		want color.RGBA
	}{{40, color.RGBA{200, 30, 40, 255}}, {280, color.RGBA{20, 60, 210, 255}}} {
		c := rgbaAt(th, p.x, 120)
		if !near(c.R, p.want.R) || !near(c.G, p.want.G) || !near(c.B, p.want.B) {
			t.Errorf("thumbnail at x=%d is %v, want about %v", p.x, c, p.want)
		}
	}
}

func rgbaAt(img image.Image, x, y int) color.RGBA {
	return color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
}
