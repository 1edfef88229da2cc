package handoff

import (
	"encoding/json"
	"testing"

	"github.com/handoff-dev/handoff/market"
)

func TestSettingsPatch(t *testing.T) {
	apply := func(s Settings, body string) (Settings, error) {
		var p SettingsPatch
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Fatal(err)
		}
		return p.Apply(s)
	}
	s := DefaultSettings()
	s, err := apply(s, `{"tamperEvidentBag":{"thresholds":[{"marketplace":"FR","value":750,"unit":"EUR"}]}}`)
	if err != nil || s.BagThreshold(mustMarket("FR")) == nil || *s.BagThreshold(mustMarket("FR")) != 75000 {
		t.Fatalf("bag threshold not set: %+v %v", s.TamperEvidentBag, err)
	}
	s, err = apply(s, `{"tamperEvidentBag":{"thresholds":[{"marketplace":"FR"}]}}`)
	if err != nil || s.BagThreshold(mustMarket("FR")) != nil {
		t.Fatalf("bag threshold not removed: %+v %v", s.TamperEvidentBag, err)
	}
	s, err = apply(s, `{"secureDelivery":{"thresholds":[{"marketplace":"GB","value":250.5,"unit":"GBP"}]}}`)
	if err != nil || s.OTPThreshold(mustMarket("GB")) != 25050 {
		t.Fatalf("OTP threshold: %v %v", s.OTPThreshold(mustMarket("GB")), err)
	}
	s, err = apply(s, `{"secureDelivery":{"thresholds":[{"marketplace":"GB"}]}}`)
	if err != nil || s.OTPThreshold(mustMarket("GB")) != 10000 {
		t.Fatalf("OTP threshold did not fall back to the default: %v %v", s.OTPThreshold(mustMarket("GB")), err)
	}
	before := s
	if _, err := apply(s, `{"notifications":{"sms":false},"secureDelivery":{"thresholds":[{"marketplace":"GB","value":1,"unit":"EUR"}]}}`); ErrorCode(err) != EINVALID {
		t.Fatalf("mixed patch: %v", err)
	}
	if !before.Notifications.SMS {
		t.Fatal("a rejected patch changed the input")
	}
}

func mustMarket(code string) market.Market {
	m, ok := market.Lookup(code)
	if !ok {
		panic(code)
	}
	return m
}
