package route

import (
	"slices"
	"strings"
)

// PostcodeKey is a postcode in comparable form: upper case, without spaces
// or dashes, so that "e8 1hr" and "E81HR" match, and a prefix typed either
// way matches it.
func PostcodeKey(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, strings.ToUpper(s))
}

// ComparePostcodes orders postcodes as a round goes: district by district,
// with numbers read as numbers ("E3" before "E10"), then by the rest.
func ComparePostcodes(a, b string) int {
	a, b = PostcodeKey(a), PostcodeKey(b)
	for a != "" && b != "" {
		na, ra := leadingRun(a)
		nb, rb := leadingRun(b)
		if isDigits(na) && isDigits(nb) {
			// Compare numbers by value: fewer significant digits first.
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if c := len(ta) - len(tb); c != 0 {
				return c
			}
		}
		if c := strings.Compare(na, nb); c != 0 {
			return c
		}
		a, b = ra, rb
	}
	return len(a) - len(b)
}

// leadingRun splits s after its first run of digits or of non-digits.
func leadingRun(s string) (run, rest string) {
	digit := s[0] >= '0' && s[0] <= '9'
	i := 1
	for i < len(s) && (s[i] >= '0' && s[i] <= '9') == digit {
		i++
	}
	return s[:i], s[i:]
}

func isDigits(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }

// ByPostcode sorts stops by the postcode of their first parcel, then by
// address, keeping the given order among stops of one address.
func ByPostcode(stops []Stop) []Stop {
	slices.SortStableFunc(stops, func(x, y Stop) int {
		px, py := x.Parcels[0], y.Parcels[0]
		if c := ComparePostcodes(px.PostalCode, py.PostalCode); c != 0 {
			return c
		}
		return strings.Compare(norm(px.Line1), norm(py.Line1))
	})
	return stops
}
