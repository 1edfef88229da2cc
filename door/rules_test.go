package door

import (
	"slices"
	"testing"

	"github.com/handoff-dev/handoff"
)

func TestPlainTargets(t *testing.T) {
	open := []Parcel{{TrackingID: "A"}, {TrackingID: "B", OTP: true}, {TrackingID: "C"}}
	for _, c := range []struct {
		name   string
		open   []Parcel
		asked  []string
		want   []string
		code   string
		reason string
		field  string
	}{
		{"all that need no passcode", open, nil, []string{"A", "C"}, "", "", ""},
		{"one asked for", open, []string{"C"}, []string{"C"}, "", "", ""},
		{"a passcode parcel asked for", open, []string{"A", "B"}, nil, handoff.EFORBIDDEN, handoff.ReasonPasscodeNeeded, ""},
		{"not a parcel of the stop", open, []string{"Z"}, nil, handoff.EINVALID, "", "trackingIds[0]"},
		{"only passcode parcels", []Parcel{{TrackingID: "B", OTP: true}}, nil, nil, handoff.ECONFLICT, handoff.ReasonNothingPlain, ""},
		{"nothing open", nil, nil, nil, handoff.ECONFLICT, handoff.ReasonNothingPlain, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := plainTargets(c.open, c.asked)
			if handoff.ErrorCode(err) != c.code || handoff.ErrorReason(err) != c.reason {
				t.Fatalf("error %v (reason %q), want %q %q", err, handoff.ErrorReason(err), c.code, c.reason)
			}
			if c.field != "" && (len(handoff.ErrorFields(err)) != 1 || handoff.ErrorFields(err)[0].Field != c.field) {
				t.Errorf("fields %v, want %s", handoff.ErrorFields(err), c.field)
			}
			var ids []string
			for _, p := range got {
				ids = append(ids, p.TrackingID)
			}
			if !slices.Equal(ids, c.want) {
				t.Errorf("targets %v, want %v", ids, c.want)
			}
		})
	}
}

func TestBagsScanned(t *testing.T) {
	open := []Parcel{{TrackingID: "A", BagID: "BAG1"}, {TrackingID: "B", OTP: true, BagID: "BAG2", BagScanned: true}, {TrackingID: "C", OTP: true, BagID: "BAG3"}, {TrackingID: "D"}}
	for _, c := range []struct {
		name    string
		ids     []string
		otpOnly bool
		missing bool
	}{
		{"every parcel", nil, false, true},
		{"the passcode ones", nil, true, true},
		{"a scanned passcode parcel", []string{"B"}, true, false},
		{"an unbagged parcel", []string{"D"}, false, false},
		{"an unscanned bag among those asked", []string{"A", "D"}, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := bagsScanned(open, c.ids, c.otpOnly)
			if (err != nil) != c.missing {
				t.Fatalf("error %v, want one: %v", err, c.missing)
			}
			if err != nil && handoff.ErrorReason(err) != handoff.ReasonBagNotScanned {
				t.Errorf("reason %q", handoff.ErrorReason(err))
			}
		})
	}
}

func TestAcceptsCodes(t *testing.T) {
	for state, reason := range map[string]string{
		handoff.OTPPending:  "",
		handoff.OTPVerified: handoff.ReasonAlreadyDelivered,
		handoff.OTPFailed:   handoff.ReasonAttemptEnded,
		handoff.OTPNone:     handoff.ReasonNoPasscode,
	} {
		if got := handoff.ErrorReason(acceptsCodes(state)); got != reason || (reason == "") != (acceptsCodes(state) == nil) {
			t.Errorf("%s: reason %q, want %q", state, got, reason)
		}
	}
}

func TestCodeSets(t *testing.T) {
	got := codeSets([]Parcel{{OTP: true, CodeSet: "x"}, {OTP: true, CodeSet: "x", KeyID: "k1"}, {CodeSet: "y"}, {OTP: true, CodeSet: "z"},
		{OTP: true, CodeSet: "w", CodeOK: true}})
	_, x := got["x"]
	_, z := got["z"]
	if len(got) != 2 || !x || !z || got["x"] != "k1" {
		t.Errorf("sets %v: want the passcode parcels still waiting for a code, x (with its key k1) and z", got)
	}
}
