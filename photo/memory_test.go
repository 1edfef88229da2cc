package photo

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
)

// png16 returns a PNG of w×h black pixels at 16 bits per channel (RGBA),
// written row by row so that the test never holds the pixels: a 40-megapixel
// one is some 380 KiB.
func png16(t testing.TB, w, h int) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(kind string, data []byte) {
		binary.Write(&out, binary.BigEndian, uint32(len(data)))
		crc := crc32.NewIEEE()
		crc.Write([]byte(kind))
		crc.Write(data)
		out.WriteString(kind)
		out.Write(data)
		binary.Write(&out, binary.BigEndian, crc.Sum32())
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = 16, 6 // bit depth, colour type RGBA
	chunk("IHDR", ihdr)
	var idat bytes.Buffer
	z, _ := zlib.NewWriterLevel(&idat, zlib.BestSpeed)
	row := make([]byte, 1+w*8) // filter byte "none", then the pixels
	for range h {
		z.Write(row)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	chunk("IDAT", idat.Bytes())
	chunk("IEND", nil)
	return out.Bytes()
}

// allocated returns the bytes the process has allocated on the heap so far.
// What a call allocates bounds how much it can grow the process's memory.
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestCleanBoundsMemory: a small PNG that claims 39.6 megapixels at 16 bits
// per channel (under the old 40-megapixel limit, 317 MB once decoded) is
// refused from its header, alone or three at once, naming the limit, and
// the process's memory hardly moves; a phone photo is still cleaned.
func TestCleanBoundsMemory(t *testing.T) {
	bomb := png16(t, 7680, 5160)
	t.Logf("the PNG is %d KiB for 39.6 megapixels", len(bomb)>>10)
	runtime.GC()
	before := allocated()
	check := func(err error) {
		if !errors.Is(err, ErrTooManyPixel) {
			t.Errorf("Clean = %v, want %v", err, ErrTooManyPixel)
			return
		}
		if !strings.Contains(err.Error(), "39.6 megapixels at 16 bits") || !strings.Contains(err.Error(), "the limit is 24 megapixels") {
			t.Errorf("the refusal does not name the limit: %v", err)
		}
	}
	_, err := Clean(bomb, DefaultLimits)
	check(err)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = Clean(bomb, DefaultLimits) }()
	}
	wg.Wait()
	for _, err := range errs {
		check(err)
	}
	grown := allocated() - before
	t.Logf("four refusals allocated %d KiB", grown>>10)
	if grown > 128<<20 {
		t.Errorf("refusing the photo allocated %d MiB, over 128", grown>>20)
	}
	if _, err := Clean(read(t, "gps-orientation6.jpg"), DefaultLimits); err != nil {
		t.Errorf("a phone photo: %v", err)
	}
}
