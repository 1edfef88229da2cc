// Package money handles declared values exactly: amounts are integers of the
// currency's minor unit, parsed from the decimal text of a JSON number, never
// through a float.
package money

import (
	"errors"
	"math/big"
	"strings"
)

// Amount is an exact amount of money in minor units of Currency.
type Amount struct {
	Minor    int64
	Currency string
}

// MaxMinor bounds any amount handoff accepts (10^13 minor units, a hundred
// billion in major units): far above any parcel, far below int64 overflow.
const MaxMinor int64 = 10_000_000_000_000

// exponents are the minor-unit digits of the currencies handoff knows.
var exponents = map[string]int{"GBP": 2, "EUR": 2, "INR": 2, "USD": 2}

// Exponent returns the number of decimals of a currency; ok is false when the
// currency is unknown.
func Exponent(currency string) (int, bool) {
	e, ok := exponents[currency]
	return e, ok
}

// Errors returned by Parse. Their text is meant for the person who sent the value.
var (
	ErrNotNumber     = errors.New("must be a decimal number")
	ErrNegative      = errors.New("must not be negative")
	ErrTooManyDigits = errors.New("has more decimals than the currency allows")
	ErrTooLarge      = errors.New("is too large")
	ErrCurrency      = errors.New("is not a known currency")
)

// Parse turns the text of a JSON number ("100", "99.95", "1e2") into an exact
// amount of currency. It fails for non-numbers, negative values, more decimals
// than the currency has, and values above MaxMinor.
func Parse(text, currency string) (Amount, error) {
	exp, ok := Exponent(currency)
	if !ok {
		return Amount{}, ErrCurrency
	}
	if !isJSONNumber(text) {
		return Amount{}, ErrNotNumber
	}
	if strings.HasPrefix(text, "-") {
		if isZero(text) {
			text = text[1:]
		} else {
			return Amount{}, ErrNegative
		}
	}
	// An exponent can make a tiny text huge; bound it before big.Rat does work.
	if i := strings.IndexAny(text, "eE"); i >= 0 && len(text)-i > 4 {
		if !isZero(text[:i]) {
			if text[i+1] == '-' {
				return Amount{}, ErrTooManyDigits
			}
			return Amount{}, ErrTooLarge
		}
		text = "0"
	}
	r, ok := new(big.Rat).SetString(text)
	if !ok {
		return Amount{}, ErrNotNumber
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(exp)), nil)))
	if !r.IsInt() {
		return Amount{}, ErrTooManyDigits
	}
	n := r.Num()
	if !n.IsInt64() || n.Int64() > MaxMinor {
		return Amount{}, ErrTooLarge
	}
	return Amount{Minor: n.Int64(), Currency: currency}, nil
}

// isJSONNumber reports whether s follows the JSON number grammar.
func isJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == j {
			return false
		}
	}
	return i == len(s)
}

// isZero reports whether the mantissa digits of s are all zero.
func isZero(s string) bool {
	for _, c := range s {
		if c >= '1' && c <= '9' {
			return false
		}
		if c == 'e' || c == 'E' {
			break
		}
	}
	return true
}

// String returns the amount as a plain decimal without trailing zeros after
// the point ("100", "99.5"), the form handoff writes into JSON numbers.
func (a Amount) String() string {
	exp, ok := Exponent(a.Currency)
	if !ok {
		exp = 2
	}
	neg := a.Minor < 0
	m := a.Minor
	if neg {
		m = -m
	}
	digits := big.NewInt(m).String()
	for len(digits) <= exp {
		digits = "0" + digits
	}
	whole, frac := digits[:len(digits)-exp], strings.TrimRight(digits[len(digits)-exp:], "0")
	s := whole
	if frac != "" {
		s += "." + frac
	}
	if neg {
		s = "-" + s
	}
	return s
}
