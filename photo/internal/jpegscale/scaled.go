package jpegscale

import "math"

// scaledSize is the image's size scaled down by 1<<d.shift, rounded up.
func (d *decoder) scaledSize() (w, h int) {
	r := 1<<d.shift - 1
	return (d.width + r) >> d.shift, (d.height + r) >> d.shift
}

// cos4 and cos2 hold C(u)·A(u)·cos((2x+1)uπ/2k) at [x*k+u] for a k-point
// inverse DCT (k = 4, 2), C(0) = 1/√2 and C(u) = 1 otherwise. A(u) is the
// mean of the 8-point transform's cosine of frequency u over the 8/k pixels
// an output pixel stands for, relative to its value at their centre, so that
// each frequency kept comes out as the average of those pixels would have
// it, not as their centre would.
var (
	cos4 = cosTable(4)
	cos2 = cosTable(2)
)

func cosTable(k int) (t [16]float32) {
	f := 8 / k // pixels an output pixel stands for, across
	for u := range k {
		c := 1.0
		if u == 0 {
			c = 1 / math.Sqrt2
		}
		var a float64 // A(u): cos((2j+1-f)uπ/16) averaged over the f pixels
		for j := range f {
			a += math.Cos(float64(2*j+1-f) * float64(u) * math.Pi / 16)
		}
		a /= float64(f)
		for x := range k {
			t[x*k+u] = float32(c * a * math.Cos(float64(2*x+1)*float64(u)*math.Pi/float64(2*k)))
		}
	}
	return t
}

// zig is unzig's inverse: the zig-zag index of a coefficient's natural one.
var zig = func() (z [blockSize]int) {
	for i, n := range unzig {
		z[n] = i
	}
	return z
}()

// reduced writes the block b (natural order, not dequantized: only the
// coefficients it uses are, by qt) as k×k pixels,
// k = 8>>shift, level-shifted and clipped, to dst. The pixel at (x, y) is
// the average of the 8/k × 8/k pixels it stands for as the k×k lowest
// frequencies of the block make them:
//
//	f(x, y) = 1/4 Σu Σv C(u)A(u) C(v)A(v) F(v, u) cos((2x+1)uπ/2k) cos((2y+1)vπ/2k)
//
// which is the full inverse DCT's formula at the centre of those pixels
// (there its cosines are what the 8-point transform's are), each frequency
// weighted by A, with the higher frequencies left out. For k = 1 it is the
// DC coefficient over 8, the block's average exactly.
func reduced(b *block, qt *block, shift uint, dst []byte, stride int) {
	// F is the dequantized coefficient of natural index n.
	F := func(n int) float32 { return float32(b[n] * qt[zig[n]]) }
	switch shift {
	case 3:
		dst[0] = clip(F(0)/8 + 128)
	case 2:
		t := &cos2
		// Rows of frequencies (v) first, then columns; a row of zeros,
		// most of a photo's, costs nothing.
		var r [4]float32 // r[v*2+x]
		for v := range 2 {
			f0, f1 := F(v*8), F(v*8+1)
			if f0 == 0 && f1 == 0 {
				continue
			}
			r[v*2] = t[0]*f0 + t[1]*f1
			r[v*2+1] = t[2]*f0 + t[3]*f1
		}
		for y := range 2 {
			c0, c1 := t[y*2]/4, t[y*2+1]/4
			dst[y*stride] = clip(c0*r[0] + c1*r[2] + 128)
			dst[y*stride+1] = clip(c0*r[1] + c1*r[3] + 128)
		}
	default:
		t := &cos4
		var r [16]float32 // r[v*4+x]
		for v := range 4 {
			f0, f1, f2, f3 := F(v*8), F(v*8+1), F(v*8+2), F(v*8+3)
			if f0 == 0 && f1 == 0 && f2 == 0 && f3 == 0 {
				continue
			}
			for x := range 4 {
				r[v*4+x] = t[x*4]*f0 + t[x*4+1]*f1 + t[x*4+2]*f2 + t[x*4+3]*f3
			}
		}
		for y := range 4 {
			c0, c1, c2, c3 := t[y*4]/4, t[y*4+1]/4, t[y*4+2]/4, t[y*4+3]/4
			row := dst[y*stride : y*stride+4]
			for x := range 4 {
				row[x] = clip(c0*r[x] + c1*r[4+x] + c2*r[8+x] + c3*r[12+x] + 128)
			}
		}
	}
}

func clip(f float32) uint8 {
	switch {
	case f <= 0:
		return 0
	case f >= 255:
		return 255
	}
	return uint8(f + 0.5)
}
