package photo

import (
	"bytes"
	"context"
	"errors"
	"image/jpeg"
	"math"
	"testing"
)

// TestThumbnailFromScaledDecode: a JPEG kept as it was uploaded gets its
// thumbnail from a decode at a half, a quarter or an eighth of its size. The
// photo's size is reported in full; the thumbnail is ThumbSize on its longer
// side and looks as the thumbnail of the full decode averaged down did
// (within 2 levels of 255 on average in each of R, G and B).
func TestThumbnailFromScaledDecode(t *testing.T) {
	for _, c := range []struct {
		w, h   int
		shift  uint
		tw, th int
	}{
		{640, 480, 1, 320, 240},   // a half is the thumbnail exactly
		{1280, 960, 2, 320, 240},  // a quarter
		{4032, 3024, 3, 320, 240}, // an eighth (504 × 378), then averaged
		{700, 500, 1, 320, 228},   // a half (350 × 250), then averaged
		{500, 333, 0, 320, 213},   // too small to scale: decoded in full
		{200, 100, 0, 200, 100},   // smaller than a thumbnail: as it is
		{333, 1001, 1, 106, 320},  // upright, odd sizes
	} {
		if got := thumbShift(c.w, c.h); got != c.shift {
			t.Errorf("%d×%d: scaled by 1/%d, want 1/%d", c.w, c.h, 1<<got, 1<<c.shift)
		}
		data := scene(t, c.w, c.h)
		got, err := Clean(data, DefaultLimits)
		if err != nil {
			t.Fatalf("%d×%d: %v", c.w, c.h, err)
		}
		if got.Width != c.w || got.Height != c.h {
			t.Errorf("%d×%d: reported as %d×%d", c.w, c.h, got.Width, got.Height)
		}
		if !bytes.Equal(got.JPEG, data) {
			t.Errorf("%d×%d: the upright JPEG without metadata was not kept as it was", c.w, c.h)
		}
		thumb, err := jpeg.Decode(bytes.NewReader(got.Thumb))
		if err != nil {
			t.Fatal(err)
		}
		if b := thumb.Bounds(); b.Dx() != c.tw || b.Dy() != c.th {
			t.Errorf("%d×%d: thumbnail %d×%d, want %d×%d", c.w, c.h, b.Dx(), b.Dy(), c.tw, c.th)
			continue
		}
		// What the thumbnail was before scaled decoding: the full decode
		// averaged down, through the same encoding.
		full, _ := jpeg.Decode(bytes.NewReader(data))
		var old bytes.Buffer
		if err := jpeg.Encode(&old, shrink(full, c.tw, c.th), &jpeg.Options{Quality: 80}); err != nil {
			t.Fatal(err)
		}
		want, _ := jpeg.Decode(&old)
		var sum [3]float64
		for y := range c.th {
			for x := range c.tw {
				a, b := rgbaAt(thumb, x, y), rgbaAt(want, x, y)
				sum[0] += math.Abs(float64(a.R) - float64(b.R))
				sum[1] += math.Abs(float64(a.G) - float64(b.G))
				sum[2] += math.Abs(float64(a.B) - float64(b.B))
			}
		}
		for i, s := range sum {
			if mean := s / float64(c.tw*c.th); mean > 2 {
				t.Errorf("%d×%d: thumbnail %.1f levels of %c from the full decode averaged down", c.w, c.h, mean, "RGB"[i])
			}
		}
	}
}

// TestCleanImageLeavesTheThumbnailForLater: CleanImage keeps an upright
// JPEG as it was and makes no thumbnail; Thumbnail, given what CleanImage
// kept, makes the thumbnail Clean would have made, byte for byte. A JPEG
// damaged in its coefficients is still refused at the upload, although
// CleanImage decodes it only at an eighth of its size.
func TestCleanImageLeavesTheThumbnailForLater(t *testing.T) {
	ctx := context.Background()
	for _, size := range [][2]int{{640, 480}, {1280, 960}, {500, 333}, {200, 100}} {
		data := scene(t, size[0], size[1])
		kept, w, h, err := DefaultLimits.CleanImage(ctx, data)
		if err != nil || !bytes.Equal(kept, data) || w != size[0] || h != size[1] {
			t.Fatalf("%v: CleanImage = %d bytes (kept %v), %d×%d, %v", size, len(kept), bytes.Equal(kept, data), w, h, err)
		}
		thumb, err := DefaultLimits.Thumbnail(ctx, kept)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Clean(data, DefaultLimits)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(thumb, want.Thumb) {
			t.Errorf("%v: the thumbnail made later differs from Clean's", size)
		}
	}

	// Damage a coefficient of the last MCU row: the header and the first
	// rows decode, the rest does not.
	data := scene(t, 640, 480)
	bad := bytes.Clone(data[:len(data)*9/10])
	bad = append(bad, bytes.Repeat([]byte{0xff, 0x00}, 40)...)
	bad = append(bad, 0xff, 0xd9)
	if _, _, _, err := DefaultLimits.CleanImage(ctx, bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("damaged JPEG: %v, want ErrCorrupt", err)
	}
	if _, err := DefaultLimits.Thumbnail(ctx, []byte("not a jpeg")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Thumbnail of garbage: %v, want ErrCorrupt", err)
	}
	if _, err := (Limits{MaxBytes: 1 << 20, MaxPixels: 1000}).Thumbnail(ctx, data); !errors.Is(err, ErrTooManyPixel) {
		t.Errorf("Thumbnail over the pixel limit: %v, want ErrTooManyPixel", err)
	}
}
