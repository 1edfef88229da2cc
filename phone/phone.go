// Package phone decides whether a number is a valid mobile number for a
// marketplace and normalises it to E.164, following the rules of SPEC §1:
// the accepted prefixes and national mobile ranges per market. It has no I/O.
package phone

import (
	"errors"
	"strings"

	"github.com/handoff-dev/handoff/market"
)

// Errors returned by Mobile.
var (
	ErrMissing = errors.New("no phone number")
	ErrInvalid = errors.New("not a valid mobile number for the marketplace")
)

// rule describes one marketplace's mobile numbers.
type rule struct {
	cc    string // country calling code
	trunk bool   // a national "0" prefix is accepted (then no country prefix)
	first string // accepted first digits of the national number
	min   int    // digits after the first one, inclusive range
	max   int
}

var rules = map[market.Code]rule{
	market.GB: {cc: "44", trunk: true, first: "7", min: 8, max: 9},
	market.IT: {cc: "39", trunk: false, first: "3", min: 9, max: 10},
	market.FR: {cc: "33", trunk: true, first: "67", min: 8, max: 8},
	market.ES: {cc: "34", trunk: false, first: "67", min: 8, max: 8},
	market.IN: {cc: "91", trunk: false, first: "789", min: 9, max: 9},
}

// maxInput bounds what is even looked at; no real number is longer.
const maxInput = 40

// Mobile returns the E.164 form ("+447700900123") of raw when it is a valid
// mobile number for marketplace m. Spaces, hyphens and dots inside the number
// are ignored. It returns ErrMissing for an empty number and ErrInvalid for
// anything else that does not follow the marketplace's rules.
func Mobile(m market.Code, raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", ErrMissing
	}
	r, ok := rules[m]
	if !ok || len(s) > maxInput {
		return "", ErrInvalid
	}
	s = strings.Map(func(c rune) rune {
		if c == ' ' || c == '-' || c == '.' {
			return -1
		}
		return c
	}, s)

	national, prefixed := stripCountry(s, r.cc)
	if !prefixed && r.trunk && strings.HasPrefix(national, "0") {
		national = national[1:]
	}
	if !validNational(national, r) {
		return "", ErrInvalid
	}
	return "+" + r.cc + national, nil
}

// stripCountry removes one of the accepted country prefixes: +CC, 00CC, (+CC)
// or (00CC). prefixed reports whether one was there.
func stripCountry(s, cc string) (rest string, prefixed bool) {
	for _, p := range []string{"(+" + cc + ")", "(00" + cc + ")", "+" + cc, "00" + cc} {
		if strings.HasPrefix(s, p) {
			return s[len(p):], true
		}
	}
	return s, false
}

func validNational(n string, r rule) bool {
	if len(n) < 1+r.min || len(n) > 1+r.max {
		return false
	}
	if !strings.ContainsRune(r.first, rune(n[0])) {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

// LastDigits returns the last n digits of an E.164 number, or "" when it is
// shorter; used by the opt-in phone-digits fallback.
func LastDigits(e164 string, n int) string {
	if len(e164) < n+1 {
		return ""
	}
	return e164[len(e164)-n:]
}

// Mask returns a number with all but enough to recognise it hidden, for
// showing to staff who have not asked to see it: the country code, the
// first digit of the national number and the last three digits of an E.164
// mobile ("+44 7••• •••123"); the last three digits of anything else.
func Mask(number string) string {
	digits := strings.Map(func(c rune) rune {
		if c >= '0' && c <= '9' {
			return c
		}
		return -1
	}, number)
	if len(digits) < 6 {
		return "•••"
	}
	last := digits[len(digits)-3:]
	if strings.HasPrefix(number, "+") {
		for _, r := range rules {
			if national, ok := strings.CutPrefix(digits, r.cc); ok && len(national) > 4 {
				return "+" + r.cc + " " + national[:1] + "••• •••" + last
			}
		}
	}
	return "••• •••" + last
}
