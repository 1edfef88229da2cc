// Package photo handles proof-of-delivery photos: it accepts only real JPEG,
// PNG or WebP images within size and pixel limits, turns them upright by
// their EXIF orientation, and re-encodes them so that no metadata survives
// (no location, no device, nothing); a thumbnail is made when first asked
// for. Blobs are kept behind one interface, in a local directory or
// S3-compatible storage, under unguessable keys.
package photo

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png" // accepted input format
	"math"
	"strconv"

	_ "golang.org/x/image/webp" // accepted input format

	"github.com/handoff-dev/handoff/photo/internal/jpegscale"
)

// Limits bound what is accepted.
type Limits struct {
	MaxBytes  int64 // of the upload
	MaxPixels int   // width × height, at 8 bits per channel; see Clean
}

// DefaultLimits are 15 MiB and 24 megapixels: any phone camera's picture (a
// 48-megapixel sensor saves 12 by default), no bomb. 24 megapixels decode to
// at most 96 MiB.
var DefaultLimits = Limits{MaxBytes: 15 << 20, MaxPixels: 24_000_000}

// Errors of Clean; their text is meant for the person uploading. Callers
// that do not import this package tell them apart by the methods
// TooLarge() and Busy() (errors.As to an interface with that method).
var (
	ErrEmpty        error = &refusal{text: "no photo was sent"}
	ErrTooLarge     error = &refusal{text: "the photo is larger than allowed", tooLarge: true}
	ErrNotImage     error = &refusal{text: "is not a JPEG, PNG or WebP image"}
	ErrTooManyPixel error = &refusal{text: "the photo has more pixels than allowed", tooLarge: true}
	ErrCorrupt      error = &refusal{text: "the image is damaged or incomplete"}
	// ErrBusy is returned when no decoder came free before the caller's
	// context ended: the server is busy, not the photo wrong.
	ErrBusy error = &refusal{text: "the server is busy with other photos; try again shortly", busy: true}
)

// refusal is an upload Clean refuses.
type refusal struct {
	text           string
	tooLarge, busy bool
}

func (r *refusal) Error() string { return r.text }

// TooLarge says the upload is over the limits in bytes or pixels.
func (r *refusal) TooLarge() bool { return r.tooLarge }

// Busy says no decoder came free in time: the photo may be fine.
func (r *refusal) Busy() bool { return r.busy }

// CleanImage validates and cleans an upload as CleanContext does, within l,
// for services that declare the cleaning they need as an interface
// (door.Cleaner), but makes no thumbnail: most delivery photos are never
// looked at, and a thumbnail is made when one is first asked for
// (Thumbnail). A JPEG kept as it was compressed is still read to its last
// coefficient, at an eighth of its size, so that a damaged one is refused
// here and not when someone looks at it.
func (l Limits) CleanImage(ctx context.Context, data []byte) (jpeg []byte, width, height int, err error) {
	c, err := clean(ctx, data, l, false)
	if err != nil {
		return nil, 0, 0, err
	}
	return c.JPEG, c.Width, c.Height, nil
}

// Thumbnail makes the thumbnail of a photo CleanImage cleaned (an upright
// JPEG without metadata), within l and the decoders, as CleanContext makes
// it; when ctx ends before a decoder is free it returns ErrBusy.
func (l Limits) Thumbnail(ctx context.Context, cleaned []byte) ([]byte, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(cleaned))
	if err != nil {
		return nil, ErrCorrupt
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > int64(l.MaxPixels) {
		return nil, ErrTooManyPixel
	}
	release, err := acquireDecoder(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var img image.Image
	if shift := thumbShift(cfg.Width, cfg.Height); shift > 0 {
		img, err = jpegscale.DecodeScaled(bytes.NewReader(cleaned), shift)
	}
	if img == nil || err != nil { // small, or a kind jpegscale leaves to image/jpeg
		if img, err = jpeg.Decode(bytes.NewReader(cleaned)); err != nil {
			return nil, ErrCorrupt
		}
	}
	return thumbnail(img, cfg.Width, cfg.Height)
}

// Cleaned is a photo ready to store.
type Cleaned struct {
	JPEG          []byte
	Thumb         []byte
	Width, Height int
}

// ThumbSize is the longest side of a thumbnail, in pixels.
const ThumbSize = 320

// MaxDecodes is how many photos are decoded at once in the process; others
// wait their turn. Decoding is CPU-bound, so more would not finish sooner,
// and each may hold up to MaxPixels × 4 bytes (twice that while a JPEG is
// turned upright).
const MaxDecodes = 2

// decoders holds a token per decode in progress.
var decoders = make(chan struct{}, MaxDecodes)

// Clean is CleanContext without a deadline: it waits for a decoder as long
// as it takes.
func Clean(data []byte, lim Limits) (*Cleaned, error) {
	return CleanContext(context.Background(), data, lim)
}

// CleanContext validates and re-encodes an upload. The header is read first
// so that an image whose pixels would take more memory than MaxPixels at 8
// bits per channel (4 bytes a pixel) is refused before any is decoded: a
// 16-bit image may have half as many. Then it waits for one of MaxDecodes
// decoders; when ctx ends first it returns ErrBusy. Refusals wrap the errors
// above and name the limit.
func CleanContext(ctx context.Context, data []byte, lim Limits) (*Cleaned, error) {
	return clean(ctx, data, lim, true)
}

// acquireDecoder waits for one of the MaxDecodes decoders, or for ctx to
// end (ErrBusy); it returns how to give the decoder back.
func acquireDecoder(ctx context.Context) (release func(), err error) {
	select {
	case decoders <- struct{}{}:
		return func() { <-decoders }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w (%w)", ErrBusy, ctx.Err())
	}
}

// clean is CleanContext, with the thumbnail only when withThumb.
func clean(ctx context.Context, data []byte, lim Limits, withThumb bool) (*Cleaned, error) {
	if len(data) == 0 {
		return nil, ErrEmpty
	}
	if int64(len(data)) > lim.MaxBytes {
		return nil, fmt.Errorf("%w (%d MiB)", ErrTooLarge, lim.MaxBytes>>20)
	}
	kind := sniff(data)
	if kind == "" {
		return nil, ErrNotImage
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || format != kind {
		// It starts like an image but its header does not hold together.
		return nil, ErrCorrupt
	}
	pixels, depth := int64(cfg.Width)*int64(cfg.Height), bytesPerPixel(cfg.ColorModel)
	if cfg.Width <= 0 || cfg.Height <= 0 || pixels > int64(lim.MaxPixels) || pixels*depth > int64(lim.MaxPixels)*4 {
		return nil, fmt.Errorf("%w: %s at %d bits per channel; the limit is %s (%s at 16 bits)",
			ErrTooManyPixel, megapixels(pixels), bitsPerChannel(depth), megapixels(int64(lim.MaxPixels)), megapixels(int64(lim.MaxPixels)/2))
	}
	release, err := acquireDecoder(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	// A JPEG that is upright already is kept as it was compressed, without
	// its metadata (stripJPEG); one that must be turned, or any other
	// format, is decoded and encoded again, which leaves every kind of
	// metadata behind.
	orientation := 1
	if format == "jpeg" {
		orientation = Orientation(data)
	}
	var kept []byte
	if upright := orientation <= 1 || orientation > 8; upright && format == "jpeg" {
		kept, _ = stripJPEG(data)
	}
	// The photo kept as it was compressed is decoded only to be checked
	// and for its thumbnail, so at the smallest scale that still has the
	// thumbnail's pixels, or at an eighth without one (jpegscale reads and
	// checks every coefficient as image/jpeg does); any other is decoded
	// in full to be encoded again.
	var img image.Image
	w, h := cfg.Width, cfg.Height
	if kept != nil {
		shift := uint(3)
		if withThumb {
			shift = thumbShift(w, h)
		}
		if shift > 0 {
			img, err = jpegscale.DecodeScaled(bytes.NewReader(kept), shift)
		} else {
			img, err = jpeg.Decode(bytes.NewReader(kept))
		}
		switch img.(type) {
		case *image.YCbCr, *image.Gray:
		default: // CMYK, or it did not decode: the whole way
			kept = nil
		}
	}
	if kept == nil {
		if img, _, err = image.Decode(bytes.NewReader(data)); err != nil {
			return nil, ErrCorrupt
		}
	}
	full := bytes.NewBuffer(kept)
	if kept == nil {
		img = Orient(img, orientation)
		if err := jpeg.Encode(full, img, &jpeg.Options{Quality: 85}); err != nil {
			return nil, fmt.Errorf("photo: encode: %w", err)
		}
		w, h = img.Bounds().Dx(), img.Bounds().Dy()
	}
	c := &Cleaned{JPEG: full.Bytes(), Width: w, Height: h}
	if withThumb {
		if c.Thumb, err = thumbnail(img, w, h); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// thumbnail encodes img, a w × h photo decoded at its size or scaled down
// by decoding, as a thumbnail of ThumbSize on its longer side.
func thumbnail(img image.Image, w, h int) ([]byte, error) {
	scale := math.Min(1, float64(ThumbSize)/float64(max(w, h)))
	tw, th := max(1, int(float64(w)*scale)), max(1, int(float64(h)*scale))
	small := img
	if b := img.Bounds(); b.Dx() != tw || b.Dy() != th {
		small = shrink(img, tw, th)
	}
	var thumb bytes.Buffer
	if err := jpeg.Encode(&thumb, small, &jpeg.Options{Quality: 80}); err != nil {
		return nil, fmt.Errorf("photo: encode thumbnail: %w", err)
	}
	return thumb.Bytes(), nil
}

// thumbShift is the most a w × h JPEG can be scaled down by in decoding
// (1<<shift, up to 8) and still be at least ThumbSize on its longer side.
func thumbShift(w, h int) uint {
	long := max(w, h)
	shift := uint(0)
	for shift < 3 && (long+(1<<(shift+1))-1)>>(shift+1) >= ThumbSize {
		shift++
	}
	return shift
}

// shrink returns img scaled down to tw × th by averaging, for each pixel
// of the thumbnail, the block of the photo's pixels it covers. Each pixel
// of the photo is read once and converted once, so a thumbnail costs about
// as much as reading the photo, and it needs no copy of the photo: a
// kernel scaler (Catmull-Rom) converted a JPEG's YCbCr for every tap of its
// kernel, and cost more than decoding and re-encoding the photo together.
//
// A JPEG's thumbnail is YCbCr at full chroma resolution, which the encoder
// takes as it is: converting to RGB here and back to YCbCr there cost a
// fifth of a thumbnail.
func shrink(img image.Image, tw, th int) image.Image {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	var out *image.RGBA
	var outYCC *image.YCbCr
	xmap := make([]int, sw) // the thumbnail's column of each of the photo's
	for x := range xmap {
		xmap[x] = x * tw / sw
	}
	// The sums of the thumbnail's row being read: three channels and a
	// count per pixel. A JPEG's pixels are summed as Y, Cb and Cr and
	// converted once per thumbnail pixel (the conversion is affine, so the
	// average converts as the pixels would), others as R, G and B.
	sum := make([]uint32, 4*tw)
	ycc, _ := img.(*image.YCbCr)
	if ycc != nil {
		outYCC = image.NewYCbCr(image.Rect(0, 0, tw, th), image.YCbCrSubsampleRatio444)
	} else {
		out = image.NewRGBA(image.Rect(0, 0, tw, th))
	}
	hdiv := 1 // luma pixels per chroma sample across
	if ycc != nil {
		switch ycc.SubsampleRatio {
		case image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420:
			hdiv = 2
		case image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410:
			hdiv = 4
		}
	}
	row := -1
	flush := func() {
		if row < 0 {
			return
		}
		if outYCC != nil {
			yp, cb, cr := outYCC.Y[row*outYCC.YStride:], outYCC.Cb[row*outYCC.CStride:], outYCC.Cr[row*outYCC.CStride:]
			for i := 0; i < tw; i++ {
				n := max(sum[4*i+3], 1)
				yp[i], cb[i], cr[i] = uint8(sum[4*i]/n), uint8(sum[4*i+1]/n), uint8(sum[4*i+2]/n)
			}
		} else {
			p := out.Pix[row*out.Stride:]
			for i := 0; i < tw; i++ {
				n := max(sum[4*i+3], 1)
				p[4*i], p[4*i+1], p[4*i+2], p[4*i+3] = uint8(sum[4*i]/n), uint8(sum[4*i+1]/n), uint8(sum[4*i+2]/n), 0xff
			}
		}
		clear(sum)
	}
	add := func(x int, c0, c1, c2 uint8) {
		i := 4 * xmap[x]
		sum[i] += uint32(c0)
		sum[i+1] += uint32(c1)
		sum[i+2] += uint32(c2)
		sum[i+3]++
	}
	for y := 0; y < sh; y++ {
		if ty := y * th / sh; ty != row {
			flush()
			row = ty
		}
		sy := b.Min.Y + y
		switch m := img.(type) {
		case *image.YCbCr:
			yp := m.Y[m.YOffset(b.Min.X, sy):]
			ci0, cx0 := m.COffset(b.Min.X, sy), b.Min.X/hdiv
			for x := 0; x < sw; x++ {
				ci := ci0 + (b.Min.X+x)/hdiv - cx0
				add(x, yp[x], m.Cb[ci], m.Cr[ci])
			}
		case *image.RGBA:
			p := m.Pix[m.PixOffset(b.Min.X, sy):]
			for x := 0; x < sw; x++ {
				add(x, p[4*x], p[4*x+1], p[4*x+2])
			}
		case *image.Gray:
			p := m.Pix[m.PixOffset(b.Min.X, sy):]
			for x := 0; x < sw; x++ {
				add(x, p[x], p[x], p[x])
			}
		default:
			for x := 0; x < sw; x++ {
				c := color.RGBAModel.Convert(img.At(b.Min.X+x, sy)).(color.RGBA)
				add(x, c.R, c.G, c.B)
			}
		}
	}
	flush()
	if outYCC != nil {
		return outYCC
	}
	return out
}

// bytesPerPixel is what the decoder allocates a pixel for a color model: 8
// for 16-bit colour, and 8 for any model not known, to be safe.
func bytesPerPixel(m color.Model) int64 {
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.YCbCrModel:
		return 3 // 4:4:4 at most
	case color.RGBAModel, color.NRGBAModel, color.CMYKModel, color.NYCbCrAModel:
		return 4
	}
	return 8
}

// bitsPerChannel says the depth a person knows for bytesPerPixel.
func bitsPerChannel(bpp int64) int {
	if bpp == 2 || bpp == 8 {
		return 16
	}
	return 8
}

// megapixels writes a pixel count as people read it: "24 megapixels",
// "39.6 megapixels", "100 pixels".
func megapixels(n int64) string {
	if n < 1_000_000 {
		return fmt.Sprintf("%d pixels", n)
	}
	return strconv.FormatFloat(math.Round(float64(n)/100_000)/10, 'f', -1, 64) + " megapixels"
}

// sniff names the format the first bytes claim: "jpeg", "png", "webp" or "".
func sniff(b []byte) string {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "jpeg"
	case len(b) >= 8 && string(b[:8]) == "\x89PNG\r\n\x1a\n":
		return "png"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "webp"
	}
	return ""
}

// Orient applies an EXIF orientation (1–8) so the image is upright.
func Orient(src image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return src
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2: // mirrored
				dx, dy = w-1-x, y
			case 3: // rotated 180
				dx, dy = w-1-x, h-1-y
			case 4: // mirrored vertically
				dx, dy = x, h-1-y
			case 5: // transposed
				dx, dy = y, x
			case 6: // rotated 90 clockwise to view
				dx, dy = h-1-y, x
			case 7: // transversed
				dx, dy = h-1-y, w-1-x
			case 8: // rotated 90 counter-clockwise to view
				dx, dy = y, w-1-x
			}
			dst.Set(dx, dy, src.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return dst
}
