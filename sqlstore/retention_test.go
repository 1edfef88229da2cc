package sqlstore_test

import (
	"testing"
	"time"

	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// TestPrune deletes sent messages, dead letters and idempotency keys past
// their retention, in bounded batches, and keeps recent and pending ones.
func TestPrune(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		t0 := time.Now().UTC()
		at := func(d time.Duration) { db.Now = func() time.Time { return t0.Add(d) } }
		day := 24 * time.Hour
		at(0)
		p, _ := mustShipper(t, db)
		oldLabel, _, err := db.CreateShipment(ctx, p.ID, gbShipment("20"), "old-key")
		if err != nil {
			t.Fatal(err)
		}
		sqlstoretest.QueueSMS(t, db, 4)
		qs, err := db.ClaimNotifications(ctx, "sms", 4, time.Minute)
		if err != nil || len(qs) != 4 {
			t.Fatalf("claimed %d: %v", len(qs), err)
		}
		for _, q := range qs[:2] {
			if err := db.MarkSent(ctx, q.ID, q.Token); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.MarkFailed(ctx, qs[2].ID, qs[2].Token, "refused", t0, true); err != nil {
			t.Fatal(err)
		}
		// qs[3] stays pending, however old.
		if err := db.MarkFailed(ctx, qs[3].ID, qs[3].Token, "busy", t0.Add(365*day), false); err != nil {
			t.Fatal(err)
		}
		at(30*day + time.Hour)
		newLabel, _, err := db.CreateShipment(ctx, p.ID, gbShipment("20"), "new-key")
		if err != nil {
			t.Fatal(err)
		}
		sqlstoretest.QueueSMS(t, db, 1)
		recent, _ := db.ClaimNotifications(ctx, "sms", 1, time.Minute)
		if len(recent) != 1 || recent[0].ID == qs[3].ID {
			t.Fatalf("claimed %v", recent)
		}
		if err := db.MarkSent(ctx, recent[0].ID, recent[0].Token); err != nil {
			t.Fatal(err)
		}

		prune := func() {
			t.Helper()
			for range 20 {
				n, err := db.Prune(ctx, sqlstore.DefaultRetention(), 1)
				if err != nil {
					t.Fatal(err)
				}
				if n > 3 { // at most one of each kind a call
					t.Fatalf("pruned %d in one call with limit 1", n)
				}
				if n == 0 {
					return
				}
			}
			t.Fatal("pruning did not finish")
		}
		left := func(status string) map[string]bool {
			out := map[string]bool{}
			es, err := db.ListNotifications(ctx, status, 500)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es {
				out[e.ID] = true
			}
			return out
		}
		prune()
		if sent := left(sqlstore.StatusSent); len(sent) != 1 || !sent[recent[0].ID] {
			t.Errorf("sent messages left %v, want only the recent %s", sent, recent[0].ID)
		}
		if dead := left(sqlstore.StatusDead); !dead[qs[2].ID] {
			t.Error("a dead letter was deleted before its retention")
		}
		if pending := left(sqlstore.StatusPending); !pending[qs[3].ID] {
			t.Error("a pending message was deleted")
		}
		// The old key is forgotten: the same request makes a new label; the
		// recent one is still recognised.
		if s, replay, err := db.CreateShipment(ctx, p.ID, gbShipment("20"), "old-key"); err != nil || replay || s.ID == oldLabel.ID {
			t.Errorf("an idempotency key past retention still answers: %v %v", replay, err)
		}
		if s, replay, err := db.CreateShipment(ctx, p.ID, gbShipment("20"), "new-key"); err != nil || !replay || s.ID != newLabel.ID {
			t.Errorf("a recent idempotency key forgotten: %v %v", replay, err)
		}

		at(91 * day)
		prune()
		if dead := left(sqlstore.StatusDead); len(dead) != 0 {
			t.Errorf("dead letters past retention left: %v", dead)
		}
		if pending := left(sqlstore.StatusPending); !pending[qs[3].ID] {
			t.Error("a pending message was deleted")
		}
	})
}

// TestLease gives a lease to one node at a time until it expires or is
// released.
func TestLease(t *testing.T) {
	sqlstoretest.EachNodes(t, 2, func(t *testing.T, nodes []*sqlstore.DB) {
		a, b := nodes[0], nodes[1]
		now := time.Now()
		a.Now = func() time.Time { return now }
		b.Now = a.Now
		take := func(db *sqlstore.DB, holder string, want bool) {
			t.Helper()
			if got, err := db.TryLease(ctx, "job", holder, time.Minute); err != nil || got != want {
				t.Fatalf("%s took the lease: %v (%v), want %v", holder, got, err, want)
			}
		}
		take(a, "a", true)
		take(b, "b", false)
		take(a, "a", true) // renewed
		now = now.Add(59 * time.Second)
		take(b, "b", false)
		if err := b.ReleaseLease(ctx, "job", "b"); err != nil {
			t.Fatal(err)
		}
		take(b, "b", false) // b cannot release a's
		if err := a.ReleaseLease(ctx, "job", "a"); err != nil {
			t.Fatal(err)
		}
		take(b, "b", true)
		now = now.Add(time.Minute)
		take(a, "a", true) // b's expired
	})
}
