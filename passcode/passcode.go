// Package passcode derives and checks the day's delivery passcode.
//
// # Design
//
// The code of a label's contacts for a service date is not drawn and stored:
// it is derived, when needed, as
//
//	HMAC-SHA256(K_kid, "handoff/passcode/v2" ‖ set ‖ date)
//
// reduced to six decimal digits without bias, where set is the label's
// contact set (see Contacts.Set), date the service date (YYYY-MM-DD) and
// K_kid a subkey of one of the server's secret keys (package keyring).
//
// # Scope: a code reaches exactly the contacts of the parcels it unlocks
//
// The contact set of a label is every address its code is sent to: the
// recipient's mobile and email, and a gift buyer's mobile and email,
// normalised (E.164, lower-case email) and length-prefixed, then hashed with
// SHA-256. The code is derived from that set, so:
//
//   - Parcels whose labels name the same contacts share one code per day,
//     from any shipper: the recipient still gets one code for all their
//     parcels of the day in the ordinary case.
//   - A label that names the recipient's mobile with another email, or a
//     gift order whose buyer is someone else, has another set and so an
//     unrelated code. Whoever receives that code (the other email, the gift
//     buyer) learns nothing that opens the recipient's own parcels: at the
//     door each parcel accepts only the code of its own label's set.
//
// Deriving from a digest of the set, rather than from the mobile alone, is
// what makes "knowing a code unlocks only parcels whose own label sent that
// code to you" hold by construction rather than by a check that could be
// forgotten.
//
// # Other properties
//
//   - Nothing secret is at rest. The database holds only which key ID a
//     set's day uses, never the code nor a hash of it (a hash of a six-digit
//     code falls to a million guesses offline). A copy of the database
//     without the keys tells nothing about any code.
//   - A new day gives an unrelated code, so a failed attempt's code is
//     useless on the re-attempt.
//   - Cryptographically secure: HMAC-SHA256 is a pseudorandom function, so
//     without the key every code is as good as uniformly random.
//   - Unbiased: digits come from 32-bit words of the MAC taken only when they
//     fall below the largest multiple of 10^6 (rejection sampling); taking
//     the MAC modulo 10^6 would favour small codes.
//   - Rotatable: the key ID used for a set's day is recorded the first time
//     the code is needed, so rotating keys never changes a code that was
//     already sent; new days use the new key.
//   - Constant time: Equal compares codes without an early exit, and the door
//     compares an entry with every code of a stop, so timing does not tell
//     which one matched.
//
// Sending puts the code into a message only at the moment it is handed to the
// provider, so the outbox never holds it either.
package passcode

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Digits is the length of a code.
const Digits = 6

// Purpose is the keyring purpose of the subkey codes are derived with.
const Purpose = "passcode/v1"

const space = 1_000_000 // 10^Digits

// limit is the largest multiple of 10^6 that fits in 32 bits: words at or
// above it are rejected.
const limit = (1 << 32) / space * space

// Contacts are the addresses a label sends its code to: the recipient's
// mobile (E.164) and email, and a gift buyer's mobile and email.
type Contacts struct {
	Mobile, Email, BuyerMobile, BuyerEmail string
}

// Set returns the label's contact set: a hex SHA-256 digest of its contacts,
// normalised (trimmed, email lower-cased) and length-prefixed so that fields
// cannot run into one another. Two labels share a code exactly when their
// sets are equal.
func (c Contacts) Set() string {
	h := sha256.New()
	h.Write([]byte("handoff/contacts/v1"))
	var n [4]byte
	for _, part := range []string{strings.TrimSpace(c.Mobile), strings.ToLower(strings.TrimSpace(c.Email)),
		strings.TrimSpace(c.BuyerMobile), strings.ToLower(strings.TrimSpace(c.BuyerEmail))} {
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Derive returns the code of a contact set (see Contacts.Set) for a service
// date (YYYY-MM-DD) under subkey.
func Derive(subkey []byte, set, date string) string {
	for counter := uint32(0); ; counter++ {
		m := hmac.New(sha256.New, subkey)
		m.Write([]byte("handoff/passcode/v2"))
		var n [4]byte
		for _, part := range []string{set, date} {
			binary.BigEndian.PutUint32(n[:], uint32(len(part)))
			m.Write(n[:])
			m.Write([]byte(part))
		}
		binary.BigEndian.PutUint32(n[:], counter)
		m.Write(n[:])
		sum := m.Sum(nil)
		for i := 0; i+4 <= len(sum); i += 4 {
			if w := binary.BigEndian.Uint32(sum[i:]); w < limit {
				return pad(w % space)
			}
		}
		// Eight rejections in a row happen with probability below 10^-29;
		// the counter keeps the function total anyway.
	}
}

func pad(v uint32) string {
	s := strconv.FormatUint(uint64(v), 10)
	for len(s) < Digits {
		s = "0" + s
	}
	return s
}

// WellFormed reports whether s is six ASCII digits.
func WellFormed(s string) bool {
	if len(s) != Digits {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Equal compares an entered code with the expected one in constant time.
func Equal(entered, expected string) bool {
	return subtle.ConstantTimeCompare([]byte(entered), []byte(expected)) == 1
}

// Normalize strips the spaces and hyphens a person may type inside a code.
func Normalize(s string) string {
	b := make([]byte, 0, Digits)
	for i := 0; i < len(s) && len(b) <= 16; i++ {
		if s[i] != ' ' && s[i] != '-' {
			b = append(b, s[i])
		}
	}
	return string(b)
}

// Subkeys gives the subkey of a key ID for a purpose (package keyring's Ring
// does), false when the key is not in the ring.
type Subkeys interface {
	Subkey(id, purpose string) (sub []byte, ok bool)
}

// ErrKeyMissing is returned when a set's day was fixed to a key that is no
// longer in the ring: its code cannot be derived.
var ErrKeyMissing = errors.New("passcode: the key of this code is no longer in the keyring")

// Code returns the code of a contact set for a service date under key ID kid
// of keys. It is the one place a code exists in plain text: never log it,
// and return it to no one but the set's own contacts.
func Code(keys Subkeys, kid, set, date string) (string, error) {
	sub, ok := keys.Subkey(kid, Purpose)
	if !ok {
		return "", fmt.Errorf("%w (key %s)", ErrKeyMissing, kid)
	}
	return Derive(sub, set, date), nil
}
