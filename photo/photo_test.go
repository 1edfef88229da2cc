package photo

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/jpeg"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCleanStripsMetadataAndTurnsUpright(t *testing.T) {
	in := read(t, "gps-orientation6.jpg")
	if !bytes.Contains(in, []byte("TestPhone")) || Orientation(in) != 6 {
		t.Fatal("test file lost its EXIF")
	}
	c, err := Clean(in, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{c.JPEG, c.Thumb} {
		for _, marker := range []string{"Exif", "TestPhone", "GPS"} {
			if bytes.Contains(b, []byte(marker)) {
				t.Errorf("output still contains %q", marker)
			}
		}
		// No APP1..APP15 segment at all.
		for i := 2; i+4 <= len(b) && b[i] == 0xFF && b[i+1] != 0xDA; i += 2 + int(b[i+2])<<8 + int(b[i+3]) {
			if b[i+1] >= 0xE1 && b[i+1] <= 0xEF {
				t.Errorf("output has an APP%d segment", b[i+1]-0xE0)
			}
		}
	}
	img, err := jpeg.Decode(bytes.NewReader(c.JPEG))
	if err != nil {
		t.Fatal(err)
	}
	// The 40×20 picture, red on the left, was taken rotated: upright it is
	// 20×40 with red at the top.
	if b := img.Bounds(); b.Dx() != 20 || b.Dy() != 40 {
		t.Fatalf("upright size = %v", b)
	}
	if r, _, bl, _ := img.At(10, 5).RGBA(); r < bl {
		t.Error("top is not red: not turned upright")
	}
	if r, _, bl, _ := img.At(10, 35).RGBA(); bl < r {
		t.Error("bottom is not blue")
	}
	th, _, err := image.DecodeConfig(bytes.NewReader(c.Thumb))
	if err != nil || th.Height > ThumbSize || th.Width > ThumbSize {
		t.Errorf("thumbnail %v %v", th, err)
	}
}

func TestCleanRefuses(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		lim  Limits
		want error
	}{
		{"truncated JPEG", read(t, "truncated.jpg"), DefaultLimits, ErrCorrupt},
		{"PNG bomb", read(t, "bomb.png"), DefaultLimits, ErrTooManyPixel},
		{"text renamed .jpg", read(t, "not-an-image.jpg"), DefaultLimits, ErrNotImage},
		{"oversized", read(t, "gps-orientation6.jpg"), Limits{MaxBytes: 100, MaxPixels: 1 << 30}, ErrTooLarge},
		{"too many pixels", read(t, "plain.png"), Limits{MaxBytes: 1 << 20, MaxPixels: 100}, ErrTooManyPixel},
		{"empty", nil, DefaultLimits, ErrEmpty},
		{"GIF", []byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), DefaultLimits, ErrNotImage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Clean(tt.data, tt.lim); !errors.Is(err, tt.want) {
				t.Fatalf("Clean = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCleanAcceptsPNGAndWebP(t *testing.T) {
	for _, f := range []string{"plain.png", "pixel.webp"} {
		c, err := Clean(read(t, f), DefaultLimits)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if _, err := jpeg.Decode(bytes.NewReader(c.JPEG)); err != nil {
			t.Errorf("%s: output is not a JPEG: %v", f, err)
		}
	}
}

func FuzzOrientation(f *testing.F) {
	f.Add(read(f, "gps-orientation6.jpg"))
	f.Add(read(f, "truncated.jpg"))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x08, 'E', 'x', 'i', 'f', 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if o := Orientation(b); o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
	})
}

func FuzzClean(f *testing.F) {
	for _, n := range []string{"gps-orientation6.jpg", "truncated.jpg", "plain.png", "bomb.png", "pixel.webp"} {
		f.Add(read(f, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Clean(b, Limits{MaxBytes: 1 << 20, MaxPixels: 1 << 20})
		if err == nil && (len(c.JPEG) == 0 || c.Width*c.Height > 1<<20) {
			t.Fatal("accepted output is wrong")
		}
	})
}

// stores returns the directory store and an S3 store on an S3-protocol server
// (gofakes3) started for the test.
func stores(t *testing.T) map[string]Store {
	t.Helper()
	dir, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	s3, err := NewS3(context.Background(), S3Config{Endpoint: srv.Listener.Addr().String(), Bucket: "photos", AccessKey: "ak", SecretKey: "sk", Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Store{"dir": dir, "s3": s3}
}

func TestStores(t *testing.T) {
	ctx := context.Background()
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			key := "0123456789abcdefghij0123456789ab.jpg"
			if err := s.Put(ctx, key, []byte("jpeg bytes")); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, key)
			if err != nil || string(got) != "jpeg bytes" {
				t.Fatalf("Get = %q, %v", got, err)
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, key); !errors.Is(err, ErrNotFound) {
				t.Errorf("after delete: %v", err)
			}
			if err := s.Delete(ctx, key); err != nil {
				t.Errorf("deleting twice: %v", err)
			}
			for _, bad := range []string{"../etc/passwd", "a.jpg", "0123456789abcdefghij0123456789AB.jpg", "0123456789abcdefghij/x.jpg"} {
				if err := s.Put(ctx, bad, []byte("x")); err == nil {
					t.Errorf("Put(%q) accepted", bad)
				}
			}
		})
	}
}
