package web

import (
	"testing"

	"github.com/handoff-dev/handoff"
)

// TestWordsForEveryCode keeps the station and associate pages in words: a
// place, reason, stage or state added to the domain without words here
// would show up as a bare code.
func TestWordsForEveryCode(t *testing.T) {
	tables := []struct {
		name  string
		codes []string
		words map[string]string
	}{
		{"delivery place", handoff.DeliveryPlaces, placeWords},
		{"signer relationship", handoff.SignerRelationships, relationshipWords},
		{"ID document", handoff.IDDocumentTypes, documentWords},
		{"attempt reason", handoff.AttemptReasons, attemptReasonWords},
		{"stage", []string{handoff.StageLabel, handoff.StageStation, handoff.StageRouted, handoff.StageOut, handoff.StageAwaitingReturn,
			handoff.StageDelivered, handoff.StageReturning, handoff.StageHeld}, stageWords},
		{"passcode state", []string{handoff.OTPNone, handoff.OTPPending, handoff.OTPVerified, handoff.OTPFailed}, otpStateWords},
		{"route status", []string{handoff.RoutePlanned, handoff.RouteLoaded}, routeStatusWords},
	}
	for _, tt := range tables {
		for _, c := range tt.codes {
			if tt.words[c] == "" {
				t.Errorf("%s %q has no words", tt.name, c)
			}
		}
	}
}

func TestFieldSentence(t *testing.T) {
	tests := []struct{ subject, msg, want string }{
		{"The associate", "is required", "The associate is required."},
		{"The service date", "must be a date as YYYY-MM-DD", "The service date must be a date as YYYY-MM-DD."},
		{"Line 2, HO1", "no such parcel at this station", "Line 2, HO1: no such parcel at this station."},
		{"Line 3, HO1", "was attempted on 2026-11-23; it can go out again from 2026-11-24", "Line 3, HO1 was attempted on 2026-11-23; it can go out again from 2026-11-24."},
		{"The parcel list", "at most 300 parcels per route.", "The parcel list: at most 300 parcels per route."},
	}
	for _, tt := range tests {
		if got := fieldSentence(tt.subject, tt.msg); got != tt.want {
			t.Errorf("fieldSentence(%q, %q) = %q, want %q", tt.subject, tt.msg, got, tt.want)
		}
	}
}

func TestContactFlag(t *testing.T) {
	early := handoff.Stop{PlannedTime: "07:30", OutsideContactHours: true, OTPState: handoff.OTPPending}
	done := early
	done.OTPState = handoff.OTPVerified
	inside := handoff.Stop{PlannedTime: "10:00", OTPState: handoff.OTPPending}
	tests := []struct {
		name       string
		stop       handoff.Stop
		forStation bool
		want       string
	}{
		{"station", early, true, "Planned at 07:30 — outside contact hours 08:00-20:00: move it"},
		{"associate", early, false, "Planned at 07:30 — outside contact hours 08:00-20:00: the recipient may not be there to give the passcode"},
		{"checked already", done, true, ""},
		{"inside the hours", inside, true, ""},
	}
	for _, tt := range tests {
		if got := contactFlag(tt.stop, "08:00-20:00", tt.forStation); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
