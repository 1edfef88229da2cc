package handoff

import (
	"bytes"
	"errors"
)

// Decimal is the literal text of a JSON number, kept as text so that money and
// measures are never rounded through a float. Unmarshalling accepts only a
// JSON number; a string, boolean or null is a type error naming the field.
type Decimal string

// errNotNumber is what a non-number gives; the decoder adds the field path.
var errNotNumber = errors.New("must be a number")

// UnmarshalJSON accepts a JSON number literal only.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || !(b[0] == '-' || (b[0] >= '0' && b[0] <= '9')) {
		return errNotNumber
	}
	*d = Decimal(b)
	return nil
}

// MarshalJSON writes the number as it is.
func (d Decimal) MarshalJSON() ([]byte, error) {
	if d == "" {
		return []byte("null"), nil
	}
	return []byte(d), nil
}
