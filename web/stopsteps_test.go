package web

import (
	"strings"
	"testing"

	"github.com/handoff-dev/handoff"
)

// TestStopSteps derives a stop's steps from what its parcels need and how
// far they are, and checks the step on screen: never one whose previous
// step does not hold, whatever the address asks for.
func TestStopSteps(t *testing.T) {
	bagged := handoff.StopParcel{TrackingID: "HO1", OTPRequired: true, BagRequired: true}
	plain := handoff.StopParcel{TrackingID: "HO2"}
	tests := []struct {
		name    string
		page    stopPage
		want    string
		steps   string // the keys, a done one marked ✓
		current string
	}{
		{"bag first", stopPage{Loaded: true, CodeForm: true, Open: 1, Unscanned: 1,
			Stop: &handoff.Stop{OTPState: handoff.OTPPending, Needs: handoff.StopNeeds{Passcode: true, BagScan: true}, Parcels: []handoff.StopParcel{bagged}}},
			"", "bag code done", stepBag},
		{"no code before the bag", stopPage{Loaded: true, CodeForm: true, Open: 1, Unscanned: 1,
			Stop: &handoff.Stop{OTPState: handoff.OTPPending, Parcels: []handoff.StopParcel{bagged}}},
			stepCode, "bag code done", stepBag},
		{"code once the bag matched", stopPage{Loaded: true, CodeForm: true, Open: 1,
			Stop: &handoff.Stop{OTPState: handoff.OTPPending, Parcels: []handoff.StopParcel{bagged}}},
			"", "bag✓ code done", stepCode},
		{"place then photo", stopPage{Loaded: true, Open: 1, OpenPlain: 1,
			Stop: &handoff.Stop{OTPState: handoff.OTPNone, Needs: handoff.StopNeeds{Photo: true}, Parcels: []handoff.StopParcel{plain}}},
			stepPhoto, "place photo done", stepPlace},
		{"photo once the place is chosen", stopPage{Loaded: true, Open: 1, OpenPlain: 1, Place: "DeliveredToPorch",
			Stop: &handoff.Stop{OTPState: handoff.OTPNone, Needs: handoff.StopNeeds{Photo: true}, Parcels: []handoff.StopParcel{plain}}},
			stepPhoto, "place✓ photo done", stepPhoto},
		{"the plain parcel while the code waits", stopPage{Loaded: true, CodeForm: true, Open: 2, OpenPlain: 1,
			Stop: &handoff.Stop{OTPState: handoff.OTPPending, Parcels: []handoff.StopParcel{{TrackingID: "HO3", OTPRequired: true}, plain}}},
			stepPlace, "code place done", stepPlace},
		{"garage: open, drop, close", stopPage{Loaded: true, Open: 1, OpenPlain: 1, Garage: true,
			Stop: &handoff.Stop{OTPState: handoff.OTPNone, Needs: handoff.StopNeeds{Garage: true}, Parcels: []handoff.StopParcel{plain}}},
			stepGarageClose, "garage-open garage-drop garage-close done", stepGarageOpen},
		{"garage opened", stopPage{Loaded: true, Open: 1, OpenPlain: 1, Garage: true, GrantID: "gg_1",
			Stop: &handoff.Stop{OTPState: handoff.OTPNone, Needs: handoff.StopNeeds{Garage: true}, Parcels: []handoff.StopParcel{plain}}},
			"", "garage-open✓ garage-drop garage-close done", stepGarageDrop},
		{"garage dropped", stopPage{Loaded: true, Open: 1, OpenPlain: 1, Garage: true, GrantID: "gg_1",
			Stop: &handoff.Stop{OTPState: handoff.OTPNone, Needs: handoff.StopNeeds{Garage: true}, Parcels: []handoff.StopParcel{plain}}},
			stepGarageClose, "garage-open✓ garage-drop✓ garage-close done", stepGarageClose},
		{"van not loaded", stopPage{Open: 1, OpenPlain: 1,
			Stop: &handoff.Stop{OTPState: handoff.OTPPending, Parcels: []handoff.StopParcel{{TrackingID: "HO3", OTPRequired: true}, plain}}},
			stepPlace, "code place done", ""},
		{"finished", stopPage{Loaded: true, CodeForm: false,
			Stop: &handoff.Stop{OTPState: handoff.OTPVerified, Parcels: []handoff.StopParcel{{TrackingID: "HO1", OTPRequired: true, BagRequired: true, Outcome: "delivered"}}}},
			stepCode, "bag✓ code✓ done✓", stepDone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, cur := stopSteps(&tt.page, tt.want)
			var got []string
			for _, s := range steps {
				k := s.Key
				if s.Done {
					k += "✓"
				}
				got = append(got, k)
			}
			if g := strings.Join(got, " "); g != tt.steps {
				t.Errorf("steps %q, want %q", g, tt.steps)
			}
			if cur != tt.current {
				t.Errorf("current %q, want %q", cur, tt.current)
			}
		})
	}
}
