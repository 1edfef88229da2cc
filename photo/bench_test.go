package photo

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// scene is a w × h picture of gradients, as a JPEG. (Hard edges are left to
// jpegscale's tests: at an edge, two thumbnails averaged from windows half
// a pixel apart differ by tens of levels, and both are right.)
func scene(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x + y) * 200 / (w + h)), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// BenchmarkClean cleans a camera JPEG and makes its thumbnail, as a
// delivery with a photo does: 640 × 480 is what handoff loadtest uploads
// (an app that shrinks its photos), 4032 × 3024 a phone's 12-megapixel
// photo as it was taken.
func BenchmarkClean(b *testing.B) {
	for _, size := range [][2]int{{640, 480}, {4032, 3024}} {
		b.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(b *testing.B) {
			src := scene(b, size[0], size[1])
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Clean(src, DefaultLimits); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
