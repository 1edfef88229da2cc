package station

import (
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/route"
	"github.com/handoff-dev/handoff/tracking"
)

// TestArrive checks what receiving a parcel does, by where it comes from
// and, back from a failed attempt, by its tamper case and failed days.
func TestArrive(t *testing.T) {
	const maxFailed = 3
	tests := []struct {
		name   string
		p      Parcel
		action handoff.Action
		to     string // "" when receiving is refused
		tell   bool
		leave  bool
		codes  []string
	}{
		{"new label", Parcel{Stage: handoff.StageLabel}, handoff.ActReceive, handoff.StageStation, true, false,
			[]string{tracking.PickupDone, tracking.ArrivedAtCarrierFacility}},
		{"route never left", Parcel{Stage: handoff.StageRouted}, handoff.ActReceive, handoff.StageStation, false, true,
			[]string{tracking.ArrivedAtCarrierFacility}},
		{"van came back", Parcel{Stage: handoff.StageOut}, handoff.ActReceive, handoff.StageStation, false, true,
			[]string{tracking.ArrivedAtCarrierFacility}},
		{"failed once", Parcel{Stage: handoff.StageAwaitingReturn, FailedDays: 1}, handoff.ActReattempt, handoff.StageStation, false, false,
			[]string{tracking.ArrivedAtCarrierFacility}},
		{"failed too often", Parcel{Stage: handoff.StageAwaitingReturn, FailedDays: maxFailed}, handoff.ActReturn, handoff.StageReturning, true, false,
			[]string{tracking.ArrivedAtCarrierFacility, tracking.ReturnInitiated}},
		{"tamper case open", Parcel{Stage: handoff.StageAwaitingReturn, Refused: true, TamperCase: handoff.CaseOpen, FailedDays: maxFailed},
			handoff.ActHold, handoff.StageHeld, false, false, []string{tracking.ArrivedAtCarrierFacility}},
		{"tamper case sends it back", Parcel{Stage: handoff.StageAwaitingReturn, Refused: true, TamperCase: handoff.CaseClosed, TamperOutcome: handoff.CaseRefund},
			handoff.ActReturn, handoff.StageReturning, false, false, []string{tracking.ReturnInitiated}},
		{"tamper case reships it", Parcel{Stage: handoff.StageAwaitingReturn, Refused: true, TamperCase: handoff.CaseClosed, TamperOutcome: handoff.CaseReship},
			handoff.ActReattempt, handoff.StageStation, false, false, []string{tracking.ArrivedAtCarrierFacility}},
		{"already at the station", Parcel{Stage: handoff.StageStation}, handoff.ActReceive, "", false, false, nil},
		{"delivered", Parcel{Stage: handoff.StageDelivered}, handoff.ActReceive, "", false, false, nil},
		{"held", Parcel{Stage: handoff.StageHeld}, handoff.ActReceive, "", false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := arrive(&tt.p, "East", maxFailed)
			to, _ := handoff.NextStage(tt.p.Stage, a.action)
			if a.action != tt.action || to != tt.to || a.tell != tt.tell || a.leaveRoute != tt.leave {
				t.Errorf("arrive = %s to %q, tell %v, leave route %v; want %s to %q, %v, %v", a.action, to, a.tell, a.leaveRoute, tt.action, tt.to, tt.tell, tt.leave)
			}
			var codes []string
			for _, e := range a.events {
				codes = append(codes, e.Code)
			}
			if len(codes) != len(tt.codes) {
				t.Fatalf("events %v, want %v", codes, tt.codes)
			}
			for i := range codes {
				if codes[i] != tt.codes[i] {
					t.Errorf("events %v, want %v", codes, tt.codes)
				}
			}
		})
	}
}

// TestNextAttemptDate checks the first day a parcel back at the station may
// go out again, Monday to Saturday: the working day after its attempt, and
// never a day in the past.
func TestNextAttemptDate(t *testing.T) {
	wd := route.DefaultWorkingDays
	tests := []struct{ last, today, want string }{
		{"", "2026-11-23", "2026-11-23"},           // never attempted: today (a Monday)
		{"", "2026-11-29", "2026-11-30"},           // never attempted, on a Sunday: Monday
		{"2026-11-23", "2026-11-23", "2026-11-24"}, // attempted today: tomorrow
		{"2026-11-28", "2026-11-28", "2026-11-30"}, // attempted on Saturday: Monday
		{"2026-11-16", "2026-11-23", "2026-11-23"}, // attempted last week: today
		{"2026-11-16", "2026-11-29", "2026-11-30"}, // attempted last week, back on a Sunday: Monday
	}
	for _, tt := range tests {
		if got := nextAttemptDate(wd, tt.last, tt.today); got != tt.want {
			t.Errorf("nextAttemptDate(%q, %q) = %s, want %s", tt.last, tt.today, got, tt.want)
		}
	}
}
