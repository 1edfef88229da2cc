package api_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/garage"
	"github.com/handoff-dev/handoff/garage/garagetest"
	"github.com/handoff-dev/handoff/grant"
	"github.com/handoff-dev/handoff/keydelivery"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// garageDay is a delivery day with a recipient who enrolled an OpenGarage
// opener at her address and switched key delivery on.
type garageDay struct {
	*day
	og       *garagetest.FakeOpenGarage
	garageID string
	parcel   string
	stopID   string
}

const garageContact = "+447700900777"

// newGarageDay makes a day whose one parcel, labelled with the delivery
// preferences given if any, may go into the recipient's garage.
func newGarageDay(t *testing.T, e *env, prefs ...map[string]any) *garageDay {
	t.Helper()
	// Bounds short enough for a test, long enough for a loaded CI machine.
	e.garages.OpenWithin, e.garages.CloseWithin, e.garages.PollInterval = 1500*time.Millisecond, 1500*time.Millisecond, 20*time.Millisecond
	e.garages.Timeouts = garage.Timeouts{Call: time.Second, Retries: 0, AllowPrivate: true}
	g := &garageDay{day: newDay(t, e, monday), og: garagetest.StartOpenGarage(t, "dkey-s3cr3t-value")}
	g.parcel = g.label("Gwen", "77 Garage Lane", "07700900777", "40", "books", prefs...)
	gar, err := e.garages.EnrollGarage(t0ctx, garageContact, handoff.GarageEnrollment{Kind: garage.KindOpenGarage, Label: "Home", AddressLine1: "77 garage lane",
		PostalCode: "12345", URL: g.og.Srv.URL, DeviceKey: "dkey-s3cr3t-value"})
	if err != nil {
		t.Fatal(err)
	}
	g.garageID = gar.ID
	if err := e.garages.SetKeyDelivery(t0ctx, garageContact, gar.ID, true); err != nil {
		t.Fatal(err)
	}
	g.receive(g.parcel)
	stop := stopOf(t, g.route("2026-11-23", []any{map[string]any{"trackingId": g.parcel}}), g.parcel)
	if stop["needs"].(map[string]any)["garage"] != (len(prefs) == 0) {
		t.Fatalf("stop does not need the garage: %v", stop["needs"])
	}
	g.stopID = stop["stopId"].(string)
	return g
}

func (g *garageDay) open(key string) resp {
	return g.do("POST", "/v1/associate/stops/"+g.stopID+"/garage/open", key, nil)
}

func TestGarageDelivery(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		g := newGarageDay(t, e)
		// Only the route's associate, and only in the window.
		problem(t, g.open(g.da2Key), 404, "")
		late := monday.Add(11 * time.Hour) // 21:00 London
		e.db.Now = func() time.Time { return late }
		problem(t, g.open(g.da1Key), 409, "")
		e.db.Now = func() time.Time { return monday }

		r := g.open(g.da1Key)
		if r.Status != 200 {
			t.Fatalf("open: %d %s", r.Status, r.Body)
		}
		grant := r.JSON(t)["grantId"].(string)
		if door, _ := g.og.Snapshot(); door != 1 {
			t.Fatal("the door did not open")
		}
		// The grant opens once.
		problem(t, g.open(g.da1Key), 409, "")
		c := g.do("POST", "/v1/associate/stops/"+g.stopID+"/garage/close", g.da1Key, map[string]any{"grantId": grant})
		if c.Status != 200 || len(c.JSON(t)["delivered"].([]any)) != 1 {
			t.Fatalf("close: %d %s", c.Status, c.Body)
		}
		if door, _ := g.og.Snapshot(); door != 0 {
			t.Fatal("the door is not closed")
		}
		problem(t, g.do("POST", "/v1/associate/stops/"+g.stopID+"/garage/close", g.da1Key, map[string]any{"grantId": grant}), 409, "")
		ev := g.events(g.parcel)
		if ev[len(ev)-1] != "Delivered/DeliveredToGarage" || !strings.Contains(strings.Join(ev, ","), "GarageOpened,GarageClosed") {
			t.Errorf("events = %v", ev)
		}
		log, _ := e.garages.GarageLog(t0ctx, garageContact)
		var steps []string
		for _, l := range log {
			steps = append(steps, l.Step)
		}
		for _, want := range []string{"enrolled", "key_delivery_on", "requested", "opened", "closed"} {
			if !strings.Contains(","+strings.Join(steps, ",")+",", ","+want+",") {
				t.Errorf("garage log %v lacks %s", steps, want)
			}
		}
		msgs := sqlstoretest.Notifications(t, e.db, g.parcel)
		var told int
		for _, m := range msgs {
			if m.Kind == "garage" {
				told++
			}
		}
		if told < 3 {
			t.Errorf("recipient told of %d garage steps", told)
		}
		// No answer, page or log line an associate could see holds the key.
		assertNoSecret(t, e, "dkey-s3cr3t-value")
	})
}

func TestGarageDoorThatStaysOpen(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		g := newGarageDay(t, e)
		grant := g.open(g.da1Key).JSON(t)["grantId"].(string)
		g.og.Set(1, true, 0)
		problem(t, g.do("POST", "/v1/associate/stops/"+g.stopID+"/garage/close", g.da1Key, map[string]any{"grantId": grant}), 503, "")
		cs := e.do("POST", "/v1/admin/agents", adminToken, map[string]any{"name": "C"}).JSON(t)["apiKey"].(string)
		cases := g.do("GET", "/v1/cases?status=open", cs, nil).JSON(t)["cases"].([]any)
		if len(cases) != 1 || cases[0].(map[string]any)["kind"] != "garage" {
			t.Fatalf("cases = %v", cases)
		}
		msgs := sqlstoretest.Notifications(t, e.db, g.parcel)
		alerted := false
		for _, m := range msgs {
			if m.Kind == "garage" && m.Data["note"] == "close_failed" {
				alerted = true
			}
		}
		if !alerted {
			t.Error("the recipient was not alerted")
		}
		// The stop cannot be finished as a normal delivery.
		problem(t, g.do("POST", "/v1/associate/stops/"+g.stopID+"/deliver", g.da1Key, map[string]any{"place": "DeliveredToCustomer"}), 409, "")
		if ev := g.events(g.parcel); strings.HasPrefix(ev[len(ev)-1], "Delivered") {
			t.Errorf("delivered although the door stayed open: %v", ev)
		}
		problem(t, g.open(g.da1Key), 409, "")
		// Customer service deals with it; the stop can be finished again.
		caseID := cases[0].(map[string]any)["caseId"].(string)
		if r := g.do("POST", "/v1/cases/"+caseID+"/close", cs, map[string]any{"outcome": "no_action", "note": "door closed by the owner"}); r.Status != 200 {
			t.Fatalf("close case: %d %s", r.Status, r.Body)
		}
		if r := g.do("POST", "/v1/associate/stops/"+g.stopID+"/deliver", g.da1Key, map[string]any{"place": "DeliveredToCustomer"}); r.Status != 200 {
			t.Fatalf("deliver after the case: %d %s", r.Status, r.Body)
		}
	})
}

func TestGarageDeviceTimesOut(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		g := newGarageDay(t, e)
		g.og.Set(0, false, 5*time.Second)
		problem(t, g.open(g.da1Key), 503, "")
		g.og.Set(0, false, 0)
		if door, cmds := g.og.Snapshot(); door != 0 || len(cmds) != 0 {
			t.Fatalf("door %d, commands %v: the door was touched", door, cmds)
		}
	})
}

func TestGarageRevocationWins(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		g := newGarageDay(t, e)
		var wg sync.WaitGroup
		var openStatus int
		wg.Add(2)
		go func() { defer wg.Done(); openStatus = g.open(g.da1Key).Status }()
		go func() {
			defer wg.Done()
			if err := e.garages.SetKeyDelivery(t0ctx, garageContact, g.garageID, false); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		// The open call succeeded before the switch, or was refused
		// (403: switched off meanwhile; 409: nothing eligible any more);
		// never a 500, which is the database failing one of the two.
		if openStatus != 200 && openStatus != 403 && openStatus != 409 {
			t.Fatalf("open answered %d", openStatus)
		}
		// Whatever the order, once key delivery is off the door ends closed
		// and nothing is delivered to the garage: a door that opened before
		// the switch was closed by it.
		if door, _ := g.og.Snapshot(); door != 0 {
			t.Fatalf("door left open (open answered %d)", openStatus)
		}
		// A request after the switch is refused (409: either the one grant
		// is in use, or key delivery is off and nothing is eligible).
		if r := g.open(g.da1Key); r.Status == 200 {
			t.Fatalf("opened after key delivery was switched off: %s", r.Body)
		}
	})
}

// revokeOnRead is key delivery's store with the recipient switching key
// delivery off just before the open call reads back the grant it claimed:
// the narrowest gap between the claim and the door.
type revokeOnRead struct {
	keydelivery.Store
	once   sync.Once
	revoke func()
	id     string
}

func (r *revokeOnRead) FindGrant(ctx context.Context, id string) (*handoff.GrantRecord, error) {
	r.once.Do(func() { r.id = id; r.revoke() })
	return r.Store.FindGrant(ctx, id)
}

// TestGarageRevokedAfterClaim: key delivery switched off after the open call
// claimed its grant but before it commanded the door. The door is never
// opened, the call is refused (403), and the grant ends revoked, not left
// in flight for the sweeper with the door open.
func TestGarageRevokedAfterClaim(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		g := newGarageDay(t, e)
		store := e.garages.Store
		hook := &revokeOnRead{Store: store, revoke: func() {
			if err := e.garages.SetKeyDelivery(t0ctx, garageContact, g.garageID, false); err != nil {
				t.Error(err)
			}
		}}
		e.garages.Store = hook
		defer func() { e.garages.Store = store }()
		r := g.open(g.da1Key)
		problem(t, r, 403, "")
		// Not moved at all: its owner may be using it.
		if door, cmds := g.og.Snapshot(); door != 0 || slices.Contains(cmds, "open") || slices.Contains(cmds, "close") {
			t.Fatalf("door %d, commands %v after a refused open", door, cmds)
		}
		if gr, err := store.FindGrant(t0ctx, hook.id); err != nil || gr.State != handoff.GrantRevoked {
			t.Fatalf("grant %+v, %v; want %s", gr, err, handoff.GrantRevoked)
		}
	})
}

// sweepOnRead is key delivery's store with the sweeper taking the open
// call's grant over (the call looks dead to it: the clock past the step's
// deadline) just after the call read the grant as opening, before the call
// commands the door.
type sweepOnRead struct {
	keydelivery.Store
	first atomic.Bool // only the first read sweeps; later ones (a retry's) pass
	sweep func()
	id    string
}

func (r *sweepOnRead) FindGrant(ctx context.Context, id string) (*handoff.GrantRecord, error) {
	g, err := r.Store.FindGrant(ctx, id)
	if r.first.CompareAndSwap(false, true) {
		r.id = id
		r.sweep()
	}
	return g, err
}

// sweepAfter runs the sweeper once with the clock moved on by d, as a node
// whose clock reached it would, and wants it to have settled want grants.
func sweepAfter(t *testing.T, e *env, d time.Duration, want int) {
	t.Helper()
	now := e.db.Now
	later := now().Add(d)
	e.db.Now = func() time.Time { return later }
	defer func() { e.db.Now = now }()
	if n, err := e.garages.SweepGarageGrants(t0ctx); err != nil || n != want {
		t.Errorf("sweep = %d, %v; want %d", n, err, want)
	}
}

// sweeperClaims claims the stale grants as another node's sweeper would
// once the call's step deadline is past, and wants the one grant in flight,
// in state when state is not "".
func sweeperClaims(t *testing.T, e *env, state string) {
	t.Helper()
	bound := e.garages.StepBound()
	later := e.db.Now().Add(bound + time.Second)
	claimed, err := e.garages.Store.ClaimStaleGrants(t0ctx, grant.InFlightStates(), later, later.Add(bound))
	if err != nil || len(claimed) != 1 || (state != "" && claimed[0].State != state) {
		t.Errorf("the sweeper's claim = %+v, %v; want the grant in flight", claimed, err)
	}
}

// wantStuckAlert wants the grant close_failed, with one garage case for
// customer service and the recipient told.
func (g *garageDay) wantStuckAlert(t *testing.T, e *env, grantID string) {
	t.Helper()
	if gr, err := e.garages.Store.FindGrant(t0ctx, grantID); err != nil || gr.State != handoff.GrantCloseFailed {
		t.Fatalf("grant %+v, %v; want %s", gr, err, handoff.GrantCloseFailed)
	}
	cs := e.do("POST", "/v1/admin/agents", adminToken, map[string]any{"name": "C"}).JSON(t)["apiKey"].(string)
	if cases := g.garageCases(t, cs); len(cases) != 1 {
		t.Fatalf("garage cases = %v", cases)
	}
	if !g.told(t, "close_failed") {
		t.Error("the recipient was not alerted")
	}
}

// TestGarageSweptWhileOpening: the sweeper settles an opening grant (the
// door read closed) while its open call goes on to open the door. The call
// finds its grant gone and closes the door itself: nobody else would. It
// answers 503, and nothing is delivered.
func TestGarageSweptWhileOpening(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		g := newGarageDay(t, e)
		store := e.garages.Store
		hook := &sweepOnRead{Store: store, sweep: func() { sweepAfter(t, e, e.garages.StepBound()+time.Second, 1) }}
		e.garages.Store = hook
		defer func() { e.garages.Store = store }()
		r := g.open(g.da1Key)
		if door, cmds := g.og.Snapshot(); door != 0 || !slices.Contains(cmds, "close") {
			t.Fatalf("door %d, commands %v after an open whose grant the sweeper settled (%d %s)", door, cmds, r.Status, r.Body)
		}
		problem(t, r, 503, "")
		gr, err := store.FindGrant(t0ctx, hook.id)
		if err != nil || gr.State != handoff.GrantFailed || len(gr.Delivered) != 0 {
			t.Fatalf("grant %+v, %v; want %s with nothing delivered", gr, err, handoff.GrantFailed)
		}
	})
}

// TestGarageOpenOutlastsItsStep: another node's sweeper has claimed the
// opening grant (the open call outlasted its step) and is still at work on
// it, about to close the door, when the call has opened the door. The call
// does not move the grant to open: the associate would be told the garage is
// open while the sweeper closes it. It closes the door and answers 503, and
// the sweeper's next pass settles the grant as failed, nothing delivered.
func TestGarageOpenOutlastsItsStep(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		g := newGarageDay(t, e)
		store := e.garages.Store
		bound := e.garages.StepBound()
		hook := &sweepOnRead{Store: store, sweep: func() { sweeperClaims(t, e, handoff.GrantOpening) }}
		e.garages.Store = hook
		defer func() { e.garages.Store = store }()
		r := g.open(g.da1Key)
		problem(t, r, 503, "")
		if door, cmds := g.og.Snapshot(); door != 0 || !slices.Contains(cmds, "close") {
			t.Fatalf("door %d, commands %v after an open whose step the sweeper had taken over", door, cmds)
		}
		if gr, err := store.FindGrant(t0ctx, hook.id); err != nil || gr.State != handoff.GrantOpening {
			t.Fatalf("grant %+v, %v; want it still opening, the sweeper's", gr, err)
		}
		sweepAfter(t, e, 3*bound+time.Second, 1) // past the sweeper's own lease
		gr, err := store.FindGrant(t0ctx, hook.id)
		if err != nil || gr.State != handoff.GrantFailed || len(gr.Delivered) != 0 {
			t.Fatalf("grant %+v, %v; want %s with nothing delivered", gr, err, handoff.GrantFailed)
		}
	})
}

// TestGarageOpenFailsAfterItsStep: the open call's door does not answer
// in time, and meanwhile the sweeper took the call's step over (it took the
// call for dead). The call answers 503 but leaves the grant to the sweeper:
// when the door turns out to have opened after all and sticks open, the
// sweeper's move to close_failed alerts the recipient and opens a case.
// Before, the call settled the grant as failed under the sweeper, whose
// move then found nothing to move, and nobody was told.
func TestGarageOpenFailsAfterItsStep(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		g := newGarageDay(t, e)
		store := e.garages.Store
		bound := e.garages.StepBound()
		hook := &sweepOnRead{Store: store, sweep: func() {
			sweeperClaims(t, e, "")
			g.og.Set(0, false, 3*time.Second) // the door stops answering
		}}
		e.garages.Store = hook
		defer func() { e.garages.Store = store }()
		problem(t, g.open(g.da1Key), 503, "")
		if gr, err := store.FindGrant(t0ctx, hook.id); err != nil || gr.State != handoff.GrantOpening {
			t.Fatalf("grant %+v, %v; want it still opening, the sweeper's", gr, err)
		}
		g.og.Set(1, true, 0)                     // it had opened after all, and sticks
		sweepAfter(t, e, 3*bound+time.Second, 1) // past the sweeper's own lease
		g.wantStuckAlert(t, e, hook.id)
	})
}

// TestGarageOpenedLateAndStuck: as TestGarageSweptWhileOpening and
// TestGarageOpenOutlastsItsStep, but the door, opened by the call after the
// sweeper took its step over, sticks open. Whether the sweeper had settled
// the grant (failed: it read the door closed before it opened) or still
// holds it, the grant ends close_failed: the recipient is alerted, customer
// service has a case, and the stop cannot be finished as a delivery.
func TestGarageOpenedLateAndStuck(t *testing.T) {
	for _, settled := range []bool{true, false} {
		name := "the sweeper holds the grant"
		if settled {
			name = "the sweeper settled the grant"
		}
		t.Run(name, func(t *testing.T) {
			eachEnv(t, func(t *testing.T, e *env) {
				g := newGarageDay(t, e)
				store := e.garages.Store
				bound := e.garages.StepBound()
				hook := &sweepOnRead{Store: store, sweep: func() {
					if settled {
						sweepAfter(t, e, bound+time.Second, 1)
					} else {
						sweeperClaims(t, e, "")
					}
					g.og.Set(0, true, 0) // from now on the door opens but will not close
				}}
				e.garages.Store = hook
				defer func() { e.garages.Store = store }()
				r := g.open(g.da1Key)
				problem(t, r, 503, "")
				if reason := r.JSON(t)["reason"]; reason != grant.ReasonDoorStuck {
					t.Errorf("reason %v, want %s", reason, grant.ReasonDoorStuck)
				}
				g.wantStuckAlert(t, e, hook.id)
				problem(t, g.do("POST", "/v1/associate/stops/"+g.stopID+"/deliver", g.da1Key, map[string]any{"place": "DeliveredToCustomer"}), 409, "")
			})
		})
	}
}

// TestGarageRetriedWhileSwept: as TestGarageSweptWhileOpening, but the
// associate's retried request has opened the door under a new grant by the
// time the first call finds its own grant settled: the first call leaves
// the door to the new grant (409) instead of closing it under it.
func TestGarageRetriedWhileSwept(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		g := newGarageDay(t, e)
		store := e.garages.Store
		var retry *resp
		hook := &sweepOnRead{Store: store}
		hook.sweep = func() {
			sweepAfter(t, e, e.garages.StepBound()+time.Second, 1)
			rr := g.open(g.da1Key)
			retry = &rr
		}
		e.garages.Store = hook
		defer func() { e.garages.Store = store }()
		r := g.open(g.da1Key)
		if retry == nil || retry.Status != 200 {
			t.Fatalf("retried open: %+v", retry)
		}
		if door, cmds := g.og.Snapshot(); door != 1 || slices.Contains(cmds, "close") {
			t.Fatalf("door %d, commands %v: closed under the retried request's grant", door, cmds)
		}
		problem(t, r, 409, "")
	})
}

// TestGarageDeliveryHomeAssistant runs the same delivery through an opener
// behind Home Assistant's REST API.
func TestGarageDeliveryHomeAssistant(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		e.garages.OpenWithin, e.garages.CloseWithin, e.garages.PollInterval = 1500*time.Millisecond, 1500*time.Millisecond, 20*time.Millisecond
		d := newDay(t, e, monday)
		ha := garagetest.StartHomeAssistant(t, "ha-long-lived-token-s3cr3t", "cover.garage_door")
		parcel := d.label("Hal", "8 Assistant Way", "07700900888", "35", "books")
		g, err := e.garages.EnrollGarage(t0ctx, "+447700900888", handoff.GarageEnrollment{Kind: garage.KindHomeAssistant, Label: "HA", AddressLine1: "8 Assistant Way",
			PostalCode: "12345", URL: ha.Srv.URL, Token: "ha-long-lived-token-s3cr3t", EntityID: "cover.garage_door"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.garages.SetParcelKeyDelivery(t0ctx, "+447700900888", parcel, g.ID, true); err != nil {
			t.Fatal(err)
		}
		d.receive(parcel)
		stopID := stopOf(t, d.route("2026-11-23", []any{map[string]any{"trackingId": parcel}}), parcel)["stopId"].(string)
		r := d.do("POST", "/v1/associate/stops/"+stopID+"/garage/open", d.da1Key, map[string]any{})
		if r.Status != 200 || ha.Current() != "open" {
			t.Fatalf("open: %d %s (cover %s)", r.Status, r.Body, ha.Current())
		}
		c := d.do("POST", "/v1/associate/stops/"+stopID+"/garage/close", d.da1Key, map[string]any{"grantId": r.JSON(t)["grantId"]})
		if c.Status != 200 || ha.Current() != "closed" {
			t.Fatalf("close: %d %s (cover %s)", c.Status, c.Body, ha.Current())
		}
		if ev := d.events(parcel); ev[len(ev)-1] != "Delivered/DeliveredToGarage" {
			t.Errorf("events = %v", ev)
		}
		assertNoSecret(t, e, "ha-long-lived-token-s3cr3t")
	})
}

// TestGarageDoorNeverLeftOpen: switching key delivery off while the door is
// open closes it at once; a door nobody closes is closed by the server when
// the grant's time is up. Neither delivers the parcel.
func TestGarageDoorNeverLeftOpen(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		g := newGarageDay(t, e)
		grant := g.open(g.da1Key).JSON(t)["grantId"].(string)
		if err := e.garages.SetKeyDelivery(t0ctx, garageContact, g.garageID, false); err != nil {
			t.Fatal(err)
		}
		if door, _ := g.og.Snapshot(); door != 0 {
			t.Fatal("the door stayed open after key delivery was switched off")
		}
		problem(t, g.do("POST", "/v1/associate/stops/"+g.stopID+"/garage/close", g.da1Key, map[string]any{"grantId": grant}), 409, "")

		// Again, and this time nobody closes it.
		if err := e.garages.SetKeyDelivery(t0ctx, garageContact, g.garageID, true); err != nil {
			t.Fatal(err)
		}
		grant = g.open(g.da1Key).JSON(t)["grantId"].(string)
		later := monday.Add(6 * time.Minute)
		e.db.Now = func() time.Time { return later }
		if n, err := e.garages.SweepGarageGrants(t0ctx); err != nil || n != 1 {
			t.Fatalf("sweep = %d, %v", n, err)
		}
		if door, _ := g.og.Snapshot(); door != 0 {
			t.Fatal("an expired grant left the door open")
		}
		problem(t, g.do("POST", "/v1/associate/stops/"+g.stopID+"/garage/close", g.da1Key, map[string]any{"grantId": grant}), 409, "")
		if ev := g.events(g.parcel); strings.HasPrefix(ev[len(ev)-1], "Delivered") {
			t.Errorf("delivered without a confirmed close: %v", ev)
		}
	})
}
