package web

import (
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/garage"
)

// TestPortalWordsForEveryCode keeps the portal in words: a garage log step,
// a kind of opener or a reason for no photo added to the domain without
// words here would reach the recipient as a bare code.
func TestPortalWordsForEveryCode(t *testing.T) {
	tables := []struct {
		name  string
		codes []string
		words map[string]string
	}{
		// The steps handoff.GarageEvent documents, as the store logs them.
		{"garage log step", []string{"enrolled", "tested", "key_delivery_on", "key_delivery_off", "requested", "opened", "closed",
			"failed", "close_failed", "revoked"}, portalStepWords},
		{"kind of opener", []string{garage.KindOpenGarage, garage.KindHomeAssistant, garage.KindSimulator}, portalKindWords},
		{"no-photo reason", []string{handoff.NoPhotoConfidential, handoff.NoPhotoGiftRegistry, handoff.NoPhotoOptedOut}, portalNoPhotoWords},
	}
	for _, tt := range tables {
		for _, c := range tt.codes {
			if tt.words[c] == "" {
				t.Errorf("%s %q has no words", tt.name, c)
			}
		}
	}
}

func TestEnrolPosition(t *testing.T) {
	tests := []struct {
		lat, lon string
		given    bool // a position is read
		ok       bool
	}{
		{"", "", false, true},
		{" 51.5281 ", "-0.0558", true, true},
		{"51.5", "", false, false},
		{"", "-0.05", false, false},
		{"north", "0", false, false},
		{"51,5", "0", false, false},
	}
	for _, tt := range tests {
		lat, lon, ok := enrolPosition(tt.lat, tt.lon)
		if ok != tt.ok || (lat != nil) != tt.given || (lon != nil) != tt.given {
			t.Errorf("enrolPosition(%q, %q) = %v, %v, %v", tt.lat, tt.lon, lat, lon, ok)
		}
	}
	if lat, lon, _ := enrolPosition("51.5281", "-0.0558"); *lat != 51.5281 || *lon != -0.0558 {
		t.Errorf("read %v, %v", *lat, *lon)
	}
}
