package photo

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// segment returns a JPEG marker segment.
func segment(marker byte, payload string) []byte {
	n := len(payload) + 2
	return append([]byte{0xFF, marker, byte(n >> 8), byte(n)}, payload...)
}

// uprightWithMetadata is a JPEG taken upright, carrying the metadata a
// phone writes (EXIF with a position and the phone's name, XMP, IPTC, a
// comment, a JFIF thumbnail) and bytes after its end.
func uprightWithMetadata(t testing.TB) (withMeta, plain []byte) {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := range 48 {
		for x := range 64 {
			img.SetRGBA(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 90, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	plain = b.Bytes()
	exif := "Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x01\x00\x00\x00\x00" + "GPS 51.5N 0.12W TestPhone"
	meta := bytes.Join([][]byte{
		segment(0xE0, "JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00"),
		segment(0xE1, exif),
		segment(0xE1, "http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>SecretStreet 5</x:xmpmeta>"),
		segment(0xED, "Photoshop 3.0\x00IPTC byline Jane"),
		segment(0xFE, "taken at SecretStreet 5"),
	}, nil)
	withMeta = append(append(append([]byte{0xFF, 0xD8}, meta...), plain[2:]...), "TRAILING-SecretStreet"...)
	return withMeta, plain
}

func TestCleanKeepsAnUprightJPEGAsCompressedWithoutItsMetadata(t *testing.T) {
	in, plain := uprightWithMetadata(t)
	if Orientation(in) != 1 {
		t.Fatalf("orientation %d, want 1", Orientation(in))
	}
	c, err := Clean(in, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Exif", "GPS", "TestPhone", "SecretStreet", "xmpmeta", "IPTC", "JFIF", "TRAILING"} {
		if bytes.Contains(c.JPEG, []byte(s)) {
			t.Errorf("cleaned photo still contains %q", s)
		}
	}
	// Nothing of the image itself changed: the cleaned file is the file
	// without its metadata, and decodes to the very same pixels.
	if !bytes.Equal(c.JPEG, plain) {
		t.Errorf("cleaned photo (%d bytes) is not the image without its metadata (%d bytes)", len(c.JPEG), len(plain))
	}
	a, err1 := jpeg.Decode(bytes.NewReader(c.JPEG))
	b, err2 := jpeg.Decode(bytes.NewReader(plain))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !bytes.Equal(a.(*image.YCbCr).Y, b.(*image.YCbCr).Y) {
		t.Error("the pixels changed")
	}
	if c.Width != 64 || c.Height != 48 {
		t.Errorf("size %d×%d, want 64×48", c.Width, c.Height)
	}
}

func TestStripJPEGKeepsOnlyAdobesColourTransform(t *testing.T) {
	_, plain := uprightWithMetadata(t)
	adobe := segment(0xEE, "Adobe\x00\x64\x80\x00\x00\x00\x01and some hidden words")
	in := append(append([]byte{0xFF, 0xD8}, adobe...), plain[2:]...)
	out, ok := stripJPEG(in)
	if !ok {
		t.Fatal("refused a well-formed JPEG")
	}
	want := append(append([]byte{0xFF, 0xD8}, segment(0xEE, "Adobe\x00\x64\x00\x00\x00\x00\x01")...), plain[2:]...)
	if !bytes.Equal(out, want) {
		t.Errorf("Adobe segment not rewritten to its transform alone")
	}
	if bytes.Contains(out, []byte("hidden")) {
		t.Error("the Adobe segment's extra bytes were kept")
	}
}

func TestStripJPEGRefusesBrokenStructure(t *testing.T) {
	_, plain := uprightWithMetadata(t)
	for name, b := range map[string][]byte{
		"no start":        plain[2:],
		"cut in a header": plain[:20],
		"cut in the scan": plain[:len(plain)-10],
		"length past end": append([]byte{0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xFF}, plain[2:]...),
	} {
		if _, ok := stripJPEG(b); ok {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzStripJPEG(f *testing.F) {
	in, plain := uprightWithMetadata(f)
	f.Add(in)
	f.Add(plain)
	f.Add(read(f, "gps-orientation6.jpg"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, ok := stripJPEG(b)
		if !ok {
			return
		}
		if len(out) < 4 || out[0] != 0xFF || out[1] != 0xD8 || out[len(out)-2] != 0xFF || out[len(out)-1] != 0xD9 {
			t.Fatal("output is not framed as a JPEG")
		}
		// Walk the output's header segments: no application segment but
		// a bare Adobe one, and no comment.
		for i := 2; i+4 <= len(out) && out[i] == 0xFF && out[i+1] != 0xDA && out[i+1] != 0xD9; i += 2 + int(out[i+2])<<8 + int(out[i+3]) {
			m := out[i+1]
			if m == 0xFE || m >= 0xE0 && m <= 0xEF && (m != 0xEE || int(out[i+2])<<8+int(out[i+3]) != 14) {
				t.Fatalf("output keeps segment %#x", m)
			}
		}
	})
}
