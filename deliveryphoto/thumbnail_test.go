package deliveryphoto

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/photo"
)

// purgeOnPut is a photo store in which the photo's retention ends while
// its thumbnail is being made: the purge (photo first, then thumbnail) runs
// just before the thumbnail is written.
type purgeOnPut struct {
	*photo.Dir
	rec *Record
}

func (p purgeOnPut) Put(ctx context.Context, key string, data []byte) error {
	if key == p.rec.Thumb {
		p.Dir.Delete(ctx, p.rec.Blob)
		p.Dir.Delete(ctx, p.rec.Thumb)
	}
	return p.Dir.Put(ctx, key, data)
}

// TestThumbnailNeverOutlivesItsPhoto: the first view of a thumbnail makes
// and keeps it; when the photo is purged meanwhile the view gets EGONE and
// no thumbnail is left behind in the store.
func TestThumbnailNeverOutlivesItsPhoto(t *testing.T) {
	ctx := context.Background()
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			img.SetRGBA(x, y, color.RGBA{uint8(x), uint8(y), 90, 255})
		}
	}
	var shot bytes.Buffer
	if err := jpeg.Encode(&shot, img, nil); err != nil {
		t.Fatal(err)
	}
	for _, purged := range []bool{false, true} {
		dir, err := photo.NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		base := strings.Repeat("ab", 16)
		rec := &Record{ID: "ph_1", Blob: base + ".jpg", Thumb: base + ".thumb.jpg"}
		if err := dir.Put(ctx, rec.Blob, shot.Bytes()); err != nil {
			t.Fatal(err)
		}
		s := &Service{Blobs: dir, Thumbs: photo.DefaultLimits, Log: slog.New(slog.DiscardHandler)}
		if purged {
			s.Blobs = purgeOnPut{dir, rec}
		}
		thumb, err := s.bytes(ctx, rec, true)
		_, statErr := os.Stat(filepath.Join(dir.Root(), rec.Thumb))
		if purged {
			if handoff.ErrorCode(err) != handoff.EGONE || !os.IsNotExist(statErr) {
				t.Errorf("purged meanwhile: %v, thumbnail file: %v; want EGONE and no file", err, statErr)
			}
			continue
		}
		if err != nil || statErr != nil {
			t.Fatalf("first view: %v, thumbnail file: %v", err, statErr)
		}
		if cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb)); err != nil || cfg.Width != photo.ThumbSize || cfg.Height != 240 {
			t.Errorf("thumbnail %d × %d, %v; want %d × 240", cfg.Width, cfg.Height, err, photo.ThumbSize)
		}
	}
}
