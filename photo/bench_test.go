package photo

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// BenchmarkClean cleans a 640 × 480 camera JPEG and makes its thumbnail, as
// a delivery with a photo does (handoff loadtest uploads the same size).
func BenchmarkClean(b *testing.B) {
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			img.SetRGBA(x, y, color.RGBA{uint8(x * 255 / 640), uint8(y * 255 / 480), uint8((x + y) % 256), 255})
		}
	}
	var src bytes.Buffer
	if err := jpeg.Encode(&src, img, &jpeg.Options{Quality: 80}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Clean(src.Bytes(), DefaultLimits); err != nil {
			b.Fatal(err)
		}
	}
}
