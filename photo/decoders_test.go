package photo

import (
	"context"
	"errors"
	"testing"
)

// TestCleanDepthBudget: a 16-bit image takes twice the memory of an 8-bit
// one, so it may have half the pixels.
func TestCleanDepthBudget(t *testing.T) {
	img := png16(t, 100, 100) // 10,000 pixels, 80,000 bytes decoded
	if _, err := Clean(img, Limits{MaxBytes: 1 << 20, MaxPixels: 15_000}); !errors.Is(err, ErrTooManyPixel) {
		t.Errorf("16-bit image over the memory budget: %v", err)
	}
	if _, err := Clean(img, Limits{MaxBytes: 1 << 20, MaxPixels: 20_000}); err != nil {
		t.Errorf("16-bit image within the budget: %v", err)
	}
}

// TestCleanWaitsForDecoder: when every decoder is busy, a caller waits
// until its context ends and is told the server is busy, not that the photo
// is wrong; once one frees up the photo is cleaned.
func TestCleanWaitsForDecoder(t *testing.T) {
	for range MaxDecodes {
		decoders <- struct{}{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := CleanContext(ctx, read(t, "plain.png"), DefaultLimits)
	for range MaxDecodes {
		<-decoders
	}
	if !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Fatalf("CleanContext with every decoder busy = %v, want %v", err, ErrBusy)
	}
	// A photo refused by its header needs no decoder.
	if _, err := CleanContext(ctx, read(t, "bomb.png"), DefaultLimits); !errors.Is(err, ErrTooManyPixel) {
		t.Errorf("bomb with a cancelled context = %v", err)
	}
	if _, err := CleanContext(context.Background(), read(t, "plain.png"), DefaultLimits); err != nil {
		t.Fatal(err)
	}
}
