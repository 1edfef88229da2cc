package api_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/grant"
	"github.com/handoff-dev/handoff/tracking"
)

// garageRaceRounds is how many times each race below is run: on
// PostgreSQL, a lock taken in the wrong order shows up as a deadlock in a
// few rounds of a hundred.
const garageRaceRounds = 100

// race runs a and b at once, released together.
func race(a, b func()) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { <-start; a() })
	wg.Go(func() { <-start; b() })
	close(start)
	wg.Wait()
}

// switchOff is the store's half of the recipient switching key delivery
// off, as keydelivery.SetKeyDelivery runs it.
func (g *garageDay) switchOff() ([]handoff.GrantRecord, error) {
	return g.db.SwitchKeyDelivery(t0ctx, g.garageID, false, grant.Transitions(grant.Revoke), g.db.Now().Add(g.garages.StepBound()), "switched off in a race")
}

func (g *garageDay) switchOn(t *testing.T) {
	t.Helper()
	if _, err := g.db.SwitchKeyDelivery(t0ctx, g.garageID, true, nil, g.db.Now(), ""); err != nil {
		t.Fatal(err)
	}
}

// settleRound ends a grant left in flight by a round, so that the stop is free
// for the next one.
func (g *garageDay) settleRound(t *testing.T, id, from string) {
	t.Helper()
	to, err := grant.Next(from, grant.DoorShut)
	if err != nil {
		t.Fatal(err)
	}
	if moved, _, err := g.db.MoveGrant(t0ctx, handoff.GrantMove{ID: id, From: from, To: to}); err != nil || !moved {
		t.Fatalf("settle %s from %s: moved %v, %v", id, from, moved, err)
	}
}

// TestGarageRevocationRacesTheOpenStep: the door reads open and the open
// call records it (opening → open, with the garage log, the parcel's
// event and the recipient's message) at the moment the recipient switches
// key delivery off (which revokes the grant and logs it). Both must
// succeed, whichever takes the grant first, and the grant ends revoking so
// that the door is closed: a database deadlock between the two is the
// associate's request failing with a 500 and the door left to the sweeper.
func TestGarageRevocationRacesTheOpenStep(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		g := newGarageDay(t, e)
		for i := range garageRaceRounds {
			id := fmt.Sprintf("gg_openrace%03d", i)
			rec := handoff.GrantRecord{GarageGrant: handoff.GarageGrant{ID: id, StopID: g.stopID, State: handoff.GrantPending,
				TrackingIDs: []string{g.parcel}, ExpiresAt: g.db.Now().Add(g.garages.GrantTTL)}, GarageID: g.garageID, AssociateID: g.da1}
			g.switchOn(t)
			if err := g.db.AddGrant(t0ctx, rec, handoff.GrantMove{Step: "requested", Detail: "requested"}); err != nil {
				t.Fatal(err)
			}
			g.crashAt(t, id, handoff.GrantPending, handoff.GrantOpening)
			var openErr, offErr error
			race(func() {
				_, _, openErr = g.db.MoveGrant(t0ctx, handoff.GrantMove{ID: id, From: handoff.GrantOpening, To: handoff.GrantOpen, Opened: true,
					Step: "opened", Event: tracking.GarageOpened, Note: "Garage opened for delivery", Detail: "Garage opened for delivery", Actor: g.da1, Notify: true})
			}, func() {
				_, offErr = g.switchOff()
			})
			if openErr != nil || offErr != nil {
				t.Fatalf("round %d: the open step answered %v, the switch %v", i, openErr, offErr)
			}
			if st := g.grantState(t, id); st != handoff.GrantRevoking {
				t.Fatalf("round %d: grant %s, want revoking", i, st)
			}
			g.settleRound(t, id, handoff.GrantRevoking)
		}
	})
}

// TestGarageRevocationRacesTheRequest: the associate's request writes its
// pending grant at the moment the recipient switches key delivery off, for
// the whole garage or for the parcel. Either the request is refused, or its
// grant is there for the revocation to end: never a live grant left behind
// after the switch committed.
func TestGarageRevocationRacesTheRequest(t *testing.T) {
	for _, c := range []struct {
		name string
		on   func(g *garageDay) error
		off  func(g *garageDay) error
	}{
		{name: "garage", on: func(g *garageDay) error {
			_, err := g.db.SwitchKeyDelivery(t0ctx, g.garageID, true, nil, g.db.Now(), "")
			return err
		}, off: func(g *garageDay) error {
			_, err := g.switchOff()
			return err
		}},
		{name: "parcel", on: func(g *garageDay) error {
			_, err := g.db.SwitchParcelKeyDelivery(t0ctx, garageContact, g.parcel, g.garageID, true, nil, g.db.Now(), "")
			return err
		}, off: func(g *garageDay) error {
			_, err := g.db.SwitchParcelKeyDelivery(t0ctx, garageContact, g.parcel, g.garageID, false, grant.Transitions(grant.Revoke),
				g.db.Now().Add(g.garages.StepBound()), "switched off in a race")
			return err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			eachEnv(t, func(t *testing.T, e *env) {
				g := newGarageDay(t, e)
				if c.name == "parcel" {
					if _, err := g.switchOff(); err != nil {
						t.Fatal(err)
					}
				}
				refused := 0
				for i := range garageRaceRounds {
					id := fmt.Sprintf("gg_askrace%03d", i)
					rec := handoff.GrantRecord{GarageGrant: handoff.GarageGrant{ID: id, StopID: g.stopID, State: handoff.GrantPending,
						TrackingIDs: []string{g.parcel}, ExpiresAt: g.db.Now().Add(g.garages.GrantTTL)}, GarageID: g.garageID, AssociateID: g.da1}
					if err := c.on(g); err != nil {
						t.Fatal(err)
					}
					var askErr, offErr error
					race(func() {
						askErr = g.db.AddGrant(t0ctx, rec, handoff.GrantMove{Step: "requested", Event: tracking.GarageAccessRequested,
							Note: "Garage access requested by the associate", Detail: "requested", Actor: g.da1, Notify: true})
					}, func() {
						offErr = c.off(g)
					})
					if offErr != nil {
						t.Fatalf("round %d: the switch answered %v", i, offErr)
					}
					if askErr != nil {
						if handoff.ErrorReason(askErr) != grant.ReasonKeyDeliveryOff {
							t.Fatalf("round %d: the request answered %v", i, askErr)
						}
						refused++
						continue
					}
					if st := g.grantState(t, id); st != handoff.GrantRevoked {
						t.Fatalf("round %d: grant %s after key delivery was switched off, want revoked", i, st)
					}
				}
				t.Logf("%d of %d requests refused, the rest revoked", refused, garageRaceRounds)
			})
		})
	}
}
