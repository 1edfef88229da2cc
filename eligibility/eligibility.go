// Package eligibility decides, per package, whether passcode (OTP) delivery and
// a tamper-evident bag are required, and says why in stable machine codes. The
// rules are those of SPEC §1 and §2; the function is pure so that every edge can
// be shown by a table test.
package eligibility

import (
	"slices"
	"strings"
)

// Reason codes for the OTP decision. They are part of the public API: never
// rename one, only add.
const (
	// Reasons why OTP is not required.
	OTPDisabled         = "OTP_DISABLED"
	SMSNotificationsOff = "SMS_NOTIFICATIONS_OFF"
	NotPrepaid          = "NOT_PREPAID"
	AtOrBelowThreshold  = "AT_OR_BELOW_THRESHOLD"
	MissingMobile       = "MISSING_MOBILE"
	InvalidMobile       = "INVALID_MOBILE"

	// Reasons why OTP is required.
	AboveThreshold = "ABOVE_THRESHOLD"
	ShipperRule    = "SHIPPER_RULE"
)

// Reason codes for the bag decision.
const (
	BagCategory       = "CATEGORY"
	BagAboveThreshold = "ABOVE_BAG_THRESHOLD"
	BagNoRuleMatched  = "NO_RULE_MATCHED"
)

// MobileState says what is known of the recipient's mobile number.
type MobileState int

// The states of the recipient's mobile number.
const (
	MobileValid MobileState = iota
	MobileMissing
	MobileInvalid
)

// Input is everything the decision depends on, in plain values.
type Input struct {
	OTPEnabled bool // the shipper switched secure delivery on
	SMSOn      bool // the shipper's recipient SMS notifications are on
	Prepaid    bool // false for cash on delivery
	Mobile     MobileState

	// ValueMinor and ThresholdMinor are in minor units of the marketplace's
	// currency: eligible only when ValueMinor > ThresholdMinor.
	ValueMinor     int64
	ThresholdMinor int64

	// RuleMatched is true when one of the shipper's own conditions asks for OTP
	// whatever the value; it cannot override the other fixed rules, since a
	// code must still be sendable and the parcel prepaid.
	RuleMatched bool

	// Bag rules: the package's item categories, and the shipper's bag settings.
	Categories        []string
	BagCategories     []string
	BagThresholdMinor *int64 // nil: no value rule
}

// Decision is the answer for one package.
type Decision struct {
	OTPRequired bool
	OTPReasons  []string
	BagRequired bool
	BagReasons  []string
}

// Decide applies the rules. When OTP is not required, OTPReasons lists every
// condition that failed (not only the first), so that a shipper sees all it
// would have to change.
func Decide(in Input) Decision {
	var d Decision
	var no []string
	if !in.OTPEnabled {
		no = append(no, OTPDisabled)
	}
	if !in.SMSOn {
		no = append(no, SMSNotificationsOff)
	}
	if !in.Prepaid {
		no = append(no, NotPrepaid)
	}
	switch in.Mobile {
	case MobileMissing:
		no = append(no, MissingMobile)
	case MobileInvalid:
		no = append(no, InvalidMobile)
	}
	above := in.ValueMinor > in.ThresholdMinor
	if !above && !in.RuleMatched {
		no = append(no, AtOrBelowThreshold)
	}
	if len(no) > 0 {
		d.OTPReasons = no
	} else {
		d.OTPRequired = true
		if above {
			d.OTPReasons = append(d.OTPReasons, AboveThreshold)
		}
		if in.RuleMatched {
			d.OTPReasons = append(d.OTPReasons, ShipperRule)
		}
	}

	for _, c := range in.Categories {
		if slices.ContainsFunc(in.BagCategories, func(b string) bool { return strings.EqualFold(strings.TrimSpace(b), strings.TrimSpace(c)) }) {
			d.BagRequired = true
			d.BagReasons = append(d.BagReasons, BagCategory)
			break
		}
	}
	if in.BagThresholdMinor != nil && in.ValueMinor > *in.BagThresholdMinor {
		d.BagRequired = true
		d.BagReasons = append(d.BagReasons, BagAboveThreshold)
	}
	if !d.BagRequired {
		d.BagReasons = []string{BagNoRuleMatched}
	}
	return d
}
