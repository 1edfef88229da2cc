package api_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/handoff-dev/handoff"
	"github.com/handoff-dev/handoff/keydelivery"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// crashAt leaves the store as a node leaves it when it is killed in the
// middle of a garage step: the step's claim committed (the grant moved to
// to, with the step deadline the node set), the command went to the door,
// and nothing after it was written.
func (g *garageDay) crashAt(t *testing.T, grantID, from, to string) {
	t.Helper()
	if _, _, err := g.db.MoveGrant(t0ctx, handoff.GrantMove{ID: grantID, From: from, To: to, StepUntil: g.db.Now().Add(g.garages.StepBound())}); err != nil {
		t.Fatal(err)
	}
}

// crashWhileOpening is a node killed while the door it was told to open
// moves: the open request was written and claimed, and the open command
// sent; the associate's request died with the node.
func (g *garageDay) crashWhileOpening(t *testing.T) string {
	t.Helper()
	now := g.db.Now()
	id := "gg_crashedwhileopen"
	rec := handoff.GrantRecord{GarageGrant: handoff.GarageGrant{ID: id, StopID: g.stopID, State: handoff.GrantPending,
		TrackingIDs: []string{g.parcel}, ExpiresAt: now.Add(g.garages.GrantTTL)}, GarageID: g.garageID, AssociateID: g.da1}
	if err := g.db.AddGrant(t0ctx, rec, handoff.GrantMove{Step: "requested", Detail: "Garage access requested by the associate"}); err != nil {
		t.Fatal(err)
	}
	g.crashAt(t, id, handoff.GrantPending, handoff.GrantOpening)
	return id
}

// restarted is the garage service of a node started on the same database
// after the crash: it shares nothing with the dead one but the store, the
// keys and the settings.
func (g *garageDay) restarted() *keydelivery.Service {
	s := keydelivery.New(g.db, g.db.Keys, g.garages.Log)
	s.Settings, s.Now = g.garages.Settings, g.garages.Now
	return s
}

func (g *garageDay) grantState(t *testing.T, id string) string {
	t.Helper()
	rec, err := g.db.FindGrant(t0ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return rec.State
}

// TestGarageOpeningInterruptedByCrash: the node opening a garage is killed
// while the door moves. Until the step's deadline the grant is the dead
// node's: the sweeper leaves it and new requests are refused. Past it, the
// server reads the door's real state and closes it if it is not closed —
// or, if it will not close, alerts the recipient and customer service.
func TestGarageOpeningInterruptedByCrash(t *testing.T) {
	for _, door := range []struct {
		name   string
		open   bool // the door opened before the crash
		stuck  bool // and will not close again
		closes bool // the server sends a close command
	}{
		{name: "door open", open: true, closes: true},
		{name: "door never moved"},
		{name: "door stuck open", open: true, stuck: true, closes: true},
	} {
		t.Run(door.name, func(t *testing.T) {
			eachEnv(t, func(t *testing.T, e *env) {
				g := newGarageDay(t, e)
				cs := e.do("POST", "/v1/admin/agents", adminToken, map[string]any{"name": "C"}).JSON(t)["apiKey"].(string)
				id := g.crashWhileOpening(t)
				if door.open {
					g.og.Set(1, door.stuck, 0)
				}
				node := g.restarted()

				// Within the step's deadline the dead node might still be
				// alive: nothing is touched, and the stop's grant is in use.
				if n, err := node.SweepGarageGrants(t0ctx); err != nil || n != 0 {
					t.Fatalf("sweep within the deadline = %d, %v", n, err)
				}
				if _, cmds := g.og.Snapshot(); len(cmds) != 0 {
					t.Fatalf("the door was commanded within the deadline: %v", cmds)
				}
				if p := problem(t, g.open(g.da1Key), 409, ""); p["reason"] != "grant_in_use" {
					t.Errorf("open during the step: %v", p)
				}

				later := g.db.Now().Add(g.garages.StepBound() + time.Second)
				e.db.Now = func() time.Time { return later }
				if n, err := node.SweepGarageGrants(t0ctx); err != nil || n != 1 {
					t.Fatalf("sweep past the deadline = %d, %v", n, err)
				}
				doorNow, cmds := g.og.Snapshot()
				if door.closes != slices.Contains(cmds, "close") {
					t.Errorf("close sent %v, want %v (commands %v)", !door.closes, door.closes, cmds)
				}
				cases := g.garageCases(t, cs)
				alerted := g.told(t, "close_failed")
				if door.stuck {
					if st := g.grantState(t, id); st != handoff.GrantCloseFailed {
						t.Fatalf("grant %s", st)
					}
					if len(cases) != 1 || !alerted {
						t.Fatalf("a door left open after a crash: cases %v, recipient alerted %v", cases, alerted)
					}
					// The stop cannot be finished as a normal delivery, and
					// sweeping again alerts nobody twice.
					problem(t, g.do("POST", "/v1/associate/stops/"+g.stopID+"/deliver", g.da1Key, map[string]any{"place": "DeliveredToCustomer"}), 409, "")
					if n, err := node.SweepGarageGrants(t0ctx); err != nil || n != 0 || len(g.garageCases(t, cs)) != 1 {
						t.Fatalf("second sweep = %d, %v, cases %v", n, err, g.garageCases(t, cs))
					}
					return
				}
				if doorNow != 0 {
					t.Fatal("the door is left open")
				}
				if st := g.grantState(t, id); st != handoff.GrantFailed {
					t.Fatalf("grant %s, want failed", st)
				}
				if len(cases) != 0 || alerted {
					t.Errorf("an alert for a door that closed: cases %v, alerted %v", cases, alerted)
				}
				if ev := g.events(g.parcel); strings.HasPrefix(ev[len(ev)-1], "Delivered") || !slices.Contains(ev, "GarageAccessFailed") {
					t.Errorf("events = %v", ev)
				}
				// The stop is free again: the associate can try once more.
				r := g.open(g.da1Key)
				if r.Status != 200 {
					t.Fatalf("open after recovery: %d %s", r.Status, r.Body)
				}
				c := g.do("POST", "/v1/associate/stops/"+g.stopID+"/garage/close", g.da1Key, map[string]any{"grantId": r.JSON(t)["grantId"]})
				if c.Status != 200 || len(c.JSON(t)["delivered"].([]any)) != 1 {
					t.Fatalf("close after recovery: %d %s", c.Status, c.Body)
				}
			})
		})
	}
}

// TestGarageClosingInterruptedByCrash: the node closing a garage is killed
// after the close command went out. Past the deadline the server reads the
// door: it is closed, so nothing is sent, and the parcels the associate
// left are delivered, as the close call would have done.
func TestGarageClosingInterruptedByCrash(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		g := newGarageDay(t, e)
		cs := e.do("POST", "/v1/admin/agents", adminToken, map[string]any{"name": "C"}).JSON(t)["apiKey"].(string)
		r := g.open(g.da1Key)
		if r.Status != 200 {
			t.Fatalf("open: %d %s", r.Status, r.Body)
		}
		id := r.JSON(t)["grantId"].(string)
		g.crashAt(t, id, handoff.GrantOpen, handoff.GrantClosing)
		g.og.Set(0, false, 0) // the close command reached the door

		problem(t, g.do("POST", "/v1/associate/stops/"+g.stopID+"/garage/close", g.da1Key, map[string]any{"grantId": id}), 409, "")
		later := g.db.Now().Add(g.garages.StepBound() + time.Second)
		e.db.Now = func() time.Time { return later }
		if n, err := g.restarted().SweepGarageGrants(t0ctx); err != nil || n != 1 {
			t.Fatalf("sweep = %d, %v", n, err)
		}
		if _, cmds := g.og.Snapshot(); !slices.Equal(cmds, []string{"open"}) {
			t.Errorf("commands %v: a closed door was commanded", cmds)
		}
		if st := g.grantState(t, id); st != handoff.GrantClosed {
			t.Fatalf("grant %s", st)
		}
		if ev := g.events(g.parcel); ev[len(ev)-1] != "Delivered/DeliveredToGarage" {
			t.Errorf("events = %v", ev)
		}
		if len(g.garageCases(t, cs)) != 0 || g.told(t, "close_failed") {
			t.Error("an alert for a door that closed")
		}
	})
}

// garageCases returns the open garage cases, as customer service (key cs)
// sees them.
func (g *garageDay) garageCases(t *testing.T, cs string) []any {
	t.Helper()
	var out []any
	for _, c := range g.do("GET", "/v1/cases?status=open", cs, nil).JSON(t)["cases"].([]any) {
		if c.(map[string]any)["kind"] == "garage" {
			out = append(out, c)
		}
	}
	return out
}

// told reports whether the recipient was sent a garage message with note.
func (g *garageDay) told(t *testing.T, note string) bool {
	t.Helper()
	msgs := sqlstoretest.Notifications(t, g.db, g.parcel)
	return slices.ContainsFunc(msgs, func(m sqlstoretest.Notification) bool { return m.Kind == "garage" && m.Data["note"] == note })
}
