package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"strconv"
	"time"

	"github.com/handoff-dev/handoff/auth"
	"github.com/handoff-dev/handoff/sqlstore"
)

// retentionConfig says how long settled rows are kept, in days and hours as
// operators count them.
type retentionConfig struct {
	SentDays, DeadDays, IdempotencyHours int
}

func (c *retentionConfig) flags(fs *flag.FlagSet, getenv func(string) string) {
	def := sqlstore.DefaultRetention()
	num := func(key string, d time.Duration) int {
		n, err := strconv.Atoi(getenv(key))
		if err != nil {
			return int(d)
		}
		return n
	}
	fs.IntVar(&c.SentDays, "sent-retention-days", num("HANDOFF_SENT_RETENTION_DAYS", def.SentNotifications/(24*time.Hour)),
		"days a sent notification is kept, from when it was queued (env HANDOFF_SENT_RETENTION_DAYS)")
	fs.IntVar(&c.DeadDays, "dead-retention-days", num("HANDOFF_DEAD_RETENTION_DAYS", def.DeadNotifications/(24*time.Hour)),
		"days a dead notification is kept for the operator (env HANDOFF_DEAD_RETENTION_DAYS)")
	fs.IntVar(&c.IdempotencyHours, "idempotency-retention-hours", num("HANDOFF_IDEMPOTENCY_RETENTION_HOURS", def.IdempotencyKeys/time.Hour),
		"hours a label's Idempotency-Key is remembered (env HANDOFF_IDEMPOTENCY_RETENTION_HOURS)")
}

// retention checks the configuration and returns it as the store takes it.
func (c *retentionConfig) retention() (sqlstore.Retention, error) {
	if c.SentDays < 1 || c.DeadDays < 1 || c.IdempotencyHours < 1 {
		return sqlstore.Retention{}, errors.New("--sent-retention-days, --dead-retention-days and --idempotency-retention-hours must be positive")
	}
	day := 24 * time.Hour
	return sqlstore.Retention{SentNotifications: time.Duration(c.SentDays) * day, DeadNotifications: time.Duration(c.DeadDays) * day,
		IdempotencyKeys: time.Duration(c.IdempotencyHours) * time.Hour}, nil
}

// retentionLease is the lease that lets one node at a time prune, held for
// a batch at a time.
const (
	retentionLease    = "retention"
	retentionLeaseTTL = 5 * time.Minute
	retentionBatch    = 500
	retentionBatches  = 1000 // per run: a larger backlog waits for the next
)

// pruneRetained deletes rows past retention now and then every interval
// until ctx ends. Every node runs it; the lease lets one prune at a time.
func pruneRetained(ctx context.Context, db *sqlstore.DB, log *slog.Logger, every time.Duration, r sqlstore.Retention) {
	holder := auth.Random(16)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := pruneOnce(ctx, db, r, holder, retentionBatch); err != nil && ctx.Err() == nil {
			log.Error("retention", "err", err)
		} else if n > 0 {
			log.Info("notifications and idempotency keys past retention deleted", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pruneOnce deletes rows past r in batches while holder has the lease, and
// returns how many; none when another node has it.
func pruneOnce(ctx context.Context, db *sqlstore.DB, r sqlstore.Retention, holder string, batch int) (int, error) {
	total := 0
	for range retentionBatches {
		// Taken, or renewed, before each batch, so a node that stalls
		// lets another take over.
		ok, err := db.TryLease(ctx, retentionLease, holder, retentionLeaseTTL)
		if err != nil || !ok {
			return total, err
		}
		n, err := db.Prune(ctx, r, batch)
		total += n
		if err != nil || n == 0 {
			db.ReleaseLease(context.WithoutCancel(ctx), retentionLease, holder)
			return total, err
		}
	}
	return total, nil
}
