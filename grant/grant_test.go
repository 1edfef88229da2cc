package grant

import (
	"slices"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/route"
)

// TestNext walks every state × event pair: the moves listed here happen,
// every other pair is refused with a conflict and a reason.
func TestNext(t *testing.T) {
	const (
		pending, opening, open, closing = handoff.GrantPending, handoff.GrantOpening, handoff.GrantOpen, handoff.GrantClosing
		revoking, expiring, closed      = handoff.GrantRevoking, handoff.GrantExpiring, handoff.GrantClosed
		failed, closeFailed, revoked    = handoff.GrantFailed, handoff.GrantCloseFailed, handoff.GrantRevoked
		expired, resolved               = handoff.GrantExpired, handoff.GrantResolved
	)
	moves := []struct {
		from  string
		event Event
		to    string
	}{
		{None, Ask, pending},
		{pending, Claim, opening},
		{pending, Revoke, revoked},
		{pending, Expire, expired},
		{opening, Opened, open},
		{opening, OpenFailed, failed},
		{opening, Revoke, revoking},
		{opening, DoorShut, failed},
		{opening, DoorStuck, closeFailed},
		{open, AskClose, closing},
		{open, Revoke, revoking},
		{open, Expire, expiring},
		{closing, DoorShut, closed},
		{closing, DoorStuck, closeFailed},
		{revoking, DoorShut, revoked},
		{revoking, DoorStuck, closeFailed},
		{expiring, DoorShut, expired},
		{expiring, DoorStuck, closeFailed},
		{closeFailed, Resolve, resolved},
		{failed, OpenedLate, closeFailed},
	}
	want := map[string]map[Event]string{}
	for _, m := range moves {
		if want[m.from] == nil {
			want[m.from] = map[Event]string{}
		}
		want[m.from][m.event] = m.to
	}
	// Why a grant refuses, by the state it is in.
	reasons := map[string]string{closed: ReasonGrantUsed, revoked: ReasonGrantRevoked, revoking: ReasonGrantRevoked,
		expired: ReasonGrantExpired, expiring: ReasonGrantExpired}
	pairs := 0
	for _, s := range States {
		for _, e := range Events {
			pairs++
			got, err := Next(s, e)
			if to, ok := want[s][e]; ok {
				if err != nil || got != to {
					t.Errorf("Next(%q, %s) = %q, %v; want %q", s, e, got, err, to)
				}
				continue
			}
			reason := reasons[s]
			if reason == "" {
				reason = ReasonGrantNotOpen
			}
			if e == Ask {
				reason = ReasonGrantInUse
			}
			if err == nil || handoff.ErrorCode(err) != handoff.ECONFLICT || handoff.ErrorReason(err) != reason || got != "" {
				t.Errorf("Next(%q, %s) = %q, %v; want refused (%s)", s, e, got, err, reason)
			}
		}
	}
	if pairs != 13*11 {
		t.Errorf("walked %d pairs", pairs)
	}
	for _, s := range States {
		for _, e := range Events {
			if to, err := Next(s, e); err == nil && !slices.Contains(States, to) {
				t.Errorf("Next(%q, %s) = %q, not a state", s, e, to)
			}
		}
	}
}

// TestInFlight: the states a node owns a moving door in are exactly those
// a door_shut or door_stuck settles, and no final state moves on its own.
func TestInFlight(t *testing.T) {
	for _, s := range States {
		_, shut := Next(s, DoorShut)
		_, stuck := Next(s, DoorStuck)
		if InFlight(s) != (shut == nil) || InFlight(s) != (stuck == nil) {
			t.Errorf("%q: in flight %v, settles on door_shut %v, door_stuck %v", s, InFlight(s), shut == nil, stuck == nil)
		}
	}
	var live []string
	for _, s := range States {
		if Live(s) {
			live = append(live, s)
		}
	}
	// The store's unique index garage_grants_live lists the same states.
	if want := []string{handoff.GrantPending, handoff.GrantOpening, handoff.GrantOpen, handoff.GrantClosing, handoff.GrantRevoking, handoff.GrantExpiring}; !slices.Equal(live, want) {
		t.Errorf("live states %v, want %v", live, want)
	}
	if got := InFlightStates(); len(got) != 4 {
		t.Errorf("in flight: %v", got)
	}
	if got := Transitions(Revoke); len(got) != 3 || got[0] != (Transition{handoff.GrantPending, handoff.GrantRevoked}) {
		t.Errorf("revoke moves %v", got)
	}
}

func TestDecide(t *testing.T) {
	garageAt := &handoff.Position{Lat: 51.5265, Lon: -0.0254}
	near := &handoff.Position{Lat: 51.5270, Lon: -0.0254} // ~56 m
	far := &handoff.Position{Lat: 51.5400, Lon: -0.0254}  // ~1.5 km
	book := Parcel{TrackingID: "HOBOOK", GarageID: "gar_1", GarageAt: garageAt}
	stop := func(change func(*Stop)) Stop {
		s := Stop{ID: "stp_1", AssociateID: "da_1", ServiceDate: "2026-11-23", Market: "GB", Loaded: true, Parcels: []Parcel{book}}
		if change != nil {
			change(&s)
		}
		return s
	}
	req := func(change func(*Request)) Request {
		r := Request{Associate: true, AssociateID: "da_1", Today: "2026-11-23", Minute: 10 * 60, Window: windowHours, NearMeters: 250}
		if change != nil {
			change(&r)
		}
		return r
	}
	for _, c := range []struct {
		name   string
		stop   Stop
		req    Request
		code   string // "" when access is granted
		reason string
		ids    []string
	}{
		{"granted", stop(nil), req(nil), "", "", []string{"HOBOOK"}},
		{"not an associate", stop(nil), req(func(r *Request) { r.Associate = false }), handoff.EFORBIDDEN, "", nil},
		{"another associate's stop", stop(nil), req(func(r *Request) { r.AssociateID = "da_2" }), handoff.ENOTFOUND, "", nil},
		{"yesterday's route", stop(func(s *Stop) { s.ServiceDate = "2026-11-22" }), req(nil), handoff.ENOTFOUND, "", nil},
		{"route not loaded", stop(func(s *Stop) { s.Loaded = false }), req(nil), handoff.EPRECONDITION, handoff.ReasonRouteNotLoaded, nil},
		{"a door did not close", stop(func(s *Stop) { s.Grants = []string{handoff.GrantClosed, handoff.GrantCloseFailed} }), req(nil), handoff.EPRECONDITION, handoff.ReasonDoorNotClosed, nil},
		{"before the window", stop(nil), req(func(r *Request) { r.Minute = 7*60 + 59 }), handoff.EPRECONDITION, ReasonOutsideWindow, nil},
		{"at the window's end", stop(nil), req(func(r *Request) { r.Minute = 20 * 60 }), handoff.EPRECONDITION, ReasonOutsideWindow, nil},
		{"at the window's start", stop(nil), req(func(r *Request) { r.Minute = 8 * 60 }), "", "", []string{"HOBOOK"}},
		{"key delivery off", stop(func(s *Stop) { s.Parcels = nil }), req(nil), handoff.EPRECONDITION, ReasonKeyDeliveryOff, nil},
		{"bag not scanned", stop(func(s *Stop) { s.Parcels[0].Bagged = true }), req(nil), handoff.EPRECONDITION, handoff.ReasonBagNotScanned, nil},
		{"bag scanned", stop(func(s *Stop) { s.Parcels[0].Bagged, s.Parcels[0].BagScanned = true, true }), req(nil), "", "", []string{"HOBOOK"}},
		{"passcode parcel only", stop(func(s *Stop) { s.Parcels[0].OTP = true }), req(nil), handoff.EPRECONDITION, handoff.ReasonPasscodeNeeded, nil},
		{"shipper lets the garage stand in", stop(func(s *Stop) { s.Parcels[0].OTP, s.Parcels[0].GarageForOTP = true, true }), req(nil), "", "", []string{"HOBOOK"}},
		{"signature or age check: never in a garage", stop(func(s *Stop) { s.Parcels[0].InPerson = true }), req(nil), handoff.EFORBIDDEN, handoff.ReasonAttendedOnly, nil},
		{"signature parcel left out", stop(func(s *Stop) {
			s.Parcels = append(s.Parcels, Parcel{TrackingID: "HOWINE", GarageID: "gar_1", InPerson: true, OTP: true, GarageForOTP: true})
		}), req(nil), "", "", []string{"HOBOOK"}},
		{"passcode parcel left out", stop(func(s *Stop) {
			s.Parcels = append(s.Parcels, Parcel{TrackingID: "HOPHONE", GarageID: "gar_1", OTP: true, Bagged: true})
		}), req(nil), "", "", []string{"HOBOOK"}},
		{"another recipient's garage left out", stop(func(s *Stop) {
			s.Parcels = append(s.Parcels, Parcel{TrackingID: "HOOTHER", GarageID: "gar_2", Bagged: true})
		}), req(nil), "", "", []string{"HOBOOK"}},
		{"no position sent", stop(nil), req(func(r *Request) { r.At = nil }), "", "", []string{"HOBOOK"}},
		{"near the garage", stop(nil), req(func(r *Request) { r.At = near }), "", "", []string{"HOBOOK"}},
		{"far from the garage", stop(nil), req(func(r *Request) { r.At = far }), handoff.EFORBIDDEN, ReasonOutsideGeofence, nil},
		{"garage without a position", stop(func(s *Stop) { s.Parcels[0].GarageAt = nil }), req(func(r *Request) { r.At = far }), "", "", []string{"HOBOOK"}},
		{"not a position", stop(nil), req(func(r *Request) { r.At = &handoff.Position{Lat: 91} }), handoff.EINVALID, "", nil},
		{"a grant is live", stop(func(s *Stop) { s.Grants = []string{handoff.GrantFailed, handoff.GrantExpiring} }), req(nil), handoff.ECONFLICT, ReasonGrantInUse, nil},
		{"earlier grants are over", stop(func(s *Stop) {
			s.Grants = []string{handoff.GrantFailed, handoff.GrantRevoked, handoff.GrantExpired, handoff.GrantResolved, handoff.GrantClosed}
		}), req(nil), "", "", []string{"HOBOOK"}},
		{"window checked before key delivery", stop(func(s *Stop) { s.Parcels = nil }), req(func(r *Request) { r.Minute = 21 * 60 }), handoff.EPRECONDITION, ReasonOutsideWindow, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := Decide(c.stop, c.req)
			if c.code == "" {
				if err != nil || a.GarageID != "gar_1" || !slices.Equal(a.TrackingIDs, c.ids) {
					t.Fatalf("Decide = %+v, %v; want gar_1 for %v", a, err, c.ids)
				}
				return
			}
			if handoff.ErrorCode(err) != c.code || handoff.ErrorReason(err) != c.reason {
				t.Fatalf("Decide = %+v, %v; want %s (%s)", a, err, c.code, c.reason)
			}
		})
	}
}

// windowHours is the default delivery window, 08:00–20:00.
var windowHours = route.DefaultContactHours
