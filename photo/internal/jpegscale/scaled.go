package jpegscale

import "math"

// scaledSize is the image's size scaled down by 1<<d.shift, rounded up.
func (d *decoder) scaledSize() (w, h int) {
	r := 1<<d.shift - 1
	return (d.width + r) >> d.shift, (d.height + r) >> d.shift
}

// cosines[k][x*k+u] is C(u)·A(u)·cos((2x+1)uπ/2k) for a k-point inverse
// DCT (k = 4 or 2), C(0) = 1/√2 and C(u) = 1 otherwise. A(u) is the mean of
// the 8-point transform's cosine of frequency u over the 8/k pixels an
// output pixel stands for, relative to its value at their centre, so that
// each frequency kept comes out as the average of those pixels would have
// it, not as their centre would.
var cosines = map[int][]float32{4: cosTable(4), 2: cosTable(2)}

func cosTable(k int) []float32 {
	f := 8 / k // pixels an output pixel stands for, across
	t := make([]float32, k*k)
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

// reduced writes the dequantized block b (natural order) as k×k pixels,
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
func reduced(b *block, shift uint, dst []byte, stride int) {
	k := 8 >> shift
	if k == 1 {
		dst[0] = clip(float32(b[0])/8 + 128)
		return
	}
	t := cosines[k]
	var rows [16]float32 // rows[v*k+x]: the row pass, per frequency row v
	for v := range k {
		for x := range k {
			var s float32
			for u := range k {
				s += t[x*k+u] * float32(b[v*8+u])
			}
			rows[v*k+x] = s
		}
	}
	for y := range k {
		for x := range k {
			var s float32
			for v := range k {
				s += t[y*k+v] * rows[v*k+x]
			}
			dst[y*stride+x] = clip(s/4 + 128)
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
