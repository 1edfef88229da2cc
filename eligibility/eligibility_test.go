package eligibility

import (
	"slices"
	"testing"
)

func TestDecideOTP(t *testing.T) {
	base := Input{OTPEnabled: true, SMSOn: true, Prepaid: true, Mobile: MobileValid, ValueMinor: 100_01, ThresholdMinor: 100_00}
	tests := []struct {
		name     string
		mod      func(*Input)
		required bool
		reasons  []string
	}{
		{"all hold", func(*Input) {}, true, []string{AboveThreshold}},
		{"exactly at threshold", func(i *Input) { i.ValueMinor = 100_00 }, false, []string{AtOrBelowThreshold}},
		{"one minor unit above", func(i *Input) { i.ValueMinor = 100_01 }, true, []string{AboveThreshold}},
		{"below", func(i *Input) { i.ValueMinor = 50_00 }, false, []string{AtOrBelowThreshold}},
		{"zero value, zero threshold", func(i *Input) { i.ValueMinor, i.ThresholdMinor = 0, 0 }, false, []string{AtOrBelowThreshold}},
		{"OTP off", func(i *Input) { i.OTPEnabled = false }, false, []string{OTPDisabled}},
		{"SMS off", func(i *Input) { i.SMSOn = false }, false, []string{SMSNotificationsOff}},
		{"cash on delivery", func(i *Input) { i.Prepaid = false }, false, []string{NotPrepaid}},
		{"no mobile", func(i *Input) { i.Mobile = MobileMissing }, false, []string{MissingMobile}},
		{"invalid mobile", func(i *Input) { i.Mobile = MobileInvalid }, false, []string{InvalidMobile}},
		{"everything wrong", func(i *Input) {
			*i = Input{Mobile: MobileInvalid, ValueMinor: 1, ThresholdMinor: 2}
		}, false, []string{OTPDisabled, SMSNotificationsOff, NotPrepaid, InvalidMobile, AtOrBelowThreshold}},
		{"shipper rule below threshold", func(i *Input) { i.ValueMinor, i.RuleMatched = 10, true }, true, []string{ShipperRule}},
		{"shipper rule and above", func(i *Input) { i.RuleMatched = true }, true, []string{AboveThreshold, ShipperRule}},
		{"shipper rule cannot override COD", func(i *Input) { i.RuleMatched, i.Prepaid = true, false }, false, []string{NotPrepaid}},
		{"shipper rule cannot override missing mobile", func(i *Input) { i.RuleMatched, i.Mobile = true, MobileMissing }, false, []string{MissingMobile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			tt.mod(&in)
			d := Decide(in)
			if d.OTPRequired != tt.required || !slices.Equal(d.OTPReasons, tt.reasons) {
				t.Fatalf("Decide = required %v reasons %v; want %v %v", d.OTPRequired, d.OTPReasons, tt.required, tt.reasons)
			}
		})
	}
}

func TestDecideBag(t *testing.T) {
	th := int64(500_00)
	defaults := []string{"smartphone", "laptop", "tablet"}
	tests := []struct {
		name     string
		in       Input
		required bool
		reasons  []string
	}{
		{"smartphone", Input{Categories: []string{"smartphone"}, BagCategories: defaults}, true, []string{BagCategory}},
		{"case and spaces", Input{Categories: []string{" Laptop "}, BagCategories: defaults}, true, []string{BagCategory}},
		{"other category", Input{Categories: []string{"books"}, BagCategories: defaults}, false, []string{BagNoRuleMatched}},
		{"no items", Input{BagCategories: defaults}, false, []string{BagNoRuleMatched}},
		{"above value", Input{ValueMinor: 500_01, BagThresholdMinor: &th}, true, []string{BagAboveThreshold}},
		{"at value", Input{ValueMinor: 500_00, BagThresholdMinor: &th}, false, []string{BagNoRuleMatched}},
		{"both", Input{Categories: []string{"tablet"}, BagCategories: defaults, ValueMinor: 900_00, BagThresholdMinor: &th}, true, []string{BagCategory, BagAboveThreshold}},
		{"categories switched off", Input{Categories: []string{"smartphone"}}, false, []string{BagNoRuleMatched}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(tt.in)
			if d.BagRequired != tt.required || !slices.Equal(d.BagReasons, tt.reasons) {
				t.Fatalf("bag = %v %v; want %v %v", d.BagRequired, d.BagReasons, tt.required, tt.reasons)
			}
		})
	}
}
