package handoff

import (
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// This file holds the checks a label may ask for at the door (SPEC §7): a
// signature, and an age check against an ID document. Only the fact of a
// check is kept: the document's type and that the age was enough, never the
// document's number or the date of birth.

// Signatures a label may require (deliveryPreferences.signature).
const (
	SignatureAny   = "ANY"   // anyone at the address may sign
	SignatureAdult = "ADULT" // an adult signs, after an age check (AdultAge at least)
)

// AdultAge is the age an ADULT signature checks when the label asks for no
// higher minimumAge.
const AdultAge = 18

// MaxMinimumAge bounds deliveryPreferences.minimumAge.
const MaxMinimumAge = 99

// Kinds of signature.
const (
	SignatureDrawn = "DRAWN" // drawn on the associate's screen
	SignatureTyped = "TYPED" // the signer's name typed: the weaker fallback, without JavaScript
)

// SignerRelationships are who may sign, relative to the recipient.
var SignerRelationships = []string{"RECIPIENT", "HOUSEHOLD_MEMBER", "NEIGHBOUR", "OTHER"}

// IDDocumentTypes are the ID documents an age check accepts.
var IDDocumentTypes = []string{"PASSPORT", "DRIVING_LICENCE", "NATIONAL_ID_CARD", "RESIDENCE_PERMIT"}

// Reasons the door refuses a delivery for its checks (Error.Reason).
const (
	ReasonAttendedOnly      = "attended_only"           // a parcel that needs a signature or age check is never left unattended
	ReasonSignatureNeeded   = "signature_required"      // the parcel is delivered only with a signature
	ReasonTypedRefused      = "typed_signature_refused" // the shipper refuses a typed name for a signature
	ReasonAgeCheckNeeded    = "age_check_required"      // the recipient's age must be checked from an ID document
	ReasonAgeNotVerified    = "age_not_verified"        // the recipient is under the minimum age: the parcel goes back
	ReasonSignatureNotAsked = "signature_not_asked"     // a signature is taken only by hand, at an attended place
)

// DoorCheck is what a parcel's label asks for at the door.
type DoorCheck struct {
	Signature  string // "", SignatureAny or SignatureAdult
	MinimumAge int    // 0 when the label asks for no age check
	// TypedRefused says the shipper refuses a typed name in place of a
	// drawn signature.
	TypedRefused bool
}

// Age returns the minimum age the door checks, 0 for none: an ADULT
// signature checks AdultAge at least.
func (c DoorCheck) Age() int {
	if c.Signature == SignatureAdult {
		return max(c.MinimumAge, AdultAge)
	}
	return c.MinimumAge
}

// Needed reports whether the parcel is delivered only by hand, after a check.
func (c DoorCheck) Needed() bool { return c.Signature != "" || c.MinimumAge > 0 }

// Signature is the signature taken at the door.
type Signature struct {
	Kind         string `json:"kind"`            // SignatureDrawn or SignatureTyped
	Image        []byte `json:"image,omitempty"` // the drawn signature (PNG, JPEG or WebP); base64 in JSON
	SignerName   string `json:"signerName"`      // printed by the signer
	Relationship string `json:"relationship"`    // one of SignerRelationships
}

// IDCheck is the ID document the associate was shown. DateOfBirth
// (YYYY-MM-DD) is only compared with the minimum age and then discarded: it
// is never stored nor logged.
type IDCheck struct {
	DocumentType string `json:"documentType"`
	DateOfBirth  string `json:"dateOfBirth"`
}

// Handover is a delivery without a passcode as the associate asks for it:
// the place, the parcels (all the stop's open ones when none), the photo of
// an unattended delivery, and the signature and ID check when taken.
type Handover struct {
	Place       string
	TrackingIDs []string
	Photo       []byte
	Signature   *Signature
	IDCheck     *IDCheck
}

// CheckHandover decides whether parcels whose labels ask for checks may be
// delivered at place with the signature and ID check given, on serviceDate
// (the route's date, in the marketplace's own time zone). It returns an
// error when the delivery is refused as asked (nothing happens), and
// underage when the ID shows the recipient younger than a parcel's minimum
// age (that parcel is refused and goes back to the station):
//
//   - a parcel that needs a check is never left unattended;
//   - a signature is taken at an attended place only, and a parcel that
//     requires one is delivered only with one; a typed name stands in for
//     a drawn signature only when the shipper does not refuse it;
//   - an age check (minimumAge, or an ADULT signature) needs an ID document
//     of an accepted type and the date of birth it shows.
func CheckHandover(place, serviceDate string, checks []DoorCheck, sig *Signature, id *IDCheck) (underage bool, err error) {
	unattended := slices.Contains(UnattendedPlaces, place)
	var needSig, refuseTyped bool
	age := 0
	for _, c := range checks {
		needSig = needSig || c.Signature != ""
		refuseTyped = refuseTyped || (c.Signature != "" && c.TypedRefused)
		age = max(age, c.Age())
		if c.Needed() && unattended {
			return false, Refuse(EFORBIDDEN, ReasonAttendedOnly, "A parcel that needs a signature or an age check is never left unattended: hand it over in person.")
		}
	}
	if sig != nil {
		if unattended {
			return false, Refuse(EINVALID, ReasonSignatureNotAsked, "A signature is taken only when the parcel is handed over in person.")
		}
		if err := sig.check(); err != nil {
			return false, err
		}
	}
	switch {
	case needSig && sig == nil:
		return false, Refuse(EPRECONDITION, ReasonSignatureNeeded, "This parcel is delivered only with a signature: ask the person who takes it to sign.")
	case refuseTyped && sig.Kind == SignatureTyped:
		return false, Refuse(EFORBIDDEN, ReasonTypedRefused, "The shipper does not accept a typed name for a signature: the parcel must be signed on the screen.")
	}
	if age == 0 {
		if id != nil {
			return false, Invalid(FieldError{Field: "idCheck", Message: "is taken only for a parcel that needs an age check"})
		}
		return false, nil
	}
	if id == nil {
		return false, Refuse(EPRECONDITION, ReasonAgeCheckNeeded, "This parcel needs an age check: see the recipient's ID document (passport, driving licence, national ID card) and enter its date of birth.")
	}
	if !slices.Contains(IDDocumentTypes, id.DocumentType) {
		return false, Invalid(FieldError{Field: "idCheck.documentType", Message: "must be one of " + strings.Join(IDDocumentTypes, ", ")})
	}
	ok, err := AgeAtLeast(id.DateOfBirth, serviceDate, age)
	if err != nil {
		return false, err
	}
	return !ok, nil
}

// check validates a signature's own fields.
func (s *Signature) check() error {
	var fe FieldErrors
	name := strings.TrimSpace(s.SignerName)
	switch {
	case name == "":
		fe.Add("signature.signerName", "is required: the signer's name in capitals")
	case utf8.RuneCountInString(name) > MaxTextLen:
		fe.Add("signature.signerName", "at most %d characters", MaxTextLen)
	}
	if !slices.Contains(SignerRelationships, s.Relationship) {
		fe.Add("signature.relationship", "must be one of %s", strings.Join(SignerRelationships, ", "))
	}
	switch s.Kind {
	case SignatureDrawn:
		if len(s.Image) == 0 {
			fe.Add("signature.image", "a drawn signature needs its image")
		}
	case SignatureTyped:
		if len(s.Image) > 0 {
			fe.Add("signature.image", "a typed signature has no image")
		}
	default:
		fe.Add("signature.kind", "must be DRAWN or TYPED")
	}
	return fe.Err()
}

// AgeAtLeast reports whether someone born on birth (YYYY-MM-DD) is at least
// min years old on date (YYYY-MM-DD, a service date in its marketplace's
// time zone). A birthday on 29 February counts from 1 March in other years.
// It returns an EINVALID error for a date of birth that is not a date or is
// after date.
func AgeAtLeast(birth, date string, min int) (bool, error) {
	b, err := time.Parse(time.DateOnly, strings.TrimSpace(birth))
	if err != nil {
		return false, Invalid(FieldError{Field: "idCheck.dateOfBirth", Message: "must be a date, YYYY-MM-DD"})
	}
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return false, Internal(err, "service date")
	}
	if b.After(d) || d.Year()-b.Year() > 150 {
		return false, Invalid(FieldError{Field: "idCheck.dateOfBirth", Message: "is not a possible date of birth"})
	}
	// time.Date normalises 29 February in a common year to 1 March.
	return !time.Date(b.Year()+min, b.Month(), b.Day(), 0, 0, 0, 0, time.UTC).After(d), nil
}
