package door

import (
	"context"
	"fmt"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/photo"
)

// TestPhotoRefused: a photo over a limit is 413 naming the field and the
// limit, a busy server 503, a damaged photo 400.
func TestPhotoRefused(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code string
	}{
		{fmt.Errorf("%w: 39.6 megapixels at 16 bits per channel; the limit is 24 megapixels", photo.ErrTooManyPixel), handoff.ETOOLARGE},
		{fmt.Errorf("%w (15 MiB)", photo.ErrTooLarge), handoff.ETOOLARGE},
		{fmt.Errorf("%w (%w)", photo.ErrBusy, context.DeadlineExceeded), handoff.EUNAVAILABLE},
		{photo.ErrCorrupt, handoff.EINVALID},
	} {
		got := photoRefused(tt.err, "photo")
		if handoff.ErrorCode(got) != tt.code {
			t.Errorf("photoRefused(%v) = %v, want %s", tt.err, got, tt.code)
		}
		if tt.code != handoff.EUNAVAILABLE {
			if f := handoff.ErrorFields(got); len(f) != 1 || f[0].Field != "photo" || f[0].Message != tt.err.Error() {
				t.Errorf("photoRefused(%v) fields = %v", tt.err, f)
			}
		}
	}
}
