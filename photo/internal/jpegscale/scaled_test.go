package jpegscale

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// photo returns a JPEG of a w × h scene with smooth gradients and sharp
// edges, as a photo has, encoded by Go's encoder (4:2:0).
func photo(t testing.TB, w, h int, gray bool) []byte {
	t.Helper()
	var img image.Image
	if gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				g.Pix[y*g.Stride+x] = uint8((x*255/w + (y/40%2)*60) % 256)
			}
		}
		img = g
	} else {
		m := image.NewRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				edge := uint8(0)
				if (x/37+y/29)%2 == 0 {
					edge = 90
				}
				m.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y*255/h) ^ edge, uint8((x + y) % 256), 255})
			}
		}
		img = m
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// boxDown averages full's samples of a plane over f × f blocks: what the
// scaled decode stands for.
func boxDown(pix []byte, stride, w, h, f int) []float64 {
	ow, oh := (w+f-1)/f, (h+f-1)/f
	out := make([]float64, ow*oh)
	for oy := range oh {
		for ox := range ow {
			var s, n float64
			for y := oy * f; y < min(h, oy*f+f); y++ {
				for x := ox * f; x < min(w, ox*f+f); x++ {
					s += float64(pix[y*stride+x])
					n++
				}
			}
			out[oy*ow+ox] = s / n
		}
	}
	return out
}

// planeDiff is the mean and largest difference between a scaled plane and
// the box average of the full one.
func planeDiff(t *testing.T, scaled []byte, sStride, sw, sh int, full []byte, fStride, fw, fh, f int) (mean, worst float64) {
	t.Helper()
	want := boxDown(full, fStride, fw, fh, f)
	if ow, oh := (fw+f-1)/f, (fh+f-1)/f; ow != sw || oh != sh {
		t.Fatalf("scaled plane is %d×%d, want %d×%d", sw, sh, ow, oh)
	}
	var sum float64
	for y := range sh {
		for x := range sw {
			d := math.Abs(float64(scaled[y*sStride+x]) - want[y*sw+x])
			sum += d
			worst = max(worst, d)
		}
	}
	return sum / float64(sw*sh), worst
}

// TestScaledMatchesFullDecode decodes each JPEG at 1/2, 1/4 and 1/8 and
// compares every plane with the full decode (image/jpeg) averaged over the
// pixels each scaled one stands for: on average within 3.5 levels of 255
// (the frequencies a scaled block leaves out still move the average a
// little: 2–3 levels for Go's test frames, 150 × 103 pixels of fine detail;
// under 2 for photo-like scenes). A transform wrong by a factor or a sign
// is tens of levels away.
func TestScaledMatchesFullDecode(t *testing.T) {
	inputs := map[string][]byte{
		"photo 640×480":        photo(t, 640, 480, false),
		"photo 1001×677 (odd)": photo(t, 1001, 677, false),
		"gray 320×240":         photo(t, 320, 240, true),
	}
	files, _ := filepath.Glob("testdata/*.jpeg")
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && !bytes.Contains([]byte(f), []byte("truncated")) &&
			!bytes.Contains([]byte(f), []byte("cmyk")) && !bytes.Contains([]byte(f), []byte("rgb")) {
			inputs[filepath.Base(f)] = b
		}
	}
	for name, data := range inputs {
		full, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for shift := uint(1); shift <= 3; shift++ {
			f := 1 << shift
			img, err := DecodeScaled(bytes.NewReader(data), shift)
			if err != nil {
				t.Fatalf("%s at 1/%d: %v", name, f, err)
			}
			type plane struct {
				name       string
				s          []byte
				ss, sw, sh int
				fp         []byte
				fs, fw, fh int
			}
			var planes []plane
			switch m := img.(type) {
			case *image.Gray:
				g := full.(*image.Gray)
				planes = append(planes, plane{"gray", m.Pix, m.Stride, m.Rect.Dx(), m.Rect.Dy(), g.Pix, g.Stride, g.Rect.Dx(), g.Rect.Dy()})
			case *image.YCbCr:
				y := full.(*image.YCbCr)
				if m.SubsampleRatio != y.SubsampleRatio {
					t.Fatalf("%s at 1/%d: subsampling %v, want %v", name, f, m.SubsampleRatio, y.SubsampleRatio)
				}
				cw, ch := len(y.Cb)/y.CStride, 0
				_ = cw
				// Chroma planes: their visible size follows from the
				// luma's and the subsampling.
				cRect := func(r image.Rectangle, ratio image.YCbCrSubsampleRatio) (int, int) {
					w, h := r.Dx(), r.Dy()
					switch ratio {
					case image.YCbCrSubsampleRatio422:
						return (w + 1) / 2, h
					case image.YCbCrSubsampleRatio420:
						return (w + 1) / 2, (h + 1) / 2
					case image.YCbCrSubsampleRatio440:
						return w, (h + 1) / 2
					case image.YCbCrSubsampleRatio411:
						return (w + 3) / 4, h
					case image.YCbCrSubsampleRatio410:
						return (w + 3) / 4, (h + 1) / 2
					}
					return w, h
				}
				scw, sch := cRect(m.Rect, m.SubsampleRatio)
				fcw, fch := cRect(y.Rect, y.SubsampleRatio)
				_ = ch
				planes = append(planes,
					plane{"Y", m.Y, m.YStride, m.Rect.Dx(), m.Rect.Dy(), y.Y, y.YStride, y.Rect.Dx(), y.Rect.Dy()},
					plane{"Cb", m.Cb, m.CStride, scw, sch, y.Cb, y.CStride, fcw, fch},
					plane{"Cr", m.Cr, m.CStride, scw, sch, y.Cr, y.CStride, fcw, fch})
			default:
				t.Fatalf("%s at 1/%d: a %T", name, f, img)
			}
			if got, want := img.Bounds(), image.Rect(0, 0, (full.Bounds().Dx()+f-1)/f, (full.Bounds().Dy()+f-1)/f); got != want {
				t.Errorf("%s at 1/%d: bounds %v, want %v", name, f, got, want)
			}
			for _, p := range planes {
				if p.sw != (p.fw+f-1)/f || p.sh != (p.fh+f-1)/f {
					// A chroma plane of an odd width rounds up twice.
					continue
				}
				mean, worst := planeDiff(t, p.s, p.ss, p.sw, p.sh, p.fp, p.fs, p.fw, p.fh, f)
				if mean > 3.5 {
					t.Errorf("%s at 1/%d, %s: %.2f levels from the full decode on average (worst %.0f)", name, f, p.name, mean, worst)
				}
			}
		}
	}
}

// TestScaledRefusals: what the full decoder refuses, the scaled one refuses
// too; CMYK and RGB JPEGs, which it does not scale, are an
// UnsupportedError; and a scale it does not offer is refused.
func TestScaledRefusals(t *testing.T) {
	for _, f := range []string{"video-001.cmyk.jpeg", "video-001.rgb.jpeg"} {
		data, err := os.ReadFile("testdata/" + f)
		if err != nil {
			t.Fatal(err)
		}
		var ue UnsupportedError
		if _, err := DecodeScaled(bytes.NewReader(data), 1); !errors.As(err, &ue) {
			t.Errorf("%s: %v, want an UnsupportedError", f, err)
		}
	}
	good := photo(t, 64, 64, false)
	for _, shift := range []uint{0, 4} {
		if _, err := DecodeScaled(bytes.NewReader(good), shift); err == nil {
			t.Errorf("shift %d accepted", shift)
		}
	}
	if _, err := DecodeScaled(bytes.NewReader(good[:len(good)/2]), 1); err == nil {
		t.Error("half a JPEG decoded")
	}
}

// FuzzDecodeScaled: no input makes the scaled decoder panic, and it
// accepts what image/jpeg accepts (unless CMYK or RGB) and refuses what
// image/jpeg refuses.
func FuzzDecodeScaled(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.jpeg")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b, uint8(1))
		}
	}
	f.Add(photo(f, 48, 40, false), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, s uint8) {
		shift := uint(s%3) + 1
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width*cfg.Height > 1<<20 {
			return
		}
		_, fullErr := jpeg.Decode(bytes.NewReader(data))
		img, err := DecodeScaled(bytes.NewReader(data), shift)
		var ue UnsupportedError
		switch {
		case fullErr != nil && err == nil:
			t.Fatalf("image/jpeg refuses (%v), the scaled decoder accepts", fullErr)
		case fullErr == nil && err != nil && !errors.As(err, &ue):
			t.Fatalf("image/jpeg accepts, the scaled decoder refuses: %v", err)
		case err == nil:
			f := 1 << shift
			if want := image.Rect(0, 0, (cfg.Width+f-1)/f, (cfg.Height+f-1)/f); img.Bounds() != want {
				t.Fatalf("bounds %v, want %v", img.Bounds(), want)
			}
		}
	})
}
