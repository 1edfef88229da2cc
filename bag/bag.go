// Package bag makes and reads tamper-evident bag IDs: "TEB" and ten random
// characters from an alphabet without look-alikes (no I, L, O or U), then one
// check character of ISO/IEC 7064 MOD 37-2. MOD 37-2 is a pure system with a
// prime modulus, so every single wrong character and every swap of two
// neighbours changes the check and is caught; the check character itself may
// be any of 0-9, A-Z or '*'. Printed, the ID reads "TEB-7K3MQ-9XR4D-C".
// It has no I/O.
package bag

import (
	"crypto/rand"
	"errors"
	"strings"
)

// Prefix starts every bag ID.
const Prefix = "TEB"

// bodyLen is the number of random characters (10 × 5 bits = 50 bits).
const bodyLen = 10

// Body is the alphabet of the random part.
const Body = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// checkSet is ISO/IEC 7064's character set for MOD 37-2, by value.
const checkSet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*"

// Errors returned by Parse.
var (
	ErrFormat = errors.New("is not a bag ID (it looks like TEB-XXXXX-XXXXX-C)")
	ErrCheck  = errors.New("has a wrong character: check the ID and scan or type it again")
)

// value of a character in MOD 37-2.
func value(c byte) int { return strings.IndexByte(checkSet, c) }

// Check returns the MOD 37-2 check character of s (characters of checkSet).
func Check(s string) byte {
	p := 0
	for i := 0; i < len(s); i++ {
		p = ((p + value(s[i])) * 2) % 37
	}
	return checkSet[(38-p)%37]
}

// New returns a fresh random bag ID in canonical form ("TEB7K3MQ9XR4DC").
func New() string {
	b := make([]byte, bodyLen)
	rand.Read(b)
	for i := range b {
		b[i] = Body[b[i]&31]
	}
	return Prefix + string(b) + string(Check(string(b)))
}

// Parse reads a bag ID as typed or scanned: case, spaces and hyphens do not
// matter. It returns the canonical form, or ErrFormat / ErrCheck.
func Parse(s string) (string, error) {
	if len(s) > 40 {
		return "", ErrFormat
	}
	c := strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
	if len(c) != len(Prefix)+bodyLen+1 || !strings.HasPrefix(c, Prefix) {
		return "", ErrFormat
	}
	body, check := c[len(Prefix):len(c)-1], c[len(c)-1]
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(Body, body[i]) < 0 {
			// A look-alike (I, L, O, U) in the body is a misread: the
			// check would not hold either.
			return "", ErrCheck
		}
	}
	if value(check) < 0 || Check(body) != check {
		return "", ErrCheck
	}
	return c, nil
}

// Format prints a canonical ID for people: "TEB-7K3MQ-9XR4D-C".
func Format(id string) string {
	if len(id) != len(Prefix)+bodyLen+1 {
		return id
	}
	return id[:3] + "-" + id[3:8] + "-" + id[8:13] + "-" + id[13:]
}
