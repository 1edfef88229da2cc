package photo

import "bytes"

// stripJPEG returns a JPEG's image without what it says about where, when
// and with what it was taken: it keeps the segments that describe and hold
// the compressed image (quantisation and Huffman tables, frame and scan
// headers, restart intervals, the scans themselves) byte for byte, drops
// every application segment (EXIF, XMP, IPTC, ICC profiles, JFIF and its
// thumbnails, maker notes) and comment, and anything after the end of the
// image. An Adobe segment is written again with only its colour transform,
// which says how the decoder must read the colours. The pixels are not
// decoded or encoded again, so the photo loses no quality and costs no
// encoding; ok is false for anything that is not a well-formed JPEG as far
// as its segments go (the caller then decodes it whole, and re-encodes).
func stripJPEG(data []byte) (out []byte, ok bool) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, false
	}
	out = make([]byte, 0, len(data))
	out = append(out, 0xFF, 0xD8)
	i := 2
	for {
		if i >= len(data) || data[i] != 0xFF {
			return nil, false
		}
		for i < len(data) && data[i] == 0xFF { // fill bytes
			i++
		}
		if i >= len(data) {
			return nil, false
		}
		m := data[i]
		i++
		switch {
		case m == 0xD9: // end of image: what follows is not the image's
			return append(out, 0xFF, 0xD9), true
		case m == 0x00, m == 0xD8, m >= 0xD0 && m <= 0xD7, m == 0x01:
			// Stuffing, a second start, a restart or TEM outside a scan.
			return nil, false
		}
		if i+2 > len(data) {
			return nil, false
		}
		n := int(data[i])<<8 | int(data[i+1])
		if n < 2 || i+n > len(data) {
			return nil, false
		}
		seg := data[i+2 : i+n]
		i += n
		switch {
		case m == 0xEE: // Adobe: keep only the colour transform
			if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
				out = append(out, 0xFF, 0xEE, 0x00, 0x0E, 'A', 'd', 'o', 'b', 'e', 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, seg[11])
			}
		case m >= 0xE0 && m <= 0xEF, m == 0xFE: // application segments, comments
		default:
			out = append(out, 0xFF, m)
			out = append(out, data[i-n:i]...)
		}
		if m != 0xDA {
			continue
		}
		// The scan's entropy-coded data runs to the next marker that is
		// not a stuffed 0xFF or a restart.
		start := i
		for {
			j := bytes.IndexByte(data[i:], 0xFF)
			if j < 0 || i+j+1 >= len(data) {
				return nil, false
			}
			i += j
			if next := data[i+1]; next == 0x00 || next >= 0xD0 && next <= 0xD7 {
				i += 2
				continue
			}
			break
		}
		out = append(out, data[start:i]...)
	}
}
