package web

import (
	"strings"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/eligibility"
	"github.com/handoff-dev/handoff/tracking"
)

// otpReasonWords explain the OTP decision's reason codes to a shipper, so
// the page says what to change rather than showing a code.
var otpReasonWords = map[string]string{
	eligibility.OTPDisabled:         "Secure delivery (OTP) was switched off in your settings.",
	eligibility.SMSNotificationsOff: "Recipient SMS notifications were off, so a passcode could not reach the recipient's mobile.",
	eligibility.NotPrepaid:          "Cash-on-delivery shipments never use a passcode.",
	eligibility.AtOrBelowThreshold:  "The declared value is not above your OTP threshold for this marketplace.",
	eligibility.MissingMobile:       "The label has no recipient phone number.",
	eligibility.InvalidMobile:       "The recipient's phone number is not a valid mobile number for this marketplace.",
	eligibility.AboveThreshold:      "The declared value is above your OTP threshold for this marketplace.",
	eligibility.ShipperRule:         "One of your own rules asks for a passcode.",
}

// bagReasonWords explain the bag decision's reason codes.
var bagReasonWords = map[string]string{
	eligibility.BagCategory:       "An item is in one of your bag categories.",
	eligibility.BagAboveThreshold: "The declared value is above your bag threshold for this marketplace.",
	eligibility.BagNoRuleMatched:  "None of your bag rules matched.",
}

// reasonWords returns the explanation of a code, or the code itself for one
// added after this page was written.
func reasonWords(table map[string]string, code string) string {
	if w, ok := table[code]; ok {
		return w
	}
	return code
}

// paymentWords names a payment type.
func paymentWords(p string) string {
	switch p {
	case handoff.Prepaid:
		return "Prepaid"
	case handoff.CashOnDelivery:
		return "Cash on delivery"
	}
	return p
}

// eventNames put tracking event codes into words.
var eventNames = map[string]string{
	tracking.ReadyForReceive:          "Label created",
	tracking.PickupDone:               "Picked up",
	tracking.ArrivedAtCarrierFacility: "Arrived at carrier facility",
	tracking.Departed:                 "Departed facility",
	tracking.OutForDelivery:           "Out for delivery",
	tracking.Delivered:                "Delivered",
	tracking.DeliveryAttempted:        "Delivery attempted",
	tracking.Rejected:                 "Rejected",
	tracking.Undeliverable:            "Undeliverable",
	tracking.ReturnInitiated:          "Return initiated",
}

// eventWords names an event code.
func eventWords(code string) string {
	if w, ok := eventNames[code]; ok {
		return w
	}
	return code
}

// detailWords puts a detail code into words through tracking.Describe, and
// splits an unknown CamelCase code ("DeliveredToMailRoom") into words rather
// than hide it.
func detailWords(code string) string {
	if code == "" {
		return ""
	}
	if w := tracking.Describe("", code); w != "" {
		return w
	}
	var b strings.Builder
	for i, c := range code {
		if i > 0 && c >= 'A' && c <= 'Z' {
			b.WriteByte(' ')
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// place writes an event's location as one line: "London E16 1AA, GB".
func place(l tracking.Location) string {
	var parts []string
	if town := strings.TrimSpace(l.City + " " + l.PostalCode); town != "" {
		parts = append(parts, town)
	}
	if l.StateOrRegion != "" {
		parts = append(parts, l.StateOrRegion)
	}
	if l.CountryCode != "" {
		parts = append(parts, l.CountryCode)
	}
	return strings.Join(parts, ", ")
}
