package main

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/handoff-dev/handoff/sqlstore"
	"github.com/handoff-dev/handoff/sqlstore/sqlstoretest"
)

func TestRetentionConfig(t *testing.T) {
	c, err := parseServe(nil, io.Discard, env(map[string]string{"HANDOFF_SENT_RETENTION_DAYS": "7"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := (sqlstore.Retention{SentNotifications: 7 * 24 * time.Hour, DeadNotifications: 90 * 24 * time.Hour, IdempotencyKeys: 48 * time.Hour}); c.Retention != want {
		t.Errorf("retention = %+v, want %+v", c.Retention, want)
	}
	if _, err := parseServe([]string{"--dead-retention-days", "0"}, io.Discard, env(nil)); err == nil {
		t.Error("a retention of 0 days accepted")
	}
}

// TestPruneTakesTurns prunes on one node while another holds the lease:
// nothing is deleted until the lease is free, then everything due, in
// batches.
func TestPruneTakesTurns(t *testing.T) {
	ctx := context.Background()
	sqlstoretest.EachNodes(t, 2, func(t *testing.T, nodes []*sqlstore.DB) {
		a, b := nodes[0], nodes[1]
		sqlstoretest.QueueSMS(t, a, 3)
		qs, err := a.ClaimNotifications(ctx, "sms", 3, time.Minute)
		if err != nil || len(qs) != 3 {
			t.Fatalf("claimed %d: %v", len(qs), err)
		}
		for _, q := range qs {
			if err := a.MarkSent(ctx, q.ID, q.Token); err != nil {
				t.Fatal(err)
			}
		}
		later := time.Now().Add(31 * 24 * time.Hour)
		a.Now = func() time.Time { return later }
		b.Now = a.Now
		r := sqlstore.DefaultRetention()
		if ok, err := b.TryLease(ctx, retentionLease, "b", time.Minute); !ok || err != nil {
			t.Fatalf("lease: %v %v", ok, err)
		}
		if n, err := pruneOnce(ctx, a, r, "a", 1); n != 0 || err != nil {
			t.Fatalf("pruned %d (%v) while another node held the lease", n, err)
		}
		b.ReleaseLease(ctx, retentionLease, "b")
		if n, err := pruneOnce(ctx, a, r, "a", 1); n != 3 || err != nil {
			t.Fatalf("pruned %d (%v), want 3", n, err)
		}
		// The lease is free again for the next run, wherever it runs.
		if ok, _ := b.TryLease(ctx, retentionLease, "b", time.Minute); !ok {
			t.Error("the lease was kept after the run")
		}
	})
}
