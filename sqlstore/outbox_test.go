package sqlstore_test

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/notify"
	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

// TestClaimHonoursLimit claims from a backlog larger than the limit: each
// claim takes at most limit messages, none twice, until all are taken.
func TestClaimHonoursLimit(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		sqlstoretest.QueueSMS(t, db, 45)
		seen := map[string]bool{}
		for i := range 3 {
			qs, err := db.ClaimNotifications(ctx, "sms", 20, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if want := min(20, 45-20*i); len(qs) != want {
				t.Fatalf("claim %d took %d messages, want %d", i+1, len(qs), want)
			}
			for _, q := range qs {
				if seen[q.ID] {
					t.Fatalf("%s claimed twice under a live lease", q.ID)
				}
				seen[q.ID] = true
			}
		}
	})
}

// TestLostClaimSettlesNothing lets a lease end and another node claim the
// message: the first claimant can neither renew nor settle it.
func TestLostClaimSettlesNothing(t *testing.T) {
	sqlstoretest.EachNodes(t, 2, func(t *testing.T, nodes []*sqlstore.DB) {
		a, b := nodes[0], nodes[1]
		sqlstoretest.QueueSMS(t, a, 1)
		first, err := a.ClaimNotifications(ctx, "sms", 10, time.Second)
		if err != nil || len(first) != 1 {
			t.Fatalf("first claim: %d, %v", len(first), err)
		}
		later := time.Now().Add(time.Minute)
		b.Now = func() time.Time { return later }
		second, err := b.ClaimNotifications(ctx, "sms", 10, time.Minute)
		if err != nil || len(second) != 1 || second[0].ID != first[0].ID {
			t.Fatalf("claim after the lease: %v, %v", second, err)
		}
		q := first[0]
		if held, err := a.RenewNotifications(ctx, q.Token, []string{q.ID}, time.Minute); err != nil || len(held) != 0 {
			t.Errorf("renewed a lost claim: %v, %v", held, err)
		}
		if err := a.MarkSent(ctx, q.ID, q.Token); !errors.Is(err, notify.ErrLeaseLost) {
			t.Errorf("mark sent on a lost claim: %v", err)
		}
		if err := a.MarkFailed(ctx, q.ID, q.Token, "x", later, true); !errors.Is(err, notify.ErrLeaseLost) {
			t.Errorf("mark failed on a lost claim: %v", err)
		}
		if err := b.MarkSent(ctx, q.ID, second[0].Token); err != nil {
			t.Errorf("mark sent by the holder: %v", err)
		}
	})
}

// TestMarkSentAllMarksOnlyHeldClaims marks three messages sent in one call
// after another node took one of them over: the two still held are marked,
// the lost one is left to its new claimant, and marking again marks nothing.
func TestMarkSentAllMarksOnlyHeldClaims(t *testing.T) {
	sqlstoretest.EachNodes(t, 2, func(t *testing.T, nodes []*sqlstore.DB) {
		a, b := nodes[0], nodes[1]
		sqlstoretest.QueueSMS(t, a, 3)
		first, err := a.ClaimNotifications(ctx, "sms", 10, time.Second)
		if err != nil || len(first) != 3 {
			t.Fatalf("first claim: %d, %v", len(first), err)
		}
		// b takes over one message after the lease, as a node would.
		if err := a.ReleaseNotification(ctx, first[2].ID, first[2].Token, time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		second, err := b.ClaimNotifications(ctx, "sms", 10, time.Minute)
		if err != nil || len(second) != 1 || second[0].ID != first[2].ID {
			t.Fatalf("claim of the released message: %v, %v", second, err)
		}
		ids := []string{first[0].ID, first[1].ID, first[2].ID}
		marked, err := a.MarkSentAll(ctx, first[0].Token, ids)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(marked)
		want := []string{first[0].ID, first[1].ID}
		slices.Sort(want)
		if !slices.Equal(marked, want) {
			t.Errorf("marked %v, want the two still held %v", marked, want)
		}
		if again, err := a.MarkSentAll(ctx, first[0].Token, ids); err != nil || len(again) != 0 {
			t.Errorf("marking again marked %v, %v", again, err)
		}
		if err := b.MarkSent(ctx, second[0].ID, second[0].Token); err != nil {
			t.Errorf("the new claimant could not mark its message: %v", err)
		}
	})
}

// TestInsertRowsAnyNumber inserts from 1 to 401 rows at once: every row is
// written, in as many statements as the binary digits of their number
// (plus one per 128 beyond), each of which is prepared once.
func TestInsertRowsAnyNumber(t *testing.T) {
	sqlstoretest.Each(t, func(t *testing.T, db *sqlstore.DB) {
		for _, n := range []int{1, 2, 3, 7, 128, 129, 255, 401} {
			prefix := fmt.Sprintf("set%d-", n)
			stmts, err := db.InsertPasscodeSets(ctx, prefix, n)
			if err != nil {
				t.Fatalf("%d rows: %v", n, err)
			}
			want := n/128 + bits.OnesCount(uint(n%128))
			if stmts != want {
				t.Errorf("%d rows in %d statements, want %d", n, stmts, want)
			}
			if got, err := db.CountPasscodeSets(ctx, prefix); err != nil || got != n {
				t.Errorf("%d rows inserted, %d found (%v)", n, got, err)
			}
		}
	})
}
